"""WhatsApp through Twilio: the same ``Messages.json`` as SMS (``adapters/twilio.py``),
addressed ``whatsapp:+…``, with WhatsApp's 24-hour reply window and approved templates.

Polling is Twilio's: inbound messages ``To=from_number`` from the day before the last
successful poll, or yesterday when that is later (``DateSent>``; at most
:data:`~adapters.twilio.MAX_LOOKBACK_DAYS` back, with a warning), ``next_page_uri`` to
the end, repeats dropped by the store's unique key on the SID, outbound records
skipped, one unusable record quarantined alone, media announced and fetched on demand
as for MMS. A customer is their number without the ``whatsapp:`` prefix, vouched for
as a phone number, so the store links WhatsApp, SMS and calls from one number into one
customer.

Sending: free text (``Body``, split at Twilio's 1,600 characters) while the window is
open; an approved template (``ContentSid`` + ``ContentVariables``, no ``Body``) at any
time. :meth:`WhatsAppSpec.reply_window` is the 24-hour rule, pure, so the desk refuses
free text before it is queued; a send Twilio still refuses for the window (code 63016)
fails for good with one line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from adapters.base import (
    AdapterError,
    AuthError,
    InboundMessage,
    OutboundMessage,
    ReplyWindow,
    SecretGetter,
    Sender,
    SendResult,
)
from adapters.checks import Finding, attempt
from adapters.http_api import (
    basic_forms,
    json_body,
    retry_after,
    scrub,
    send_failure,
    transport_error,
)
from adapters.json_items import Unusable, as_dict, as_list, as_text, aware, loads
from adapters.plain_text import split_text
from adapters.spec import HttpApiSpec
from adapters.twilio import BODY_LIMIT, DEFAULT_API, MESSAGING_API, TwilioAdapter
from adapters.twilio import SPEC as TWILIO_SPEC

PREFIX = "whatsapp:"
#: Free-form replies are allowed this long after the customer's last message.
WINDOW = timedelta(hours=24)
#: Twilio's WhatsApp Sandbox number (not a sender of any account).
SANDBOX = "whatsapp:+14155238886"
#: Longest profile name kept.
MAX_NAME = 200
#: Senders asked for by ``doctor`` (one page of the Senders API).
SENDERS_PAGE = 100


def phone_of(address: str) -> str | None:
    """``+`` and 6–15 ASCII digits from ``whatsapp:+15551234567`` (or ``+1555…``);
    None when ``address`` is no such number."""
    digits = address.strip().removeprefix(PREFIX).removeprefix("+")
    if digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 15:
        return "+" + digits
    return None


def is_content_sid(value: Any) -> bool:
    """A Twilio Content SID: ``HX`` then ASCII letters and digits."""
    return (
        isinstance(value, str)
        and value.startswith("HX")
        and len(value) <= 64
        and value[2:].isascii()
        and value[2:].isalnum()
    )


def parse_templates(value: Any, where: str) -> dict[str, str]:
    """The ``templates`` table (name -> Content SID ``HX…``); a one-line
    :class:`AdapterError` naming ``where`` for anything else."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AdapterError(
            f'{where}: templates must be a table of name = "HX…" (Content SIDs)', retryable=False
        )
    found: dict[str, str] = {}
    for name, sid in value.items():
        if not isinstance(name, str) or not name.strip():
            raise AdapterError(f"{where}: a template name is empty", retryable=False)
        if not is_content_sid(sid):
            shown = str(sid)[:40]
            raise AdapterError(
                f"{where}: template {name[:40]!r} is {shown!r}, not a Content SID (HX…)",
                retryable=False,
            )
        found[name] = sid
    return found


def _left(delta: timedelta) -> str:
    """``3 h 12 min``, ``12 min`` or ``less than a minute``."""
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "less than a minute"


class WhatsAppAdapter(TwilioAdapter):
    """One WhatsApp sender on Twilio. Settings: ``account_sid``, ``from_number``
    (``whatsapp:+…``), ``templates``, ``api_base`` and the limits of
    :class:`~adapters.http_api.ApiAdapter`; secret ``auth_token``."""

    kind = "whatsapp"

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        secret: SecretGetter,
        *,
        transport: httpx.BaseTransport | None = None,
        today: date | None = None,
    ) -> None:
        super().__init__(name, settings, secret, transport=transport, today=today)
        number = settings.get("from_number")
        if not isinstance(number, str) or not number.startswith(PREFIX) or not phone_of(number):
            given = "is missing" if number is None else f"is {scrub(str(number))[:40]!r}"
            raise AdapterError(
                f"{name}: from_number {given}; it must be the WhatsApp address, "
                "like 'whatsapp:+15551230000'",
                retryable=False,
            )
        self.number = number.strip()
        self.service_sid = ""  # WhatsApp replies go from from_number
        self.calls = False  # WhatsApp has no Calls.json history here
        self.templates = parse_templates(settings.get("templates"), name)

    def _sms(self, sms: Any) -> InboundMessage | None:
        """An inbound WhatsApp message (Twilio's SMS record, ``whatsapp:`` addresses);
        None for outbound ones; raises when it has no SID or no sender number."""
        inbound = super()._sms(sms)
        if inbound is None:
            return None
        number = phone_of(inbound.sender.address)
        if number is None:
            raise Unusable("sender is not a WhatsApp phone number")
        name = " ".join(as_text(sms.get("profile_name")).split())[:MAX_NAME]
        return replace(
            inbound,
            channel="whatsapp",
            sender=Sender("whatsapp", number, name, phone=number),
            thread_key=number,
        )

    def reparse(
        self, external_id: str, raw: bytes, raw_type: str, folder: str
    ) -> list[InboundMessage]:
        """The message in a quarantined record's JSON, read again without the network;
        [] for an outbound record."""
        inbound = self._sms(loads(raw))
        return [inbound] if inbound is not None else []

    def failure(self, service: str, response: httpx.Response, body: dict[str, Any]) -> AdapterError:
        """Twilio's WhatsApp error codes as one line each: 63016 (outside the 24-hour
        window) and 63007 (no such sender) for good, 63018 / 20429 (rate limits) to
        retry, 20003 refused credentials; the rest as for SMS."""
        code = body.get("code")
        what = f"{service}: {response.status_code} (code {code})"
        if code == 63016:
            return AdapterError(
                f"{what}: outside WhatsApp's 24-hour window (the customer last wrote more "
                "than 24 hours ago); only an approved template can go now (`templates`)",
                retryable=False,
            )
        if code == 63007:
            return AdapterError(
                f"{what}: from_number {self.number} is not a WhatsApp sender of this account",
                retryable=False,
            )
        if code in (63018, 20429):
            return AdapterError(
                f"{what}: rate limited", retry_after=retry_after(response, as_dict(body))
            )
        if code == 20003:
            return AuthError(f"{what}: credentials refused (check account_sid and auth_token)")
        return super().failure(service, response, body)

    def send(self, message: OutboundMessage) -> SendResult:
        """A template (``ContentSid`` + ``ContentVariables``) when the reply has one,
        else the text (over 1,600 characters: several messages)."""
        number = phone_of(message.to)
        if number is None:
            raise AdapterError("WhatsApp: no phone number for this conversation", retryable=False)
        if message.attachments:
            raise AdapterError(
                "WhatsApp: files cannot be sent from here (Twilio needs a public MediaUrl)",
                retryable=False,
            )
        base = {"From": self.number, "To": PREFIX + number}
        if message.template:
            if not is_content_sid(message.template):
                raise AdapterError(
                    "WhatsApp: the template is not a Content SID (HX…)", retryable=False
                )
            form = {**base, "ContentSid": message.template}
            if message.template_variables:
                form["ContentVariables"] = json.dumps(
                    dict(message.template_variables), ensure_ascii=False
                )
            forms = [form]
        elif message.text.strip():
            forms = [{**base, "Body": piece} for piece in split_text(message.text, BODY_LIMIT)]
        else:
            raise AdapterError("WhatsApp: an empty reply cannot be sent", retryable=False)
        first = ""
        for n, form in enumerate(forms):
            try:
                sent = self.request("POST", f"{self._prefix}Messages.json", data=form)
            except AdapterError as exc:
                raise send_failure(exc, n) from None
            first = first or as_text(sent.get("sid"))
        return SendResult(provider_id=first, external_id=first)


class WhatsAppSpec(HttpApiSpec[WhatsAppAdapter]):
    """``omnitui doctor`` as for Twilio (the account answers and is active); for send,
    ``from_number`` is one of the account's WhatsApp senders (Senders API) and online.
    Nothing is sent. Also the 24-hour reply window and the templates, pure."""

    def probe(self, adapter: WhatsAppAdapter) -> Any:
        return TWILIO_SPEC.probe(adapter)

    def summary(self, adapter: WhatsAppAdapter, answer: Any) -> str:
        return TWILIO_SPEC.summary(adapter, answer)

    def findings(self, adapter: WhatsAppAdapter, answer: Any) -> list[Finding]:
        found = TWILIO_SPEC.findings(adapter, answer)
        if not all(f.ok for f in found):
            return found  # the account is not active: both directions fail
        receive = next(f for f in found if f.part == "receive")
        return [receive, attempt("send", lambda: _sender(adapter))]

    def reply_window(
        self,
        settings: Mapping[str, Any],
        last_inbound_at: datetime | None,
        sent_since: int,
        now: datetime,
    ) -> ReplyWindow:
        """Free text until 24 hours after the customer's last message; then, or before
        they ever wrote, only a template."""
        if last_inbound_at is not None:
            until = aware(last_inbound_at) + WINDOW
            if aware(now) < until:
                left = _left(until - aware(now))
                return ReplyWindow(
                    "open", until=until, reason=f"WhatsApp: free replies for {left} more"
                )
            opening = "WhatsApp: the 24-hour window closed"
        else:
            opening = "WhatsApp: the customer has not written yet"
        try:
            count = len(self.templates(settings))
        except AdapterError as exc:
            offer = f"and `templates` is not valid ({exc})"
        else:
            offer = (
                f"{count} template{'s' if count != 1 else ''} configured"
                if count
                else "and none is configured (set `templates` on the account)"
            )
        return ReplyWindow("template_only", reason=f"{opening}: only a template may go, {offer}")

    def templates(self, settings: Mapping[str, Any]) -> dict[str, str]:
        """The ``templates`` table, name -> Content SID (``HX…``); a one-line
        :class:`AdapterError` when it is not valid."""
        return parse_templates(settings.get("templates"), "whatsapp templates")


def _sender(adapter: WhatsAppAdapter) -> str:
    """``from_number`` among the account's WhatsApp senders and ONLINE; raises when not."""
    number = adapter.number
    base = MESSAGING_API if adapter.api_base == DEFAULT_API else adapter.api_base
    service = "Twilio GET Senders"
    auth = adapter.auth
    try:
        response = adapter._http.get(
            f"{base}/v2/Channels/Senders",
            params={"Channel": "whatsapp", "PageSize": str(SENDERS_PAGE)},
            auth=auth,
        )
    except httpx.HTTPError as exc:
        raise transport_error(service, exc, basic_forms(*auth)) from None
    if response.status_code == 404:
        return f"account confirmed; from_number {number} not checked (no Senders API); nothing sent"
    body = json_body(service, response)
    if response.status_code != 200:
        raise adapter.failure(service, response, body)
    senders = [as_dict(s) for s in as_list(body.get("senders"))]
    mine = [s for s in senders if as_text(s.get("sender_id")).strip() == number]
    if mine:
        status = as_text(mine[0].get("status"))
        if status != "ONLINE":
            raise AdapterError(
                f"from_number {number} is a WhatsApp sender of this account but "
                f"{status or 'of no known status'}, not ONLINE: replies would fail",
                retryable=False,
            )
        return f"from_number {number} is a WhatsApp sender of this account (ONLINE); nothing sent"
    if number == SANDBOX:
        return "from_number is Twilio's WhatsApp Sandbox: only numbers that joined it get replies"
    if as_dict(body.get("meta")).get("next_page_url"):
        return (
            f"from_number {number} is not among the account's first {SENDERS_PAGE} WhatsApp "
            "senders: not checked; nothing sent"
        )
    raise AdapterError(
        f"from_number {number} is not a WhatsApp sender of this account (Senders API): "
        "replies would be refused",
        retryable=False,
    )


SPEC = WhatsAppSpec("whatsapp", WhatsAppAdapter, secret_fields=("auth_token",))

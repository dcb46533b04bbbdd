"""SMS and phone through Twilio: ``Messages.json`` in and out, ``Calls.json`` into the
customer's history (calls and voicemails are part of the timeline).

Twilio filters by calendar day (``DateSent>=``), so each poll asks for yesterday and
today again and the store's unique key on the SID drops what it already has;
``next_page_uri`` is followed to the end.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from adapters.base import (
    AdapterError,
    Cursor,
    InboundMessage,
    OutboundMessage,
    PollResult,
    SecretGetter,
    Sender,
    SendResult,
)
from adapters.http_api import ApiAdapter, error_for, json_body, redact, transport_error
from adapters.plain_text import split_text

DEFAULT_API = "https://api.twilio.com"
#: Twilio concatenates up to 1,600 characters into one logical SMS.
BODY_LIMIT = 1600
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")


def sms_segments(text: str) -> tuple[int, str]:
    """How many SMS segments ``text`` takes, and the encoding (``GSM-7`` or ``UCS-2``)."""
    if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return (1 if units <= 160 else -(-units // 153)), "GSM-7"
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    return (1 if units <= 70 else -(-units // 67)), "UCS-2"


def _when(value: Any) -> datetime:
    try:
        parsed = parsedate_to_datetime(str(value))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        return datetime.now(UTC)


class TwilioAdapter(ApiAdapter):
    """One Twilio number (or messaging service). Settings: ``account_sid``,
    ``from_number`` or ``messaging_service_sid``, ``api_base``, ``calls`` (default true)."""

    kind = "twilio"
    token_field = "auth_token"

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        secret: SecretGetter,
        *,
        transport: httpx.BaseTransport | None = None,
        today: date | None = None,
    ) -> None:
        super().__init__(name, settings, secret, transport=transport)
        self.account_sid = str(settings["account_sid"])
        self.number = str(settings.get("from_number", ""))
        self.service_sid = str(settings.get("messaging_service_sid", ""))
        self.calls = bool(settings.get("calls", True))
        self.api_base = str(settings.get("api_base", DEFAULT_API)).rstrip("/")
        self._today = today

    def request(
        self, method: str, path: str, *, params: Any = None, data: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """One REST call (``path`` absolute, as in ``next_page_uri``)."""
        service = f"Twilio {method} {path.split('?')[0].rsplit('/', 1)[-1]}"
        try:
            response = self._http.request(
                method,
                f"{self.api_base}{path}",
                params=params,
                data=data,
                auth=(self.account_sid, self.token),
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [self.token]) from None
        body = json_body(service, response)
        if response.status_code in (200, 201):
            return body
        detail = f"{body.get('message', '')} (code {body.get('code', '?')})"
        raise error_for(service, response, body, redact(detail, [self.token]))

    def _pages(self, resource: str, key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        path: str | None = f"/2010-04-01/Accounts/{self.account_sid}/{resource}.json"
        items: list[dict[str, Any]] = []
        query: dict[str, str] | None = {**params, "PageSize": "100"}
        for _page in range(100):
            if path is None:
                break
            body = self.request("GET", path, params=query)
            page = body.get(key)
            if not isinstance(page, list):
                raise AdapterError(f"Twilio {resource}: malformed answer (no {key} list)")
            items += [i for i in page if isinstance(i, dict)]
            path, query = body.get("next_page_uri"), None
        return items

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """Inbound SMS (and calls) of yesterday and today; the store drops repeats."""
        today = self._today or datetime.now(UTC).date()
        since = (today - timedelta(days=1)).isoformat()
        result = PollResult()
        to_us = {"To": self.number} if self.number else {}
        for sms in self._pages("Messages", "messages", {"DateSent>": since, **to_us}):
            if str(sms.get("direction")) != "inbound" or not sms.get("sid"):
                continue
            result.messages.append(
                InboundMessage(
                    external_id=str(sms["sid"]),
                    channel="sms",
                    sender=Sender("sms", str(sms.get("from", ""))),
                    sent_at=_when(sms.get("date_sent") or sms.get("date_created")),
                    text=str(sms.get("body") or ""),
                    to=(str(sms.get("to", "")),),
                    thread_key=str(sms.get("from", "")),
                    raw=json.dumps(sms).encode(),
                    raw_type="application/json",
                )
            )
        if self.calls:
            for call in self._pages("Calls", "calls", {"StartTime>": since, **to_us}):
                if str(call.get("direction")) != "inbound" or not call.get("sid"):
                    continue
                result.messages.append(self._call(call))
        result.cursors.append(Cursor("messages", {"polled": today.isoformat()}))
        return result

    def _voicemail(self, call: dict[str, Any]) -> str | None:
        """``Voicemail (0:42): transcription`` when the call left a recording."""
        uri = (call.get("subresource_uris") or {}).get("recordings")
        if not uri:
            return None
        recordings = self.request("GET", str(uri)).get("recordings") or []
        if not recordings:
            return None
        recording = recordings[0]
        seconds = int(recording.get("duration") or 0)
        text = f"Voicemail ({seconds // 60}:{seconds % 60:02d})"
        sid = recording.get("sid")
        if sid:
            found = (
                self.request(
                    "GET",
                    f"/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}/Transcriptions.json",
                ).get("transcriptions")
                or []
            )
            done = [t for t in found if t.get("status") == "completed"]
            if done and done[0].get("transcription_text"):
                text += f": {done[0]['transcription_text']}"
        return text

    def _call(self, call: dict[str, Any]) -> InboundMessage:
        status = str(call.get("status", ""))
        seconds = int(call.get("duration") or 0)
        voicemail = self._voicemail(call)
        if voicemail:
            text, kind = voicemail, "voicemail"
        elif status in ("no-answer", "busy", "failed", "canceled") or seconds == 0:
            text, kind = f"Missed call ({status or 'no answer'})", "call"
        else:
            text, kind = f"Call ({seconds // 60}:{seconds % 60:02d})", "call"
        return InboundMessage(
            external_id=str(call["sid"]),
            channel="phone",
            kind=kind,
            sender=Sender("sms", str(call.get("from", ""))),
            sent_at=_when(call.get("start_time") or call.get("date_created")),
            text=text,
            to=(str(call.get("to", "")),),
            thread_key=str(call.get("from", "")),
            raw=json.dumps(call).encode(),
            raw_type="application/json",
        )

    def send(self, message: OutboundMessage) -> SendResult:
        """An SMS to the customer's number (over 1,600 characters: several)."""
        if not message.to:
            raise AdapterError("Twilio: no phone number for this conversation", retryable=False)
        sender = (
            {"MessagingServiceSid": self.service_sid} if self.service_sid else {"From": self.number}
        )
        first = ""
        for piece in split_text(message.text, BODY_LIMIT):
            sent = self.request(
                "POST",
                f"/2010-04-01/Accounts/{self.account_sid}/Messages.json",
                data={"To": message.to, "Body": piece, **sender},
            )
            first = first or str(sent.get("sid", ""))
        return SendResult(provider_id=first, external_id=first)


def create(name: str, settings: Mapping[str, Any], secret: SecretGetter) -> TwilioAdapter:
    """Entry point used by the adapter registry."""
    return TwilioAdapter(name, settings, secret)


def check(name: str, settings: Mapping[str, Any], secret: SecretGetter) -> str:
    """Read the account record: the SID and token work (``omnitui doctor``)."""
    adapter = TwilioAdapter(name, settings, secret)
    try:
        account = adapter.request("GET", f"/2010-04-01/Accounts/{adapter.account_sid}.json")
    finally:
        adapter.close()
    return f"account {account.get('friendly_name', adapter.account_sid)} ({account.get('status')})"


secret_fields = ("auth_token",)

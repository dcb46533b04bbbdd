"""SMS and phone through Twilio: ``Messages.json`` in and out, ``Calls.json`` into the
customer's history (calls and voicemails are part of the timeline).

Twilio filters by calendar day (``DateSent>=``, calls ``StartTime>=``), so each poll
asks from the day before the last successful poll (the cursor's ``polled``), or from
yesterday when that is later (the first poll: yesterday and today), and the store's
unique key on the SID drops what it already has. A desk off for a weekend fetches the
days in between; after a gap over :data:`MAX_LOOKBACK_DAYS` the poll asks from that
many days back and logs a warning that older records are not fetched.
``next_page_uri`` is followed to the end (at most :data:`MAX_PAGES` pages a listing; a
listing cut there is logged).

Limits (``adapters/http_api.py``): a page over ``max_response_bytes`` makes the listing
start again at once with half the ``PageSize``, down to one; a record over
``max_item_bytes`` is quarantined cut to that size. MMS media are announced as
attachments and downloaded on demand (up to ``max_attachment_bytes``) from a path of
this account on ``api_base``, with the Basic credentials, and from the ``https://``
address Twilio redirects to, without them. The auth token, the ``sid:token`` pair and
its base64 are redacted from every error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from adapters.base import (
    AdapterError,
    Cursor,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    PollResult,
    SecretGetter,
    Sender,
    SendResult,
)
from adapters.checks import Finding, attempt, passed
from adapters.http_api import (
    ApiAdapter,
    PageSize,
    basic_forms,
    error_for,
    json_body,
    remember_secrets,
    scrub,
    send_failure,
    transport_error,
)
from adapters.json_items import (
    Unusable,
    as_dict,
    as_int,
    as_list,
    as_text,
    aware,
    loads,
    raw_json,
    rejected,
    too_large,
)
from adapters.plain_text import split_text
from adapters.spec import HttpApiSpec, both_failed

DEFAULT_API = "https://api.twilio.com"
FOLDER = "messages"
#: Records asked for per page (Twilio allows up to 1,000).
PAGE_SIZE = 100
#: Pages followed in one listing (``next_page_uri``); a listing cut here is logged.
MAX_PAGES = 100
#: The furthest back a poll asks (days before today), however long ago the last
#: successful poll was; older messages and calls are not fetched, with a warning.
MAX_LOOKBACK_DAYS = 31
#: Media one MMS may carry.
MAX_MEDIA = 10
#: Twilio concatenates up to 1,600 characters into one logical SMS.
BODY_LIMIT = 1600
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")

log = logging.getLogger(__name__)


def sms_segments(text: str) -> tuple[int, str]:
    """How many SMS segments ``text`` takes, and the encoding (``GSM-7`` or ``UCS-2``)."""
    if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return (1 if units <= 160 else -(-units // 153)), "GSM-7"
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    return (1 if units <= 70 else -(-units // 67)), "UCS-2"


def _when(value: Any) -> datetime:
    """An RFC 2822 date (``Mon, 23 Nov 2026 09:00:00 +0000``), aware; now when it is
    missing or not a date."""
    if not isinstance(value, str) or len(value) > 128:
        return datetime.now(UTC)
    try:
        return aware(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return datetime.now(UTC)


def _sid(value: Any) -> str | None:
    """A Twilio SID (``SM…``, ``CA…``, ``RE…``): a non-empty string of letters and
    digits; None otherwise."""
    if isinstance(value, str) and value.isascii() and value.isalnum() and len(value) <= 64:
        return value
    return None


def _polled(cursor: Cursor | None) -> date | None:
    """The day of the last successful poll (the cursor's ``polled``, ``YYYY-MM-DD``);
    None without a cursor or when it is not such a date."""
    value = cursor.state.get("polled") if cursor is not None else None
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _next_page(uri: Any) -> str | None:
    """The next page's path, when ``next_page_uri`` is one (else: the last page)."""
    if isinstance(uri, str) and uri.startswith("/") and not uri.startswith("//"):
        try:
            uri.encode("ascii")
        except UnicodeEncodeError:
            return None
        return uri
    return None


def _api_path(value: Any, prefix: str, suffix: str = "") -> str | None:
    """``value`` if it is a plain absolute API path under ``prefix`` ending in
    ``suffix`` (no ``..``, ``%``, backslash, query or scheme), else None."""
    if (
        isinstance(value, str)
        and len(value) <= 512
        and value.startswith(prefix)
        and value.endswith(suffix)
        and value.isascii()
        and all(ch.isalnum() or ch in "/._-" for ch in value)
        and ".." not in value.split("/")
        and "//" not in value
    ):
        return value
    return None


class TwilioAdapter(ApiAdapter):
    """One Twilio number (or messaging service). Settings: ``account_sid``,
    ``from_number`` or ``messaging_service_sid``, ``api_base``, ``calls`` (default true),
    and the limits of :class:`~adapters.http_api.ApiAdapter`."""

    kind = "twilio"
    token_field = "auth_token"
    default_api_base = DEFAULT_API

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
        sid = settings.get("account_sid")
        if _sid(sid) is None:
            raise AdapterError(f"{name}: account_sid is missing or not a SID", retryable=False)
        self.account_sid = str(sid)
        self.number = str(settings.get("from_number", ""))
        self.service_sid = str(settings.get("messaging_service_sid", ""))
        self.calls = bool(settings.get("calls", True))
        self._today = today
        #: Records per page: halved while pages are too large.
        self.pages = PageSize(PAGE_SIZE)

    @property
    def auth(self) -> tuple[str, str]:
        """The Basic credentials; every form of them is redacted from logs and errors."""
        token = self.token
        remember_secrets(*basic_forms(self.account_sid, token))
        return self.account_sid, token

    @property
    def _prefix(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/"

    def request(
        self, method: str, path: str, *, params: Any = None, data: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """One REST call (``path`` absolute, as in ``next_page_uri``)."""
        service = f"Twilio {method} {path.split('?')[0].rsplit('/', 1)[-1]}"
        auth = self.auth
        try:
            response = self._http.request(
                method, f"{self.api_base}{path}", params=params, data=data, auth=auth
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, basic_forms(*auth)) from None
        body = json_body(service, response)
        if response.status_code in (200, 201):
            return body
        raise self.failure(service, response, body)

    def failure(self, service: str, response: httpx.Response, body: dict[str, Any]) -> AdapterError:
        """The error a failed REST answer means: Twilio's message and error code, the
        credentials removed (a kind built on this one maps codes of its own)."""
        detail = f"{body.get('message', '')} (code {body.get('code', '?')})"
        return error_for(service, response, body, scrub(detail, basic_forms(*self.auth)))

    def _pages(self, resource: str, key: str, params: dict[str, str]) -> list[Any]:
        """Every record of a listing. A page over ``max_response_bytes`` starts the
        listing again at once with half the page size (repeats are dropped by SID),
        down to one record a page; a single record still too large is the account's
        error until ``max_response_bytes`` is raised."""
        return self.pages.fetch(lambda size: self._listing(resource, key, params, size), "record")

    def _listing(self, resource: str, key: str, params: dict[str, str], size: int) -> list[Any]:
        path: str | None = f"{self._prefix}{resource}.json"
        items: list[Any] = []
        query: dict[str, str] | None = {**params, "PageSize": str(size)}
        for _page in range(MAX_PAGES):
            if path is None:
                break
            body = self.request("GET", path, params=query)
            page = body.get(key)
            if not isinstance(page, list):
                raise AdapterError(f"Twilio {resource}: malformed answer (no {key} list)")
            items += page
            path, query = _next_page(body.get("next_page_uri")), None
        if path is not None:
            log.warning(
                "%s: Twilio %s: stopped after %d pages (%d records); the oldest of the "
                "days asked for are not fetched",
                self.name,
                resource,
                MAX_PAGES,
                len(items),
            )
        return items

    def first_day(self, cursors: Mapping[str, Cursor]) -> tuple[date, date]:
        """The first day a poll asks for, and today: the day before the last successful
        poll, or yesterday when that is later (and on the first poll); never more than
        :data:`MAX_LOOKBACK_DAYS` back (a warning says what is not fetched)."""
        today = self._today or datetime.now(UTC).date()
        start = today - timedelta(days=1)
        cursor = cursors.get(FOLDER)
        polled = _polled(cursor)
        if polled is not None:
            start = min(start, polled - timedelta(days=1))
        elif cursor is not None and cursor.state:
            log.warning("%s: unreadable Twilio cursor; polling yesterday and today", self.name)
        floor = today - timedelta(days=MAX_LOOKBACK_DAYS)
        if start < floor:
            log.warning(
                "%s: last polled %s, over %d days ago: asking Twilio from %s only; "
                "messages and calls before that are not fetched",
                self.name,
                polled,
                MAX_LOOKBACK_DAYS,
                floor.isoformat(),
            )
            start = floor
        return start, today

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """Inbound SMS (and calls) from the day before the last poll (:meth:`first_day`) to
        today; the store drops repeats. Each record is read on its own: one that cannot
        be used goes to ``rejected``."""
        first, today = self.first_day(cursors)
        since = first.isoformat()
        result = PollResult()
        to_us = {"To": self.number} if self.number else {}
        for sms in self._pages("Messages", "messages", {"DateSent>": since, **to_us}):
            self._take(sms, self._sms, result)
        if self.calls:
            for call in self._pages("Calls", "calls", {"StartTime>": since, **to_us}):
                self._take(call, self._call_with_voicemail, result)
        result.cursors.append(Cursor(FOLDER, {"polled": today.isoformat()}))
        return result

    def _take(
        self, item: Any, read: Callable[[Any], InboundMessage | None], result: PollResult
    ) -> None:
        """One record into ``result``: a message, nothing (outbound), or rejected (a
        record over ``max_item_bytes`` too, cut to that size)."""
        big = too_large(
            item,
            self.limits.max_item,
            folder=FOLDER,
            external_id=_sid(item.get("sid")) if isinstance(item, dict) else None,
        )
        if big is not None:
            result.rejected.append(big)
            return
        try:
            inbound = read(item)
        except AdapterError as exc:
            if exc.retryable:
                raise  # a passing failure (voicemail lookup): the whole poll retries
            self._reject(item, exc, result)
            return
        except Exception as exc:  # noqa: BLE001 - quarantined, never blocking
            self._reject(item, exc, result)
            return
        if inbound is not None:
            result.messages.append(inbound)

    @staticmethod
    def _reject(item: Any, exc: Exception, result: PollResult) -> None:
        sid = _sid(item.get("sid")) if isinstance(item, dict) else None
        result.rejected.append(rejected(item, exc, folder=FOLDER, external_id=sid))

    def reparse(
        self, external_id: str, raw: bytes, raw_type: str, folder: str
    ) -> list[InboundMessage]:
        """The SMS or call in a quarantined record's JSON, read again without the
        network (``omnitui quarantine retry``): a call comes back without its voicemail
        text. [] for a record that is ignored on purpose (outbound)."""
        item = loads(raw)
        record = item if isinstance(item, dict) else {}
        is_call = as_text(record.get("sid")).startswith("CA") or (
            "body" not in record and ("start_time" in record or "duration" in record)
        )
        inbound = self._call(item, None) if is_call else self._sms(item)
        return [inbound] if inbound is not None else []

    def _sms(self, sms: Any) -> InboundMessage | None:
        """An inbound SMS; None for outbound ones; raises when it has no SID or sender."""
        if not isinstance(sms, dict):
            raise Unusable("message record is not an object")
        if sms.get("direction") != "inbound":
            return None
        sid = _sid(sms.get("sid"))
        if sid is None:
            raise Unusable("no SID")
        sender = as_text(sms.get("from")).strip()
        if not sender:
            raise Unusable("no sender number")
        media = _api_path(
            as_dict(sms.get("subresource_uris")).get("media"),
            f"{self._prefix}Messages/{sid}/",
            "/Media.json",
        )
        count = min(max(0, as_int(sms.get("num_media"))), MAX_MEDIA) if media else 0
        return InboundMessage(
            external_id=sid,
            channel="sms",
            sender=Sender("sms", sender),
            sent_at=_when(sms.get("date_sent") or sms.get("date_created")),
            text=as_text(sms.get("body")),
            to=(as_text(sms.get("to")),),
            thread_key=sender,
            raw=raw_json(sms),
            raw_type="application/json",
            attachments=tuple(
                InboundAttachment(
                    f"media-{n + 1}", "application/octet-stream", 0, remote_ref=f"{media}#{n}"
                )
                for n in range(count)
            ),
        )

    def fetch_attachment(self, remote_ref: str) -> bytes:
        """Download an MMS medium (``<Media.json path>#<index>``): list the message's
        media, then fetch the one at ``index`` up to ``max_attachment_bytes``. Only paths
        of this account on ``api_base`` get the credentials; Twilio's redirect to its
        storage must be ``https://`` and is fetched without them."""
        path, _, index = remote_ref.partition("#")
        listing = _api_path(path, f"{self._prefix}Messages/", "/Media.json")
        if listing is None or not (index.isascii() and index.isdigit()):
            raise AdapterError(
                "Twilio media: not a media reference of this account", retryable=False
            )
        found = as_list(self.request("GET", listing).get("media_list"))
        if int(index) >= len(found):
            raise AdapterError("Twilio media: no longer on Twilio", retryable=False)
        uri = _api_path(as_dict(found[int(index)]).get("uri"), self._prefix, ".json")
        if uri is None:
            raise AdapterError(
                "Twilio media: refused a media URI outside this account", retryable=False
            )
        url = httpx.URL(f"{self.api_base}{uri.removesuffix('.json')}")
        return self.download(url, what="Twilio media download", auth=self.auth)

    def _voicemail(self, call: dict[str, Any]) -> str | None:
        """``Voicemail (0:42): transcription`` when the call left a recording."""
        uri = as_dict(call.get("subresource_uris")).get("recordings")
        if not isinstance(uri, str) or not uri.startswith("/"):
            return None
        recordings = [r for r in as_list(self.request("GET", uri).get("recordings")) if r]
        if not recordings:
            return None
        recording = as_dict(recordings[0])
        seconds = max(0, as_int(recording.get("duration")))
        text = f"Voicemail ({seconds // 60}:{seconds % 60:02d})"
        sid = _sid(recording.get("sid"))
        if sid:
            found = as_list(
                self.request(
                    "GET",
                    f"/2010-04-01/Accounts/{self.account_sid}/Recordings/"
                    f"{quote(sid, safe='')}/Transcriptions.json",
                ).get("transcriptions")
            )
            done = [as_dict(t) for t in found if as_dict(t).get("status") == "completed"]
            transcription = as_text(done[0].get("transcription_text")) if done else ""
            if transcription:
                text += f": {transcription}"
        return text

    def _call_with_voicemail(self, call: Any) -> InboundMessage | None:
        if not isinstance(call, dict) or call.get("direction") != "inbound":
            return self._call(call, None)
        if _sid(call.get("sid")) is None or not as_text(call.get("from")).strip():
            return self._call(call, None)  # raises: no need to look for a voicemail
        return self._call(call, self._voicemail(call))

    def _call(self, call: Any, voicemail: str | None) -> InboundMessage | None:
        """An inbound call (or voicemail); None for outbound ones; raises when it has no
        SID or caller."""
        if not isinstance(call, dict):
            raise Unusable("call record is not an object")
        if call.get("direction") != "inbound":
            return None
        sid = _sid(call.get("sid"))
        if sid is None:
            raise Unusable("no SID")
        caller = as_text(call.get("from")).strip()
        if not caller:
            raise Unusable("no caller number")
        status = as_text(call.get("status"))
        seconds = max(0, as_int(call.get("duration")))
        if voicemail:
            text, kind = voicemail, "voicemail"
        elif status in ("no-answer", "busy", "failed", "canceled") or seconds == 0:
            text, kind = f"Missed call ({status or 'no answer'})", "call"
        else:
            text, kind = f"Call ({seconds // 60}:{seconds % 60:02d})", "call"
        return InboundMessage(
            external_id=sid,
            channel="phone",
            kind=kind,
            sender=Sender("sms", caller),
            sent_at=_when(call.get("start_time") or call.get("date_created")),
            text=text,
            to=(as_text(call.get("to")),),
            thread_key=caller,
            raw=raw_json(call),
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
        for n, piece in enumerate(split_text(message.text, BODY_LIMIT)):
            try:
                sent = self.request(
                    "POST",
                    f"/2010-04-01/Accounts/{self.account_sid}/Messages.json",
                    data={"To": message.to, "Body": piece, **sender},
                )
            except AdapterError as exc:
                raise send_failure(exc, n) from None
            first = first or str(sent.get("sid", ""))
        return SendResult(provider_id=first, external_id=first)


#: Twilio's Messaging API, where messaging services live; an ``api_base`` of one's own
#: (a test server, a proxy) is asked for them too.
MESSAGING_API = "https://messaging.twilio.com"


class TwilioSpec(HttpApiSpec[TwilioAdapter]):
    """``omnitui doctor``: the Account resource answers and is ``active`` (both
    directions); for send, ``from_number`` is one of the account's
    IncomingPhoneNumbers able to send SMS, or ``messaging_service_sid`` is a service
    of the account. Nothing is sent."""

    def probe(self, adapter: TwilioAdapter) -> Any:
        return adapter.request("GET", f"/2010-04-01/Accounts/{adapter.account_sid}.json")

    def summary(self, adapter: TwilioAdapter, answer: Any) -> str:
        name = answer.get("friendly_name", adapter.account_sid)
        return f"account {name} ({answer.get('status')})"

    def findings(self, adapter: TwilioAdapter, answer: Any) -> list[Finding]:
        label = f"account {as_text(answer.get('friendly_name')) or adapter.account_sid}"
        status = as_text(answer.get("status"))
        if status != "active":
            return both_failed(f"{label} is {status or 'of no known status'}, not active")
        reads = "Messages.json and Calls.json" if adapter.calls else "Messages.json"
        trial = as_text(answer.get("type")) == "Trial"
        send = attempt("send", lambda: _sender(adapter, trial))
        return [passed("receive", f"{label} ({status}): reads {reads}"), send]


def _sender(adapter: TwilioAdapter, trial: bool) -> str:
    """What replies are sent from, checked against the account; raises when unusable."""
    note = "; a trial account: SMS go only to verified numbers" if trial else ""
    if adapter.service_sid:
        service = _messaging_service(adapter)
        named = as_text(service.get("friendly_name")) or adapter.service_sid
        return f"messaging service {named} found{note}; nothing sent"
    number = adapter.number
    if not number:
        raise AdapterError("neither from_number nor messaging_service_sid is set", retryable=False)
    if not number.startswith("+"):
        return f"from_number {number} is not a phone number (short code or sender id): not checked"
    listing = adapter.request(
        "GET", f"{adapter._prefix}IncomingPhoneNumbers.json", params={"PhoneNumber": number}
    )
    owned = [
        as_dict(item)
        for item in as_list(listing.get("incoming_phone_numbers"))
        if as_dict(item).get("phone_number") == number
    ]
    if not owned:
        raise AdapterError(
            f"from_number {number} is not a phone number of this account "
            "(IncomingPhoneNumbers): replies would be refused",
            retryable=False,
        )
    capabilities = {str(k).lower(): v for k, v in as_dict(owned[0].get("capabilities")).items()}
    if capabilities.get("sms") is not True:
        raise AdapterError(f"from_number {number} cannot send SMS (capabilities)", retryable=False)
    return f"from_number {number} is the account's and can send SMS{note}; nothing sent"


def _messaging_service(adapter: TwilioAdapter) -> dict[str, Any]:
    """``GET /v1/Services/{sid}`` of the Messaging API, with the account's credentials."""
    sid = _sid(adapter.service_sid)
    if sid is None:
        raise AdapterError("messaging_service_sid is not a SID", retryable=False)
    base = MESSAGING_API if adapter.api_base == DEFAULT_API else adapter.api_base
    service = "Twilio GET Services"
    auth = adapter.auth
    try:
        response = adapter._http.get(f"{base}/v1/Services/{sid}", auth=auth)
    except httpx.HTTPError as exc:
        raise transport_error(service, exc, basic_forms(*auth)) from None
    body = json_body(service, response)
    if response.status_code == 200:
        return body
    if response.status_code == 404:
        raise AdapterError(
            f"messaging_service_sid {sid} is not a messaging service of this account",
            retryable=False,
        )
    detail = f"{body.get('message', '')} (code {body.get('code', '?')})"
    raise error_for(service, response, body, scrub(detail, basic_forms(*auth)))


SPEC = TwilioSpec("twilio", TwilioAdapter, secret_fields=("auth_token",))

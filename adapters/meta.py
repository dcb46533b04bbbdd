"""Messenger and Instagram Direct through the Meta Graph API (Conversations API): the
page's conversations polled in, ``POST /{page-id}/messages`` out.

Poll. ``GET /{page-id}/conversations?platform=messenger|instagram`` lists conversations
newest first (``id``, ``updated_time``); pages are followed by their ``after`` cursor
while ``paging.next`` is given and the page is not yet older than the stored cursor.
Each changed conversation's ``/messages`` edge is read the same way, newest first,
until its messages are older than the cursor (less :data:`OVERLAP`: a boundary read
twice is absorbed by the store's unique key on the message id). Changed conversations
are taken oldest first, :data:`STEP` a poll, a step never ending inside a group with the
same ``updated_time``; the cursor (``Cursor.state``) holds ``since`` (the newest
``updated_time`` fully taken), during a backlog ``resume`` (the newest taken so far),
``taken`` (the conversations taken at their time, within :data:`OVERLAP` of it: the
continuation is exclusive, and the listing looks back over the overlap too), and,
when more changed than :data:`MAX_PAGES` pages, ``deep`` (Graph's ``after`` cursor: the
listing goes on from there, and nothing newer is taken until the part below is), so
nothing between two steps is skipped. A timestamp that is not a Graph time quarantines
its listing entry or message. Messages from the page itself (or its Instagram account)
are ours, not inbound.

The page token goes in an ``Authorization: Bearer`` header, never in a URL we build;
Graph's own ``paging.next`` URLs carry it as ``access_token=``, so they are never
fetched (their cursor is), and the token is redacted from every error. Attachments are
announced (``<message id>#<index>``) and fetched on demand: the message's attachments
are read again for a fresh URL, which must be ``https://``; the file is downloaded
without the token, up to ``max_attachment_bytes``.

Errors are Graph error objects (``{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}``): rate limits (4, 17, 32, 613, 80001–80014) back off
for the usage headers' ``estimated_time_to_regain_access``; 190 is refused
credentials; permission errors (10, 200–299), an unavailable person (551) and a reply
outside the allowed window (subcode 2018278) are permanent, each one line.

Files (``OutboundMessage.attachments``) go after the text, one message per file, each
uploaded with its message as multipart/form-data to ``POST /{page-id}/messages``
(``recipient``, ``messaging_type`` and ``tag`` as for text, ``message`` = ``{"attachment":
{"type": "image|video|audio|file", "payload": {"is_reusable": false}}}``, the file in
``filedata``): https://developers.facebook.com/docs/messenger-platform/send-messages/saving-assets
and https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message.
Messenger takes any file up to 25 MB; Instagram only images (PNG, JPEG, up to 8 MB),
video and audio (up to 25 MB): anything else is refused in one line before any part
is sent. The Send API has no idempotency key: once a part went out, a failure is
:class:`~adapters.base.UncertainDelivery`, never resent blindly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote

import httpx

from adapters.base import (
    AdapterError,
    AuthError,
    Cursor,
    InboundAttachment,
    InboundMessage,
    OutboundAttachment,
    OutboundMessage,
    PollResult,
    RejectedItem,
    ReplyWindow,
    SecretGetter,
    Sender,
    SendResult,
)
from adapters.checks import Finding, attempt
from adapters.http_api import (
    BUDGET_KEY,
    MB,
    AnswerTooLarge,
    ApiAdapter,
    PageSize,
    credentials_of,
    json_body,
    retry_after,
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
    take_item,
)
from adapters.outbound_files import file_name, mime_type
from adapters.plain_text import split_text
from adapters.spec import HttpApiSpec

DEFAULT_API = "https://graph.facebook.com/v21.0"
FOLDER = "conversations"
#: Conversations or messages asked for per page.
PAGE_SIZE = 25
#: Pages read of one listing at most in one poll (the rest waits for the next).
MAX_PAGES = 40
#: Changed conversations whose messages are read in one poll step.
STEP = 20
#: Messages this much older than the cursor are read again (absorbed by the store).
OVERLAP = timedelta(minutes=5)
MESSAGE_FIELDS = "id,created_time,from,to,message,attachments"
#: The standard messaging window, and the HUMAN_AGENT tag's.
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT = "HUMAN_AGENT"

#: Graph error codes that are rate limits (Platform and Business Use Case limits).
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80001, 80015)})
#: Refused credentials (an expired, revoked or wrong token).
AUTH_CODES = frozenset({190, 102})
#: Missing permissions.
PERMISSION_CODES = frozenset({10, *range(200, 300)})
#: Passing failures ("unknown error", "service temporarily unavailable").
TRANSIENT_CODES = frozenset({1, 2})
#: "This message is sent outside of allowed window."
OUTSIDE_WINDOW_SUBCODE = 2018278
#: "This person isn't available right now."
UNAVAILABLE_CODE = 551
#: The largest file a Messenger (or Instagram video or audio) message carries.
FILE_LIMIT = 25 * MB
#: The largest image an Instagram message carries.
INSTAGRAM_IMAGE_LIMIT = 8 * MB
#: Content types Messenger shows as an image (others go as a file).
MESSENGER_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
#: What Instagram takes, by content type: its documented formats (PNG, JPEG; MP4, OGG,
#: AVI, MOV, WebM; AAC, M4A, WAV, MP4 audio).
INSTAGRAM_TYPES: dict[str, str] = {
    **dict.fromkeys(("image/png", "image/jpeg"), "image"),
    **dict.fromkeys(
        ("video/mp4", "video/ogg", "video/x-msvideo", "video/avi", "video/quicktime"),
        "video",
    ),
    "video/webm": "video",
    **dict.fromkeys(
        ("audio/aac", "audio/x-aac", "audio/mp4", "audio/m4a", "audio/x-m4a", "audio/wav"),
        "audio",
    ),
    **dict.fromkeys(("audio/x-wav", "audio/wave", "audio/vnd.wave"), "audio"),
}
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage")
#: Graph times start here (earlier ones are not times Graph writes).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- reading Graph JSON --------------------------------------------------------------------


def graph_time(value: Any) -> datetime | None:
    """A Graph time (``2026-11-23T09:00:00+0000``, or seconds since the epoch), aware
    and in UTC; None when it is missing or not a time."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        seconds = as_int(value, -1)
        if not 0 <= seconds <= 253402300799:
            return None
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = aware(datetime.fromisoformat(value.strip())).astimezone(UTC)
    except (ValueError, OverflowError):  # "9999-12-31T23:59:59-1400" leaves the calendar
        return None
    return when if when >= EPOCH else None


def graph_id(value: Any) -> str | None:
    """A Graph id (digits, ``t_…``, ``m_…``, Instagram's base64 ids) as text: printable
    ASCII without spaces, slashes, ``?``, ``#`` or ``%``; None otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if (
        isinstance(value, str)
        and 0 < len(value) <= 512
        and value.isascii()
        and value.isprintable()
        and not any(ch in value for ch in " /?#%&\\")
        and value not in (".", "..")
    ):
        return value
    return None


def _after(paging: Any) -> str | None:
    """The cursor of the next page: ``paging.cursors.after`` when ``paging.next`` says
    there is one (the ``next`` URL itself carries the token and is never fetched)."""
    page = as_dict(paging)
    nxt = page.get("next")
    if not isinstance(nxt, str) or not nxt:
        return None
    after = as_text(as_dict(page.get("cursors")).get("after"))
    if not after:
        found = parse_qs(httpx.URL(nxt).query.decode("ascii", "replace")).get("after")
        after = found[0] if found else ""
    return after or None


def usage_wait(headers: httpx.Headers) -> float | None:
    """Seconds until access returns, from the usage headers'
    ``estimated_time_to_regain_access`` (minutes; the largest one); None without one."""
    minutes = 0
    for name in USAGE_HEADERS:
        try:
            usage = json.loads(headers.get(name, "") or "null")
        except (ValueError, RecursionError):
            continue
        entries: list[Any] = [usage]
        if isinstance(usage, dict):  # Business Use Case: {object id: [usage, …]}
            entries += [e for v in usage.values() for e in as_list(v)]
        for entry in entries:
            minutes = max(minutes, as_int(as_dict(entry).get("estimated_time_to_regain_access")))
    return float(minutes * 60) if minutes > 0 else None


def graph_error(
    service: str, response: httpx.Response, body: Mapping[str, Any], secrets: list[str]
) -> AdapterError:
    """The adapter error a Graph error answer means, one line without the token."""
    error = as_dict(body.get("error"))
    code = as_int(error.get("code"), -1)
    subcode = as_int(error.get("error_subcode"), -1)
    try:
        sent: httpx.Request | None = response.request
    except RuntimeError:  # a response built without its request
        sent = None
    words = scrub(as_text(error.get("message"))[:300], [*secrets, *credentials_of(sent)])
    status = response.status_code
    codes = f"code {code}" + (f"/{subcode}" if subcode >= 0 else "") if code >= 0 else ""
    trace = as_text(error.get("fbtrace_id"))[:40]
    detail = ", ".join(p for p in (codes, f"fbtrace_id {trace}" if trace else "") if p)
    what = f"{service}: {status} {words}".strip() + (f" ({detail})" if detail else "")
    if code in AUTH_CODES or (code < 0 and status == 401):
        return AuthError(f"{what} — the page token is invalid or expired: set a new one")
    if code in RATE_LIMIT_CODES or status == 429:
        wait = usage_wait(response.headers) or retry_after(response, None)
        return AdapterError(f"{what} — rate limited", retry_after=wait)
    if subcode == OUTSIDE_WINDOW_SUBCODE:
        return AdapterError(
            f"{what} — outside the allowed messaging window: wait for the customer to write",
            retryable=False,
        )
    if code == UNAVAILABLE_CODE:
        return AdapterError(f"{what} — this person cannot be messaged now", retryable=False)
    if code in PERMISSION_CODES:
        return AdapterError(f"{what} — the app or page token lacks a permission", retryable=False)
    if code in TRANSIENT_CODES or status >= 500:
        return AdapterError(what)
    return AdapterError(what, retryable=False)


def _text_pieces(text: str, chars: int, max_bytes: int) -> list[str]:
    """``text`` in pieces of at most ``chars`` characters and ``max_bytes`` UTF-8 bytes."""
    pieces: list[str] = []
    for piece in split_text(text, chars):
        size = len(piece.encode("utf-8", "surrogatepass"))
        if size <= max_bytes or len(piece) <= 1:
            pieces.append(piece)
        else:
            pieces += _text_pieces(piece, max(1, len(piece) * max_bytes // size), max_bytes)
    return pieces


@dataclass(frozen=True)
class Listed:
    """A conversation the listing named as changed."""

    id: str
    updated: datetime


# -- the adapter -----------------------------------------------------------------------------


class MetaAdapter(ApiAdapter):
    """One Facebook Page's Messenger (or its Instagram account's Direct) inbox.
    Settings: ``api_base`` (with the version), ``page_id``, ``human_agent`` (used by the
    reply window), and the limits of :class:`~adapters.http_api.ApiAdapter`."""

    kind = "messenger"
    platform = "messenger"
    label = "Messenger"
    token_field = "page_token"
    default_api_base = DEFAULT_API
    #: A reply's longest piece, in characters and in UTF-8 bytes.
    text_chars = 2000
    text_bytes = 1 << 20

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        secret: SecretGetter,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name, settings, secret, transport=transport)
        page = settings.get("page_id")
        if isinstance(page, bool) or not (
            (isinstance(page, int) and page > 0) or (isinstance(page, str) and page.isdigit())
        ):
            raise AdapterError(
                f"{name}: page_id is missing or not a Facebook Page id (digits)", retryable=False
            )
        self.page_id = str(page)
        human_agent = settings.get("human_agent", False)
        if not isinstance(human_agent, bool):
            raise AdapterError(f"{name}: human_agent must be true or false", retryable=False)
        self.human_agent = human_agent
        self.pages = PageSize(PAGE_SIZE)
        self._own: frozenset[str] | None = None

    # -- requests --

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One Graph call (``path`` below ``api_base``), the token in a Bearer header."""
        service = f"{self.label} {method} {path.split('?')[0][:60]}"
        token = self.token
        try:
            response = self._http.request(
                method,
                f"{self.api_base}{path}",
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [token]) from None
        return self._answer(service, response, token)

    def post_file(self, fields: Mapping[str, Any], file: OutboundAttachment) -> dict[str, Any]:
        """``POST /{page-id}/messages`` as multipart/form-data: ``fields`` as form values
        (objects JSON-serialised) and ``file`` as ``filedata``, within
        ``attachment_timeout_seconds``. A body Graph refuses as too large (413) is a
        permanent one-line error."""
        service = f"{self.label} POST /{self.page_id}/messages (file)"
        token = self.token
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        upload = (file_name(file.filename), file.content, mime_type(file.content_type))
        try:
            response = self._http.post(
                f"{self.api_base}/{self.page_id}/messages",
                data=data,
                files={"filedata": upload},
                headers={"Authorization": f"Bearer {token}"},
                timeout=httpx.Timeout(self.limits.timeout),
                extensions={BUDGET_KEY: self.limits.attachment_timeout},
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [token]) from None
        if response.status_code == 413:
            raise AdapterError(
                f"{service}: 413 Graph refused {len(file.content):,} bytes as too large",
                retryable=False,
            )
        return self._answer(service, response, token)

    def _answer(self, service: str, response: httpx.Response, token: str) -> dict[str, Any]:
        """The JSON of a good answer, or the :class:`AdapterError` a Graph error means."""
        answer = json_body(service, response)
        if response.status_code == 200 and "error" not in answer:
            return answer
        raise graph_error(service, response, answer, [token])

    def own_ids(self) -> frozenset[str]:
        """The ids whose messages are ours: the page's (and its Instagram account's)."""
        if self._own is None:
            self._own = frozenset({self.page_id})
        return self._own

    def _listing(
        self,
        path: str,
        params: Mapping[str, str],
        floor: datetime | None,
        when: str,
        start: str | None = None,
    ) -> tuple[list[Any], str | None]:
        """Items of a newest-first listing (from Graph's ``after`` cursor ``start``)
        until one is older than ``floor``, a page at a time (``PageSize`` halves a page
        too large), at most :data:`MAX_PAGES`. With them the cursor to go on from when
        the listing was cut short there (the last page's own cursor, so that page is
        read again), None when it was read to ``floor`` or to its end."""

        def read(size: int) -> tuple[list[Any], str | None]:
            items: list[Any] = []
            after = start
            for _page in range(MAX_PAGES):
                this = after
                query = {**params, "limit": str(size), **({"after": this} if this else {})}
                answer = self.request("GET", path, params=query)
                page = answer.get("data")
                if not isinstance(page, list):
                    raise AdapterError(f"{self.label} {path}: malformed answer (no data list)")
                items += page
                self.pages.got(len(page))  # a short page: full pages again next time
                older = [graph_time(as_dict(i).get(when)) for i in page]
                if floor is not None and any(t is not None and t < floor for t in older):
                    return items, None
                after = _after(answer.get("paging"))
                if after is None:
                    return items, None
            # cut short: the last page again (``this``), unless that is where it began
            return items, this if this and this != start else after

        return self.pages.fetch(read, "item")

    # -- poll --

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """Messages of the conversations changed since the cursor, oldest conversation
        first, :data:`STEP` a poll (a step never ends inside a group of conversations
        with the same ``updated_time``). Each listed conversation and each message is
        read on its own: one that cannot be used goes to ``rejected`` and the cursor
        moves on.

        The cursor: ``since`` (messages are read back to it, less :data:`OVERLAP`),
        ``resume`` during a backlog (the newest ``updated_time`` taken), ``taken`` (the
        conversations taken at their ``updated_time`` within :data:`OVERLAP` of it: a
        conversation is due when it is newer than that, or listed at another time than
        it was taken at), and ``deep`` (Graph's ``after`` cursor) while the changed
        conversations are more than one poll's listing: the listing goes on from there
        each poll, and nothing above it is taken until the part below is."""
        state = cursors.get(FOLDER, Cursor(FOLDER)).state
        since = graph_time(state.get("since"))
        resume = graph_time(state.get("resume"))
        position = resume or since
        taken = _taken_of(state.get("taken"))
        deep = state.get("deep")
        deep = deep if isinstance(deep, str) and 0 < len(deep) <= 4096 else None
        # during a backlog, from the newest taken; else back over the overlap too
        if resume is not None:
            floor: datetime | None = resume
        else:
            floor = _minus(since, OVERLAP)
        own = self.own_ids()
        result = PollResult()
        path = f"/{self.page_id}/conversations"
        params = {"platform": self.platform, "fields": "id,updated_time"}
        try:
            listing, rest = self._listing(path, params, floor, "updated_time", deep)
        except AdapterError as exc:
            if deep is None or exc.retryable or isinstance(exc, AuthError | AnswerTooLarge):
                raise
            deep = None  # Graph no longer takes the stored cursor: from the top again
            listing, rest = self._listing(path, params, floor, "updated_time")
        changed: list[Listed] = []
        for item in listing:
            conv = as_dict(item)
            cid, updated = graph_id(conv.get("id")), graph_time(conv.get("updated_time"))
            if cid is None or updated is None:
                problem = Unusable("conversation without an id or a usable updated_time")
                result.rejected.append(rejected(item, problem, folder=FOLDER))
            else:
                changed.append(Listed(cid, updated))
        oldest = min((c.updated for c in changed), default=None)
        if rest is not None and position is not None and (oldest is None or oldest > position):
            # cut short above what was taken: deeper next poll, nothing newer taken now
            # (a first sync, without a cursor, takes the newest listing's conversations)
            result.more = True
            deep_state = {**state, "deep": rest}
            result.cursors.append(Cursor(FOLDER, deep_state))
            return result
        newest: dict[str, Listed] = {}
        for listed in sorted(changed, key=lambda c: c.updated):
            newest[listed.id] = listed  # a conversation listed twice: its latest time
        ordered = sorted(
            (
                c
                for c in newest.values()
                if (floor is None or c.updated >= floor) and taken.get(c.id) != c.updated
            ),
            key=lambda c: c.updated,
        )
        end = min(STEP, len(ordered))
        while 0 < end < len(ordered) and ordered[end].updated == ordered[end - 1].updated:
            end += 1  # never end a step inside a group with the same time
        step = ordered[:end]
        message_floor = _minus(since, OVERLAP)
        for listed in step:
            try:
                items, _cut = self._listing(
                    f"/{quote(listed.id, safe='')}/messages",
                    {"fields": MESSAGE_FIELDS},
                    message_floor,
                    "created_time",
                )
            except AdapterError as exc:
                if exc.retryable or isinstance(exc, AuthError | AnswerTooLarge):
                    raise  # passing, or the account's own problem: the poll retries
                result.rejected.append(_unreadable(listed, exc))
                continue
            for item in items:
                self._take(listed.id, item, own, message_floor, result)
        for listed in step:
            taken[listed.id] = listed.updated
        if step:
            position = max(step[-1].updated, position or step[-1].updated)
        left = len(ordered) > len(step)
        if deep is not None and not left:
            deep = None  # all below the stored cursor is taken: the rest lies above it
            result.more = True
        if left or result.more:
            result.more = True
            new: dict[str, Any] = {"since": _iso(since), "resume": _iso(position)}
        else:
            new = {"since": _iso(position)}
        new["deep"] = deep
        if position is not None:
            keep = _minus(position, OVERLAP)
            new["taken"] = {
                cid: _iso(when)
                for cid, when in sorted(taken.items(), key=lambda kv: (kv[1], kv[0]))
                if keep is None or when >= keep
            } or None
        result.cursors.append(Cursor(FOLDER, {k: v for k, v in new.items() if v is not None}))
        return result

    def _take(
        self,
        conversation: str,
        item: Any,
        own: frozenset[str],
        floor: datetime | None,
        result: PollResult,
    ) -> None:
        """One message into ``result``: inbound, skipped (ours, older than the
        cursor), or rejected (unusable, or over ``max_item_bytes``)."""
        message_id = graph_id(as_dict(item).get("id"))
        created = graph_time(as_dict(item).get("created_time"))
        if floor is not None and created is not None and created < floor:
            return
        wrapped = {"conversation": conversation, "ours": sorted(own), "message": item}
        take_item(
            result,
            wrapped,
            self._inbound,
            max_item=self.limits.max_item,
            folder=FOLDER,
            external_id=message_id,
        )

    def reparse(
        self, external_id: str, raw: bytes, raw_type: str, folder: str
    ) -> list[InboundMessage]:
        """The message in a quarantined item's JSON, read again without the network
        (``omnitui quarantine retry``); [] for one of ours."""
        inbound = self._inbound(loads(raw))
        return [inbound] if inbound is not None else []

    def _inbound(self, wrapped: Any) -> InboundMessage | None:
        """The customer's message in ``{"conversation", "ours", "message"}``; None for
        the page's own; raises when it cannot be used."""
        outer = as_dict(wrapped)
        conversation = graph_id(outer.get("conversation"))
        if conversation is None:
            raise Unusable("no conversation id")
        message = outer.get("message")
        if not isinstance(message, dict):
            raise Unusable("message is not an object")
        message_id = graph_id(message.get("id"))
        if message_id is None:
            raise Unusable("no message id")
        sender = as_dict(message.get("from"))
        sender_id = graph_id(sender.get("id"))
        if sender_id is None:
            raise Unusable("no sender id")
        ours = {as_text(i) for i in as_list(outer.get("ours"))} | {self.page_id}
        if sender_id in ours:
            return None
        sent_at = graph_time(message.get("created_time"))
        if sent_at is None:
            raise Unusable("no created_time")
        name = as_text(sender.get("name")) or as_text(sender.get("username"))
        attachments = tuple(_attachments(message_id, message.get("attachments")))
        text = as_text(message.get("message"))
        if not text and not attachments:
            text = "(unsupported message: sticker, share, story reply or similar)"
        recipients = as_list(as_dict(message.get("to")).get("data"))
        return InboundMessage(
            external_id=message_id,
            channel=self.kind,
            sender=Sender(self.kind, sender_id, name),
            sent_at=sent_at,
            text=text,
            to=tuple(i for r in recipients if (i := graph_id(as_dict(r).get("id")))),
            thread_key=conversation,
            raw=raw_json(wrapped),
            raw_type="application/json",
            attachments=attachments,
        )

    # -- attachments --

    def fetch_attachment(self, remote_ref: str) -> bytes:
        """Download an attachment (``<message id>#<index>``): read the message's
        attachments again for a fresh URL, which must be ``https://``; the file is
        fetched without the token, up to ``max_attachment_bytes``."""
        message_id, _, index = remote_ref.rpartition("#")
        if graph_id(message_id) is None or not (index.isascii() and index.isdigit()):
            raise AdapterError(f"{self.label}: not an attachment reference", retryable=False)
        answer = self.request(
            "GET", f"/{quote(message_id, safe='')}", params={"fields": "attachments"}
        )
        found = as_list(as_dict(answer.get("attachments")).get("data"))
        if int(index) >= len(found):
            raise AdapterError(f"{self.label}: the attachment is gone", retryable=False)
        url = _file_url(as_dict(found[int(index)]))
        what = f"{self.label} attachment"
        parsed = self.media_url(url or "", what)
        if parsed.scheme != "https":
            raise AdapterError(f"{what}: refused a URL that is not https://", retryable=False)
        return self.download(parsed, what=what)

    # -- send --

    def attachment_type(self, file: OutboundAttachment) -> str:
        """The Send API attachment type ``file`` goes as (``image``, ``video``,
        ``audio``, ``file``); a one-line permanent error for one Messenger cannot carry
        (over 25 MB)."""
        kind = mime_type(file.content_type)
        if len(file.content) > FILE_LIMIT:
            raise self._refused(file, f"over {FILE_LIMIT // MB} MB")
        if kind in MESSENGER_IMAGES:
            return "image"
        major = kind.split("/", 1)[0]
        return major if major in ("video", "audio") else "file"

    def _refused(self, file: OutboundAttachment, why: str) -> AdapterError:
        name = file_name(file.filename)
        return AdapterError(
            f"{self.label} cannot carry {name!r} ({len(file.content):,} bytes, "
            f"{mime_type(file.content_type)[:60]}): {why}; nothing was sent",
            retryable=False,
        )

    def send(self, message: OutboundMessage) -> SendResult:
        """``POST /{page-id}/messages``: a ``RESPONSE`` in the standard window, or a
        ``MESSAGE_TAG`` with the tag the reply was queued with (``HUMAN_AGENT``); long
        texts go in pieces, then one message per file (multipart ``filedata``). Every
        file is checked before anything goes; a failure after a part went out is
        :class:`~adapters.base.UncertainDelivery`."""
        if not message.to:
            raise AdapterError(f"{self.label}: no recipient for this conversation", retryable=False)
        if message.template:
            raise AdapterError(f"{self.label}: templates cannot be sent here", retryable=False)
        files = [(file, self.attachment_type(file)) for file in message.attachments]
        base: dict[str, Any] = {"recipient": {"id": message.to}, "messaging_type": "RESPONSE"}
        if message.tag:
            base["messaging_type"] = "MESSAGE_TAG"
            base["tag"] = message.tag
        pieces = _text_pieces(message.text, self.text_chars, self.text_bytes)
        if files and not message.text.strip():
            pieces = []
        first = ""
        for n, piece in enumerate(pieces):
            try:
                sent = self.request(
                    "POST",
                    f"/{self.page_id}/messages",
                    body={**base, "message": {"text": piece}},
                )
            except AdapterError as exc:
                raise send_failure(exc, n) from None
            first = first or as_text(sent.get("message_id"))
        for n, (file, kind) in enumerate(files, start=len(pieces)):
            attachment = {"type": kind, "payload": {"is_reusable": False}}
            try:
                sent = self.post_file({**base, "message": {"attachment": attachment}}, file)
            except AdapterError as exc:
                raise send_failure(exc, n) from None
            first = first or as_text(sent.get("message_id"))
        return SendResult(provider_id=first, external_id=first or None)


class InstagramAdapter(MetaAdapter):
    """Instagram Direct of the professional account linked to ``page_id``, through the
    page token (Messenger API for Instagram)."""

    kind = "instagram"
    platform = "instagram"
    label = "Instagram"
    text_chars = 1000
    #: Instagram takes text of up to 1,000 bytes.
    text_bytes = 1000

    def attachment_type(self, file: OutboundAttachment) -> str:
        """Instagram takes images (PNG, JPEG, up to 8 MB), video and audio (up to 25 MB)
        in their documented formats; anything else is a one-line permanent error."""
        kind = INSTAGRAM_TYPES.get(mime_type(file.content_type))
        if kind is None:
            raise self._refused(
                file, "Instagram takes only images (PNG, JPEG), video and audio: share a link"
            )
        limit = INSTAGRAM_IMAGE_LIMIT if kind == "image" else FILE_LIMIT
        if len(file.content) > limit:
            raise self._refused(file, f"an Instagram {kind} is at most {limit // MB} MB")
        return kind

    def own_ids(self) -> frozenset[str]:
        """The page's id and its linked Instagram account's (asked once)."""
        if self._own is None:
            self._own = frozenset({self.page_id, self.instagram_account()[0]})
        return self._own

    def instagram_account(self) -> tuple[str, str]:
        """The id and username of the Instagram account linked to the page."""
        answer = self.request(
            "GET",
            f"/{self.page_id}",
            params={"fields": "instagram_business_account{id,username}"},
        )
        account = as_dict(answer.get("instagram_business_account"))
        ig_id = graph_id(account.get("id"))
        if ig_id is None:
            raise AdapterError(
                f"page {self.page_id} has no linked Instagram professional account",
                retryable=False,
            )
        return ig_id, as_text(account.get("username"))


def _unreadable(listed: Listed, exc: AdapterError) -> RejectedItem:
    """A conversation whose messages Graph refuses for good (deleted, not the page's):
    quarantined with its listing entry and Graph's one-line answer, so it does not
    hold back the cursor."""
    entry = {"id": listed.id, "updated_time": _iso(listed.updated)}
    return RejectedItem(
        external_id=f"conversation:{listed.id}@{_iso(listed.updated)}",
        raw=raw_json(entry),
        error=f"messages unreadable: {exc}"[:500],
        folder=FOLDER,
    )


def _minus(value: datetime | None, delta: timedelta) -> datetime | None:
    """``value - delta``; the calendar's first moment rather than an OverflowError."""
    if value is None:
        return None
    try:
        return value - delta
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def _taken_of(value: Any) -> dict[str, datetime]:
    """The cursor's ``taken`` (conversation id -> the ``updated_time`` it was taken
    at); entries that are not an id and a time are left out (read again)."""
    found: dict[str, datetime] = {}
    for key, when in as_dict(value).items():
        cid, at = graph_id(key), graph_time(when)
        if cid is not None and at is not None:
            found[cid] = at
    return found


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _file_url(attachment: dict[str, Any]) -> str | None:
    """An attachment's download URL: ``image_data.url``, ``video_data.url`` or
    ``file_url``."""
    for url in (
        as_dict(attachment.get("image_data")).get("url"),
        as_dict(attachment.get("video_data")).get("url"),
        attachment.get("file_url"),
    ):
        if isinstance(url, str) and url:
            return url
    return None


def _attachments(message_id: str, value: Any) -> list[InboundAttachment]:
    """The files a message announces (those with a URL), fetched on demand."""
    found: list[InboundAttachment] = []
    for n, item in enumerate(as_list(as_dict(value).get("data"))):
        attachment = as_dict(item)
        if _file_url(attachment) is None:
            continue
        if attachment.get("image_data"):
            kind, default = "image/jpeg", "image"
        elif attachment.get("video_data"):
            kind, default = "video/mp4", "video"
        else:
            kind, default = "application/octet-stream", "file"
        found.append(
            InboundAttachment(
                as_text(attachment.get("name"))[:200] or f"{default}-{n + 1}",
                as_text(attachment.get("mime_type"))[:100] or kind,
                max(0, as_int(attachment.get("size"))),
                remote_ref=f"{message_id}#{n}",
            )
        )
    return found


# -- the specs -------------------------------------------------------------------------------


def meta_reply_window(
    settings: Mapping[str, Any], last_inbound_at: datetime | None, now: datetime, label: str
) -> ReplyWindow:
    """Meta's rule: free text for 24 hours after the customer's last message; then, with
    the HUMAN_AGENT permission (``human_agent = true``), tagged replies until 7 days;
    otherwise nothing until the customer writes again."""
    if last_inbound_at is None:
        return ReplyWindow(
            "closed", reason=f"{label}: the customer has not written; only they can open a chat"
        )
    last, now = aware(last_inbound_at), aware(now)
    standard = last + STANDARD_WINDOW
    if now < standard:
        return ReplyWindow(
            "open", until=standard, reason=f"{label}: 24-hour window open until {_at(standard)}"
        )
    tagged = last + HUMAN_AGENT_WINDOW
    human_agent = settings.get("human_agent") is True
    if human_agent and now < tagged:
        return ReplyWindow(
            "tagged",
            until=tagged,
            tag=HUMAN_AGENT,
            reason=f"{label}: 24-hour window closed; HUMAN_AGENT replies until {_at(tagged)}",
        )
    if human_agent:
        reason = f"{label}: the 7-day HUMAN_AGENT window closed {_at(tagged)}"
    else:
        reason = (
            f"{label}: the 24-hour window closed {_at(standard)} "
            "(the HUMAN_AGENT permission would allow 7 days)"
        )
    return ReplyWindow("closed", reason=f"{reason}; wait for the customer to write")


def _at(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class MetaSpec(HttpApiSpec[MetaAdapter]):
    """``omnitui doctor``: ``GET /{page-id}?fields=id,name`` answers with the token; for
    receive, the conversations of the platform can be listed; for send, the token is
    the page's own (``/me`` is the page). Nothing is sent."""

    def probe(self, adapter: MetaAdapter) -> Any:
        return adapter.request("GET", f"/{adapter.page_id}", params={"fields": "id,name"})

    def summary(self, adapter: MetaAdapter, answer: Any) -> str:
        return f"page {as_text(as_dict(answer).get('name')) or '?'} ({adapter.page_id})"

    def findings(self, adapter: MetaAdapter, answer: Any) -> list[Finding]:
        page = self.summary(adapter, answer)

        def receive() -> str:
            found = page
            if isinstance(adapter, InstagramAdapter):
                ig_id, username = adapter.instagram_account()
                found = f"Instagram @{username or ig_id} of {page}"
            adapter.request(
                "GET",
                f"/{adapter.page_id}/conversations",
                params={"platform": adapter.platform, "fields": "id", "limit": "1"},
            )
            return f"{found}: reads {adapter.label} conversations (Conversations API)"

        def send() -> str:
            me = graph_id(as_dict(adapter.request("GET", "/me", params={"fields": "id"})).get("id"))
            if me != adapter.page_id:
                raise AdapterError(
                    f"the token is not page {adapter.page_id}'s page token (it is {me or '?'}'s): "
                    "replies would be refused",
                    retryable=False,
                )
            tag = "HUMAN_AGENT for 7 days" if adapter.human_agent else "no HUMAN_AGENT tag"
            return (
                f"{page}: replies by POST /{adapter.page_id}/messages (24 h; {tag}); nothing sent"
            )

        return [attempt("receive", receive), attempt("send", send)]

    def reply_window(
        self,
        settings: Mapping[str, Any],
        last_inbound_at: datetime | None,
        sent_since: int,
        now: datetime,
    ) -> ReplyWindow:
        """24 hours, then 7 days with HUMAN_AGENT when ``human_agent`` is true."""
        label = "Instagram" if self.kind == "instagram" else "Messenger"
        return meta_reply_window(settings, last_inbound_at, now, label)

    def max_file_bytes(self, settings: Mapping[str, Any]) -> int:
        """25 MB: Messenger's limit per attachment, and Instagram's for video and audio
        (an Instagram image over 8 MB, or a file that is not an image, video or audio,
        is refused in one line at send time, before anything goes)."""
        return FILE_LIMIT


MESSENGER_SPEC = MetaSpec("messenger", MetaAdapter, secret_fields=("page_token",))
INSTAGRAM_SPEC = MetaSpec("instagram", InstagramAdapter, secret_fields=("page_token",))

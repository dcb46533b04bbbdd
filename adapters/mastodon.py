"""The Mastodon channel: mentions and direct messages in (``/api/v1/notifications``),
replies out (``POST /api/v1/statuses``) with the customer's visibility kept (a direct
message is answered directly) and an ``Idempotency-Key`` per outbox item, so a retry
never posts twice.

Files (``OutboundMessage.attachments``): Mastodon takes media only (``image/*``,
``video/*``, ``audio/*``; anything else is a one-line error before anything is sent),
at most 4 per status. Each is uploaded by ``POST /api/v2/media`` (multipart ``file``);
an answer of 202 means it is still being processed, and ``GET /api/v1/media/:id`` is
asked (a bounded number of times) until it answers 200. The reply's first status then
carries ``media_ids[]``. A retry uploads the files again (the unused copies are never
attached) but posts no status twice: the Idempotency-Key of each part is the same. See
https://docs.joinmastodon.org/methods/media/ and
https://docs.joinmastodon.org/methods/statuses/#create.

Limits (``adapters/http_api.py``): a notifications page over ``max_response_bytes`` is
asked again at once with half the ``limit``, down to one; a notification over
``max_item_bytes`` is quarantined cut to that size; media are downloaded on demand, up
to ``max_attachment_bytes``, only from ``https://`` URLs (or the instance's own
``api_base``) and never with the access token.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlparse

import httpx

from adapters.base import (
    AdapterError,
    Cursor,
    InboundAttachment,
    InboundMessage,
    OutboundAttachment,
    OutboundMessage,
    PollResult,
    SecretGetter,
    Sender,
    SendResult,
)
from adapters.checks import Finding, failed, passed
from adapters.http_api import (
    BUDGET_KEY,
    MB,
    ApiAdapter,
    PageSize,
    error_for,
    json_body,
    scrub,
    transport_error,
)
from adapters.json_items import (
    Unusable,
    as_list,
    as_text,
    aware,
    ident,
    loads,
    raw_json,
    take_item,
)
from adapters.outbound_files import file_name
from adapters.plain_text import html_to_text, split_text
from adapters.spec import HttpApiSpec, both_failed

FOLDER = "notifications"
PAGE = 40
#: Default status length on Mastodon instances; longer replies become a thread.
STATUS_LIMIT = 500
VISIBILITY_ORDER = ("direct", "private", "unlisted", "public")
#: What a reply may carry in files: the usual instance limit for an image (16 MB).
FILE_LIMIT = 16 * MB
#: Media a status may carry.
MAX_MEDIA = 4
#: The content types Mastodon takes as media.
MEDIA_TYPES = re.compile(r"(?:image|video|audio)/[a-z0-9][\w!#$&^.+-]{0,126}")


def _rate_limit_wait(response: httpx.Response) -> float | None:
    reset = response.headers.get("X-RateLimit-Reset")
    if not reset:
        return None
    try:
        when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 1.0)


def _notification_id(notification: Any) -> str | None:
    """A notification's id, when it is one that can be sent back as ``min_id``."""
    if not isinstance(notification, dict):
        return None
    value = notification.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if (
        isinstance(value, str)
        and 0 < len(value) <= 255
        and value.isprintable()
        and not any(ch.isspace() for ch in value)
    ):
        return value
    return None


def _order(notification: dict[str, Any]) -> int:
    """Sort key: numeric ids (Mastodon's) by value, others first."""
    known = _notification_id(notification) or ""
    return int(known) if known.isascii() and known.isdigit() else 0


def _created(value: Any) -> datetime | None:
    """An ISO 8601 ``created_at``, aware; None when missing or not a date."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


class MastodonAdapter(ApiAdapter):
    """One Mastodon account. Settings: ``api_base`` (the instance URL), and the limits
    of :class:`~adapters.http_api.ApiAdapter`."""

    kind = "mastodon"
    token_field = "access_token"

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        secret: SecretGetter,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name, settings, secret, transport=transport)
        self.host = urlparse(self.api_base).hostname or "localhost"
        #: Notifications per page: halved while pages are too large.
        self.pages = PageSize(PAGE)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        payload: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One API call; the decoded JSON or an :class:`AdapterError`."""
        service = f"Mastodon {method} {path}"
        try:
            response = self._http.request(
                method,
                f"{self.api_base}{path}",
                params=params,
                json=dict(payload) if payload is not None else None,
                headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [self.token]) from None
        return self._answer(service, response)

    def _answer(self, service: str, response: httpx.Response, ok: tuple[int, ...] = (200,)) -> Any:
        """The decoded JSON of an answer whose status is in ``ok``, or the
        :class:`AdapterError` the answer means."""
        if response.status_code in ok:
            try:
                return response.json()
            except (ValueError, RecursionError):  # not JSON, or nested too deep to read
                raise AdapterError(f"{service}: malformed answer (not JSON)") from None
        body: dict[str, Any] | None
        try:
            body = json_body(service, response)
        except AdapterError:
            body = None
        description = scrub(str((body or {}).get("error", "")), [self.token])
        error = error_for(service, response, body, description)
        if response.status_code == 429 and error.retry_after is None:
            error.retry_after = _rate_limit_wait(response)
        raise error

    def address(self, account: Mapping[str, Any]) -> str:
        """``@user@instance`` for any account (local accounts get our host)."""
        acct = as_text(account.get("acct")).lstrip("@")
        return "@" + (acct if "@" in acct else f"{acct}@{self.host}")

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """Mentions (and so direct messages) newer than the stored id, oldest first;
        pages forward with ``min_id`` until a page comes back empty. Each notification
        is read on its own: one that cannot be used goes to ``rejected``."""
        newest = cursors.get(FOLDER, Cursor(FOLDER)).state.get("min_id")
        collected: list[Any] = []
        for _page in range(50):
            page = self._notifications(newest)
            ordered = sorted((n for n in page if _notification_id(n) is not None), key=_order)
            collected += ordered + [n for n in page if _notification_id(n) is None]
            last = not self.pages.got(len(page))
            if not ordered:
                break
            newest = _notification_id(ordered[-1])
            if last:
                break
        result = PollResult()
        for notification in collected:
            known = _notification_id(notification)
            take_item(
                result,
                notification,
                self._inbound,
                max_item=self.limits.max_item,
                folder=FOLDER,
                external_id=f"notification:{known}" if known is not None else None,
            )
        if newest:
            result.cursors.append(Cursor(FOLDER, {"min_id": newest}))
        return result

    def _notifications(self, newest: str | None) -> list[Any]:
        """One page of mentions after ``newest``, its ``limit`` halved while the answer
        is too large (:class:`PageSize`)."""

        def ask(limit: int) -> Any:
            params: list[tuple[str, Any]] = [("types[]", "mention"), ("limit", limit)]
            if newest:
                params.append(("min_id", newest))
            return self.request("GET", "/api/v1/notifications", params=params)

        page = self.pages.fetch(ask, "notification")
        if not isinstance(page, list):
            raise AdapterError("Mastodon notifications: malformed answer (not a list)")
        return page

    def fetch_attachment(self, remote_ref: str) -> bytes:
        """Download a status's medium by its URL: ``https://`` (a media host may be
        another server) or on ``api_base`` itself, without the access token, up to
        ``max_attachment_bytes``."""
        what = "Mastodon media download"
        url = self.media_url(remote_ref, what)
        return self.download(url, what=what)

    def reparse(
        self, external_id: str, raw: bytes, raw_type: str, folder: str
    ) -> list[InboundMessage]:
        """The message in a quarantined notification's JSON, read again without the
        network (``omnitui quarantine retry``); [] for one that is ignored on purpose."""
        inbound = self._inbound(loads(raw))
        return [inbound] if inbound is not None else []

    def _inbound(self, notification: Any) -> InboundMessage | None:
        """The mention a notification carries; None for other notification types;
        raises when it cannot be used (no status, no status id, no sender)."""
        if not isinstance(notification, dict):
            raise Unusable("notification is not an object")
        if notification.get("type") != "mention":
            return None
        status = notification.get("status")
        if not isinstance(status, dict):
            raise Unusable("mention without a status")
        status_id = ident(status.get("id"))
        if status_id is None:
            raise Unusable("status without an id")
        account = notification.get("account")
        if not isinstance(account, dict) or not as_text(account.get("acct")):
            account = status.get("account")  # the status's author is the same account
        if not isinstance(account, dict) or not as_text(account.get("acct")):
            raise Unusable("no sender account")
        address = self.address(account)
        sent_at = _created(status.get("created_at")) or _created(notification.get("created_at"))
        attachments = tuple(
            InboundAttachment(
                as_text(m.get("description"))
                or f"{as_text(m.get('type')) or 'media'}-{as_text(m.get('id'))}",
                {"image": "image/*", "video": "video/*", "gifv": "video/*", "audio": "audio/*"}.get(
                    as_text(m.get("type")), "application/octet-stream"
                ),
                0,
                remote_ref=as_text(m.get("url")),
            )
            for m in as_list(status.get("media_attachments"))
            if isinstance(m, dict)
        )
        return InboundMessage(
            external_id=status_id,
            channel="mastodon",
            sender=Sender("mastodon", address, as_text(account.get("display_name"))),
            sent_at=sent_at or datetime.now(UTC),
            text=html_to_text(as_text(status.get("content"))),
            thread_key=address,
            raw=raw_json(notification),
            raw_type="application/json",
            attachments=attachments,
        )

    #: Seconds between two asks whether an uploaded medium is processed, and how many
    #: asks at most (``GET /api/v1/media/:id``).
    media_wait_seconds = 1.0
    media_wait_tries = 60

    def upload_media(self, file: OutboundAttachment) -> str:
        """Upload ``file`` (``POST /api/v2/media``, within
        ``attachment_timeout_seconds``) and wait, bounded, until it is processed; its
        media id. A refusal (too large, a type the instance does not take) is a
        permanent one-line error."""
        service = "Mastodon POST /api/v2/media"
        try:
            response = self._http.post(
                f"{self.api_base}/api/v2/media",
                files={"file": (file_name(file.filename), file.content, _media_type(file))},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=httpx.Timeout(self.limits.timeout),
                extensions={BUDGET_KEY: self.limits.attachment_timeout},
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [self.token]) from None
        if response.status_code == 413:
            raise AdapterError(
                f"{service}: 413 the instance refused {len(file.content):,} bytes as too large",
                retryable=False,
            )
        media = self._answer(service, response, ok=(200, 202))
        media_id = ident(media.get("id")) if isinstance(media, dict) else None
        if media_id is None:
            raise AdapterError(f"{service}: malformed answer (no media id)")
        if response.status_code == 202:
            self._wait_processed(media_id)
        return media_id

    def _wait_processed(self, media_id: str) -> None:
        """Ask ``GET /api/v1/media/:id`` until it answers 200 (206: still processing),
        at most :attr:`media_wait_tries` times; a retryable error after that."""
        service = "Mastodon GET /api/v1/media"
        for _try in range(self.media_wait_tries):
            try:
                response = self._http.get(
                    f"{self.api_base}/api/v1/media/{quote(media_id, safe='')}",
                    headers={"Authorization": f"Bearer {self.token}"},
                )
            except httpx.HTTPError as exc:
                raise transport_error(service, exc, [self.token]) from None
            if response.status_code == 200:
                return
            if response.status_code != 206:
                self._answer(service, response)  # raises the error the answer means
            if _try + 1 < self.media_wait_tries:
                time.sleep(self.media_wait_seconds)
        raise AdapterError(f"{service}: a file was still being processed; will try again")

    def send(self, message: OutboundMessage) -> SendResult:
        """Reply to the customer's status with its visibility (never wider); a reply
        longer than one status becomes a thread, its first status carrying the files.
        Each part carries an Idempotency-Key derived from the outbox id, so a retry
        after a lost answer posts nothing twice."""
        _check_media(message.attachments)
        reply_to = message.reply_to_external_id
        visibility = "direct"
        if reply_to:
            original = self.request("GET", f"/api/v1/statuses/{reply_to}")
            if isinstance(original, dict) and original.get("visibility") in VISIBILITY_ORDER:
                visibility = str(original["visibility"])
        mention = message.to if message.to.startswith("@") else f"@{message.to}"
        pieces = split_text(message.text, STATUS_LIMIT - len(mention) - 1)
        media_ids = [self.upload_media(file) for file in message.attachments]
        first_id = ""
        for n, piece in enumerate(pieces):
            status = f"{mention} {piece}".rstrip()
            payload: dict[str, Any] = {"status": status, "visibility": visibility}
            if reply_to:
                payload["in_reply_to_id"] = reply_to
            if n == 0 and media_ids:
                payload["media_ids"] = media_ids
            posted = self.request(
                "POST",
                "/api/v1/statuses",
                payload=payload,
                headers={"Idempotency-Key": f"omnitui-{self.name}-{message.outbox_id}-{n}"},
            )
            if not isinstance(posted, dict) or "id" not in posted:
                raise AdapterError("Mastodon statuses: malformed answer (no status id)")
            reply_to = str(posted["id"])
            first_id = first_id or reply_to
        return SendResult(provider_id=first_id, external_id=first_id)


def _media_type(file: OutboundAttachment) -> str:
    """The file's content type without parameters, lower case."""
    return file.content_type.split(";", 1)[0].strip().lower()


def _check_media(files: tuple[OutboundAttachment, ...]) -> None:
    """Refuse, in one line and before anything is sent, what Mastodon cannot carry:
    more than :data:`MAX_MEDIA` files, or a file that is not an image, video or audio."""
    if len(files) > MAX_MEDIA:
        raise AdapterError(
            f"Mastodon: a status carries at most {MAX_MEDIA} files, this reply has {len(files)}",
            retryable=False,
        )
    for file in files:
        kind = _media_type(file)
        if not MEDIA_TYPES.fullmatch(kind):
            name = file_name(file.filename)
            raise AdapterError(
                f"Mastodon takes only images, video and audio as files: {name!r} "
                f"({kind[:60] or 'no type'!r}) cannot be sent this way",
                retryable=False,
            )


#: The OAuth scopes each direction needs (a bare ``read`` or ``write`` covers its kind):
#: receive reads ``/api/v1/notifications``; send reads the status answered (to keep its
#: visibility) and posts ``/api/v1/statuses``.
RECEIVE_SCOPES = ("read:notifications",)
SEND_SCOPES = ("write:statuses", "read:statuses")


class MastodonSpec(HttpApiSpec[MastodonAdapter]):
    """``verify_credentials`` (``omnitui doctor``): the token is valid; then the
    token's scopes from ``GET /oauth/token/info`` — the OAuth library's endpoint, which
    Mastodon serves but does not document — against what each direction calls. A
    server that does not answer it gets the token checked, not its scopes. Nothing is
    posted."""

    def probe(self, adapter: MastodonAdapter) -> Any:
        return adapter.request("GET", "/api/v1/accounts/verify_credentials")

    def summary(self, adapter: MastodonAdapter, answer: Any) -> str:
        return f"signed in as {adapter.address(answer)}"

    def findings(self, adapter: MastodonAdapter, answer: Any) -> list[Finding]:
        if not isinstance(answer, dict):
            return both_failed("Mastodon verify_credentials: malformed answer (not an object)")
        scopes = _token_scopes(adapter)
        who = f"signed in as {adapter.address(answer)}"
        if scopes is None:
            unread = "the server does not show the token's scopes (GET /oauth/token/info), so"
            return [
                passed("receive", f"{who}; {unread} read:notifications is not checked"),
                passed("send", f"{who}; {unread} write:statuses is not checked; nothing sent"),
            ]
        has = " ".join(sorted(scopes)) or "none"
        found = []
        for part, needed, use in (
            ("receive", RECEIVE_SCOPES, "mentions cannot be read"),
            ("send", SEND_SCOPES, "replies cannot be posted"),
        ):
            lacking = [s for s in needed if s not in scopes and s.split(":")[0] not in scopes]
            if lacking:
                problem = f"the token lacks {' '.join(lacking)} (it has {has}): {use}"
                found.append(failed(part, problem))
            else:
                done = "; nothing sent" if part == "send" else ""
                found.append(passed(part, f"{who}; token scopes {has}{done}"))
        return found

    def max_file_bytes(self, settings: Mapping[str, Any]) -> int:
        """16 MB: the usual instance limit for an image (video may be larger on a given
        instance; a refusal is a one-line error at send time)."""
        return FILE_LIMIT


def _token_scopes(adapter: MastodonAdapter) -> set[str] | None:
    """The token's scopes, or None when the server does not say."""
    try:
        info = adapter.request("GET", "/oauth/token/info")
    except AdapterError:
        return None
    scope = info.get("scope", info.get("scopes")) if isinstance(info, dict) else None
    if isinstance(scope, str):
        scope = scope.split()
    if not isinstance(scope, list):
        return None
    return {s for s in scope if isinstance(s, str) and s}


SPEC = MastodonSpec("mastodon", MastodonAdapter, secret_fields=("access_token",))

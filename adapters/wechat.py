"""WeChat through WeCom Customer Service (企业微信 · 微信客服): ``kf/sync_msg`` in,
``kf/send_msg`` out, for one customer service account (``open_kfid``).

**Token.** ``GET /cgi-bin/gettoken?corpid=…&corpsecret=…`` gives an access token valid
``expires_in`` seconds (7,200); it is kept in memory for its lifetime less a margin and
asked again when a call answers errcode 40014 / 42001 / 40001 (invalid or expired
token): the call is then made once more with the new token. The secret (``corpsecret``)
and the token travel in query strings; both are redacted from every error and log line.

**Pull.** ``POST /cgi-bin/kf/sync_msg`` with the stored ``next_cursor``, without the
callback ``token`` (omnitui has no callback URL), which WeChat allows but rate-limits
strictly: ``poll_seconds`` is the pace. A poll reads pages while ``has_more`` is 1 (at
most :data:`MAX_PAGES`, then the sync polls again at once), reads every item on its
own (see :mod:`adapters.wechat_items`; a bad one is quarantined, the cursor moves on)
and stores ``next_cursor`` with the messages. New customers' nicknames come from
``kf/customer/batchget`` (100 per call); a failure there leaves the names empty and
never holds the messages back. Images, voice, video and files are announced as
attachments and fetched on demand by ``media/get`` under ``max_attachment_bytes``.

**Files.** A reply's files are uploaded first as temporary media (``POST
/cgi-bin/media/upload?type=image|voice|video|file``, multipart ``media``; JPG/PNG up to
10 MB as ``image``, AMR up to 2 MB as ``voice``, MP4 up to 10 MB as ``video``, anything
else up to 20 MB as ``file``), so a refused upload sends nothing; then the text goes
(none when the reply has none), then one ``kf/send_msg`` per file (``msgtype`` image /
voice / video / file with ``{"media_id": …}``). Each message counts towards the 5 in 48
hours: a reply of more than 5 messages is refused in one line before anything goes
(how many are left is the desk's to count). ``kf/send_msg`` has no idempotency key
here: once a part went out, a failure is :class:`~adapters.base.UncertainDelivery`,
never resent blindly.

**Errors.** errcode -1 (busy), 45009 and 45033 (frequency limits) are retryable with
backoff; 95001 / 95002 (5 messages / 48 hours since the customer last wrote), 95013
(session ended), 95018 (the session is with a person in the WeCom client) and 60020
(this server's IP is not in the app's trusted IPs) are one permanent line each.

Docs: https://developer.work.weixin.qq.com/document/path/94670 (sync_msg),
/94677 (send_msg), /95159 (customer/batchget), /94661 (account/list),
/90313 (error codes), /91039 (gettoken), /90254 (media/get), /90389 (media/upload).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

import httpx

from adapters.base import (
    AdapterError,
    AuthError,
    Cursor,
    InboundMessage,
    OutboundAttachment,
    OutboundMessage,
    PollResult,
    ReplyWindow,
    SecretGetter,
    SendResult,
)
from adapters.checks import Finding, failed, passed
from adapters.http_api import (
    BUDGET_KEY,
    LIMIT_KEY,
    LIMIT_NAME_KEY,
    ApiAdapter,
    PageSize,
    error_for,
    json_body,
    remember_secrets,
    scrub,
    send_failure,
    transport_error,
)
from adapters.json_items import as_dict, as_int, as_list, as_text, loads, take_item
from adapters.outbound_files import file_name, mime_type
from adapters.spec import HttpApiSpec, both_failed
from adapters.wechat_items import (
    FILE_LIMIT,
    TEXT_LIMIT_BYTES,
    WINDOW_MESSAGES,
    customers,
    file_problem,
    media_type,
    nicknames,
    normalise,
    reply_window,
    split_utf8,
    wechat_id,
)

log = logging.getLogger(__name__)

DEFAULT_API = "https://qyapi.weixin.qq.com"
FOLDER = "sync_msg"
#: Messages asked for per ``sync_msg`` (WeChat's default and maximum).
PAGE = 1000
#: Pages read in one poll before the sync commits and polls again.
MAX_PAGES = 10
#: Customers per ``kf/customer/batchget``.
NAMES_PER_CALL = 100
#: Seconds taken off the token's ``expires_in`` before it is asked again.
TOKEN_MARGIN = 300
#: errcodes meaning the access token is invalid or expired: refresh and retry once.
TOKEN_CODES = frozenset({40001, 40014, 42001})
#: errcodes meaning "busy" or "too often": retry later.
BUSY_CODES = frozenset({-1, 45009, 45033})
#: Seconds to wait at least after a frequency limit (WeChat names no time).
RATE_WAIT = 60.0

_PERMANENT: dict[int, str] = {
    95000: "open_kfid is not valid",
    95004: "open_kfid does not exist",
    95001: "5 messages already sent since the customer last wrote; wait for them to write",
    95002: "more than 48 hours since the customer last wrote; wait for them to write",
    95013: "the session has ended; wait for the customer to write",
    95018: "the session's state does not allow API messages (a person is serving it in "
    "the WeCom client, or it has ended)",
    95017: "the app's API switch for WeChat Customer Service is off (WeCom admin console)",
    48002: "this app may not call this API (add it to 微信客服 · 可调用接口的应用)",
    40007: "the file is no longer on WeChat (media ids last 3 days)",
    40004: "WeChat does not take this media type",
    40005: "WeChat does not take this file type",
    40006: "WeChat does not take a file of this size",
    40009: "the image is too large for WeChat (at most 10 MB)",
    40010: "the voice message is too large for WeChat (at most 2 MB)",
    40011: "the video is too large for WeChat (at most 10 MB)",
    44001: "the file is empty",
    45001: "the file is larger than WeChat allows",
}
_AUTH: dict[int, str] = {
    40001: "the secret is not valid (check the KF app's secret)",
    40013: "corp_id is not valid",
    40091: "the secret is not valid (check the KF app's secret)",
    41004: "the secret is missing",
}
_FROM_IP = re.compile(r"from ip: ([0-9a-fA-F.:]{2,45})")


def _setting(name: str, key: str, value: Any) -> str:
    """A required id setting, or a one-line error naming it."""
    if wechat_id(value) is None:
        raise AdapterError(
            f"{name}: {key} is missing or not a WeChat id (letters and digits, no spaces)",
            retryable=False,
        )
    return str(value)


class WeChatAdapter(ApiAdapter):
    """One WeChat customer service account. Settings: ``corp_id``, ``open_kfid``,
    ``api_base`` (default ``https://qyapi.weixin.qq.com``) and the limits of
    :class:`~adapters.http_api.ApiAdapter`; secret ``secret`` (the KF app's
    corpsecret)."""

    kind = "wechat"
    token_field = "secret"
    default_api_base = DEFAULT_API

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        secret: SecretGetter,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, settings, secret, transport=transport)
        self.corp_id = _setting(name, "corp_id", settings.get("corp_id"))
        self.open_kfid = _setting(name, "open_kfid", settings.get("open_kfid"))
        self._clock = clock
        #: The access token and the monotonic time it is used until.
        self._access: tuple[str, float] | None = None
        #: Nicknames of the customers looked up so far (external_userid -> name).
        self.names: dict[str, str] = {}
        self.pages = PageSize(PAGE)

    # -- requests ------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        found = [self.token]
        if self._access is not None:
            found.append(self._access[0])
        return found

    def _exchange(self, request: httpx.Request, service: str) -> httpx.Response:
        try:
            return self._http.send(request)
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, self._secrets()) from None

    def _answer(self, response: httpx.Response, service: str) -> dict[str, Any]:
        """The JSON of a 200 answer; an HTTP failure as its adapter error."""
        if response.status_code != 200:
            raise error_for(service, response, None, scrub(response.text[:200], self._secrets()))
        return json_body(service, response)

    def access_token(self, *, fresh: bool = False) -> str:
        """The access token: the cached one while it lasts, else from ``gettoken``."""
        now = self._clock()
        if not fresh and self._access is not None and now < self._access[1]:
            return self._access[0]
        service = "WeChat gettoken"
        request = self._http.build_request(
            "GET",
            f"{self.api_base}/cgi-bin/gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.token},
        )
        body = self._answer(self._exchange(request, service), service)
        code = as_int(body.get("errcode"), 0)
        if code != 0:
            raise self.error(service, code, body, getting_token=True)
        token = as_text(body.get("access_token"))
        if not token:
            raise AdapterError(f"{service}: malformed answer (no access_token)")
        remember_secrets(token)
        lifetime = as_int(body.get("expires_in"), 7200)
        lifetime = max(lifetime - TOKEN_MARGIN, lifetime // 2, 0)
        self._access = (token, now + lifetime)
        return token

    def call(
        self,
        path: str,
        payload: Mapping[str, Any] | None = None,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call (``POST`` with ``payload``, else ``GET``) with the access token;
        a refused token is renewed and the call made once more."""
        service = f"WeChat {what}"
        for attempt in range(2):
            token = self.access_token(fresh=attempt > 0)
            request = self._http.build_request(
                "POST" if payload is not None else "GET",
                f"{self.api_base}{path}",
                params={**(params or {}), "access_token": token},
                json=dict(payload) if payload is not None else None,
            )
            body = self._answer(self._exchange(request, service), service)
            code = as_int(body.get("errcode"), 0)
            if code == 0:
                return body
            if code in TOKEN_CODES and attempt == 0:
                self._access = None
                continue
            raise self.error(service, code, body)
        raise AssertionError("unreachable")  # pragma: no cover

    def error(
        self, service: str, code: int, body: Mapping[str, Any], *, getting_token: bool = False
    ) -> AdapterError:
        """The adapter error an errcode means, in one line without any secret."""
        said = scrub(as_text(body.get("errmsg")), self._secrets())
        short = said.split(", hint")[0].split(" hint:")[0].strip()[:120]
        line = f"{service}: errcode {code}" + (f" {short}" if short else "")
        if code in BUSY_CODES:
            wait = RATE_WAIT if code != -1 else None
            return AdapterError(f"{line} (busy or rate-limited: backing off)", retry_after=wait)
        if code == 60020:
            ip = _FROM_IP.search(said)
            where = f" ({ip.group(1)})" if ip else ""
            return AdapterError(
                f"{service}: errcode 60020: this server's IP address{where} is not among the "
                "app's trusted IPs (企业可信IP in the WeCom admin console)",
                retryable=False,
            )
        if getting_token and code in _AUTH:
            return AuthError(f"{service}: errcode {code}: {_AUTH[code]}")
        if code in TOKEN_CODES:
            return AuthError(f"{line} (the access token was refused twice: check the secret)")
        if code in _PERMANENT:
            return AdapterError(f"{service}: errcode {code}: {_PERMANENT[code]}", retryable=False)
        return AdapterError(line, retryable=False)

    # -- receiving -----------------------------------------------------------------

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """Messages since the stored ``next_cursor``, page after page while
        ``has_more``; each item read on its own (a bad one is quarantined)."""
        cursor = as_text(cursors.get(FOLDER, Cursor(FOLDER)).state.get("next_cursor"))
        items: list[Any] = []
        more = False
        for _page in range(MAX_PAGES):
            body = self.pages.fetch(partial(self._sync, cursor), "message")
            page = body.get("msg_list")
            if page is not None and not isinstance(page, list):
                raise AdapterError("WeChat kf/sync_msg: malformed answer (msg_list is not a list)")
            items += page or []
            self.pages.got(len(page or []))
            following = as_text(body.get("next_cursor"))
            more = as_int(body.get("has_more")) == 1 and bool(following)
            cursor = following or cursor
            if not more:
                break
        result = PollResult(more=more)
        names = self._names(items)
        for item in items:
            self._take(item, names, result)
        result.cursors.append(Cursor(FOLDER, {"next_cursor": cursor} if cursor else {}))
        return result

    def _sync(self, cursor: str, size: int) -> dict[str, Any]:
        payload: dict[str, Any] = {"limit": size, "open_kfid": self.open_kfid}
        if cursor:
            payload["cursor"] = cursor
        return self.call("/cgi-bin/kf/sync_msg", payload, what="kf/sync_msg")

    def _names(self, items: list[Any]) -> dict[str, str]:
        """Nicknames of the customers in ``items`` not looked up yet; a failure is
        logged and leaves them unnamed (asked again with their next message)."""
        wanted = [user for user in customers(items) if user not in self.names]
        for start in range(0, len(wanted), NAMES_PER_CALL):
            chunk = wanted[start : start + NAMES_PER_CALL]
            try:
                answer = self.call(
                    "/cgi-bin/kf/customer/batchget",
                    {"external_userid_list": chunk, "need_enter_session_context": 0},
                    what="kf/customer/batchget",
                )
            except AdapterError as exc:
                log.warning("%s: customer names not fetched: %s", self.name, exc)
                break
            found = nicknames(answer)
            for user in chunk:
                self.names[user] = found.get(user, "")
        return self.names

    def _take(self, item: Any, names: Mapping[str, str], result: PollResult) -> None:
        msgid = wechat_id(item.get("msgid")) if isinstance(item, dict) else None
        take_item(
            result,
            item,
            lambda raw: normalise(raw, names),
            max_item=self.limits.max_item,
            folder=FOLDER,
            external_id=msgid,
        )

    def reparse(
        self, external_id: str, raw: bytes, raw_type: str, folder: str
    ) -> list[InboundMessage]:
        """The message in a quarantined item's JSON, read again without the network
        (no nickname); [] for an item skipped on purpose."""
        inbound = normalise(loads(raw))
        return [inbound] if inbound is not None else []

    def fetch_attachment(self, remote_ref: str) -> bytes:
        """Download an image, voice, video or file by its ``media_id`` (``media/get``),
        up to ``max_attachment_bytes``. WeChat answers errors as JSON with an
        ``errcode``; a refused token is renewed once."""
        media_id = wechat_id(remote_ref)
        if media_id is None:
            raise AdapterError("WeChat media/get: not a media id", retryable=False)
        service = "WeChat media/get"
        for attempt in range(2):
            request = self._http.build_request(
                "GET",
                f"{self.api_base}/cgi-bin/media/get",
                params={"access_token": self.access_token(fresh=attempt > 0), "media_id": media_id},
                timeout=httpx.Timeout(self.limits.timeout),
                extensions={
                    LIMIT_KEY: self.limits.max_attachment,
                    LIMIT_NAME_KEY: "max_attachment_bytes",
                    BUDGET_KEY: self.limits.attachment_timeout,
                },
            )
            response = self._exchange(request, service)
            if response.status_code != 200:
                raise AdapterError(
                    f"{service}: HTTP {response.status_code}",
                    retryable=response.status_code == 429 or response.status_code >= 500,
                )
            code = _errcode_of(response)
            if code is None:
                return response.content
            if code in TOKEN_CODES and attempt == 0:
                self._access = None
                continue
            raise self.error(service, code, json_body(service, response))
        raise AssertionError("unreachable")  # pragma: no cover

    # -- sending -------------------------------------------------------------------

    def upload_media(self, file: OutboundAttachment) -> tuple[str, str]:
        """Upload ``file`` as temporary media (``media/upload``, multipart ``media``,
        within ``attachment_timeout_seconds``); its type and ``media_id``. A refused
        token is renewed once."""
        kind = media_type(file)
        service = f"WeChat media/upload ({kind})"
        upload = {"media": (file_name(file.filename), file.content, mime_type(file.content_type))}
        for attempt in range(2):
            request = self._http.build_request(
                "POST",
                f"{self.api_base}/cgi-bin/media/upload",
                params={"access_token": self.access_token(fresh=attempt > 0), "type": kind},
                files=upload,
                timeout=httpx.Timeout(self.limits.timeout),
                extensions={BUDGET_KEY: self.limits.attachment_timeout},
            )
            body = self._answer(self._exchange(request, service), service)
            code = as_int(body.get("errcode"), 0)
            if code == 0:
                media_id = wechat_id(body.get("media_id"))
                if media_id is None:
                    raise AdapterError(f"{service}: malformed answer (no media_id)")
                return kind, media_id
            if code in TOKEN_CODES and attempt == 0:
                self._access = None
                continue
            raise self.error(service, code, body)
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, message: OutboundMessage) -> SendResult:
        """A text message to the customer (``kf/send_msg``); over 2,048 bytes of UTF-8
        it goes in pieces, each of which counts towards WeChat's 5 messages. Files are
        uploaded first (a refusal sends nothing), then follow the text, one message
        each; a failure after a part went out is
        :class:`~adapters.base.UncertainDelivery`."""
        to = wechat_id(message.thread_key or message.to)
        if to is None:
            raise AdapterError("WeChat: no customer for this conversation", retryable=False)
        if message.template:
            raise AdapterError("WeChat: omnitui sends no templates here", retryable=False)
        for file in message.attachments:
            problem = file_problem(file)
            if problem is not None:
                raise AdapterError(f"{problem}; nothing was sent", retryable=False)
        pieces = split_utf8(message.text, TEXT_LIMIT_BYTES)
        if message.attachments and not message.text.strip():
            pieces = []
        parts = len(pieces) + len(message.attachments)
        if parts > WINDOW_MESSAGES:
            raise AdapterError(
                f"WeChat: this reply is {parts} messages ({len(pieces)} of text, "
                f"{len(message.attachments)} file(s)); WeChat allows {WINDOW_MESSAGES} in 48 "
                "hours: send fewer files or a shorter text; nothing was sent",
                retryable=False,
            )
        media = [self.upload_media(file) for file in message.attachments]
        payloads: list[dict[str, Any]] = [
            {"msgtype": "text", "text": {"content": piece}} for piece in pieces
        ]
        payloads += [{"msgtype": kind, kind: {"media_id": media_id}} for kind, media_id in media]
        first = ""
        for n, payload in enumerate(payloads):
            body = {"touser": to, "open_kfid": self.open_kfid, **payload}
            try:
                sent = self.call("/cgi-bin/kf/send_msg", body, what="kf/send_msg")
            except AdapterError as exc:
                raise send_failure(exc, n) from None
            first = first or as_text(sent.get("msgid"))
        return SendResult(provider_id=first, external_id=first or None)


def _errcode_of(response: httpx.Response) -> int | None:
    """The errcode of a ``media/get`` answer that is a JSON error; None for a file."""
    if len(response.content) > 4096 or not response.content.lstrip().startswith(b"{"):
        return None
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or "errcode" not in body:
        return None
    code = as_int(body.get("errcode"), 0)
    return code or None


class WeChatSpec(HttpApiSpec[WeChatAdapter]):
    """``omnitui doctor``: ``gettoken`` (corp_id and secret), then ``kf/account/list``:
    ``open_kfid`` is one of the accounts this app may use. Nothing is sent."""

    def probe(self, adapter: WeChatAdapter) -> Any:
        return adapter.call(
            "/cgi-bin/kf/account/list", {"offset": 0, "limit": 100}, what="kf/account/list"
        )

    def summary(self, adapter: WeChatAdapter, answer: Any) -> str:
        accounts = [as_dict(a) for a in as_list(as_dict(answer).get("account_list"))]
        mine = next((a for a in accounts if a.get("open_kfid") == adapter.open_kfid), None)
        found = f"{as_text(mine.get('name')) or '?'} found" if mine is not None else "not found"
        return f"corp {adapter.corp_id}: account {adapter.open_kfid} {found}"

    def findings(self, adapter: WeChatAdapter, answer: Any) -> list[Finding]:
        accounts = [as_dict(a) for a in as_list(as_dict(answer).get("account_list"))]
        mine = next((a for a in accounts if a.get("open_kfid") == adapter.open_kfid), None)
        if mine is None:
            known = ", ".join(as_text(a.get("open_kfid")) for a in accounts[:5]) or "none"
            return both_failed(
                f"open_kfid {adapter.open_kfid} is not one of this app's customer service "
                f"accounts (it has: {known})"
            )
        label = f"account {as_text(mine.get('name')) or '?'} ({adapter.open_kfid})"
        if mine.get("manage_privilege") is False:
            problem = f"{label}: this app may not manage it (manage_privilege false)"
            return [failed("receive", problem), failed("send", problem)]
        return [
            passed(
                "receive",
                f"{label}: kf/sync_msg every poll_seconds (without a callback: rate-limited)",
            ),
            passed(
                "send",
                f"{label}: kf/send_msg, 5 messages within 48 h of the customer's; nothing sent",
            ),
        ]

    def reply_window(
        self,
        settings: Mapping[str, Any],
        last_inbound_at: datetime | None,
        sent_since: int,
        now: datetime,
    ) -> ReplyWindow:
        """48 hours after the customer's last message, at most 5 of ours."""
        return reply_window(last_inbound_at, sent_since, now)

    def max_file_bytes(self, settings: Mapping[str, Any]) -> int:
        """20 MB, WeChat's limit for a ``file`` (an image or video over 10 MB, or a
        voice message over 2 MB, goes as a file). Each file is one more of the 5
        messages allowed in 48 hours."""
        return FILE_LIMIT


SPEC = WeChatSpec("wechat", WeChatAdapter, secret_fields=("secret",))

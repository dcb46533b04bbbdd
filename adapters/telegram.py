"""The Telegram channel: Bot API long polling (``getUpdates``) in, ``sendMessage`` out.

The offset is confirmed only by the next ``getUpdates`` after the messages and the new
offset are committed, so a crash in between redelivers them, and the store's unique key
``chat_id:message_id`` absorbs the repeat. The token is in every URL path and is
redacted from every error.

Files (``OutboundMessage.attachments``) go by ``sendDocument`` as multipart/form-data
(https://core.telegram.org/bots/api#senddocument, #sending-files: up to 50 MB per file
uploaded by a bot), the reply's text as the first file's caption when it fits in 1,024
characters, else first by ``sendMessage``. The Bot API has no idempotency key: once any
part of a reply went out, a failure is :class:`~adapters.base.UncertainDelivery`, never
resent blindly.

Limits (``adapters/http_api.py``): a ``getUpdates`` answer over ``max_response_bytes``
is asked again at once for half as many updates (``limit``), down to one; an update over
``max_item_bytes`` is quarantined cut to that size; a file is downloaded only from a
plain relative ``file_path`` under ``<api_base>/file/bot<token>/`` and up to
``max_attachment_bytes``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

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
from adapters.checks import Finding, passed
from adapters.http_api import (
    BUDGET_KEY,
    MB,
    ApiAdapter,
    PageSize,
    error_for,
    json_body,
    origin,
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
    ident,
    loads,
    raw_json,
    size_text,
    take_item,
    timestamp,
)
from adapters.outbound_files import file_name, mime_type
from adapters.plain_text import split_text
from adapters.spec import HttpApiSpec

DEFAULT_API = "https://api.telegram.org"
TEXT_LIMIT = 4096
#: A file's caption (``sendDocument``), in characters.
CAPTION_LIMIT = 1024
#: The largest file a bot may upload (the Bot API's documented limit).
FILE_LIMIT = 50 * MB
FOLDER = "updates"
#: Updates asked for per ``getUpdates`` (the Bot API's maximum).
PAGE = 100
#: What a ``file_path`` may be: plain relative segments (``photos/file_1.jpg``).
_FILE_PATH = re.compile(r"[A-Za-z0-9_.-]{1,200}(?:/[A-Za-z0-9_.-]{1,200}){0,8}")


class TelegramAdapter(ApiAdapter):
    """One bot. Settings: ``api_base``, ``long_poll_seconds`` (default 25), and the
    limits of :class:`~adapters.http_api.ApiAdapter`."""

    kind = "telegram"
    token_field = "token"
    default_api_base = DEFAULT_API

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        secret: SecretGetter,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name, settings, secret, transport=transport)
        self.long_poll = int(settings.get("long_poll_seconds", 25))
        self._webhook_cleared = False
        #: Updates per ``getUpdates``: halved while answers are too large.
        self.pages = PageSize(PAGE)

    def call(self, method: str, payload: Mapping[str, Any], *, wait: float = 0) -> Any:
        """Call a Bot API method; the ``result`` or an :class:`AdapterError`."""
        service = f"Telegram {method}"
        url = f"{self.api_base}/bot{self.token}/{method}"
        try:
            response = self._http.post(url, json=dict(payload), timeout=self.timeout_for(wait))
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [self.token]) from None
        return self._result(service, response)

    def upload(
        self, method: str, fields: Mapping[str, Any], name: str, file: OutboundAttachment
    ) -> Any:
        """Call a Bot API method with ``file`` as the multipart/form-data field ``name``
        (other ``fields`` as form values; objects JSON-serialised), within
        ``attachment_timeout_seconds``; the ``result`` or an :class:`AdapterError`. A
        file the server refuses as too large is a permanent one-line error."""
        service = f"Telegram {method}"
        url = f"{self.api_base}/bot{self.token}/{method}"
        data = {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in fields.items()
        }
        files = {name: (file_name(file.filename), file.content, mime_type(file.content_type))}
        try:
            response = self._http.post(
                url,
                data=data,
                files=files,
                timeout=httpx.Timeout(self.limits.timeout),
                extensions={BUDGET_KEY: self.limits.attachment_timeout},
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [self.token]) from None
        if response.status_code == 413:
            raise AdapterError(
                f"{service}: 413 the file is too large for the Bot API "
                f"(at most {size_text(FILE_LIMIT)})",
                retryable=False,
            )
        return self._result(service, response)

    def _result(self, service: str, response: httpx.Response) -> Any:
        """The ``result`` of a Bot API answer, or the :class:`AdapterError` it means."""
        body = json_body(service, response)
        if response.status_code == 200 and body.get("ok") is True:
            return body.get("result")
        description = scrub(str(body.get("description", "")), [self.token])
        if response.status_code == 409:
            return_error = AdapterError(
                f"{service}: 409 {description} — another program is polling this bot "
                "(stop it, or remove its webhook)"
            )
            raise return_error
        raise error_for(service, response, body, description)

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """Updates after the stored offset (long poll). Each update is read on its own:
        one that cannot be used goes to ``rejected`` and the offset moves past it."""
        if not self._webhook_cleared:
            self.call("deleteWebhook", {"drop_pending_updates": False})
            self._webhook_cleared = True
        offset = int(cursors.get(FOLDER, Cursor(FOLDER)).state.get("offset", 0))
        updates = self._get_updates(offset)
        result = PollResult()
        last = offset - 1
        for update in updates:
            update_id = _update_id(update)
            if update_id is not None:
                last = max(last, update_id)
            take_item(
                result,
                update,
                self._normalise,
                max_item=self.limits.max_item,
                folder=FOLDER,
                external_id=f"update:{update_id}" if update_id is not None else None,
            )
        result.cursors.append(Cursor(FOLDER, {"offset": last + 1 if last >= 0 else offset}))
        result.more = self.pages.got(len(updates))
        return result

    def _get_updates(self, offset: int) -> list[Any]:
        """One ``getUpdates``, its ``limit`` halved while the answer is too large
        (:class:`PageSize`)."""

        def ask(limit: int) -> Any:
            payload: dict[str, Any] = {
                "timeout": self.long_poll,
                "allowed_updates": ["message", "edited_message"],
                "limit": limit,
            }
            if offset:
                payload["offset"] = offset
            return self.call("getUpdates", payload, wait=self.long_poll)

        updates = self.pages.fetch(ask, "update")
        if not isinstance(updates, list):
            raise AdapterError("Telegram getUpdates: malformed answer (result is not a list)")
        return updates

    def reparse(
        self, external_id: str, raw: bytes, raw_type: str, folder: str
    ) -> list[InboundMessage]:
        """The message in a quarantined update's JSON, read again without the network
        (``omnitui quarantine retry``); [] for an update that is ignored on purpose."""
        inbound = self._normalise(loads(raw))
        return [inbound] if inbound is not None else []

    def _normalise(self, update: Any) -> InboundMessage | None:
        """The message an update carries; None for what is ignored on purpose (other
        update kinds, the bot's own messages); raises when it cannot be used."""
        if not isinstance(update, dict):
            raise Unusable("update is not an object")
        for kind in ("message", "edited_message"):
            if kind in update:
                message = update[kind]
                break
        else:
            return None  # an update kind we did not ask for
        if not isinstance(message, dict):
            raise Unusable("message is not an object")
        return self._inbound(message, edited=kind == "edited_message")

    def _inbound(self, message: dict[str, Any], *, edited: bool) -> InboundMessage | None:
        sender = as_dict(message.get("from"))
        if sender.get("is_bot") is True:
            return None
        chat_id = ident(as_dict(message.get("chat")).get("id"))
        if chat_id is None:
            raise Unusable("no chat id")
        message_id = ident(message.get("message_id"))
        if message_id is None:
            raise Unusable("no message id")
        name = " ".join(
            p for p in (as_text(sender.get("first_name")), as_text(sender.get("last_name"))) if p
        )
        if not name and as_text(sender.get("username")):
            name = "@" + as_text(sender["username"])
        attachments: list[InboundAttachment] = []
        photos = [p for p in as_list(message.get("photo")) if isinstance(p, dict)]
        if photos:
            best = max(photos, key=lambda p: as_int(p.get("file_size")))
            attachments.append(
                InboundAttachment(
                    "photo.jpg",
                    "image/jpeg",
                    max(0, as_int(best.get("file_size"))),
                    remote_ref=as_text(best.get("file_id")),
                )
            )
        document = message.get("document")
        if isinstance(document, dict):
            attachments.append(
                InboundAttachment(
                    as_text(document.get("file_name")) or "document",
                    as_text(document.get("mime_type")) or "application/octet-stream",
                    max(0, as_int(document.get("file_size"))),
                    remote_ref=as_text(document.get("file_id")),
                )
            )
        text = as_text(message.get("text")) or as_text(message.get("caption"))
        if not text and not attachments:
            text = "(unsupported message: sticker, location or similar)"
        return InboundMessage(
            external_id=f"{chat_id}:{message_id}",
            channel="telegram",
            sender=Sender("telegram", ident(sender.get("id")) or chat_id, name),
            sent_at=timestamp(message.get("date")),
            text=text,
            thread_key=chat_id,
            raw=raw_json(message),
            raw_type="application/json",
            attachments=tuple(attachments),
            edited=edited,
        )

    def send(self, message: OutboundMessage) -> SendResult:
        """``sendMessage`` in the customer's chat, replying to their message; long texts
        go in pieces of 4,096 characters. Files follow by ``sendDocument``, the text as
        the first one's caption when it fits (then no ``sendMessage``). A failure after
        a part went out is :class:`~adapters.base.UncertainDelivery`."""
        chat_id = message.thread_key or message.to
        if not chat_id:
            raise AdapterError("Telegram: no chat for this conversation", retryable=False)
        reply_to = None
        if message.reply_to_external_id and ":" in message.reply_to_external_id:
            try:
                reply_to = int(message.reply_to_external_id.rsplit(":", 1)[1])
            except ValueError:
                reply_to = None  # not a Bot API message id: send without the reply link
        files = message.attachments
        caption = message.text if files and len(message.text) <= CAPTION_LIMIT else None
        pieces = [] if caption is not None else split_text(message.text, TEXT_LIMIT)
        if files and not message.text.strip():
            pieces, caption = [], None
        calls: list[tuple[str, dict[str, Any], OutboundAttachment | None]] = [
            ("sendMessage", {"chat_id": chat_id, "text": piece}, None) for piece in pieces
        ]
        for n, document in enumerate(files):
            fields: dict[str, Any] = {"chat_id": str(chat_id)}
            if n == 0 and caption:
                fields["caption"] = caption
            calls.append(("sendDocument", fields, document))
        first_id: str | None = None
        for n, (method, payload, file) in enumerate(calls):
            if n == 0 and reply_to is not None:
                payload["reply_parameters"] = {
                    "message_id": reply_to,
                    "allow_sending_without_reply": True,
                }
            try:
                if file is None:
                    sent = self.call(method, payload)
                else:
                    sent = self.upload(method, payload, "document", file)
            except AdapterError as exc:
                raise send_failure(exc, n) from None
            if first_id is None and isinstance(sent, dict):
                first_id = str(sent.get("message_id"))
        return SendResult(provider_id=first_id or "", external_id=f"{chat_id}:{first_id}")

    def fetch_attachment(self, remote_ref: str) -> bytes:
        """Download a photo or document by its ``file_id`` (``getFile``, then the file),
        up to ``max_attachment_bytes``."""
        info = self.call("getFile", {"file_id": remote_ref})
        path = info.get("file_path") if isinstance(info, dict) else None
        if not path:
            raise AdapterError(
                "Telegram getFile: no file_path (the file may be over 20 MB)", retryable=False
            )
        size = as_int(info.get("file_size"))
        if size > self.limits.max_attachment:
            raise AdapterError(
                f"Telegram file of {size:,} bytes is over the "
                f"{size_text(self.limits.max_attachment)} limit (max_attachment_bytes)",
                retryable=False,
            )
        return self.download(self.file_url(path), what="Telegram file download")

    def file_url(self, path: Any) -> httpx.URL:
        """The download URL of a ``getFile`` ``file_path``: only a plain relative path
        (letters, digits, ``_.-`` segments; no ``..``, leading ``/``, ``%``, backslash or
        scheme), and the result must lie under ``<api_base>/file/bot<token>/``. A local
        Bot API server in ``--local`` mode answers absolute disk paths: refused too."""
        refused = AdapterError(
            "Telegram getFile: refused a file_path that is not a plain relative path",
            retryable=False,
        )
        if (
            not isinstance(path, str)
            or not _FILE_PATH.fullmatch(path)
            or any(part in (".", "..") for part in path.split("/"))
        ):
            raise refused
        prefix = httpx.URL(f"{self.api_base}/file/bot{self.token}/")
        url = httpx.URL(f"{prefix}{path}")
        if origin(url) != origin(prefix) or not url.raw_path.startswith(prefix.raw_path):
            raise refused
        return url


def _update_id(update: Any) -> int | None:
    """The update's ``update_id`` (what the offset counts), if it has a usable one."""
    if isinstance(update, dict):
        value = update.get("update_id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class TelegramSpec(HttpApiSpec[TelegramAdapter]):
    """``getMe`` (``omnitui doctor``): the token is valid and the bot exists. The Bot
    API has no permission to ask about: a valid token may both take updates and send,
    so both directions stand or fall with it. Nothing is sent."""

    def probe(self, adapter: TelegramAdapter) -> Any:
        return adapter.call("getMe", {})

    def summary(self, adapter: TelegramAdapter, answer: Any) -> str:
        return f"bot @{answer.get('username', '?')}"

    def findings(self, adapter: TelegramAdapter, answer: Any) -> list[Finding]:
        me = as_dict(answer)
        bot = f"bot @{as_text(me.get('username')) or '?'}"
        receive = f"{bot}: updates by getUpdates (the first sync removes any webhook)"
        if me.get("can_read_all_group_messages") is False:
            receive += "; privacy mode on: in groups only commands and replies to the bot arrive"
        return [
            passed("receive", receive),
            passed("send", f"{bot}: sendMessage to anyone who has written to it; nothing sent"),
        ]

    def max_file_bytes(self, settings: Mapping[str, Any]) -> int:
        """50 MB: what a bot may upload (https://core.telegram.org/bots/api#senddocument)."""
        return FILE_LIMIT


SPEC = TelegramSpec("telegram", TelegramAdapter, secret_fields=("token",))

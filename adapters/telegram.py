"""The Telegram channel: Bot API long polling (``getUpdates``) in, ``sendMessage`` out.

The offset is confirmed only by the next ``getUpdates`` after the messages and the new
offset are committed, so a crash in between redelivers them, and the store's unique key
``chat_id:message_id`` absorbs the repeat. The token is in every URL path and is
redacted from every error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
from adapters.http_api import ApiAdapter, error_for, json_body, redact, transport_error
from adapters.json_items import (
    Unusable,
    as_dict,
    as_int,
    as_list,
    as_text,
    ident,
    loads,
    raw_json,
    rejected,
    timestamp,
)
from adapters.plain_text import split_text

DEFAULT_API = "https://api.telegram.org"
TEXT_LIMIT = 4096
FOLDER = "updates"


class TelegramAdapter(ApiAdapter):
    """One bot. Settings: ``api_base``, ``long_poll_seconds`` (default 25)."""

    kind = "telegram"
    token_field = "token"

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        secret: SecretGetter,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name, settings, secret, transport=transport)
        self.api_base = str(settings.get("api_base", DEFAULT_API)).rstrip("/")
        self.long_poll = int(settings.get("long_poll_seconds", 25))
        self._webhook_cleared = False

    def call(self, method: str, payload: Mapping[str, Any], *, wait: float = 0) -> Any:
        """Call a Bot API method; the ``result`` or an :class:`AdapterError`."""
        service = f"Telegram {method}"
        url = f"{self.api_base}/bot{self.token}/{method}"
        try:
            response = self._http.post(
                url, json=dict(payload), timeout=httpx.Timeout(30.0, read=wait + 30.0)
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [self.token]) from None
        body = json_body(service, response)
        if response.status_code == 200 and body.get("ok") is True:
            return body.get("result")
        description = redact(str(body.get("description", "")), [self.token])
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
        payload: dict[str, Any] = {
            "timeout": self.long_poll,
            "allowed_updates": ["message", "edited_message"],
            "limit": 100,
        }
        if offset:
            payload["offset"] = offset
        updates = self.call("getUpdates", payload, wait=self.long_poll)
        if not isinstance(updates, list):
            raise AdapterError("Telegram getUpdates: malformed answer (result is not a list)")
        result = PollResult()
        last = offset - 1
        for update in updates:
            update_id = _update_id(update)
            if update_id is not None:
                last = max(last, update_id)
            try:
                inbound = self._normalise(update)
            except Exception as exc:  # noqa: BLE001 - quarantined, never blocking
                external = f"update:{update_id}" if update_id is not None else None
                result.rejected.append(rejected(update, exc, folder=FOLDER, external_id=external))
                continue
            if inbound is not None:
                result.messages.append(inbound)
        result.cursors.append(Cursor(FOLDER, {"offset": last + 1 if last >= 0 else offset}))
        result.more = len(updates) >= 100
        return result

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
        go in pieces of 4,096 characters."""
        chat_id = message.thread_key or message.to
        if not chat_id:
            raise AdapterError("Telegram: no chat for this conversation", retryable=False)
        reply_to = None
        if message.reply_to_external_id and ":" in message.reply_to_external_id:
            try:
                reply_to = int(message.reply_to_external_id.rsplit(":", 1)[1])
            except ValueError:
                reply_to = None  # not a Bot API message id: send without the reply link
        first_id: str | None = None
        for n, piece in enumerate(split_text(message.text, TEXT_LIMIT)):
            payload: dict[str, Any] = {"chat_id": chat_id, "text": piece}
            if n == 0 and reply_to is not None:
                payload["reply_parameters"] = {
                    "message_id": reply_to,
                    "allow_sending_without_reply": True,
                }
            sent = self.call("sendMessage", payload)
            if first_id is None and isinstance(sent, dict):
                first_id = str(sent.get("message_id"))
        return SendResult(provider_id=first_id or "", external_id=f"{chat_id}:{first_id}")

    def fetch_attachment(self, remote_ref: str) -> bytes:
        """Download a photo or document by its ``file_id`` (``getFile``, then the file)."""
        info = self.call("getFile", {"file_id": remote_ref})
        path = info.get("file_path") if isinstance(info, dict) else None
        if not path:
            raise AdapterError(
                "Telegram getFile: no file_path (the file may be over 20 MB)", retryable=False
            )
        try:
            response = self._http.get(f"{self.api_base}/file/bot{self.token}/{path}")
        except httpx.HTTPError as exc:
            raise transport_error("Telegram file download", exc, [self.token]) from None
        if response.status_code != 200:
            raise AdapterError(f"Telegram file download: HTTP {response.status_code}")
        return response.content


def _update_id(update: Any) -> int | None:
    """The update's ``update_id`` (what the offset counts), if it has a usable one."""
    if isinstance(update, dict):
        value = update.get("update_id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def create(name: str, settings: Mapping[str, Any], secret: SecretGetter) -> TelegramAdapter:
    """Entry point used by the adapter registry."""
    return TelegramAdapter(name, settings, secret)


def check(name: str, settings: Mapping[str, Any], secret: SecretGetter) -> str:
    """``getMe``: the token works and names the bot (``omnitui doctor``)."""
    adapter = TelegramAdapter(name, settings, secret)
    try:
        me = adapter.call("getMe", {})
    finally:
        adapter.close()
    return f"bot @{me.get('username', '?')}"


secret_fields = ("token",)

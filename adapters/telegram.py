"""The Telegram channel: Bot API long polling (``getUpdates``) in, ``sendMessage`` out.

The offset is confirmed only by the next ``getUpdates`` after the messages and the new
offset are committed, so a crash in between redelivers them, and the store's unique key
``chat_id:message_id`` absorbs the repeat. The token is in every URL path and is
redacted from every error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
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
        """Updates after the stored offset (long poll)."""
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
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                continue
            last = max(last, update["update_id"])
            message = update.get("message") or update.get("edited_message")
            if isinstance(message, dict):
                inbound = self._inbound(message, edited="edited_message" in update)
                if inbound is not None:
                    result.messages.append(inbound)
        result.cursors.append(Cursor(FOLDER, {"offset": last + 1 if last >= 0 else offset}))
        result.more = len(updates) >= 100
        return result

    def _inbound(self, message: dict[str, Any], *, edited: bool) -> InboundMessage | None:
        chat = message.get("chat") or {}
        sender = message.get("from") or {}
        if "id" not in chat or "message_id" not in message or sender.get("is_bot"):
            return None
        name = " ".join(p for p in (sender.get("first_name"), sender.get("last_name")) if p)
        if not name and sender.get("username"):
            name = "@" + str(sender["username"])
        attachments: list[InboundAttachment] = []
        photos = message.get("photo") or []
        if photos:
            best = max(photos, key=lambda p: p.get("file_size") or 0)
            attachments.append(
                InboundAttachment(
                    "photo.jpg",
                    "image/jpeg",
                    int(best.get("file_size") or 0),
                    remote_ref=str(best.get("file_id", "")),
                )
            )
        document = message.get("document")
        if isinstance(document, dict):
            attachments.append(
                InboundAttachment(
                    str(document.get("file_name") or "document"),
                    str(document.get("mime_type") or "application/octet-stream"),
                    int(document.get("file_size") or 0),
                    remote_ref=str(document.get("file_id", "")),
                )
            )
        text = str(message.get("text") or message.get("caption") or "")
        if not text and not attachments:
            text = "(unsupported message: sticker, location or similar)"
        return InboundMessage(
            external_id=f"{chat['id']}:{message['message_id']}",
            channel="telegram",
            sender=Sender("telegram", str(sender.get("id", chat["id"])), name),
            sent_at=datetime.fromtimestamp(int(message.get("date", 0)), UTC),
            text=text,
            thread_key=str(chat["id"]),
            raw=json.dumps(message, ensure_ascii=False).encode("utf-8"),
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
            reply_to = int(message.reply_to_external_id.rsplit(":", 1)[1])
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

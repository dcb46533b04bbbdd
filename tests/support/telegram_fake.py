"""A fake Telegram Bot API (getUpdates, sendMessage, getFile, …) for an
``httpx.MockTransport``, and updates shaped as the Bot API documents them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.telegram import TEXT_LIMIT

TOKEN = "123456:ABC-secret-token"


def update(
    update_id: int,
    message_id: int,
    text: str,
    *,
    chat: int = 5001,
    edited: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    message = {
        "message_id": message_id,
        "from": {
            "id": chat,
            "is_bot": False,
            "first_name": "Mei",
            "last_name": "Tanaka",
            "username": "mei_t",
        },
        "chat": {"id": chat, "type": "private", "first_name": "Mei"},
        "date": 1795000000 + message_id,
        **({"text": text} if text else {}),
        **extra,
    }
    return {"update_id": update_id, ("edited_message" if edited else "message"): message}


@dataclass
class FakeBotApi:
    """The Bot API as documented: confirmed updates disappear once a later offset is
    asked for; unconfirmed ones come again."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    fail: list[httpx.Response] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/file/bot{TOKEN}/photos/file_1.jpg":
            return httpx.Response(200, content=b"\xff\xd8jpg")
        assert request.url.path.startswith(f"/bot{TOKEN}/")
        method = request.url.path.rsplit("/", 1)[1]
        payload = json.loads(request.content or b"{}")
        self.calls.append((method, payload))
        if self.fail:
            return self.fail.pop(0)
        if method == "deleteWebhook":
            return httpx.Response(200, json={"ok": True, "result": True})
        if method == "getFile":
            return httpx.Response(
                200,
                json={
                    "ok": True,
                    "result": {
                        "file_id": payload["file_id"],
                        "file_unique_id": "u",
                        "file_size": 5,
                        "file_path": "photos/file_1.jpg",
                    },
                },
            )
        if method == "getMe":
            return httpx.Response(
                200, json={"ok": True, "result": {"id": 1, "is_bot": True, "username": "shop_bot"}}
            )
        if method == "getUpdates":
            offset = payload.get("offset", 0)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            return httpx.Response(200, json={"ok": True, "result": self.updates[:100]})
        if method == "sendMessage":
            self.sent.append(payload)
            if len(payload["text"]) > TEXT_LIMIT:
                return httpx.Response(
                    400,
                    json={
                        "ok": False,
                        "error_code": 400,
                        "description": "Bad Request: message is too long",
                    },
                )
            result = {
                "message_id": 9000 + len(self.sent),
                "chat": {"id": payload["chat_id"]},
                "date": 1795009999,
                "text": payload["text"],
            }
            return httpx.Response(200, json={"ok": True, "result": result})
        return httpx.Response(
            404, json={"ok": False, "error_code": 404, "description": "Not Found"}
        )

"""A fake Telegram Bot API (getUpdates, sendMessage, sendDocument, getFile, …) for an
``httpx.MockTransport``, and updates shaped as the Bot API documents them.

sendDocument as https://core.telegram.org/bots/api#senddocument documents it: a
multipart/form-data upload (field ``document``), a ``caption`` of 0-1,024 characters
("Bad Request: message caption is too long" past it), JSON-serialised objects such as
``reply_parameters`` as form values; a body over the 50 MB upload limit is refused by
the server's front end with an HTML 413."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.telegram import CAPTION_LIMIT, FILE_LIMIT, TEXT_LIMIT
from tests.support.multipart_form import FormFile, is_form, read_form

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
    #: sendDocument calls: the form's fields and its file.
    documents: list[tuple[dict[str, str], FormFile]] = field(default_factory=list)
    #: Every Bot API call, in order, with its method (sendMessage and sendDocument too).
    methods: list[str] = field(default_factory=list)
    #: The largest upload accepted (the Bot API's 50 MB).
    max_upload: int = FILE_LIMIT

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/file/bot{TOKEN}/photos/file_1.jpg":
            return httpx.Response(200, content=b"\xff\xd8jpg")
        assert request.url.path.startswith(f"/bot{TOKEN}/")
        method = request.url.path.rsplit("/", 1)[1]
        self.methods.append(method)
        if is_form(request):
            if len(request.read()) > self.max_upload:
                return httpx.Response(413, text="<html>413 Request Entity Too Large</html>")
            fields, uploaded = read_form(request)
            self.calls.append((method, dict(fields)))
            if self.fail:
                return self.fail.pop(0)
            return self._document(method, fields, uploaded)
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

    def _document(
        self, method: str, fields: dict[str, str], uploaded: list[FormFile]
    ) -> httpx.Response:
        if method != "sendDocument" or [f.field for f in uploaded] != ["document"]:
            return httpx.Response(
                400, json={"ok": False, "error_code": 400, "description": "Bad Request"}
            )
        if len(fields.get("caption", "")) > CAPTION_LIMIT:
            return httpx.Response(
                400,
                json={
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message caption is too long",
                },
            )
        (file,) = uploaded
        self.documents.append((fields, file))
        result = {
            "message_id": 9500 + len(self.documents),
            "chat": {"id": int(fields["chat_id"])},
            "date": 1795009999,
            "document": {
                "file_id": f"doc-{len(self.documents)}",
                "file_unique_id": f"u{len(self.documents)}",
                "file_name": file.filename,
                "mime_type": file.content_type,
                "file_size": len(file.content),
            },
            **({"caption": fields["caption"]} if "caption" in fields else {}),
        }
        return httpx.Response(200, json={"ok": True, "result": result})

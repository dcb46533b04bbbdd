"""A fake Mastodon API (notifications, statuses with idempotency keys, media uploads,
credentials) for an ``httpx.MockTransport``, and mention notifications shaped as
Mastodon documents them.

Media as https://docs.joinmastodon.org/methods/media/ documents them: ``POST
/api/v2/media`` (multipart ``file``) answers 200 with a MediaAttachment when processed
at once, 202 with ``url: null`` when processing goes on in the background; ``GET
/api/v1/media/:id`` answers 206 while processing and 200 once done; a type the instance
does not take or a file over its limit is 422 with ``error``. A status
(https://docs.joinmastodon.org/methods/statuses/#create) whose ``media_ids`` are still
processing is refused with 422."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.multipart_form import FormFile, is_form, read_form

TOKEN = "mastodon-secret-token"


def mention(
    n: int, html: str, *, acct: str = "mei@social.example", visibility: str = "direct"
) -> dict[str, Any]:
    account = {
        "id": "77",
        "username": acct.split("@")[0],
        "acct": acct,
        "display_name": "Mei 🌸",
        "url": f"https://social.example/@{acct}",
    }
    return {
        "id": str(1000 + n),
        "type": "mention",
        "created_at": f"2026-11-23T10:{n:02d}:00.000Z",
        "account": account,
        "status": {
            "id": str(5000 + n),
            "created_at": f"2026-11-23T10:{n:02d}:00.000Z",
            "in_reply_to_id": None,
            "visibility": visibility,
            "content": html,
            "account": account,
            "media_attachments": [],
        },
    }


@dataclass
class FakeMastodon:
    notifications: list[dict[str, Any]] = field(default_factory=list)
    posted: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    fail: list[httpx.Response] = field(default_factory=list)
    idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Uploaded media by id: the file, and how many more asks answer 206 (processing).
    media: dict[str, tuple[FormFile, int]] = field(default_factory=dict)
    #: Uploads answered 202 and still processing for this many ``GET /api/v1/media/:id``.
    processing_polls: int = 0
    #: The instance's limit for one file (images: 16 MB by default).
    max_media: int = 16 * 1024 * 1024

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        if self.fail:
            return self.fail.pop(0)
        path = request.url.path
        if path == "/api/v2/media" and request.method == "POST":
            return self._upload(request)
        if path.startswith("/api/v1/media/") and request.method == "GET":
            media_id = path.rsplit("/", 1)[1]
            if media_id not in self.media:
                return httpx.Response(404, json={"error": "Record not found"})
            file, left = self.media[media_id]
            self.media[media_id] = (file, max(left - 1, 0))
            return httpx.Response(206 if left else 200, json=self._attachment(media_id))
        if path == "/api/v1/notifications":
            assert request.url.params.get_list("types[]") == ["mention"]
            min_id = int(request.url.params.get("min_id", 0))
            limit = int(request.url.params.get("limit", 40))
            newer = sorted(
                (n for n in self.notifications if int(n["id"]) > min_id), key=lambda n: int(n["id"])
            )[:limit]
            return httpx.Response(200, json=list(reversed(newer)))  # newest first
        if path.startswith("/api/v1/statuses/") and request.method == "GET":
            status_id = path.rsplit("/", 1)[1]
            for n in self.notifications:
                if n["status"]["id"] == status_id:
                    return httpx.Response(200, json=n["status"])
            return httpx.Response(404, json={"error": "Record not found"})
        if path == "/api/v1/statuses" and request.method == "POST":
            key = request.headers.get("Idempotency-Key", "")
            if key in self.idempotent:  # the documented idempotency behaviour
                return httpx.Response(200, json=self.idempotent[key])
            payload = json.loads(request.content)
            for media_id in payload.get("media_ids", []):
                if media_id not in self.media:
                    return httpx.Response(422, json={"error": "Validation failed: media"})
                if self.media[media_id][1]:
                    return httpx.Response(
                        422,
                        json={
                            "error": "Cannot attach files that have not finished processing. "
                            "Try again in a moment!"
                        },
                    )
            self.posted.append((payload, key))
            status = {"id": str(9000 + len(self.posted)), "visibility": payload["visibility"]}
            self.idempotent[key] = status
            return httpx.Response(200, json=status)
        if path == "/api/v1/accounts/verify_credentials":
            return httpx.Response(200, json={"id": "1", "acct": "kettlecrema"})
        return httpx.Response(404, json={"error": "Record not found"})

    def _upload(self, request: httpx.Request) -> httpx.Response:
        assert is_form(request), "media are uploaded as multipart/form-data"
        _fields, files = read_form(request)
        if [f.field for f in files] != ["file"]:
            return httpx.Response(422, json={"error": "Validation failed: File can't be blank"})
        (file,) = files
        if not file.content_type.startswith(("image/", "video/", "audio/")):
            return httpx.Response(
                422, json={"error": "Validation failed: File content type is invalid"}
            )
        if len(file.content) > self.max_media:
            return httpx.Response(
                422, json={"error": "Validation failed: File file size must be less than 16 MB"}
            )
        media_id = str(7000 + len(self.media))
        self.media[media_id] = (file, self.processing_polls)
        status = 202 if self.processing_polls else 200
        return httpx.Response(status, json=self._attachment(media_id))

    def _attachment(self, media_id: str) -> dict[str, Any]:
        file, left = self.media[media_id]
        kind = file.content_type.split("/")[0]
        return {
            "id": media_id,
            "type": kind,
            "url": None if left else f"https://files.shop.example/{media_id}",
            "preview_url": f"https://files.shop.example/{media_id}/small",
            "description": None,
        }

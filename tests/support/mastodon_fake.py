"""A fake Mastodon API (notifications, statuses with idempotency keys, credentials) for
an ``httpx.MockTransport``, and mention notifications shaped as Mastodon documents them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

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

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        if self.fail:
            return self.fail.pop(0)
        path = request.url.path
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
            self.posted.append((payload, key))
            status = {"id": str(9000 + len(self.posted)), "visibility": payload["visibility"]}
            self.idempotent[key] = status
            return httpx.Response(200, json=status)
        if path == "/api/v1/accounts/verify_credentials":
            return httpx.Response(200, json={"id": "1", "acct": "kettlecrema"})
        return httpx.Response(404, json={"error": "Record not found"})

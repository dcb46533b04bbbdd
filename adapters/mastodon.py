"""The Mastodon channel: mentions and direct messages in (``/api/v1/notifications``),
replies out (``POST /api/v1/statuses``) with the customer's visibility kept (a direct
message is answered directly) and an ``Idempotency-Key`` per outbox item, so a retry
never posts twice."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

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
from adapters.plain_text import html_to_text, split_text

FOLDER = "notifications"
PAGE = 40
#: Default status length on Mastodon instances; longer replies become a thread.
STATUS_LIMIT = 500
VISIBILITY_ORDER = ("direct", "private", "unlisted", "public")


def _rate_limit_wait(response: httpx.Response) -> float | None:
    reset = response.headers.get("X-RateLimit-Reset")
    if not reset:
        return None
    try:
        when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 1.0)


class MastodonAdapter(ApiAdapter):
    """One Mastodon account. Settings: ``api_base`` (the instance URL)."""

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
        self.api_base = str(settings["api_base"]).rstrip("/")
        self.host = urlparse(self.api_base).hostname or "localhost"

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
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise AdapterError(f"{service}: malformed answer (not JSON)") from None
        body: dict[str, Any] | None
        try:
            body = json_body(service, response)
        except AdapterError:
            body = None
        description = redact(str((body or {}).get("error", "")), [self.token])
        error = error_for(service, response, body, description)
        if response.status_code == 429 and error.retry_after is None:
            error.retry_after = _rate_limit_wait(response)
        raise error

    def address(self, account: Mapping[str, Any]) -> str:
        """``@user@instance`` for any account (local accounts get our host)."""
        acct = str(account.get("acct", ""))
        return "@" + (acct if "@" in acct else f"{acct}@{self.host}")

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """Mentions (and so direct messages) newer than the stored id, oldest first;
        pages forward with ``min_id`` until a page comes back empty."""
        newest = cursors.get(FOLDER, Cursor(FOLDER)).state.get("min_id")
        collected: list[dict[str, Any]] = []
        for _page in range(50):
            params: list[tuple[str, Any]] = [("types[]", "mention"), ("limit", PAGE)]
            if newest:
                params.append(("min_id", newest))
            page = self.request("GET", "/api/v1/notifications", params=params)
            if not isinstance(page, list):
                raise AdapterError("Mastodon notifications: malformed answer (not a list)")
            page = [n for n in page if isinstance(n, dict) and n.get("id")]
            if not page:
                break
            page.sort(key=lambda n: int(n["id"]) if str(n["id"]).isdigit() else 0)
            collected += page
            newest = page[-1]["id"]
            if len(page) < PAGE:
                break
        result = PollResult()
        for notification in collected:
            inbound = self._inbound(notification)
            if inbound is not None:
                result.messages.append(inbound)
        if newest:
            result.cursors.append(Cursor(FOLDER, {"min_id": newest}))
        return result

    def _inbound(self, notification: dict[str, Any]) -> InboundMessage | None:
        status = notification.get("status")
        account = notification.get("account") or {}
        if notification.get("type") != "mention" or not isinstance(status, dict):
            return None
        address = self.address(account)
        created = status.get("created_at") or notification.get("created_at")
        try:
            sent_at = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        except ValueError:
            sent_at = datetime.now(UTC)
        attachments = tuple(
            InboundAttachment(
                str(m.get("description") or f"{m.get('type', 'media')}-{m.get('id')}"),
                {"image": "image/*", "video": "video/*", "gifv": "video/*", "audio": "audio/*"}.get(
                    str(m.get("type")), "application/octet-stream"
                ),
                0,
                remote_ref=str(m.get("url") or ""),
            )
            for m in status.get("media_attachments") or []
            if isinstance(m, dict)
        )
        return InboundMessage(
            external_id=str(status.get("id")),
            channel="mastodon",
            sender=Sender("mastodon", address, str(account.get("display_name") or "")),
            sent_at=sent_at,
            text=html_to_text(str(status.get("content") or "")),
            thread_key=address,
            raw=json.dumps(notification, ensure_ascii=False).encode("utf-8"),
            raw_type="application/json",
            attachments=attachments,
        )

    def send(self, message: OutboundMessage) -> SendResult:
        """Reply to the customer's status with its visibility (never wider); a reply
        longer than one status becomes a thread. Each part carries an Idempotency-Key
        derived from the outbox id, so a retry after a lost answer posts nothing twice."""
        reply_to = message.reply_to_external_id
        visibility = "direct"
        if reply_to:
            original = self.request("GET", f"/api/v1/statuses/{reply_to}")
            if isinstance(original, dict) and original.get("visibility") in VISIBILITY_ORDER:
                visibility = str(original["visibility"])
        mention = message.to if message.to.startswith("@") else f"@{message.to}"
        pieces = split_text(message.text, STATUS_LIMIT - len(mention) - 1)
        first_id = ""
        for n, piece in enumerate(pieces):
            payload: dict[str, Any] = {"status": f"{mention} {piece}", "visibility": visibility}
            if reply_to:
                payload["in_reply_to_id"] = reply_to
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


def create(name: str, settings: Mapping[str, Any], secret: SecretGetter) -> MastodonAdapter:
    """Entry point used by the adapter registry."""
    return MastodonAdapter(name, settings, secret)


def check(name: str, settings: Mapping[str, Any], secret: SecretGetter) -> str:
    """``verify_credentials``: the token works (``omnitui doctor``)."""
    adapter = MastodonAdapter(name, settings, secret)
    try:
        me = adapter.request("GET", "/api/v1/accounts/verify_credentials")
    finally:
        adapter.close()
    return f"signed in as {adapter.address(me)}"


secret_fields = ("access_token",)

"""The Matrix channel (client-server API): ``/sync`` long poll in, ``PUT …/send`` out.

Matrix bridges (mautrix-whatsapp, -signal, -meta and others) put WhatsApp, Signal,
Messenger and Instagram chats into Matrix rooms, so this one adapter reaches them too.
Direct-message invites are joined automatically; a ``limited`` timeline (more events
than the sync returned) is backfilled with ``/messages`` back to the previous sync; a
reply uses a transaction id derived from the outbox id, so a retry never posts twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from adapters.base import (
    AdapterError,
    Cursor,
    InboundMessage,
    OutboundMessage,
    PollResult,
    SecretGetter,
    Sender,
    SendResult,
)
from adapters.http_api import ApiAdapter, error_for, json_body, redact, transport_error

FOLDER = "sync"
API = "/_matrix/client/v3"
SYNC_FILTER = json.dumps(
    {"room": {"timeline": {"limit": 50}, "state": {"lazy_load_members": True}}}
)


class MatrixAdapter(ApiAdapter):
    """One Matrix account. Settings: ``api_base`` (homeserver URL), ``user_id``,
    ``long_poll_seconds`` (default 25)."""

    kind = "matrix"
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
        self.user_id = str(settings.get("user_id", ""))
        self.long_poll = int(settings.get("long_poll_seconds", 25))
        self.timeline_limit = int(settings.get("timeline_limit", 50))
        self._names: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        wait: float = 0,
    ) -> dict[str, Any]:
        """One API call; the JSON object or an :class:`AdapterError`."""
        service = f"Matrix {method} {path.split('?')[0]}"
        try:
            response = self._http.request(
                method,
                f"{self.api_base}{path}",
                params=params,
                json=dict(payload) if payload is not None else None,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=httpx.Timeout(30.0, read=wait + 30.0),
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [self.token]) from None
        body = json_body(service, response)
        if response.status_code == 200:
            return body
        if "retry_after_ms" in body:
            body = {**body, "retry_after": body["retry_after_ms"] / 1000}
        detail = f"{body.get('errcode', '')} {body.get('error', '')}".strip()
        raise error_for(service, response, body, redact(detail, [self.token]))

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """New room messages since the stored ``next_batch``; joins DM invites."""
        since = cursors.get(FOLDER, Cursor(FOLDER)).state.get("since")
        params: dict[str, Any] = {
            "filter": SYNC_FILTER,
            "timeout": self.long_poll * 1000 if since else 0,
        }
        if since:
            params["since"] = since
        body = self.request("GET", f"{API}/sync", params=params, wait=self.long_poll)
        next_batch = body.get("next_batch")
        if not isinstance(next_batch, str):
            raise AdapterError("Matrix sync: malformed answer (no next_batch)")
        rooms = body.get("rooms") or {}
        result = PollResult()
        for room_id in rooms.get("invite") or {}:
            self.request("POST", f"{API}/join/{quote(room_id, safe='')}", payload={})
        for room_id, room in (rooms.get("join") or {}).items():
            for event in (room.get("state") or {}).get("events") or []:
                self._remember_name(event)
            timeline = room.get("timeline") or {}
            events = list(timeline.get("events") or [])
            if timeline.get("limited") and since and timeline.get("prev_batch"):
                events = self._backfill(room_id, timeline["prev_batch"], since) + events
            for event in events:
                self._remember_name(event)
                inbound = self._inbound(room_id, event)
                if inbound is not None:
                    result.messages.append(inbound)
        result.cursors.append(Cursor(FOLDER, {"since": next_batch}))
        return result

    def _backfill(self, room_id: str, prev_batch: str, since: str) -> list[dict[str, Any]]:
        """Events between the previous sync and this one's timeline, oldest first."""
        events: list[dict[str, Any]] = []
        token = prev_batch
        for _page in range(50):
            page = self.request(
                "GET",
                f"{API}/rooms/{quote(room_id, safe='')}/messages",
                params={"dir": "b", "from": token, "to": since, "limit": 100},
            )
            chunk = page.get("chunk") or []
            events = list(reversed(chunk)) + events
            token = page.get("end")
            if not chunk or not token:
                break
        return events

    def _remember_name(self, event: Mapping[str, Any]) -> None:
        if event.get("type") == "m.room.member":
            name = (event.get("content") or {}).get("displayname")
            key = event.get("state_key")
            if isinstance(name, str) and isinstance(key, str):
                self._names[key] = name

    def _inbound(self, room_id: str, event: Mapping[str, Any]) -> InboundMessage | None:
        if event.get("type") != "m.room.message" or event.get("sender") == self.user_id:
            return None
        content = event.get("content") or {}
        body = str(content.get("body") or "")
        if content.get("msgtype") not in ("m.text", "m.notice", "m.emote"):
            body = f"({content.get('msgtype', 'message')}) {body}".strip()
        sender = str(event.get("sender", ""))
        edit = content.get("m.relates_to") or {}
        if edit.get("rel_type") == "m.replace" and isinstance(content.get("m.new_content"), dict):
            return InboundMessage(
                external_id=str(edit.get("event_id")),
                channel="matrix",
                sender=Sender("matrix", sender, self._names.get(sender, "")),
                sent_at=datetime.fromtimestamp(int(event.get("origin_server_ts", 0)) / 1000, UTC),
                text=str(content["m.new_content"].get("body") or ""),
                thread_key=room_id,
                edited=True,
            )
        return InboundMessage(
            external_id=str(event.get("event_id")),
            channel="matrix",
            sender=Sender("matrix", sender, self._names.get(sender, "")),
            sent_at=datetime.fromtimestamp(int(event.get("origin_server_ts", 0)) / 1000, UTC),
            text=body,
            thread_key=room_id,
            raw=json.dumps(dict(event), ensure_ascii=False).encode("utf-8"),
            raw_type="application/json",
        )

    def send(self, message: OutboundMessage) -> SendResult:
        """Post in the conversation's room with a stable transaction id."""
        if not message.thread_key:
            raise AdapterError("Matrix: no room for this conversation", retryable=False)
        txn = f"omnitui-{self.name}-{message.outbox_id}"
        sent = self.request(
            "PUT",
            f"{API}/rooms/{quote(message.thread_key, safe='')}/send/m.room.message/{txn}",
            payload={"msgtype": "m.text", "body": message.text},
        )
        event_id = str(sent.get("event_id", ""))
        return SendResult(provider_id=event_id, external_id=event_id)


def create(name: str, settings: Mapping[str, Any], secret: SecretGetter) -> MatrixAdapter:
    """Entry point used by the adapter registry."""
    return MatrixAdapter(name, settings, secret)


def check(name: str, settings: Mapping[str, Any], secret: SecretGetter) -> str:
    """``whoami``: the token works (``omnitui doctor``)."""
    adapter = MatrixAdapter(name, settings, secret)
    try:
        me = adapter.request("GET", f"{API}/account/whoami")
    finally:
        adapter.close()
    return f"signed in as {me.get('user_id')}"


secret_fields = ("access_token",)

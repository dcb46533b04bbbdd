"""The Matrix channel (client-server API): ``/sync`` long poll in, ``PUT …/send`` out.

Matrix bridges (mautrix-whatsapp, -signal, -meta and others) put WhatsApp, Signal,
Messenger and Instagram chats into Matrix rooms, so this one adapter reaches them too.
Only direct-message invites and invites to the rooms of the ``rooms`` setting are
joined; any other invite is left pending, never joined. A WhatsApp puppet
(``@whatsapp_<digits>:server``, ``@wa_<digits>:server``) stands for its phone number
(``Sender.phone``) only when its server is in ``bridge_servers``: anyone may register
such a name on another server. A ``limited`` timeline (more events than the sync
returned) is backfilled with ``/messages`` back to the previous sync; a reply uses a
transaction id derived from the outbox id, so a retry never posts twice.

Files (``OutboundMessage.attachments``) are uploaded first (``POST
/_matrix/media/v3/upload?filename=…`` with their Content-Type, answering a
``content_uri``), then the text goes as its own ``m.text`` event and each file as an
``m.file`` event (``m.image`` for ``image/*``) with ``url`` = the ``mxc://`` URI,
``body`` = its name and ``info`` {mimetype, size}; each event has its own transaction
id (``…-file<n>``), so a retry after a partial send posts nothing twice (a file is
uploaded again; the unused copy stays unreferenced). See
https://spec.matrix.org/latest/client-server-api/#post_matrixmediav3upload and
https://spec.matrix.org/latest/client-server-api/#mfile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from adapters.base import (
    AdapterError,
    Cursor,
    InboundMessage,
    OutboundAttachment,
    OutboundMessage,
    PollResult,
    SecretGetter,
    Sender,
    SendResult,
)
from adapters.checks import Finding, failed, passed
from adapters.http_api import (
    BUDGET_KEY,
    MB,
    ApiAdapter,
    error_for,
    json_body,
    redact,
    transport_error,
)
from adapters.json_items import (
    Unusable,
    as_dict,
    as_list,
    as_text,
    loads,
    raw_json,
    rejected,
    timestamp,
)
from adapters.outbound_files import file_name, mime_type
from adapters.spec import HttpApiSpec, both_failed

FOLDER = "sync"
API = "/_matrix/client/v3"
MEDIA = "/_matrix/media/v3"
#: What a reply may carry in files: Synapse's default ``max_upload_size`` (50M); a
#: server with a lower ``m.upload.size`` refuses a larger file with 413 M_TOO_LARGE.
FILE_LIMIT = 50 * MB
SYNC_FILTER = json.dumps(
    {"room": {"timeline": {"limit": 50}, "state": {"lazy_load_members": True}}}
)
#: A WhatsApp bridge puppet: mautrix-whatsapp's ``whatsapp_<number>`` (and ``wa_``).
PUPPET = re.compile(r"@(?:whatsapp|wa)_\+?([0-9]{6,15}):(.+)")


class MatrixAdapter(ApiAdapter):
    """One Matrix account. Settings: ``api_base`` (homeserver URL), ``user_id``,
    ``long_poll_seconds`` (default 25), ``bridge_servers`` (servers whose WhatsApp
    puppets are trusted to stand for their number) and ``rooms`` (room ids or aliases
    whose invites are joined besides direct messages)."""

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
        self.bridge_servers = frozenset(
            server.lower() for server in _name_list(name, settings, "bridge_servers")
        )
        self.rooms = frozenset(_name_list(name, settings, "rooms"))
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
                timeout=self.timeout_for(wait),
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [self.token]) from None
        return self._answer(service, response)

    def upload(self, file: OutboundAttachment) -> str:
        """Put ``file`` in the homeserver's media repository (within
        ``attachment_timeout_seconds``); its ``mxc://`` URI. A file the server refuses
        as too large is a permanent one-line error."""
        service = f"Matrix POST {MEDIA}/upload"
        try:
            response = self._http.post(
                f"{self.api_base}{MEDIA}/upload",
                params={"filename": file_name(file.filename)},
                content=file.content,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": mime_type(file.content_type),
                },
                timeout=httpx.Timeout(self.limits.timeout),
                extensions={BUDGET_KEY: self.limits.attachment_timeout},
            )
        except httpx.HTTPError as exc:
            raise transport_error(service, exc, [self.token]) from None
        if response.status_code == 413:
            raise AdapterError(
                f"{service}: 413 the homeserver refused {len(file.content):,} bytes as too "
                "large (its m.upload.size)",
                retryable=False,
            )
        uri = self._answer(service, response).get("content_uri")
        if not isinstance(uri, str) or not uri.startswith("mxc://"):
            raise AdapterError(f"{service}: malformed answer (no content_uri)")
        return uri

    def _answer(self, service: str, response: httpx.Response) -> dict[str, Any]:
        """The JSON object of a 200 answer, or the :class:`AdapterError` it means."""
        body = json_body(service, response)
        if response.status_code == 200:
            return body
        wait_ms = body.get("retry_after_ms")
        if isinstance(wait_ms, int | float) and not isinstance(wait_ms, bool):
            body = {**body, "retry_after": wait_ms / 1000}
        detail = f"{body.get('errcode', '')} {body.get('error', '')}".strip()
        raise error_for(service, response, body, redact(detail, [self.token]))

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """New room messages since the stored ``next_batch``; joins DM invites. Each
        event is read on its own: one that cannot be used goes to ``rejected`` (with its
        room id) and the rest of the sync is taken."""
        since = cursors.get(FOLDER, Cursor(FOLDER)).state.get("since")
        params: dict[str, Any] = {
            "filter": SYNC_FILTER,
            "timeout": self.long_poll * 1000 if since else 0,
        }
        if since:
            params["since"] = since
        body = self.request("GET", f"{API}/sync", params=params, wait=self.long_poll)
        next_batch = body.get("next_batch")
        if not isinstance(next_batch, str) or not _sendable(next_batch):
            raise AdapterError("Matrix sync: malformed answer (no next_batch)")
        rooms = body.get("rooms") or {}
        if not isinstance(rooms, dict) or not isinstance(rooms.get("join") or {}, dict):
            raise AdapterError("Matrix sync: malformed answer (rooms is not an object)")
        joined: dict[str, Any] = rooms.get("join") or {}
        result = PollResult()
        for room_id, invite in as_dict(rooms.get("invite")).items():
            if self._invited_to_take(room_id, invite):
                self._join(room_id)
        for room_id, room in joined.items():
            events = _timeline_events(room)
            if events is None:
                # Not the shape of a joined room: keep it whole, so nothing in it is lost.
                error = Unusable("joined room without a timeline list")
                item = {"room_id": room_id, "room": room}
                result.rejected.append(rejected(item, error, folder=FOLDER))
                continue
            for event in as_list(as_dict(room.get("state")).get("events")):
                self._remember_name(event)
            timeline = as_dict(room.get("timeline"))
            prev_batch = timeline.get("prev_batch")
            if timeline.get("limited") is True and since and isinstance(prev_batch, str):
                try:
                    events = self._backfill(room_id, prev_batch, since) + events
                except AdapterError as exc:
                    if exc.retryable:
                        raise
                    # The gap cannot be read (room left, token refused): say so in the
                    # quarantine rather than stop this account's ingest for good.
                    gap = {"room_id": room_id, "gap": {"from": prev_batch, "to": since}}
                    result.rejected.append(rejected(gap, exc, folder=FOLDER))
            for event in events:
                self._take(room_id, event, result)
        result.cursors.append(Cursor(FOLDER, {"since": next_batch}))
        return result

    def _invited_to_take(self, room_id: str, invite: Any) -> bool:
        """Whether to join an invited room: a direct message to us (the ``is_direct``
        of our invite's member event), or a room of the ``rooms`` setting."""
        if not _sendable(room_id):
            return False  # no homeserver has such a room id
        if room_id in self.rooms:
            return True
        for item in as_list(as_dict(as_dict(invite).get("invite_state")).get("events")):
            event = as_dict(item)
            content = as_dict(event.get("content"))
            if (
                event.get("type") == "m.room.member"
                and event.get("state_key") == self._me()
                and content.get("membership") == "invite"
                and content.get("is_direct") is True
            ):
                return True
        return any(self._room_of(alias) == room_id for alias in self.rooms if alias[:1] == "#")

    def _me(self) -> str:
        """Our user id: the ``user_id`` setting, else asked of the homeserver once."""
        if not self.user_id:
            self.user_id = str(self.request("GET", f"{API}/account/whoami").get("user_id", ""))
        return self.user_id

    def _room_of(self, alias: str) -> str | None:
        """The room an alias names now, per our homeserver's directory; None when it
        names none (a passing failure fails the poll, so the invite comes again)."""
        try:
            found = self.request("GET", f"{API}/directory/room/{quote(alias, safe='')}")
        except AdapterError as exc:
            if exc.retryable:
                raise
            return None
        room_id = found.get("room_id")
        return room_id if isinstance(room_id, str) else None

    def _vouched_phone(self, user_id: str) -> str | None:
        """The number a WhatsApp puppet of a trusted bridge server stands for."""
        match = PUPPET.fullmatch(user_id)
        if match is None or match.group(2).lower() not in self.bridge_servers:
            return None
        return "+" + match.group(1)

    def _join(self, room_id: str) -> None:
        """Accept an invite; one that can no longer be accepted (withdrawn, forbidden)
        is left, a passing failure fails the poll so the invite comes again."""
        if not _sendable(room_id):
            return  # no homeserver has such a room id
        try:
            self.request("POST", f"{API}/join/{quote(room_id, safe='')}", payload={})
        except AdapterError as exc:
            if exc.retryable:
                raise

    def _take(self, room_id: str, event: Any, result: PollResult) -> None:
        """One timeline event into ``result``: a message, nothing, or a rejected item."""
        try:
            self._remember_name(event)
            inbound = self._inbound(room_id, event)
        except Exception as exc:  # noqa: BLE001 - quarantined, never blocking
            item = event
            if isinstance(event, dict) and "room_id" not in event:
                item = {**event, "room_id": room_id}  # reparse needs the room
            event_id = as_dict(event).get("event_id")
            external = event_id if isinstance(event_id, str) and event_id else None
            result.rejected.append(rejected(item, exc, folder=FOLDER, external_id=external))
            return
        if inbound is not None:
            result.messages.append(inbound)

    def reparse(
        self, external_id: str, raw: bytes, raw_type: str, folder: str
    ) -> list[InboundMessage]:
        """The message in a quarantined event's JSON (with its ``room_id``), read again
        without the network (``omnitui quarantine retry``); [] for an event that is
        ignored on purpose. Display names are those this adapter has seen.

        A quarantined joined room (``{"room_id", "room"}``) gives the messages of its
        timeline once it can be read; a timeline gap (``{"room_id", "gap"}``) can only
        be read from the homeserver, so it raises."""
        item = loads(raw)
        record = as_dict(item)
        room_id = record.get("room_id")
        if not isinstance(room_id, str) or not room_id:
            raise Unusable("no room id")
        if "type" not in record and "gap" in record:
            raise Unusable("a timeline gap is read from the homeserver only")
        if "type" not in record and "room" in record:
            events = _timeline_events(record["room"])
            if events is None:
                raise Unusable("joined room without a timeline list")
            found = [self._inbound(room_id, event) for event in events]
            return [message for message in found if message is not None]
        inbound = self._inbound(room_id, item)
        return [inbound] if inbound is not None else []

    def _backfill(self, room_id: str, prev_batch: str, since: str) -> list[Any]:
        """Events between the previous sync and this one's timeline, oldest first."""
        events: list[Any] = []
        if not _sendable(room_id) or not _sendable(prev_batch):
            raise AdapterError("Matrix messages: room id or token not valid text", retryable=False)
        token = prev_batch
        for _page in range(50):
            page = self.request(
                "GET",
                f"{API}/rooms/{quote(room_id, safe='')}/messages",
                params={"dir": "b", "from": token, "to": since, "limit": 100},
            )
            chunk = as_list(page.get("chunk"))
            events = list(reversed(chunk)) + events
            end = page.get("end")
            if not chunk or not isinstance(end, str) or not end or not _sendable(end):
                break
            token = end
        return events

    def _remember_name(self, event: Any) -> None:
        if isinstance(event, dict) and event.get("type") == "m.room.member":
            name = as_dict(event.get("content")).get("displayname")
            key = event.get("state_key")
            if isinstance(name, str) and isinstance(key, str):
                self._names[key] = name

    def _inbound(self, room_id: str, event: Any) -> InboundMessage | None:
        """The message in a room event; None for what is ignored on purpose (other event
        types, our own messages); raises when it cannot be used (no id, no sender)."""
        if not isinstance(event, dict):
            raise Unusable("event is not an object")
        if event.get("type") != "m.room.message" or event.get("sender") == self.user_id:
            return None
        sender = event.get("sender")
        if not isinstance(sender, str) or not sender:
            raise Unusable("no sender")
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise Unusable("no event id")
        content = as_dict(event.get("content"))
        msgtype = as_text(content.get("msgtype"))
        body = as_text(content.get("body"))
        if msgtype not in ("m.text", "m.notice", "m.emote"):
            body = f"({msgtype or 'message'}) {body}".strip()
        who = Sender("matrix", sender, self._names.get(sender, ""), self._vouched_phone(sender))
        sent_at = timestamp(event.get("origin_server_ts"), per_second=1000)
        raw = raw_json(event)
        relation = as_dict(content.get("m.relates_to"))
        new_content = content.get("m.new_content")
        original = relation.get("event_id")
        if (
            relation.get("rel_type") == "m.replace"
            and isinstance(new_content, dict)
            and isinstance(original, str)
            and original
        ):
            return InboundMessage(
                external_id=original,
                channel="matrix",
                sender=who,
                sent_at=sent_at,
                text=as_text(new_content.get("body")),
                thread_key=room_id,
                raw=raw,
                raw_type="application/json",
                edited=True,
            )
        return InboundMessage(
            external_id=event_id,
            channel="matrix",
            sender=who,
            sent_at=sent_at,
            text=body,
            thread_key=room_id,
            raw=raw,
            raw_type="application/json",
        )

    def send(self, message: OutboundMessage) -> SendResult:
        """Post in the conversation's room with stable transaction ids: the files are
        uploaded first, then the text and one event per file."""
        if not message.thread_key:
            raise AdapterError("Matrix: no room for this conversation", retryable=False)
        txn = f"omnitui-{self.name}-{message.outbox_id}"
        events: list[tuple[str, dict[str, Any]]] = []
        if message.text.strip() or not message.attachments:
            events.append((txn, {"msgtype": "m.text", "body": message.text}))
        for n, file in enumerate(message.attachments):
            events.append((f"{txn}-file{n}", _file_event(file, self.upload(file))))
        first = ""
        room = quote(message.thread_key, safe="")
        for txn_id, content in events:
            sent = self.request(
                "PUT", f"{API}/rooms/{room}/send/m.room.message/{txn_id}", payload=content
            )
            first = first or str(sent.get("event_id", ""))
        return SendResult(provider_id=first, external_id=first)


def _file_event(file: OutboundAttachment, uri: str) -> dict[str, Any]:
    """The ``m.file`` (``m.image`` for an image) event content of an uploaded file."""
    mimetype = mime_type(file.content_type)
    name = file_name(file.filename)
    return {
        "msgtype": "m.image" if mimetype.startswith("image/") else "m.file",
        "body": name,
        "filename": name,
        "url": uri,
        "info": {"mimetype": mimetype, "size": len(file.content)},
    }


def _sendable(text: str) -> bool:
    """Whether ``text`` can go into a URL (UTF-8: no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _timeline_events(room: Any) -> list[Any] | None:
    """A joined room's timeline events (empty when there are none); None when the room
    is not shaped like one (not an object, a timeline or event list of another type)."""
    if not isinstance(room, dict):
        return None
    timeline = room.get("timeline")
    if not timeline:
        return []
    if not isinstance(timeline, dict):
        return None
    events = timeline.get("events")
    if not events:
        return []
    return list(events) if isinstance(events, list) else None


def _name_list(account: str, settings: Mapping[str, Any], key: str) -> list[str]:
    """A setting that is a list of names (``[]`` when absent); a clear error otherwise.
    ``rooms`` holds room ids (``!id:server``) and aliases (``#alias:server``)."""
    value = settings.get(key, [])
    names = [v.strip() for v in value if isinstance(v, str)] if isinstance(value, list) else []
    rooms = key == "rooms"
    if (
        not isinstance(value, list)
        or len(names) != len(value)
        or not all(names)
        # Room ids of room version 12 have no server part ("!hash"); aliases always do.
        or (rooms and not all(n[0] == "!" or (n[0] == "#" and ":" in n) for n in names))
    ):
        example = '["!id:server", "#alias:server"]' if rooms else '["bridge.example.org"]'
        raise AdapterError(
            f"matrix account {account!r}: {key} must be a list of names, e.g. {example}",
            retryable=False,
        )
    return names


class MatrixSpec(HttpApiSpec[MatrixAdapter]):
    """``whoami`` (``omnitui doctor``): the token is valid and belongs to ``user_id``.
    The right to post is a room's power level, so it is not asked here; nothing is
    sent."""

    def probe(self, adapter: MatrixAdapter) -> Any:
        return adapter.request("GET", f"{API}/account/whoami")

    def summary(self, adapter: MatrixAdapter, answer: Any) -> str:
        return f"signed in as {answer.get('user_id')}"

    def findings(self, adapter: MatrixAdapter, answer: Any) -> list[Finding]:
        user = as_text(answer.get("user_id"))
        if not user:
            return both_failed("Matrix whoami: malformed answer (no user_id)")
        if adapter.user_id and adapter.user_id != user:
            wrong = f"the token is {user}'s, not user_id {adapter.user_id}'s"
            return [
                failed("receive", f"{wrong}: the bot's own replies would come back as messages"),
                failed("send", f"{wrong}: replies would go out as {user}"),
            ]
        return [
            passed("receive", f"signed in as {user}: /sync"),
            passed(
                "send",
                f"signed in as {user}; the right to post is set per room (power levels) "
                "and not checked here; nothing sent",
            ),
        ]

    def max_file_bytes(self, settings: Mapping[str, Any]) -> int:
        """50 MB, Synapse's default upload limit (the server's own ``m.upload.size``
        cannot be asked here: a larger refusal is a one-line error at send time)."""
        return FILE_LIMIT


SPEC = MatrixSpec("matrix", MatrixAdapter, secret_fields=("access_token",))

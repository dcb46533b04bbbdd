"""The export record of DESIGN.md: JSON Lines, one conversation per line.

Streams in id-keyset batches; messages and attachment metadata are read in bulk per
batch, never one query per message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import Connection, select
from sqlmodel import Session

from omnitui.desk.clocks import breached
from omnitui.desk.identities import parse_customer_address
from omnitui.desk.outbox_states import PROBLEM_STATES, shown_state
from omnitui.sanitize import UNSAFE_FOR_OUTPUT
from storage import queries
from storage.models import Conversation, Customer, Event, Identity, Message, Outbox, table_of
from storage.repository import normalise_address

__all__ = ["export_records", "to_json_line", "write_jsonl"]

BATCH = 500
C = table_of(Conversation).c
M = table_of(Message).c
CU = table_of(Customer).c
ID = table_of(Identity).c
OB = table_of(Outbox).c
EV = table_of(Event).c


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _customer_id(conn: Connection, address: str) -> int | None:
    channel, addr = parse_customer_address(address)
    addr = normalise_address(channel, addr)
    row = conn.execute(
        select(ID.customer_id).where(ID.channel == channel, ID.address == addr)
    ).first()
    return None if row is None else int(row[0])


def export_records(
    source: Connection | Session,
    *,
    customer: str | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one export record per conversation, oldest first."""
    conn = source.connection() if isinstance(source, Session) else source
    now = now or datetime.now(UTC)
    conds = []
    if customer is not None:
        cid = _customer_id(conn, customer)
        if cid is None:
            return
        conds.append(C.customer_id == cid)
    if since is not None:
        conds.append(C.last_message_at >= since)
    after = 0
    customers: dict[int, dict[str, Any]] = {}
    while True:
        rows = list(
            conn.execute(
                select(table_of(Conversation))
                .where(C.id > after, *conds)
                .order_by(C.id)
                .limit(BATCH)
            )
        )
        if not rows:
            return
        after = rows[-1].id
        ids = [r.id for r in rows]
        messages: dict[int, list[Any]] = {}
        for m in conn.execute(
            select(
                M.id,
                M.conversation_id,
                M.direction,
                M.kind,
                M.author,
                M.external_id,
                M.message_id,
                M.sent_at,
                M.from_addr,
                M.to_addrs,
                M.text,
                M.subject,
                M.has_attachments,
            )
            .where(M.conversation_id.in_(ids))
            .order_by(M.sent_at, M.id)
        ):
            messages.setdefault(m.conversation_id, []).append(m)
        att_ids = [m.id for ms in messages.values() for m in ms if m.has_attachments]
        attachments = queries.attachments_for(conn, att_ids)
        deliveries = _deliveries(
            conn, [m.id for ms in messages.values() for m in ms if m.direction == "out"]
        )
        history = _events(conn, ids)
        missing = {r.customer_id for r in rows} - set(customers)
        if missing:
            customers.update(_customers(conn, missing))
        for r in rows:
            yield {
                "ref": r.ref,
                "account": r.account,
                "channel": r.channel,
                "status": r.status,
                "priority": r.priority,
                "subject": r.subject,
                "tags": list(r.tags or []),
                "assignee": r.assignee,
                "snoozed_until": _iso(r.snoozed_until),
                "created_at": _iso(r.created_at),
                "last_message_at": _iso(r.last_message_at),
                "customer": customers[r.customer_id],
                "sla": {
                    "first_response_due": _iso(r.first_response_due),
                    "next_response_due": _iso(r.next_response_due),
                    "resolution_due": _iso(r.resolution_due),
                    "first_responded_at": _iso(r.first_responded_at),
                    "resolved_at": _iso(r.resolved_at),
                    "paused_at": _iso(r.paused_at),
                    "breached": breached(r, now),
                },
                "messages": [
                    {
                        "direction": m.direction,
                        "kind": m.kind,
                        "external_id": m.external_id,
                        "message_id": m.message_id,
                        "sent_at": _iso(m.sent_at),
                        "from": m.from_addr if m.direction == "in" else (m.author or ""),
                        "to": list(m.to_addrs or []),
                        "author": m.author,
                        "text": m.text,
                        **(deliveries.get(m.id, SENT) if m.direction == "out" else {}),
                        "attachments": [
                            {
                                "filename": a.filename,
                                "content_type": a.content_type,
                                "size": a.size,
                                "sha256": a.sha256,
                            }
                            for a in attachments.get(m.id, [])
                        ],
                    }
                    for m in messages.get(r.id, [])
                ],
                "events": history.get(r.id, []),
            }


#: An outgoing message with no outbox row was sent outside omnitui's outbox (seen in
#: the platform's own echo or history): it is delivered.
SENT: dict[str, Any] = {"delivery": "sent", "delivery_error": None}


def _deliveries(conn: Connection, message_ids: list[int]) -> dict[int, dict[str, Any]]:
    """``delivery`` (queued, sending, sent, failing, failed, uncertain: as the outbox
    shows it) and ``delivery_error`` of each outgoing message queued through the outbox."""
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(message_ids), BATCH):
        ids = message_ids[start : start + BATCH]
        for r in conn.execute(
            select(OB.sent_message_id, OB.state, OB.attempts, OB.last_error)
            .where(OB.sent_message_id.in_(ids))
            .order_by(OB.id)
        ):
            state = shown_state(r.state, r.attempts)
            error = r.last_error if state in PROBLEM_STATES else None
            out[r.sent_message_id] = {"delivery": state, "delivery_error": error}
    return out


def _events(conn: Connection, conversation_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each conversation's audit log in the order it was written: who changed its
    status, assignee, priority or tags, merged, split or routed it, queued, sent or
    withdrew a reply, and when (``at`` is when it happened: a reopening customer
    message keeps its own time, so times need not rise)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for e in conn.execute(
        select(EV.conversation_id, EV.at, EV.actor, EV.kind, EV.detail)
        .where(EV.conversation_id.in_(conversation_ids))
        .order_by(EV.id)  # as written: an event's time may be the message's, not now
    ):
        out.setdefault(e.conversation_id, []).append(
            {"at": _iso(e.at), "actor": e.actor, "kind": e.kind, "detail": e.detail or {}}
        )
    return out


def _customers(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    ids = list(ids)
    out: dict[int, dict[str, Any]] = {}
    for c in conn.execute(select(CU.id, CU.name, CU.vip, CU.notes).where(CU.id.in_(ids))):
        out[c.id] = {
            "id": c.id,
            "name": c.name,
            "vip": bool(c.vip),
            "notes": c.notes,
            "identities": [],
        }
    for i in conn.execute(
        select(ID.customer_id, ID.channel, ID.address)
        .where(ID.customer_id.in_(ids))
        .order_by(ID.id)
    ):
        out[i.customer_id]["identities"].append({"channel": i.channel, "address": i.address})
    return out


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def to_json_line(record: dict[str, Any]) -> str:
    """One record as a line of JSON: non-ASCII text stays readable, but every code point
    a terminal would act on or that reorders or breaks lines (C0, DEL, C1, bidi
    controls, U+2028/U+2029, lone surrogates) is written as a ``\\uXXXX`` escape."""
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    # Such characters can only stand inside JSON strings, where \uXXXX means the same.
    return UNSAFE_FOR_OUTPUT.sub(_json_escape, line)


def write_jsonl(records: Iterable[dict[str, Any]], stream: IO[str]) -> int:
    """Write records as JSON Lines (UTF-8, see :func:`to_json_line`); returns how many."""
    count = 0
    for record in records:
        stream.write(to_json_line(record))
        stream.write("\n")
        count += 1
    return count

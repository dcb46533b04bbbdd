"""Read what a report needs from the store: the conversations created in a period
(with their customer's VIP flag), their messages and their status changes.

Three bulk queries whatever the period's size (conversations, then messages and
events selected by the same conditions as a subquery), never one per conversation.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, String, cast, select
from sqlmodel import Session

from omnitui.reports.records import ConvRecord, MessageRecord, StatusChange
from storage.models import Conversation, Customer, Event, Message, table_of

C = table_of(Conversation).c
M = table_of(Message).c
E = table_of(Event).c
CU = table_of(Customer).c

#: Events that change a conversation's status (an undo may put a status back).
STATUS_KINDS = ("conversation.status", "conversation.undone")


def load_records(
    source: Connection | Session,
    *,
    since: datetime,
    until: datetime,
    channel: str | None = None,
    agent: str | None = None,
) -> list[ConvRecord]:
    """The conversations created in ``[since, until)`` on ``channel`` assigned to
    ``agent`` (each filter only when given), oldest first."""
    conn = source.connection() if isinstance(source, Session) else source
    conds: list[ColumnElement[bool]] = [C.created_at >= since, C.created_at < until]
    if channel is not None:
        conds.append(C.channel == channel)
    if agent is not None:
        conds.append(C.assignee == agent)
    ids = select(C.id).where(*conds).scalar_subquery()
    messages: dict[int, list[MessageRecord]] = {}
    for m in conn.execute(
        select(M.conversation_id, M.direction, M.author, M.sent_at)
        .where(M.conversation_id.in_(ids), M.direction.in_(("in", "out")))
        .order_by(M.conversation_id, M.sent_at, M.id)
    ):
        messages.setdefault(m.conversation_id, []).append(
            MessageRecord(m.direction, m.sent_at, m.author)
        )
    changes: dict[int, list[StatusChange]] = {}
    # The statuses are read in SQL (JSON paths work on SQLite and PostgreSQL alike):
    # decoding every event's detail in Python costs more than the query.
    for e in conn.execute(
        select(
            E.conversation_id,
            E.at,
            E.kind,
            E.detail["from"].as_string().label("from_status"),
            E.detail["to"].as_string().label("to_status"),
            E.detail[("restored", "status")].as_string().label("restored"),
        )
        .where(E.conversation_id.in_(ids), E.kind.in_(STATUS_KINDS))
        .order_by(E.at, E.id)
    ):
        change = status_change(e.kind, e.at, e.from_status, e.to_status or e.restored)
        if change is not None:
            changes.setdefault(e.conversation_id, []).append(change)
    rows = conn.execute(
        select(
            C.id,
            C.channel,
            C.account,
            C.status,
            C.priority,
            cast(C.tags, String).label("tags"),
            C.assignee,
            C.created_at,
            C.resolved_at,
            C.paused_at,
            C.first_responded_at,
            C.first_response_due,
            C.resolution_due,
            CU.vip,
        )
        .select_from(table_of(Conversation).outerjoin(table_of(Customer), CU.id == C.customer_id))
        .where(*conds)
        .order_by(C.created_at, C.id)
    )
    return [
        ConvRecord(
            id=r.id,
            channel=r.channel,
            created_at=r.created_at,
            status=r.status,
            account=r.account,
            priority=r.priority,
            tags=_tags(r.tags),
            assignee=r.assignee,
            vip=bool(r.vip),
            resolved_at=r.resolved_at,
            paused_at=r.paused_at,
            first_responded_at=r.first_responded_at,
            first_response_due=r.first_response_due,
            resolution_due=r.resolution_due,
            messages=tuple(messages.get(r.id, ())),
            changes=tuple(changes.get(r.id, ())),
        )
        for r in rows
    ]


def status_change(
    kind: str, at: datetime, before: str | None, after: str | None
) -> StatusChange | None:
    """The status change an event records: ``conversation.status`` from ``before`` to
    ``after``, or ``conversation.undone`` putting ``after`` back; None otherwise."""
    if after is None:
        return None
    if kind == "conversation.status":
        return StatusChange(at, before, after)
    if kind == "conversation.undone":
        return StatusChange(at, None, after)
    return None


def _tags(text: str | None) -> tuple[str, ...]:
    """The tags column read as its JSON text: most conversations have none, and
    decoding ``[]`` tens of thousands of times is most of a report's load time."""
    if not text or text == "[]":
        return ()
    value = json.loads(text)
    return tuple(str(t) for t in value) if isinstance(value, list) else ()

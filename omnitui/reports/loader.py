"""Read conversation records from the store: the conversations selected by a
condition (with their customer's VIP flag), their messages, status changes, handling
time and surveys.

A few bulk queries whatever the selection's size, never one per conversation. The
conversations are read first: a change landing while the rest is read is then newer
than the row's key (see :mod:`omnitui.reports.fact_store`), so it can only make the
fact look stale, never make a stale fact look fresh.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, String, cast, func, select
from sqlmodel import Session

from omnitui.reports.records import ConvRecord, MessageRecord, StatusChange, SurveyRecord
from storage.models import (
    Conversation,
    Customer,
    Event,
    Handling,
    Message,
    Survey,
    table_of,
)

C = table_of(Conversation).c
M = table_of(Message).c
E = table_of(Event).c
CU = table_of(Customer).c
H = table_of(Handling).c
S = table_of(Survey).c

#: Conversations whose messages, events and surveys are read per query.
ID_STEP = 5000
#: Events that change a conversation's status (an undo may put a status back).
STATUS_KINDS = ("conversation.status", "conversation.undone")


def key_expr() -> ColumnElement[str]:
    """Every column of a conversation (and its customer's VIP flag, and its handling
    time) that its report figures depend on, as one text: equal texts mean an
    unchanged conversation."""
    parts: list[ColumnElement[str]] = [
        cast(col, String)
        for col in (
            C.status,
            C.message_count,
            C.created_at,
            C.last_message_at,
            C.resolved_at,
            C.paused_at,
            C.first_responded_at,
            C.first_response_due,
            C.resolution_due,
            C.channel,
            C.account,
            C.priority,
            C.tags,
            C.assignee,
            CU.vip,
        )
    ]
    # Handling time changes without touching the conversation row.
    handled = (
        select(func.count() + func.coalesce(func.sum(H.seconds), 0))
        .where(H.conversation_id == C.id)
        .scalar_subquery()
    )
    parts.append(cast(handled, String))
    expr: ColumnElement[str] = func.coalesce(parts[0], "")
    for part in parts[1:]:
        expr = expr + "|" + func.coalesce(part, "")
    return expr


def period_conditions(
    since: datetime, until: datetime, channel: str | None, agent: str | None
) -> list[ColumnElement[bool]]:
    """Conversations created in ``[since, until)`` on ``channel`` assigned to
    ``agent`` (each filter only when given)."""
    conds: list[ColumnElement[bool]] = [C.created_at >= since, C.created_at < until]
    return conds + filters(channel, agent)


def filters(channel: str | None, agent: str | None) -> list[ColumnElement[bool]]:
    """The report's channel and assignee filters."""
    conds: list[ColumnElement[bool]] = []
    if channel is not None:
        conds.append(C.channel == channel)
    if agent is not None:
        conds.append(C.assignee == agent)
    return conds


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
    return [r for r, _ in load_where(conn, period_conditions(since, until, channel, agent))]


def load_where(
    conn: Connection, conds: Sequence[ColumnElement[bool]]
) -> list[tuple[ConvRecord, str]]:
    """The conversations matching ``conds`` with each one's key (:func:`key_expr`),
    oldest first."""
    rows = conn.execute(
        select(
            C.id,
            C.ref,
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
            key_expr().label("key"),
        )
        .select_from(table_of(Conversation).outerjoin(table_of(Customer), CU.id == C.customer_id))
        .where(*conds)
        .order_by(C.created_at, C.id)
    ).all()
    messages: dict[int, list[MessageRecord]] = {}
    changes: dict[int, list[StatusChange]] = {}
    handling: dict[int, list[tuple[str, float]]] = {}
    surveys: dict[int, list[SurveyRecord]] = {}
    # By the ids read (a plain list, in steps): a subquery repeating the conditions
    # can make PostgreSQL scan every message.
    ids = [r.id for r in rows]
    for at in range(0, len(ids), ID_STEP):
        step = ids[at : at + ID_STEP]
        _read_messages(conn, step, messages)
        _read_changes(conn, step, changes)
        for cid, spent in load_handling(conn, step).items():
            handling[cid] = spent
        _read_surveys(conn, step, surveys)
    return [
        (
            ConvRecord(
                id=r.id,
                ref=r.ref or "",
                channel=r.channel,
                created_at=r.created_at,
                status=r.status,
                account=r.account,
                priority=r.priority,
                tags=tags_of(r.tags),
                assignee=r.assignee,
                vip=bool(r.vip),
                resolved_at=r.resolved_at,
                paused_at=r.paused_at,
                first_responded_at=r.first_responded_at,
                first_response_due=r.first_response_due,
                resolution_due=r.resolution_due,
                messages=tuple(messages.get(r.id, ())),
                changes=tuple(changes.get(r.id, ())),
                handling=tuple(handling.get(r.id, ())),
                surveys=tuple(surveys.get(r.id, ())),
            ),
            r.key,
        )
        for r in rows
    ]


def _read_messages(conn: Connection, ids: list[int], out: dict[int, list[MessageRecord]]) -> None:
    answers = select(S.message_id).where(S.message_id.is_not(None), S.conversation_id.in_(ids))
    answered = set(conn.execute(answers).scalars())
    for m in conn.execute(
        select(M.id, M.conversation_id, M.direction, M.author, M.sent_at)
        .where(M.conversation_id.in_(ids), M.direction.in_(("in", "out")))
        .order_by(M.conversation_id, M.sent_at, M.id)
    ):
        out.setdefault(m.conversation_id, []).append(
            MessageRecord(m.direction, m.sent_at, m.author, m.id in answered)
        )


def _read_changes(conn: Connection, ids: list[int], out: dict[int, list[StatusChange]]) -> None:
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
        .where(
            E.conversation_id.in_(ids),
            E.kind.in_(STATUS_KINDS),
            # A merged-in conversation's changes are its own history, not this one's.
            E.detail["merged_from"].as_string().is_(None),
        )
        # In the order they happened: a change may be dated earlier than the one
        # before it (a reopening dated by the customer's late-delivered message).
        .order_by(E.id)
    ):
        change = status_change(e.kind, e.at, e.from_status, e.to_status or e.restored)
        if change is not None:
            out.setdefault(e.conversation_id, []).append(change)


def _read_surveys(conn: Connection, ids: list[int], out: dict[int, list[SurveyRecord]]) -> None:
    for s in conn.execute(
        select(S.conversation_id, S.sent_at, S.score, S.comment, S.answered_at)
        .where(S.conversation_id.in_(ids))
        .order_by(S.sent_at, S.id)
    ):
        out.setdefault(s.conversation_id, []).append(
            SurveyRecord(s.sent_at, s.score, s.comment, s.answered_at)
        )


def load_handling(conn: Connection, ids: list[int]) -> dict[int, list[tuple[str, float]]]:
    """Each selected conversation's handling seconds per agent."""
    out: dict[int, list[tuple[str, float]]] = {}
    for h in conn.execute(
        select(H.conversation_id, H.agent, func.sum(H.seconds).label("seconds"))
        .where(H.conversation_id.in_(ids))
        .group_by(H.conversation_id, H.agent)
    ):
        out.setdefault(h.conversation_id, []).append((h.agent, float(h.seconds or 0.0)))
    return out


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


def tags_of(text: str | None) -> tuple[str, ...]:
    """The tags column read as its JSON text: most conversations have none, and
    decoding ``[]`` tens of thousands of times is most of a report's load time."""
    if not text or text == "[]":
        return ()
    value = json.loads(text)
    return tuple(str(t) for t in value) if isinstance(value, list) else ()

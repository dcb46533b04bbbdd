"""Each conversation's report figures, computed once and kept in ``report_fact``.

Triggers (:mod:`storage.fact_triggers`) delete a conversation's row whenever
anything its figures come from changes, and ``basis`` names the settings it was
computed under, so :func:`refresh` only has to compute the conversations of a report's
scope that have no row for the current basis. A row is written only if the
conversation is still as it was read (its :func:`~.loader.key_expr` unchanged, checked
in the same statement, the row locked on PostgreSQL), so a change racing the report
can never leave stale figures behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, overload

from sqlalchemy import Connection, bindparam, exists, literal, or_, select
from sqlalchemy.exc import SQLAlchemyError

from omnitui.desk.settings import DeskSettings
from omnitui.errors import OmnituiError
from omnitui.reports.loader import CU, C, key_expr, load_where
from omnitui.reports.measures import Fact, fact_of
from omnitui.reports.records import ConvRecord
from storage.models import STATUSES, Conversation, Customer, ReportFact, table_of

#: Bumped whenever a definition in omnitui.reports.measures changes: every stored
#: fact is then computed again.
FACTS_VERSION = 3
#: An unresolved span that lasts (its end in ``unresolved``).
OPEN = -1
#: Conversations read, computed and written per step.
STEP = 2000

F = table_of(ReportFact).c
#: The columns of a fact besides its conversation.
FACT_COLUMNS = tuple(c.name for c in table_of(ReportFact).c if c.name != "conversation_id")

Progress = Callable[[int, int], None]


class ReportStoreError(OmnituiError):
    """The report's figures could not be written to the store."""


def basis_of(settings: DeskSettings, sla: Mapping[str, Any], tz: tzinfo) -> str:
    """What every fact depends on besides its conversation: the ``[sla]`` table (the
    calendar, holidays and closed dates), the policies, the time zone, the code."""
    text = json.dumps(
        [FACTS_VERSION, sla, repr(settings.policies), str(tz)], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def missing(
    conn: Connection, *, before: datetime, since: datetime, until: datetime, basis: str
) -> list[int]:
    """The conversations a report of ``[since, until)`` (with its previous period from
    ``before``) needs and that have no fact for ``basis``: those created in ``[before,
    until)`` and older ones not resolved before ``since`` (the backlog)."""
    has_fact = exists().where(F.conversation_id == C.id, F.basis == basis)
    unresolved = [s for s in STATUSES if s != "resolved"]
    recent = select(C.id).where(C.created_at >= before, C.created_at < until, ~has_fact)
    older = select(C.id).where(
        C.created_at < before,
        or_(C.status.in_(unresolved), (C.status == "resolved") & (C.resolved_at >= since)),
        ~has_fact,
    )
    return sorted(set(conn.execute(recent).scalars()) | set(conn.execute(older).scalars()))


def refresh(
    conn: Connection,
    ids: Sequence[int],
    *,
    settings: DeskSettings,
    tz: tzinfo,
    basis: str,
    progress: Progress | None = None,
) -> int:
    """Compute and store the facts of ``ids`` (committing per step); how many were
    computed (one that changed meanwhile is computed but not kept). Raises
    :class:`ReportStoreError` when the store refuses the writes."""
    written = 0
    for at in range(0, len(ids), STEP):
        loaded = load_where(conn, [C.id.in_(ids[at : at + STEP])])
        rows = [fact_row(record, settings, tz, basis) | {"key": key} for record, key in loaded]
        try:
            written += write_facts(conn, rows, checked=True)
            conn.commit()
        except SQLAlchemyError as exc:
            conn.rollback()
            raise ReportStoreError(
                f"report figures could not be stored ({type(exc).__name__}); "
                "the store must be writable for reports"
            ) from None
        if progress is not None:
            progress(min(at + STEP, len(ids)), len(ids))
    return written


def fact_row(record: ConvRecord, settings: DeskSettings, tz: tzinfo, basis: str) -> dict[str, Any]:
    """A conversation's ``report_fact`` row."""
    return {
        "conversation_id": record.id,
        **encode(fact_of(record, settings, tz), basis),
        "channel": record.channel,
        "assignee": record.assignee,
        "tags": json.dumps(list(dict.fromkeys(record.tags)), ensure_ascii=False),
    }


def write_facts(conn: Connection, rows: Iterable[dict[str, Any]], *, checked: bool) -> int:
    """Insert or replace the facts of ``rows``' conversations; with ``checked`` a row
    (carrying the ``key`` it was computed from) is written only if its conversation
    still has that key (a stale row it would have replaced is gone already: the
    change that made it stale deleted it). The number of rows given."""
    rows = list(rows)
    if not rows:
        return 0
    table = table_of(ReportFact)
    names = ("conversation_id", *FACT_COLUMNS)
    dialect = conn.dialect.name
    from sqlalchemy.dialects import postgresql, sqlite

    upsert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if not checked:
        conn.execute(_replacing(upsert(table)), [{n: r[n] for n in names} for r in rows])
        return len(rows)
    same = (
        select(literal(1))
        .select_from(table_of(Conversation).outerjoin(table_of(Customer), CU.id == C.customer_id))
        .where(C.id == bindparam("p_conversation_id"), key_expr() == bindparam("p_key"))
    )
    if dialect == "postgresql":
        same = same.with_for_update(read=True, of=table_of(Conversation))
    values = select(*(bindparam(f"p_{n}", type_=table.c[n].type) for n in names)).where(
        exists(same)
    )
    # Insert or replace: two reports computing the same conversation at once both
    # succeed (their figures are the same).
    conn.execute(
        _replacing(upsert(table).from_select(names, values)),
        [{f"p_{n}": r[n] for n in (*names, "key")} for r in rows],
    )
    return len(rows)


def _replacing(stmt: Any) -> Any:
    return stmt.on_conflict_do_update(
        index_elements=["conversation_id"],
        set_={n: stmt.excluded[n] for n in FACT_COLUMNS},
    )


def encode(fact: Fact, basis: str) -> dict[str, Any]:
    """A fact as ``report_fact`` columns (without conversation, channel, assignee,
    tags)."""
    last = fact.unresolved[-1][1] if fact.unresolved else fact.created
    return {
        "basis": basis,
        "created": fact.created,
        "settled": last if fact.resolved else None,
        "day": fact.day,
        "policy": fact.policy,
        "messages_in": fact.messages_in,
        "messages_out": fact.messages_out,
        "replies": fact.replies,
        "handled": fact.handled,
        "first_response": micro(fact.first_response),
        "first_response_business": micro(fact.first_response_business),
        "next_responses": " ".join(f"{micro(w)} {micro(b)}" for w, b in fact.next_responses),
        "resolved": fact.resolved,
        "reopened": fact.reopened,
        "resolution": micro(fact.resolution),
        "resolution_business": micro(fact.resolution_business),
        "fcr": fact.fcr,
        "first_response_clock": fact.first_response_clock[0],
        "first_response_due": fact.first_response_clock[1],
        "resolution_clock": fact.resolution_clock[0],
        "resolution_due": fact.resolution_clock[1],
        "unresolved": " ".join(
            f"{micro(a)} {OPEN if b is None else micro(b)}" for a, b in fact.unresolved
        ),
        "hours": " ".join(str(h) for h in fact.hours),
    }


@overload
def micro(seconds: float) -> int: ...
@overload
def micro(seconds: None) -> None: ...
def micro(seconds: float | None) -> int | None:
    """Seconds as whole microseconds (every time a report stores is a whole number of
    them, so ``micro(x) / 1e6 == x``)."""
    return None if seconds is None else round(seconds * 1_000_000)


def seconds(texts: Iterable[str]) -> list[float]:
    """The microseconds of many list columns, in order, as seconds."""
    return [n / 1_000_000 for n in map(int, " ".join(texts).split())]

"""The report's SQL: figures summed by the database over ``report_fact`` (never a
row per conversation through Python, except the times percentiles need).

:func:`cells` groups the period and the previous one by the given dimensions and
returns a :class:`Cell` per group: counts, SLA verdicts judged at ``now``, handling
time and survey answers summed in SQL, and the lists of times for the percentiles. The
other functions read the workload figures of the period.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    FromClause,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
)

from omnitui.reports.fact_store import OPEN, seconds
from storage.models import Conversation, Outbox, ReportFact, Survey, table_of

F = table_of(ReportFact).c
S = table_of(Survey).c
OB = table_of(Outbox).c
CV = table_of(Conversation).c

CURRENT, PREVIOUS = 0, 1
#: First-response time buckets: (name, lower bound, upper bound) in seconds.
BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<1h", 0.0, 3600.0),
    ("1-4h", 3600.0, 4 * 3600.0),
    ("4-8h", 4 * 3600.0, 8 * 3600.0),
    ("8-24h", 8 * 3600.0, 24 * 3600.0),
    (">24h", 24 * 3600.0, float("inf")),
)
#: A survey answer counts as satisfied from this score up.
SATISFIED = 4
UNTAGGED = "(untagged)"
#: Lists of times kept per cell.
TIMES = ("frt", "frt_b", "res", "res_b", "nrt", "nrt_b")


@dataclass(frozen=True, slots=True)
class Scope:
    """A report's periods as epoch seconds (previous ``[lo, mid)``, current
    ``[mid, hi)``), the instant clocks are judged at, and the filters."""

    lo: float
    mid: float
    hi: float
    now: float
    channel: str | None = None
    agent: str | None = None

    def where(self, *, current_only: bool = False) -> list[ColumnElement[bool]]:
        """Facts of both periods (or the current one) matching the filters."""
        conds = [F.created >= (self.mid if current_only else self.lo), F.created < self.hi]
        return conds + self.filters()

    def filters(self) -> list[ColumnElement[bool]]:
        """The channel and assignee filters."""
        out: list[ColumnElement[bool]] = []
        if self.channel is not None:
            out.append(F.channel == self.channel)
        if self.agent is not None:
            out.append(F.assignee == self.agent)
        return out

    def period(self) -> ColumnElement[int]:
        """0 for the current period, 1 for the previous one."""
        return case((F.created >= self.mid, CURRENT), else_=PREVIOUS)


@dataclass(slots=True)
class Cell:
    """The sums of a group of conversations, and their times for percentiles."""

    counts: Counter[str] = field(default_factory=Counter)
    times: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in TIMES})

    def add(self, other: Cell) -> None:
        """Add ``other``'s conversations to this cell."""
        self.counts.update(other.counts)
        for key, values in other.times.items():
            self.times[key].extend(values)


Dims = Sequence[tuple[str, ColumnElement[Any]]]


def _if(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((cond, 1), else_=0))


def _breached(clock: Any, due: Any, now: float) -> ColumnElement[bool]:
    return or_(clock == "breached", and_(clock == "due", due < now))


def count_columns(now: float) -> list[tuple[str, ColumnElement[Any]]]:
    """The summed figures of a group, SLA clocks judged at ``now``."""
    fr_breached = _breached(F.first_response_clock, F.first_response_due, now)
    res_breached = _breached(F.resolution_clock, F.resolution_due, now)
    # Running now and past due (an agent can still act on it).
    fr_overdue = and_(F.first_response_clock == "due", F.first_response_due < now)
    res_overdue = and_(F.resolution_clock == "due", F.resolution_due < now)
    columns: list[tuple[str, ColumnElement[Any]]] = [
        ("created", func.count()),
        ("resolved", _if(F.resolved.is_(True))),
        ("reopened", _if(F.reopened.is_(True))),
        ("in", func.coalesce(func.sum(F.messages_in), 0)),
        ("out", func.coalesce(func.sum(F.messages_out), 0)),
        ("replies", func.coalesce(func.sum(F.replies), 0)),
        ("handled_seconds", func.coalesce(func.sum(F.handled), 0.0)),
        ("handled", _if(F.handled > 0)),
        ("fcr_yes", _if(F.fcr.is_(True))),
        ("fcr_known", func.count(F.fcr)),
        ("fr_met", _if(F.first_response_clock == "met")),
        ("fr_breached", _if(fr_breached)),
        ("res_met", _if(F.resolution_clock == "met")),
        ("res_breached", _if(res_breached)),
        ("breaching_now", _if(and_(F.resolved.is_(False), or_(fr_overdue, res_overdue)))),
    ]
    for name, lo, hi in BUCKETS:  # times are stored in microseconds
        cond = F.first_response >= int(lo * 1_000_000)
        if hi != float("inf"):
            cond = and_(cond, F.first_response < int(hi * 1_000_000))
        columns.append((f"bucket {name}", _if(cond)))
    return columns


def joined(conn: Connection, expr: ColumnElement[Any]) -> ColumnElement[str]:
    """The group's non-empty values of ``expr`` as one text, separated by spaces."""
    if conn.dialect.name == "postgresql":
        return func.string_agg(func.nullif(cast(expr, Text), ""), " ")
    return func.group_concat(func.nullif(expr, ""), " ")


def tag_table(conn: Connection) -> Any:
    """The tags of a fact as rows (``value``), per dialect."""
    if conn.dialect.name == "postgresql":
        return func.json_array_elements_text(cast(F.tags, JSON)).table_valued("value")
    return func.json_each(F.tags).table_valued("value")


def cells(
    conn: Connection,
    scope: Scope,
    dims: Dims,
    *,
    base: FromClause | None = None,
    current_only: bool = False,
) -> dict[tuple[Any, ...], Cell]:
    """The facts of the periods grouped by ``dims`` (label, expression), read from
    ``base`` (``report_fact`` or it joined to the tags)."""
    base = base if base is not None else table_of(ReportFact)
    where = scope.where(current_only=current_only)
    exprs = [e.label(f"d_{name}") for name, e in dims]
    n = len(exprs)
    out: dict[tuple[Any, ...], Cell] = {}

    def cell(key: tuple[Any, ...]) -> Cell:
        found = out.get(key)
        if found is None:
            found = out[key] = Cell()
        return found

    columns = count_columns(scope.now)
    lists = [
        ("frt", F.first_response),
        ("frt_b", F.first_response_business),
        ("res", F.resolution),
        ("res_b", F.resolution_business),
        ("nrt", F.next_responses),
    ]
    width = len(columns)
    for row in conn.execute(
        select(
            *exprs,
            *(c.label(f"c{i}") for i, (_, c) in enumerate(columns)),
            *(joined(conn, e).label(f"t_{name}") for name, e in lists),
        )
        .select_from(base)
        .where(*where)
        .group_by(*exprs)
    ):
        found = cell(tuple(row[:n]))
        for (name, _), value in zip(columns, row[n : n + width], strict=True):
            found.counts[name] += value or 0
        frt, frt_b, res, res_b, nexts = row[n + width :]
        found.times["frt"].extend(seconds((frt or "",)))
        found.times["frt_b"].extend(seconds((frt_b or "",)))
        found.times["res"].extend(seconds((res or "",)))
        found.times["res_b"].extend(seconds((res_b or "",)))
        values = seconds((nexts or "",))
        found.times["nrt"].extend(values[0::2])
        found.times["nrt_b"].extend(values[1::2])
    answered = and_(S.score.is_not(None), S.answered_at.is_not(None))
    # Surveys sent: delivered (a row whose outbox item is gone counts as delivered).
    sent = or_(S.outbox_id.is_(None), OB.state == "sent")
    for row in conn.execute(
        select(
            *exprs,
            _if(sent),
            _if(and_(sent, answered)),
            _if(and_(sent, answered, S.score >= SATISFIED)),
        )
        .select_from(
            base.join(table_of(Survey), S.conversation_id == F.conversation_id).outerjoin(
                table_of(Outbox), OB.id == S.outbox_id
            )
        )
        .where(*where)
        .group_by(*exprs)
    ):
        counts = cell(tuple(row[:n])).counts
        counts["surveys"] += row[n]
        counts["answers"] += row[n + 1] or 0
        counts["satisfied"] += row[n + 2] or 0
    return out


def tag_cells(conn: Connection, scope: Scope) -> dict[tuple[Any, ...], Cell]:
    """The current period grouped by tag (a conversation in each of its tags;
    ``(untagged)`` without)."""
    tags = tag_table(conn)
    base = table_of(ReportFact).outerjoin(tags, true())
    tag = func.coalesce(tags.c.value, literal(UNTAGGED))
    return cells(conn, scope, [("tag", tag)], base=base, current_only=True)


def unresolved_spans(conn: Connection, scope: Scope) -> tuple[list[float], list[float]]:
    """The starts and ends (``inf`` while it lasts) of the unresolved spans of every
    conversation not resolved for good before the period began (the backlog's)."""
    text = conn.execute(
        select(joined(conn, F.unresolved)).where(
            F.created < scope.hi,
            or_(F.settled.is_(None), F.settled >= scope.mid),
            *scope.filters(),
        )
    ).scalar()
    values = [n / 1_000_000 if n != OPEN else float("inf") for n in map(int, (text or "").split())]
    return values[0::2], values[1::2]


def days_and_hours(conn: Connection, scope: Scope) -> tuple[Counter[str], Counter[int]]:
    """Conversations created per local day, and customer messages per ``weekday * 100
    + hour``, in the current period."""
    where = scope.where(current_only=True)
    days: Counter[str] = Counter()
    for day, n in conn.execute(select(F.day, func.count()).where(*where).group_by(F.day)):
        days[day] = n
    codes = conn.execute(select(joined(conn, F.hours)).where(*where)).scalar()
    hours = Counter((codes or "").split())
    return days, Counter({int(code): n for code, n in hours.items()})


def top_tags(conn: Connection, scope: Scope, limit: int) -> list[list[Any]]:
    """The most common tags of the current period, ``[tag, conversations]``."""
    tags = tag_table(conn)
    n = func.count().label("n")
    rows = conn.execute(
        select(tags.c.value, n)
        .select_from(table_of(ReportFact).join(tags, true()))
        .where(*scope.where(current_only=True))
        .group_by(tags.c.value)
        .order_by(n.desc(), tags.c.value)
        .limit(limit)
    )
    return [[str(tag), int(count)] for tag, count in rows]


def comments(conn: Connection, scope: Scope, limit: int) -> list[dict[str, Any]]:
    """The latest survey answers with a comment in the current period, newest first."""
    rows = conn.execute(
        select(S.score, S.comment, CV.ref, S.answered_at)
        .select_from(
            table_of(ReportFact)
            .join(table_of(Survey), S.conversation_id == F.conversation_id)
            .join(table_of(Conversation), CV.id == F.conversation_id)
        )
        .where(
            *scope.where(current_only=True),
            S.score.is_not(None),
            S.answered_at.is_not(None),
            S.comment != "",
        )
        .order_by(S.answered_at.desc(), S.id.desc())
        .limit(limit)
    )
    return [
        {
            "score": score,
            "comment": comment,
            "conversation": ref or "",
            "answered_at": _iso(at),
        }
        for score, comment, ref, at in rows
    ]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()

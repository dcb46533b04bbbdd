"""The report record of DESIGN.md.

:func:`report_from_store` assembles it from :mod:`omnitui.reports.aggregate`'s sums
over stored facts: the contract keys for the period, ``by_channel``, ``previous``,
``by``/``groups`` when grouped, and the workload figures. :func:`build_report` computes
the same from conversation records (hand-built in tests) through an in-memory store,
so both go through the one set of rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from typing import Any

from sqlalchemy import Connection

from omnitui.reports import aggregate as agg
from omnitui.reports.aggregate import BUCKETS, CURRENT, PREVIOUS, Cell, Scope
from omnitui.reports.stats import share, summary
from omnitui.reports.workload import backlog, heatmap, per_day

GROUPINGS = ("day", "week", "channel", "agent", "tag")
#: Group name for conversations without an assignee (``(untagged)``: aggregate.py).
UNASSIGNED = "(unassigned)"
#: How many tags and survey comments a report lists.
TOP_TAGS = 10
COMMENTS = 20

Block = dict[str, Any]
Key = tuple[Any, ...]
#: Positions in a cell's key (see :func:`report_from_store`).
PERIOD, CHANNEL, ASSIGNEE, POLICY = range(4)


def report_from_store(
    conn: Connection,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    by: str | None = None,
    tz: tzinfo = UTC,
    channel: str | None = None,
    agent: str | None = None,
    before: datetime | None = None,
) -> dict[str, Any]:
    """The report of ``[since, until)`` with ``previous`` (``[before, since)``, by
    default the same length before it)
    from the facts in the store (see :func:`omnitui.reports.fact_store.refresh`)."""
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}")
    before = previous_since(since, until) if before is None else before
    scope = Scope(_epoch(before), _epoch(since), _epoch(until), now.timestamp(), channel, agent)
    F = agg.F
    dims = [
        ("period", scope.period()),
        ("channel", F.channel),
        ("assignee", F.assignee),
        ("policy", F.policy),
    ]
    found = agg.cells(conn, scope, dims)
    current = {k: c for k, c in found.items() if k[PERIOD] == CURRENT}
    previous = {k: c for k, c in found.items() if k[PERIOD] == PREVIOUS}
    report: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat()}
    report.update(block(merged(current.values())))
    report["by_channel"] = blocks(current, lambda k: k[CHANNEL])
    report["previous"] = {
        "since": before.isoformat(),
        "until": since.isoformat(),
        **block(merged(previous.values())),
        "sla_by_policy": by_policy(previous),
    }
    report["sla_by_policy"] = by_policy(current)
    report["csat"]["comments"] = agg.comments(conn, scope, COMMENTS)
    days, hours = agg.days_and_hours(conn, scope)
    report["created_by_day"] = per_day(days, since, until, tz)
    report["backlog"] = backlog(agg.unresolved_spans(conn, scope), since, until, now, tz)
    report["heatmap"] = heatmap(hours)
    report["top_tags"] = agg.top_tags(conn, scope, TOP_TAGS)
    report["agents"] = agents(current)
    if by is not None:
        report["by"] = by
        if by == "tag":
            report["groups"] = blocks(agg.tag_cells(conn, scope), lambda k: str(k[0]))
        elif by in ("day", "week"):
            by_day = agg.cells(conn, scope, [("day", F.day)], current_only=True)
            name = (lambda k: str(k[0])) if by == "day" else (lambda k: _week(k[0]))
            report["groups"] = blocks(by_day, name)
        else:
            report["groups"] = blocks(current, _group_key(by))
    return report


def previous_since(since: datetime, until: datetime) -> datetime:
    """Where the previous period of the same length begins (at the earliest the
    first representable instant)."""
    try:
        return since - (until - since)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def _epoch(at: datetime) -> float:
    try:
        return at.timestamp()
    except (OverflowError, ValueError, OSError):
        return float("-inf")


def merged(cells: Iterable[Cell]) -> Cell:
    """One cell holding all of ``cells``."""
    out = Cell()
    for cell in cells:
        out.add(cell)
    return out


def blocks(cells: Mapping[Key, Cell], name: Callable[[Key], str]) -> dict[str, Block]:
    """A block per group name, sorted by name."""
    groups: dict[str, Cell] = {}
    for key, cell in cells.items():
        groups.setdefault(name(key), Cell()).add(cell)
    return {g: block(c) for g, c in sorted(groups.items())}


def block(cell: Cell) -> Block:
    """The figures of a group of conversations (the keys repeated per channel/group)."""
    c, t = cell.counts, cell.times
    clocks = {
        "first_response": _clock(c["fr_met"], c["fr_breached"]),
        "resolution": _clock(c["res_met"], c["res_breached"]),
    }
    met = c["fr_met"] + c["res_met"]
    breached = c["fr_breached"] + c["res_breached"]
    return {
        "conversations": {
            "created": c["created"],
            "resolved": c["resolved"],
            "reopened": c["reopened"],
        },
        "messages": {"in": c["in"], "out": c["out"]},
        "first_response_seconds": summary(t["frt"]),
        "first_response_business_seconds": summary(t["frt_b"]),
        "resolution_seconds": summary(t["res"]),
        "sla": {
            "met": met,
            "breached": breached,
            "attainment": share(met, met + breached),
            "breaching_now": c["breaching_now"],
        },
        "fcr": share(c["fcr_yes"], c["fcr_known"]),
        "aht_seconds": c["handled_seconds"] / c["handled"] if c["handled"] else None,
        "csat": {
            "surveys": c["surveys"],
            "answers": c["answers"],
            "score": share(c["satisfied"], c["answers"]),
            "response_rate": share(c["answers"], c["surveys"]),
        },
        "resolution_business_seconds": summary(t["res_b"]),
        "next_response_seconds": summary(t["nrt"]),
        "next_response_business_seconds": summary(t["nrt_b"]),
        "first_response_buckets": {name: c[f"bucket {name}"] for name, _, _ in BUCKETS},
        "replies": c["replies"],
        "sla_by_clock": clocks,
    }


def by_policy(cells: Mapping[Key, Cell]) -> dict[str, dict[str, Any]]:
    """SLA verdicts per policy (both clocks; ``(none)`` without a policy)."""
    groups: dict[str, Cell] = {}
    for key, cell in cells.items():
        groups.setdefault(key[POLICY] or "(none)", Cell()).add(cell)
    out = {}
    for name, cell in sorted(groups.items()):
        c = cell.counts
        out[name] = {
            **_clock(c["fr_met"] + c["res_met"], c["fr_breached"] + c["res_breached"]),
            "first_response": _clock(c["fr_met"], c["fr_breached"]),
            "resolution": _clock(c["res_met"], c["res_breached"]),
            "breaching_now": c["breaching_now"],
        }
    return out


def agents(cells: Mapping[Key, Cell]) -> dict[str, dict[str, Any]]:
    """Per agent, over the conversations assigned to them: how many, the agent replies
    in them, first response, handling time per handled conversation (whoever had it
    open) and the CSAT of their surveys."""
    assigned: dict[str, Cell] = {}
    for key, cell in cells.items():
        assigned.setdefault(key[ASSIGNEE] or UNASSIGNED, Cell()).add(cell)
    out: dict[str, dict[str, Any]] = {}
    for name, cell in sorted(assigned.items()):
        c = cell.counts
        out[name] = {
            "conversations": c["created"],
            "replies": c["replies"],
            "first_response_seconds": summary(cell.times["frt"]),
            "aht_seconds": c["handled_seconds"] / c["handled"] if c["handled"] else None,
            "csat": {"answers": c["answers"], "score": share(c["satisfied"], c["answers"])},
        }
    return out


def _clock(met: int, breached: int) -> dict[str, Any]:
    return {"met": met, "breached": breached, "attainment": share(met, met + breached)}


@cache
def _week(day: str) -> str:
    return "{}-W{:02d}".format(*date.fromisoformat(day).isocalendar()[:2])


def _group_key(by: str) -> Callable[[Key], str]:
    if by == "channel":
        return lambda k: str(k[CHANNEL])
    return lambda k: k[ASSIGNEE] or UNASSIGNED

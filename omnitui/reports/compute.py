"""The report record of DESIGN.md over plain records (pure).

:func:`build_report` takes the conversations created in ``[since, until)`` and in
the previous period of the same length, and returns the JSON object of ``omnitui
report --format json``: the contract keys, ``by_channel``, ``sla_by_clock``,
``resolution_business_seconds``, ``previous``, and ``by``/``groups`` when grouped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from omnitui.desk.settings import DeskSettings
from omnitui.reports.measures import Measures, measure
from omnitui.reports.records import ConvRecord
from omnitui.reports.stats import share, summary

GROUPINGS = ("day", "week", "channel", "agent", "tag")
#: Group names for conversations without an assignee or without tags.
UNASSIGNED = "(unassigned)"
UNTAGGED = "(untagged)"

Block = dict[str, Any]


def build_report(
    records: Iterable[ConvRecord],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    settings: DeskSettings | None = None,
    by: str | None = None,
    tz: tzinfo | None = None,
) -> dict[str, Any]:
    """The report of ``[since, until)`` with ``previous`` (the same length before it).

    ``records`` may hold conversations of either period (others are ignored); ``tz``
    is where a ``day`` or ``week`` begins (default UTC)."""
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}")
    settings = settings or DeskSettings()
    before = previous_since(since, until)
    current: list[tuple[ConvRecord, Measures]] = []
    previous: list[tuple[ConvRecord, Measures]] = []
    for conv in records:
        if since <= conv.created_at < until:
            current.append((conv, measure(conv, settings, now)))
        elif before <= conv.created_at < since:
            previous.append((conv, measure(conv, settings, now)))
    report: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat()}
    report.update(block(m for _, m in current))
    report["by_channel"] = {
        name: block(ms) for name, ms in _grouped(current, lambda c: [c.channel]).items()
    }
    report["previous"] = {
        "since": before.isoformat(),
        "until": since.isoformat(),
        **block(m for _, m in previous),
    }
    if by is not None:
        report["by"] = by
        key = _group_key(by, tz)
        report["groups"] = {name: block(ms) for name, ms in _grouped(current, key).items()}
    return report


def previous_since(since: datetime, until: datetime) -> datetime:
    """Where the previous period of the same length begins (at the earliest the
    first representable instant)."""
    try:
        return since - (until - since)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def block(measures: Iterable[Measures]) -> Block:
    """The figures of a set of conversations (the keys repeated per channel/group)."""
    ms = list(measures)
    first_response = [m.first_response for m in ms if m.first_response is not None]
    business = [m.first_response_business for m in ms if m.first_response_business is not None]
    resolution = [m.resolution for m in ms if m.resolution is not None]
    resolution_b = [m.resolution_business for m in ms if m.resolution_business is not None]
    fcr_known = [m.first_contact_resolved for m in ms if m.first_contact_resolved is not None]
    clocks = {
        "first_response": _clock([m.first_response_clock for m in ms]),
        "resolution": _clock([m.resolution_clock for m in ms]),
    }
    met = sum(c["met"] for c in clocks.values())
    breached = sum(c["breached"] for c in clocks.values())
    return {
        "conversations": {
            "created": len(ms),
            "resolved": sum(m.resolved for m in ms),
            "reopened": sum(m.reopened for m in ms),
        },
        "messages": {"in": sum(m.messages_in for m in ms), "out": sum(m.messages_out for m in ms)},
        "first_response_seconds": summary(first_response),
        "first_response_business_seconds": summary(business),
        "resolution_seconds": summary(resolution),
        "sla": {"met": met, "breached": breached, "attainment": share(met, met + breached)},
        "fcr": share(sum(fcr_known), len(fcr_known)),
        "aht_seconds": None,
        "csat": {"surveys": 0, "answers": 0, "score": None},
        "resolution_business_seconds": summary(resolution_b),
        "sla_by_clock": clocks,
    }


def _clock(outcomes: Sequence[str | None]) -> dict[str, Any]:
    met = outcomes.count("met")
    breached = outcomes.count("breached")
    return {"met": met, "breached": breached, "attainment": share(met, met + breached)}


def _grouped(
    items: Sequence[tuple[ConvRecord, Measures]], key: Callable[[ConvRecord], list[str]]
) -> dict[str, list[Measures]]:
    out: dict[str, list[Measures]] = {}
    for conv, m in items:
        for name in key(conv):
            out.setdefault(name, []).append(m)
    return dict(sorted(out.items()))


def _group_key(by: str, tz: tzinfo | None) -> Callable[[ConvRecord], list[str]]:
    def local(conv: ConvRecord) -> datetime:
        return conv.created_at.astimezone(tz) if tz is not None else conv.created_at

    if by == "day":
        return lambda c: [local(c).date().isoformat()]
    if by == "week":
        return lambda c: ["{}-W{:02d}".format(*local(c).isocalendar()[:2])]
    if by == "channel":
        return lambda c: [c.channel]
    if by == "agent":
        return lambda c: [c.assignee or UNASSIGNED]
    return lambda c: list(dict.fromkeys(c.tags)) or [UNTAGGED]

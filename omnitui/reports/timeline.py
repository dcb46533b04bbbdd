"""A conversation's statuses over time, rebuilt from its status changes.

Pure: :func:`spans` turns a :class:`~omnitui.reports.records.ConvRecord` into
consecutive ``(start, end, status)`` spans from its creation to ``now`` (a span may
be empty when two changes share an instant).
"""

from __future__ import annotations

from datetime import datetime

from omnitui.reports.records import ConvRecord
from storage.models import PAUSED_STATUSES

Span = tuple[datetime, datetime, str]


def spans(conv: ConvRecord, now: datetime) -> list[Span]:
    """The conversation's statuses from ``created_at`` to ``now``, in time order.

    Without a logged change the stored fields stand in: a resolved conversation was
    open until ``resolved_at``, a paused one until ``paused_at``."""
    start = conv.created_at
    end = max(now, start)
    if not conv.changes:
        return _from_fields(conv, start, end)
    out: list[Span] = []
    status = conv.changes[0].from_status or "open"
    cursor = start
    for change in conv.changes:
        # Kept even when empty: a resolve undone at once is still a reopening.
        at = min(max(change.at, cursor), end)
        out.append((cursor, at, status))
        cursor, status = at, change.to_status
    out.append((cursor, end, status))
    return out


def _from_fields(conv: ConvRecord, start: datetime, end: datetime) -> list[Span]:
    turned = None
    if conv.status == "resolved":
        turned = conv.resolved_at
    elif conv.status in PAUSED_STATUSES:
        turned = conv.paused_at
    if turned is None or turned <= start:
        return [(start, end, conv.status)]
    turned = min(turned, end)
    return [(start, turned, "open"), (turned, end, conv.status)]


def running(status: str) -> bool:
    """Whether the resolution clock runs in ``status`` (not paused, not resolved)."""
    return status != "resolved" and status not in PAUSED_STATUSES

"""Workload figures from what :mod:`omnitui.reports.aggregate` read (pure): the
period's local days, the backlog at the end of each, the weekday × hour heat map."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from datetime import UTC, datetime, time, timedelta, tzinfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: At most this many days are listed (about ten years).
MAX_DAYS = 3700


def day_ends(since: datetime, until: datetime, tz: tzinfo) -> list[tuple[str, datetime]]:
    """Each local day the period touches, with the instant it ends (its next local
    midnight, at most ``until``)."""
    out: list[tuple[str, datetime]] = []
    try:
        day = since.astimezone(tz).date()
        last = (until - timedelta(microseconds=1)).astimezone(tz).date()
    except (OverflowError, ValueError):
        return out
    while day <= last and len(out) < MAX_DAYS:
        try:
            end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
        except OverflowError:
            end = until
        out.append((day.isoformat(), min(end, until)))
        if day == last:
            break  # the next day may not exist (date.max)
        day += timedelta(days=1)
    return out


def per_day(counts: Counter[str], since: datetime, until: datetime, tz: tzinfo) -> dict[str, int]:
    """``counts`` by local day for every day of the period (0 for quiet days)."""
    return {day: counts.get(day, 0) for day, _ in day_ends(since, until, tz)}


def backlog(
    spans: tuple[list[float], list[float]],
    since: datetime,
    until: datetime,
    now: datetime,
    tz: tzinfo,
) -> dict[str, int | None]:
    """Conversations not resolved at the end of each local day of the period (a day
    not over yet counted at ``now``, one still to come None), from the starts and ends
    of their unresolved spans."""
    starts, ends = sorted(spans[0]), sorted(spans[1])
    out: dict[str, int | None] = {}
    began = since
    for day, end in day_ends(since, until, tz):
        if began > now:
            out[day] = None  # a day still to come has no backlog yet
        else:
            at = min(end, now).timestamp()
            # Unresolved at ``at``: the span began at or before it and ends after it.
            out[day] = bisect_right(starts, at) - bisect_right(ends, at)
        began = end
    return out


def heatmap(hours: Counter[int]) -> dict[str, list[int]]:
    """Customer messages by local weekday (``mon`` … ``sun``) and hour (0–23)."""
    grid = [[0] * 24 for _ in WEEKDAYS]
    for code, n in hours.items():
        weekday, hour = divmod(code, 100)
        if 0 <= weekday < 7 and 0 <= hour < 24:
            grid[weekday][hour] += n
    return dict(zip(WEEKDAYS, grid, strict=True))

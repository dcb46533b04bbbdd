"""Small pure helpers for what the console prints: countdowns, sizes, local times."""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnitui.sla import format_countdown

WARN_SECONDS = 15 * 60


def countdown(due: datetime | None, now: datetime) -> tuple[str, str]:
    """Text and style of an SLA countdown: red when breached, orange inside the warning
    window, yellow within the hour, green otherwise; blank when no clock runs."""
    if due is None:
        return "", "dim"
    seconds = (due - now).total_seconds()
    text = format_countdown(seconds)
    if seconds < 0:
        return text, "bold red"
    if seconds <= WARN_SECONDS:
        return text, "bold dark_orange"
    if seconds <= 3600:
        return text, "yellow"
    return text, "green"


def human_size(size: int) -> str:
    """``1536`` → ``1.5 KB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def display_zone(name: str | None) -> tzinfo | None:
    """The user's time zone: ``[ui].timezone`` when valid, else the system's (None)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _stamp(
    value: datetime, zone: tzinfo | None, now: datetime | None, formats: tuple[str, str, str]
) -> str:
    local = value.astimezone(zone)
    ref = (now or datetime.now(value.tzinfo)).astimezone(zone)
    if local.date() == ref.date():
        return local.strftime(formats[0])
    if local.year == ref.year:
        return local.strftime(formats[1])
    return local.strftime(formats[2])


def local_time(value: datetime, zone: tzinfo | None, now: datetime | None = None) -> str:
    """A timestamp in the user's zone: ``14:03`` today, ``Tue 24 Nov 14:03`` this year,
    ``2025-11-24 14:03`` before."""
    return _stamp(value, zone, now, ("%H:%M", "%a %d %b %H:%M", "%Y-%m-%d %H:%M"))


def short_time(value: datetime, zone: tzinfo | None, now: datetime | None = None) -> str:
    """Compact: ``14:03`` today, ``22 Nov`` this year, ``2025-11-22`` before."""
    return _stamp(value, zone, now, ("%H:%M", "%d %b", "%Y-%m-%d"))

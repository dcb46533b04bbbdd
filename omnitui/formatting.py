"""Small pure helpers for what the console prints: SLA countdowns and their styles,
sizes, local times.

Urgency reads without colour: a breached clock is bold, reverse video and starts with
``!`` and a minus sign; one due within :data:`WARN_SECONDS` is bold with ``▲``. Colours
are explicit RGB chosen so Rich's downgrade keeps their meaning on a 16- or 256-colour
terminal (breached red, due soon yellow; nothing else turns red), and so the
monochrome rendering of ``NO_COLOR`` keeps every text at least 4.5:1 against its
background (tests/ui/test_console_readability.py measures it).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.style import Style
from rich.text import Text

from omnitui.desk.sla import format_countdown

WARN_SECONDS = 15 * 60

#: Short and long names of the SLA clocks (the inbox column, the conversation header).
CLOCK_SHORT = {"first_response": "FR", "next_response": "NR", "resolution": "RES"}
CLOCK_LONG = {
    "first_response": "first response",
    "next_response": "next response",
    "resolution": "resolution",
}

#: White on red, as reverse video: under ``NO_COLOR`` without colours it stays reverse.
BREACHED = Style(bold=True, reverse=True, color="#c00000", bgcolor="#ffffff")
#: Black on yellow: the 16-colour downgrade is bright yellow, never red.
DUE_SOON = Style(bold=True, color="#000000", bgcolor="#ffd75f")
#: Due within the hour: bold in the text colour.
DUE_HOUR = Style(bold=True)
DUE_LATER = Style()
#: Urgent / high priority marks (``!!`` / ``!``): light red, bright red on 16 colours.
PRIORITY = Style(bold=True, color="#ff8787")
#: A VIP customer's name (``★``).
VIP = Style(bold=True, color="#ffd75f")
#: The unread dot and the draft mark.
MARK = Style(bold=True, color="#5fd7ff")
PRIORITY_MARK = {"urgent": "!!", "high": "!"}


def urgency_level(due: datetime | None, now: datetime) -> str:
    """``breached``, ``soon`` (inside the warning window), ``hour``, ``later`` or
    ``none`` (no clock runs)."""
    if due is None:
        return "none"
    seconds = (due - now).total_seconds()
    if seconds < 0:
        return "breached"
    if seconds <= WARN_SECONDS:
        return "soon"
    if seconds <= 3600:
        return "hour"
    return "later"


LEVEL_STYLE = {
    "breached": BREACHED,
    "soon": DUE_SOON,
    "hour": DUE_HOUR,
    "later": DUE_LATER,
    "none": DUE_LATER,
}
LEVEL_MARK = {"breached": "!", "soon": "▲"}


def countdown(due: datetime | None, now: datetime) -> tuple[str, Style]:
    """Text and style of an SLA countdown (``-5h44m``, ``12m``); blank when no clock
    runs. The style carries the urgency by weight and reverse video, not only colour."""
    if due is None:
        return "", DUE_LATER
    return format_countdown((due - now).total_seconds()), LEVEL_STYLE[urgency_level(due, now)]


def sla_cell(due: datetime | None, clock: str | None, now: datetime) -> tuple[str, Style]:
    """The inbox's SLA cell: mark, clock and countdown, e.g. ``!FR -5h44m`` (breached),
    ``▲NR 12m`` (due soon), ``RES 2d04h``; blank when no clock runs."""
    if due is None:
        return "", DUE_LATER
    level = urgency_level(due, now)
    label = CLOCK_SHORT.get(clock or "", "SLA")
    text = f"{LEVEL_MARK.get(level, '')}{label} {format_countdown((due - now).total_seconds())}"
    return text, LEVEL_STYLE[level]


def sla_phrase(due: datetime | None, clock: str | None, now: datetime) -> Text:
    """The conversation header's SLA: ``first response due in 2h05m`` or
    `` BREACHED  first response 2h05m ago``; empty when no clock runs."""
    text = Text()
    if due is None:
        return text
    level = urgency_level(due, now)
    name = CLOCK_LONG.get(clock or "", "SLA")
    seconds = (due - now).total_seconds()
    span = format_countdown(abs(seconds))
    if level == "breached":
        text.append(" !BREACHED ", BREACHED)
        text.append(f" {name} was due {span} ago", Style(bold=True))
        return text
    if level == "soon":
        text.append(f" ▲ DUE SOON  {name} due in {span} ", DUE_SOON)
        return text
    text.append(f"{name} due in {span}", LEVEL_STYLE[level])
    return text


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

"""Service-level targets: which policy applies to a conversation and when it is due.

Pure code, no I/O. A :class:`Calendar` turns a target (working time) into a due
instant: :class:`AlwaysOpen` counts wall-clock time (24×7), :class:`BusinessCalendar`
counts only opening hours in a time zone, skipping holidays and closed dates.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnitui.errors import OmnituiError

_DURATION = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_WINDOW = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_KEYS = {name: i for i, name in enumerate(_DAYS)} | {n[:3]: i for i, n in enumerate(_DAYS)}
_MATCH_KEYS = ("channel", "priority", "vip", "tag", "account")
#: ``add`` gives up after this many consecutive days without an open window.
_MAX_IDLE_DAYS = 3 * 366
_CACHE_LIMIT = 4096
_ZERO = timedelta(0)
_DAY = timedelta(days=1)

Window = tuple[time, time]


class SLAConfigError(OmnituiError, ValueError):
    """A target or policy in ``[sla]`` is malformed."""


#: The longest duration accepted anywhere (snoozes, SLA targets, ``--within``): far
#: enough for any real use, short enough that a date this far ahead always exists.
MAX_DURATION = timedelta(days=36525)


class DurationTooLong(SLAConfigError):
    """A well-formed duration longer than :data:`MAX_DURATION`."""


def parse_duration(text: str) -> timedelta:
    """``"4h"``, ``"30s"``, ``"1d12h"``, ``"90m"`` → a timedelta of at most 100 years."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned:
        raise SLAConfigError("empty duration")
    limit = int(MAX_DURATION.total_seconds())
    pos = 0
    total = 0
    # Anchored at each part (not finditer, which retries every position: quadratic).
    while match := _DURATION.match(cleaned, pos):
        digits = match.group(1).lstrip("0")
        # Beyond the limit already: checked before int() so 10,000 digits cost nothing.
        total += limit + 1 if len(digits) > 12 else int(digits or "0") * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned):
        raise SLAConfigError(f"{_shown(text)} is not a duration like 30s, 15m, 4h or 2d")
    if total > limit:
        raise DurationTooLong(f"{_shown(text)} is too long (at most 100 years, 36525d)")
    return timedelta(seconds=total)


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut to 40 characters."""
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:39] + "…")


def format_countdown(seconds: float) -> str:
    """A compact countdown: ``45s``, ``12m``, ``3h05m``, ``2d04h``; negative when breached."""
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    if s < 60:
        body = f"{s}s"
    elif s < 3600:
        body = f"{s // 60}m"
    elif s < 86400:
        body = f"{s // 3600}h{(s % 3600) // 60:02d}m"
    else:
        body = f"{s // 86400}d{(s % 86400) // 3600:02d}h"
    return sign + body


class Calendar(Protocol):
    """Adds working time to an instant and measures it between two instants."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant ``duration`` of working time after ``start``."""
        ...

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Working time between ``start`` and ``end``; zero if ``end <= start``."""
        ...


class AlwaysOpen:
    """A 24×7 calendar: working time is wall-clock time."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """``start + duration``."""
        return start + duration

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """``end - start``, or zero if ``end <= start``."""
        return max(end - start, _ZERO)

    def is_open(self, at: datetime) -> bool:
        """Always true."""
        return True


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a business calendar needs an aware datetime, got {at!r}")
    return at.astimezone(UTC)


class BusinessCalendar:
    """Opening hours per weekday in one time zone, minus holidays and closed dates.

    ``hours`` maps a weekday (0 = Monday … 6 = Sunday) to local ``(open, close)``
    windows; a window whose close is not after its open runs past midnight and belongs
    to the day it opens on (``time(0)`` as close means 24:00). Working time is real
    elapsed time, so DST days are an hour shorter or longer.
    """

    __slots__ = ("tz", "hours", "holidays", "closed_dates", "_cache")

    def __init__(
        self,
        tz: tzinfo,
        hours: Mapping[int, Iterable[Window]],
        holidays: Container[date] | None = None,
        closed_dates: Iterable[date] = (),
    ) -> None:
        if any(day not in range(7) for day in hours):
            raise ValueError(f"weekdays are 0 (Monday) to 6 (Sunday), got {sorted(hours)}")
        self.tz = tz
        self.hours: tuple[tuple[Window, ...], ...] = tuple(
            tuple(hours.get(day, ())) for day in range(7)
        )
        self.holidays = holidays
        self.closed_dates: frozenset[date] = frozenset(closed_dates)
        self._cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    def __repr__(self) -> str:
        return f"BusinessCalendar(tz={self.tz!r}, hours={self.hours!r})"

    def is_closed_date(self, day: date) -> bool:
        """Whether ``day`` is a holiday or an extra closed date."""
        return day in self.closed_dates or (self.holidays is not None and day in self.holidays)

    def windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The merged UTC spans of the windows opening on local date ``day`` (cached)."""
        spans = self._cache.get(day)
        if spans is None:
            spans = () if self.is_closed_date(day) else self._build(day)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[day] = spans
        return spans

    def _build(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        raw = []
        for opens, closes in self.hours[day.weekday()]:
            end_day = day if closes > opens else day + _DAY
            a = datetime.combine(day, opens, tzinfo=self.tz).astimezone(UTC)
            b = datetime.combine(end_day, closes, tzinfo=self.tz).astimezone(UTC)
            if b > a:
                raw.append((a, b))
        raw.sort()
        merged: list[tuple[datetime, datetime]] = []
        for a, b in raw:
            if merged and a <= merged[-1][1]:
                if b > merged[-1][1]:
                    merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        return tuple(merged)

    def _spans(
        self, start: datetime, end: datetime | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        """Disjoint open spans in time order, clipped to begin at ``start`` (UTC)."""
        day = start.astimezone(self.tz).date() - _DAY
        last = None if end is None else end.astimezone(self.tz).date()
        cursor = start
        idle = 0
        while last is None or day <= last:
            found = False
            for a, b in self.windows(day):
                if b > cursor:
                    yield (a if a > cursor else cursor), b
                    cursor = b
                    found = True
            if found:
                idle = 0
            else:
                idle += 1
                if last is None and idle > _MAX_IDLE_DAYS:
                    raise SLAConfigError(
                        f"no opening hours within {_MAX_IDLE_DAYS} days of {start.isoformat()}"
                    )
            day += _DAY

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The UTC instant when ``duration`` of working time has elapsed after ``start``.

        Counting begins at the next opening if ``start`` is in closed time; a zero
        duration returns ``start`` unchanged.
        """
        if duration < _ZERO:
            raise ValueError(f"negative duration {duration}")
        if not duration:
            return start
        left = duration
        for a, b in self._spans(_utc(start)):
            span = b - a
            if span >= left:
                return a + left
            left -= span
        raise AssertionError("unreachable")  # pragma: no cover

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Open time between ``start`` and ``end``; zero if ``end <= start``."""
        start, end = _utc(start), _utc(end)
        total = _ZERO
        if end <= start:
            return total
        for a, b in self._spans(start, end):
            if a >= end:
                break
            total += min(b, end) - a
        return total

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls inside an opening window."""
        at = _utc(at)
        day = at.astimezone(self.tz).date()
        return any(a <= at < b for d in (day - _DAY, day) for a, b in self.windows(d))


@dataclass(frozen=True)
class Policy:
    """Targets for the conversations that ``match`` selects (first match wins)."""

    name: str
    match: Mapping[str, Any] = field(default_factory=dict)
    first_response: timedelta | None = None
    next_response: timedelta | None = None
    resolution: timedelta | None = None
    business_hours: bool = True

    def matches(
        self, *, channel: str, priority: str, vip: bool, tags: Sequence[str], account: str
    ) -> bool:
        """Whether this policy applies to a conversation with these attributes."""
        facts: dict[str, Any] = {
            "channel": channel,
            "priority": priority,
            "vip": vip,
            "account": account,
        }
        for key, want in self.match.items():
            if key == "tag":
                wanted = [want] if isinstance(want, str) else list(want)
                if not any(t in tags for t in wanted):
                    return False
                continue
            have = facts.get(key)
            if isinstance(want, list):
                if have not in want:
                    return False
            elif have != want:
                return False
        return True


def _hours(h: float) -> timedelta:
    return timedelta(hours=h)


#: Used when ``[sla]`` names no policies: every channel gets a target, so every
#: open conversation shows a countdown.
DEFAULT_POLICIES: tuple[Policy, ...] = (
    Policy("vip", {"vip": True}, _hours(1), _hours(2), _hours(24), business_hours=False),
    Policy("urgent", {"priority": "urgent"}, _hours(1), _hours(1), _hours(8), False),
    Policy("email", {"channel": "email"}, _hours(4), _hours(8), _hours(72), False),
    Policy(
        "chat",
        {"channel": ["telegram", "matrix", "whatsapp", "messenger", "instagram", "wechat"]},
        _hours(1),
        _hours(1),
        _hours(24),
        False,
    ),
    Policy("social", {"channel": "mastodon"}, _hours(2), _hours(4), _hours(48), False),
    Policy("sms", {"channel": ["sms", "phone"]}, _hours(1), _hours(2), _hours(24), False),
)


def policies_from_config(sla: Mapping[str, Any]) -> tuple[Policy, ...]:
    """The ordered ``[[sla.policies]]`` of the config, or the defaults when none (on
    business hours when ``[sla.hours]`` is set, else 24×7)."""
    raw = sla.get("policies") or []
    if not raw:
        if sla.get("hours"):
            from dataclasses import replace

            return tuple(replace(p, business_hours=True) for p in DEFAULT_POLICIES)
        return DEFAULT_POLICIES
    out = []
    for i, item in enumerate(raw):
        where = f"sla.policies[{i}]"
        if not isinstance(item, Mapping):
            raise SLAConfigError(f"{where}: expected a table, got {item!r}")
        match = item.get("match", {})
        if not isinstance(match, Mapping):
            raise SLAConfigError(f"{where}.match: expected a table, got {match!r}")
        for key in match:
            if key not in _MATCH_KEYS:
                raise SLAConfigError(
                    f"{where}.match.{key}: unknown match key (use {', '.join(_MATCH_KEYS)})"
                )
        business_hours = item.get("business_hours", True)
        if not isinstance(business_hours, bool):
            raise SLAConfigError(
                f"{where}.business_hours: expected true or false, got {business_hours!r}"
            )
        try:
            out.append(
                Policy(
                    name=str(item.get("name", f"policy-{i + 1}")),
                    match=dict(match),
                    first_response=_opt(item.get("first_response")),
                    next_response=_opt(item.get("next_response")),
                    resolution=_opt(item.get("resolution")),
                    business_hours=business_hours,
                )
            )
        except SLAConfigError as exc:
            raise SLAConfigError(f"{where}: {exc}") from None
    return tuple(out)


def _opt(value: Any) -> timedelta | None:
    return None if value in (None, "") else parse_duration(str(value))


def pick_policy(policies: Sequence[Policy], **facts: Any) -> Policy | None:
    """The first policy matching the conversation's facts."""
    for policy in policies:
        if policy.matches(**facts):
            return policy
    return None


def calendar_for(policy: Policy | None, business: Calendar) -> Calendar:
    """``business`` for a policy counting business hours, else :class:`AlwaysOpen`."""
    return business if policy is not None and policy.business_hours else AlwaysOpen()


def resume_due(
    due: datetime | None, paused_at: datetime, resumed_at: datetime, calendar: Calendar
) -> datetime | None:
    """The due time after a pause: the working time left at ``paused_at`` counts on from
    ``resumed_at``. A target already breached when paused keeps its due time."""
    if due is None or due <= paused_at:
        return due
    return calendar.add(resumed_at, calendar.working_time(paused_at, due))


# --- [sla] calendar configuration -------------------------------------------------------


def calendar_from_config(sla: Mapping[str, Any], *, lazy: bool = False) -> Calendar:
    """The calendar of the ``[sla]`` table: ``AlwaysOpen`` without ``[sla.hours]``, else a
    :class:`BusinessCalendar` with ``timezone``, ``holidays`` and ``closed_dates``.

    ``lazy``: the holiday table (≈ 170 ms to import and build) is made on first use, in
    whatever thread needs it first, and a bad country code is raised then (the console
    starts faster; it checks the calendar in its first housekeeping round)."""
    tz = _zone(sla.get("timezone", "UTC"))
    closed = _closed_dates(sla.get("closed_dates", []))
    code = sla.get("holidays")
    lookup = LazyHolidays(code) if lazy and code else _holidays(code)
    hours = sla.get("hours")
    if hours is None:
        return AlwaysOpen()
    if not isinstance(hours, Mapping):
        raise SLAConfigError(f"sla.hours: expected a table of days, got {hours!r}")
    week: dict[int, list[Window]] = {}
    for key, value in hours.items():
        day = _DAY_KEYS.get(str(key).strip().lower())
        if day is None:
            raise SLAConfigError(f"sla.hours.{key}: unknown day (use mon, tue, … sun)")
        if day in week:
            raise SLAConfigError(f"sla.hours.{key}: {_DAYS[day]} is given twice")
        week[day] = _windows(f"sla.hours.{key}", value)
    if not any(week.values()):
        raise SLAConfigError("sla.hours: no day has opening hours")
    return BusinessCalendar(tz, week, lookup, closed)


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str):
        raise SLAConfigError(f'sla.timezone: expected a name like "Europe/Berlin", got {name!r}')
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise SLAConfigError(f'sla.timezone: unknown time zone "{name}"') from None


def _closed_dates(value: Any) -> frozenset[date]:
    if not isinstance(value, list | tuple):
        raise SLAConfigError(f"sla.closed_dates: expected a list of dates, got {value!r}")
    out = set()
    for i, item in enumerate(value):
        if isinstance(item, date) and not isinstance(item, datetime):
            out.add(item)
            continue
        try:
            out.add(date.fromisoformat(item.strip()))
        except (AttributeError, TypeError, ValueError):
            raise SLAConfigError(
                f"sla.closed_dates[{i}]: {item!r} is not a date like 2026-12-24"
            ) from None
    return frozenset(out)


class LazyHolidays:
    """A holiday table built on the first lookup (thread-safe)."""

    def __init__(self, code: Any) -> None:
        self.code = code
        self._table: Container[date] | None = None
        self._lock = threading.Lock()

    def load(self) -> Container[date] | None:
        """Build the table now; raises SLAConfigError for a bad code."""
        with self._lock:
            if self._table is None:
                table = _holidays(self.code)  # an empty dict until a year is asked for
                self._table = frozenset() if table is None else table
            return self._table

    def __contains__(self, day: object) -> bool:
        table = self.load()
        return table is not None and day in table


def _holidays(code: Any) -> Container[date] | None:
    """A lazily expanding ``holidays`` object for ``"US"`` or ``"DE-BY"``; years are
    computed on first lookup."""
    if code is None or code == "":
        return None
    if not isinstance(code, str):
        raise SLAConfigError(
            f'sla.holidays: expected a country code like "US" or "DE-BY", got {code!r}'
        )
    import holidays  # heavy (~50 ms): imported only for a holiday calendar

    country, _, subdiv = code.strip().partition("-")
    try:
        lookup = holidays.country_holidays(country.upper())
    except NotImplementedError:
        raise SLAConfigError(f'sla.holidays: unknown country code "{country}"') from None
    if not subdiv:
        return lookup
    names = (*lookup.subdivisions, *getattr(lookup, "subdivisions_aliases", {}))
    canonical = {n.casefold(): n for n in names}.get(subdiv.casefold())
    if canonical is None:
        raise SLAConfigError(f'sla.holidays: unknown subdivision "{subdiv}" of "{country.upper()}"')
    return holidays.country_holidays(country.upper(), subdiv=canonical)


def _windows(where: str, value: Any) -> list[Window]:
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = [p for v in value for p in v.split(",")]
    else:
        raise SLAConfigError(f'{where}: expected a string like "09:00-17:00" or a list of them')
    out = []
    for part in parts:
        text = part.strip()
        if not text:
            continue
        m = _WINDOW.fullmatch(text)
        h1, m1, h2, m2 = (int(g) for g in m.groups()) if m else (99, 0, 0, 0)
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise SLAConfigError(f'{where}: "{text}" is not a window like 09:00-17:00')
        out.append((time(h1, m1), time(h2 % 24, m2)))
    return out

"""The business-hours SLA clock: opening windows, holidays, DST, pause/resume, config."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from omnitui.desk.sla import (
    AlwaysOpen,
    BusinessCalendar,
    Calendar,
    Policy,
    SLAConfigError,
    calendar_for,
    calendar_from_config,
    policies_from_config,
    resume_due,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)
WEEKDAYS = {day: "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")}
ALL_DAY = {day: "00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def cal(hours: dict[str, Any] | None = None, **sla: Any) -> Calendar:
    """A calendar from an ``[sla]`` table; New York office hours by default."""
    sla.setdefault("timezone", "America/New_York")
    return calendar_from_config({**sla, "hours": WEEKDAYS if hours is None else hours})


def business(hours: dict[str, Any] | None = None, **sla: Any) -> BusinessCalendar:
    calendar = cal(hours, **sla)
    assert isinstance(calendar, BusinessCalendar)
    return calendar


US = business(holidays="US")


# --- the required examples ---------------------------------------------------------------


def test_thanksgiving_is_skipped() -> None:
    due = US.add(ny(2026, 11, 25, 16), 4 * H)
    assert due == ny(2026, 11, 27, 12)
    assert due.astimezone(NY).replace(tzinfo=None) == datetime(2026, 11, 27, 12)


def test_weekend_arrival_counts_from_monday_opening() -> None:
    assert US.add(ny(2026, 11, 7, 10), 4 * H) == ny(2026, 11, 9, 13)


def test_add_returns_utc() -> None:
    due = US.add(ny(2026, 11, 7, 10), 4 * H)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 11, 9, 18, tzinfo=UTC)


# --- arrival times and durations ----------------------------------------------------------


@pytest.mark.parametrize(
    ("arrival", "due"),
    [
        (ny(2026, 11, 4, 19), ny(2026, 11, 5, 13)),  # evening: next morning
        (ny(2026, 11, 5, 7), ny(2026, 11, 5, 13)),  # before opening
        (ny(2026, 11, 5, 9), ny(2026, 11, 5, 13)),  # exactly at opening
        (ny(2026, 11, 5, 13), ny(2026, 11, 5, 17)),  # ends exactly at closing
        (ny(2026, 11, 5, 17), ny(2026, 11, 6, 13)),  # exactly at closing
        (ny(2026, 11, 5, 16, 59, 59), ny(2026, 11, 6, 12, 59, 59)),
        (ny(2026, 11, 6, 15), ny(2026, 11, 9, 11)),  # Friday afternoon: Monday
        (ny(2026, 11, 8, 23, 59), ny(2026, 11, 9, 13)),  # Sunday night
    ],
)
def test_four_hours_from_various_arrivals(arrival: datetime, due: datetime) -> None:
    assert US.add(arrival, 4 * H) == due


@pytest.mark.parametrize(
    ("duration", "due"),
    [
        (30 * M, ny(2026, 11, 4, 10, 30)),
        (7 * H, ny(2026, 11, 4, 17)),
        (7 * H + S, ny(2026, 11, 5, 9, 0, 1)),
        (8 * H, ny(2026, 11, 5, 10)),
        (23 * H, ny(2026, 11, 6, 17)),
        (24 * H, ny(2026, 11, 9, 10)),
        (39 * H, ny(2026, 11, 10, 17)),
        (40 * H, ny(2026, 11, 12, 10)),  # Veterans Day, Wed 2026-11-11, is closed
        (72 * H, ny(2026, 11, 18, 10)),
    ],
)
def test_hand_computed_durations(duration: timedelta, due: datetime) -> None:
    assert US.add(ny(2026, 11, 4, 10), duration) == due


def test_zero_duration_returns_start_unchanged() -> None:
    start = ny(2026, 11, 7, 10)  # a Saturday: closed
    assert US.add(start, timedelta(0)) is start
    assert AlwaysOpen().add(start, timedelta(0)) == start


def test_negative_duration_and_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        US.add(ny(2026, 11, 4, 10), -H)
    with pytest.raises(ValueError, match="aware"):
        US.add(datetime(2026, 11, 4, 10), H)
    with pytest.raises(ValueError, match="aware"):
        US.working_time(datetime(2026, 11, 4, 10), ny(2026, 11, 5))


def test_forty_business_hours_is_one_week() -> None:
    calendar = business()
    assert calendar.add(ny(2026, 11, 2, 9), 40 * H) == ny(2026, 11, 6, 17)
    assert calendar.add(ny(2026, 11, 6, 17), 40 * H) == ny(2026, 11, 13, 17)
    assert calendar.add(ny(2026, 11, 4, 13, 30), 40 * H) == ny(2026, 11, 11, 13, 30)


def test_long_duration_spans_months_and_dst() -> None:
    # 720 business hours = 90 eight-hour days = 18 weeks, across the March DST change.
    assert business().add(ny(2026, 1, 5, 9), 720 * H) == ny(2026, 5, 8, 17)
    # 30 days: add() and working_time() agree over a whole year of holidays too.
    start = ny(2026, 1, 2, 11)
    due = US.add(start, timedelta(days=30))
    assert US.working_time(start, due) == timedelta(days=30)


def test_observed_holiday_is_closed() -> None:
    # 2026-07-04 is a Saturday: observed on Friday 2026-07-03.
    assert US.add(ny(2026, 7, 2, 16), 4 * H) == ny(2026, 7, 6, 12)


# --- working_time and is_open -------------------------------------------------------------


def test_working_time() -> None:
    assert US.working_time(ny(2026, 11, 4, 10), ny(2026, 11, 4, 12, 30)) == 2.5 * H
    assert US.working_time(ny(2026, 11, 6, 16), ny(2026, 11, 9, 10)) == 2 * H  # weekend
    assert US.working_time(ny(2026, 11, 7), ny(2026, 11, 8, 23)) == timedelta(0)
    assert US.working_time(ny(2026, 11, 25, 16), ny(2026, 11, 27, 12)) == 4 * H
    assert US.working_time(ny(2026, 11, 2), ny(2026, 11, 30)) == 18 * 8 * H  # 2 holidays
    assert US.working_time(ny(2026, 11, 5, 12), ny(2026, 11, 5, 11)) == timedelta(0)
    assert US.working_time(ny(2026, 11, 5, 12), ny(2026, 11, 5, 12)) == timedelta(0)


def test_always_open() -> None:
    clock = AlwaysOpen()
    start = ny(2026, 3, 7, 12)
    assert clock.add(start, 4 * H) == start + 4 * H
    assert clock.working_time(start, start + 30 * H) == 30 * H
    assert clock.working_time(start, start - H) == timedelta(0)
    assert clock.is_open(start)


def test_is_open() -> None:
    assert US.is_open(ny(2026, 11, 4, 9))
    assert US.is_open(ny(2026, 11, 4, 16, 59, 59))
    assert not US.is_open(ny(2026, 11, 4, 17))
    assert not US.is_open(ny(2026, 11, 4, 8, 59, 59))
    assert not US.is_open(ny(2026, 11, 7, 12))  # Saturday
    assert not US.is_open(ny(2026, 11, 26, 12))  # Thanksgiving
    assert US.is_open(datetime(2026, 11, 4, 15, tzinfo=UTC))  # 10:00 in New York


def test_a_calendar_without_opening_hours_gives_up() -> None:
    closed = BusinessCalendar(UTC, {})
    with pytest.raises(SLAConfigError, match="no opening hours"):
        closed.add(datetime(2026, 1, 1, tzinfo=UTC), H)
    span = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
    assert closed.working_time(*span) == timedelta(0)
    assert not closed.is_open(datetime(2026, 1, 1, tzinfo=UTC))


def test_a_calendar_with_every_date_closed_gives_up() -> None:
    start = date(2026, 1, 1)
    dates = [start + timedelta(days=i) for i in range(4 * 366)]
    closed = BusinessCalendar(UTC, {0: [(time(9), time(17))]}, closed_dates=dates)
    with pytest.raises(SLAConfigError, match="no opening hours"):
        closed.add(datetime(2026, 1, 1, tzinfo=UTC), H)


def test_weekday_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="weekdays"):
        BusinessCalendar(UTC, {7: [(time(9), time(17))]})


# --- split shifts, overlaps, closed dates, subdivisions -----------------------------------


@pytest.mark.parametrize("tue", ["09:00-12:00,13:00-18:00", ["09:00-12:00", "13:00-18:00"]])
def test_lunch_break(tue: Any) -> None:
    calendar = business({"tue": tue})
    tuesday = ny(2026, 11, 3)
    assert calendar.working_time(tuesday, tuesday + 24 * H) == 8 * H
    assert calendar.add(ny(2026, 11, 3, 11), 2 * H) == ny(2026, 11, 3, 14)
    assert calendar.add(ny(2026, 11, 3, 11), H) == ny(2026, 11, 3, 12)
    assert calendar.add(ny(2026, 11, 3, 12, 30), H) == ny(2026, 11, 3, 14)
    assert calendar.add(ny(2026, 11, 3, 17), 2 * H) == ny(2026, 11, 10, 10)
    assert not calendar.is_open(ny(2026, 11, 3, 12, 30))


def test_overlapping_windows_are_merged() -> None:
    calendar = business({"mon": "09:00-13:00, 12:00-17:00, 10:00-11:00"})
    monday = ny(2026, 11, 2)
    assert calendar.working_time(monday, monday + 24 * H) == 8 * H
    assert calendar.add(ny(2026, 11, 2, 10), 6 * H) == ny(2026, 11, 2, 16)
    assert calendar.add(ny(2026, 11, 2, 10), 8 * H) == ny(2026, 11, 9, 10)


def test_extra_closed_dates() -> None:
    calendar = business(holidays="US", closed_dates=["2026-12-24", date(2026, 12, 31)])
    # Thu 24th closed, Fri 25th Christmas: from Wednesday 16:00 to Monday.
    assert calendar.add(ny(2026, 12, 23, 16), 4 * H) == ny(2026, 12, 28, 12)
    assert calendar.add(ny(2026, 12, 30, 16), 4 * H) == ny(2027, 1, 4, 12)  # 31st, 1st
    assert US.add(ny(2026, 12, 23, 16), 4 * H) == ny(2026, 12, 24, 12)


def test_holidays_with_subdivision() -> None:
    # Lincoln's Birthday (Thu 2026-02-12) is a New York holiday, not a federal one.
    arrival = ny(2026, 2, 11, 16)
    assert US.add(arrival, 4 * H) == ny(2026, 2, 12, 12)
    assert business(holidays="US-NY").add(arrival, 4 * H) == ny(2026, 2, 13, 12)
    # Epiphany (Tue 2026-01-06) is a holiday in Bavaria, not in Berlin.
    monday = berlin(2026, 1, 5, 16)
    germany = business(timezone="Europe/Berlin", holidays="DE")
    assert germany.add(monday, 4 * H) == berlin(2026, 1, 6, 12)
    for code in ("DE-BY", "de-by", "DE-Bayern"):
        bavaria = business(timezone="Europe/Berlin", holidays=code)
        assert bavaria.add(monday, 4 * H) == berlin(2026, 1, 7, 12), code


# --- windows across midnight --------------------------------------------------------------

NIGHTS = {"fri": "22:00-06:00"}


def test_friday_night_window_runs_into_saturday() -> None:
    calendar = business(NIGHTS)
    assert calendar.add(ny(2026, 11, 6, 23), 2 * H) == ny(2026, 11, 7, 1)
    assert calendar.add(ny(2026, 11, 6, 20), 8 * H) == ny(2026, 11, 7, 6)
    assert calendar.add(ny(2026, 11, 6, 22), 9 * H) == ny(2026, 11, 13, 23)
    assert calendar.add(ny(2026, 11, 7, 3), H) == ny(2026, 11, 7, 4)  # starts in the tail
    assert calendar.add(ny(2026, 11, 7, 6), H) == ny(2026, 11, 13, 23)
    assert calendar.is_open(ny(2026, 11, 7, 5, 59))
    assert not calendar.is_open(ny(2026, 11, 7, 6))
    assert not calendar.is_open(ny(2026, 11, 6, 21, 59))
    assert not calendar.is_open(ny(2026, 11, 5, 23))  # Thursday night


def test_holiday_on_the_start_date_closes_the_night_window() -> None:
    closed_friday = business(NIGHTS, closed_dates=["2026-11-06"])
    assert closed_friday.add(ny(2026, 11, 6, 21), H) == ny(2026, 11, 13, 23)
    assert not closed_friday.is_open(ny(2026, 11, 7, 1))
    # A closed Saturday does not cut Friday's window short.
    closed_saturday = business(NIGHTS, closed_dates=["2026-11-07"])
    assert closed_saturday.add(ny(2026, 11, 6, 22), 8 * H) == ny(2026, 11, 7, 6)
    # Christmas 2026 and New Year's Day 2027 are Fridays.
    christmas = business(NIGHTS, holidays="US")
    assert christmas.add(ny(2026, 12, 25, 21), H) == ny(2027, 1, 8, 23)
    assert not christmas.is_open(ny(2026, 12, 25, 23))
    assert christmas.is_open(ny(2026, 12, 18, 23))


def test_night_window_overlapping_next_day_is_not_counted_twice() -> None:
    calendar = business({"fri": "22:00-06:00", "sat": "00:00-08:00"})
    assert calendar.working_time(ny(2026, 11, 6, 20), ny(2026, 11, 7, 12)) == 10 * H
    assert calendar.add(ny(2026, 11, 6, 22), 10 * H) == ny(2026, 11, 7, 8)
    assert calendar.add(ny(2026, 11, 6, 22), 11 * H) == ny(2026, 11, 13, 23)


def test_end_equal_to_start_is_a_full_day_from_that_time() -> None:
    calendar = business({"mon": "09:00-09:00"})
    assert calendar.working_time(ny(2026, 11, 2), ny(2026, 11, 4)) == 24 * H
    assert calendar.add(ny(2026, 11, 2, 8), 24 * H) == ny(2026, 11, 3, 9)


# --- 24x7 -------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Europe/Berlin"])
def test_all_day_every_day_agrees_with_wall_clock(zone: str) -> None:
    calendars = [
        cal(ALL_DAY, timezone=zone),
        cal({day: "00:00-00:00" for day in ALL_DAY}, timezone=zone),
        AlwaysOpen(),
    ]
    start = datetime(2026, 3, 6, 0, 17, tzinfo=UTC)
    for step in range(0, 60 * 24 * 10, 157):  # across both March DST changes
        s = start + step * M
        for d in (S, 37 * M, 4 * H, 25 * H, 72 * H):
            for calendar in calendars:
                assert calendar.add(s, d) == s + d
                assert calendar.working_time(s, s + d) == d


def test_no_hours_means_always_open() -> None:
    assert isinstance(calendar_from_config({}), AlwaysOpen)
    assert isinstance(calendar_from_config({"timezone": "Europe/Berlin"}), AlwaysOpen)


# --- daylight saving time -----------------------------------------------------------------


def test_us_spring_forward() -> None:
    # Office hours: the change (Sun 2026-03-08 02:00) falls in closed time.
    assert US.add(ny(2026, 3, 6, 15), 4 * H) == ny(2026, 3, 9, 11)
    assert ny(2026, 3, 9, 11).utcoffset() == -4 * H
    # All day: Sunday is 23 hours long.
    around = business(ALL_DAY)
    assert around.add(ny(2026, 3, 7, 12), 24 * H) == ny(2026, 3, 8, 13)
    assert around.working_time(ny(2026, 3, 8), ny(2026, 3, 9)) == 23 * H
    # A window on the transition day: 01:00-04:00 has only two real hours.
    night = business({"sun": "01:00-04:00"})
    assert night.working_time(ny(2026, 3, 8), ny(2026, 3, 9)) == 2 * H
    assert night.add(ny(2026, 3, 8, 1), H) == ny(2026, 3, 8, 3)
    assert night.add(ny(2026, 3, 8, 1), 2 * H) == ny(2026, 3, 8, 4)
    assert night.add(ny(2026, 3, 8, 1), 3 * H) == ny(2026, 3, 15, 2)
    # A window opening at a time that does not exist opens at the shifted time.
    gap = business({"sun": "02:30-05:00"})
    assert gap.working_time(ny(2026, 3, 8), ny(2026, 3, 9)) == 1.5 * H
    assert gap.add(ny(2026, 3, 8), 30 * M) == ny(2026, 3, 8, 4)


def test_us_fall_back() -> None:
    assert US.add(ny(2026, 10, 30, 15), 4 * H) == ny(2026, 11, 2, 11)
    assert ny(2026, 11, 2, 11).utcoffset() == -5 * H
    around = business(ALL_DAY)
    assert around.add(ny(2026, 10, 31, 12), 24 * H) == ny(2026, 11, 1, 11)
    assert around.working_time(ny(2026, 11, 1), ny(2026, 11, 2)) == 25 * H
    night = business({"sun": "01:00-04:00"})
    assert night.working_time(ny(2026, 11, 1), ny(2026, 11, 2)) == 4 * H
    due = night.add(ny(2026, 11, 1, 1), H)
    assert due == datetime(2026, 11, 1, 6, tzinfo=UTC)  # the second 01:00, in standard time
    local = due.astimezone(NY)
    assert (local.hour, local.fold, local.utcoffset()) == (1, 1, -5 * H)
    assert night.add(ny(2026, 11, 1, 1), 4 * H) == ny(2026, 11, 1, 4)
    # An ambiguous opening time means the first one (fold=0, still daylight time).
    ambiguous = business({"sun": "01:30-03:00"})
    assert ambiguous.working_time(ny(2026, 11, 1), ny(2026, 11, 2)) == 2.5 * H
    # A night shift across the change is nine real hours.
    saturday_night = business({"sat": "22:00-06:00"})
    assert saturday_night.working_time(ny(2026, 10, 31), ny(2026, 11, 2)) == 9 * H
    assert saturday_night.add(ny(2026, 10, 31, 22), 9 * H) == ny(2026, 11, 1, 6)
    assert saturday_night.working_time(ny(2026, 3, 7), ny(2026, 3, 9)) == 7 * H


def test_european_changes() -> None:
    # Europe/Berlin: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00.
    around = business(ALL_DAY, timezone="Europe/Berlin")
    assert around.working_time(berlin(2026, 3, 29), berlin(2026, 3, 30)) == 23 * H
    assert around.working_time(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 25 * H
    assert around.add(berlin(2026, 3, 28, 12), 24 * H) == berlin(2026, 3, 29, 13)
    night = business({"sun": "01:00-04:00"}, timezone="Europe/Berlin")
    assert night.working_time(berlin(2026, 3, 29), berlin(2026, 3, 30)) == 2 * H
    assert night.working_time(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 4 * H
    office = business(timezone="Europe/Berlin")
    assert office.add(berlin(2026, 3, 27, 15), 4 * H) == berlin(2026, 3, 30, 11)
    assert berlin(2026, 3, 30, 11).utcoffset() == 2 * H


# --- working_time is the inverse of add ---------------------------------------------------

MIXED = {
    "mon": "09:00-12:00,13:00-17:00",
    "tue": ["08:30-12:15", "12:45-18:00"],
    "wed": "09:00-17:00,16:00-19:00",
    "fri": "09:00-12:00,22:00-02:00",
    "sat": "01:00-04:00",
    "sun": "01:30-03:30",
}


@pytest.mark.parametrize(
    "calendar",
    [
        US,
        business(MIXED, holidays="US-NY", closed_dates=["2026-11-04"]),
        business(MIXED, timezone="Europe/Berlin", holidays="DE-BY"),
    ],
)
def test_working_time_inverts_add(calendar: BusinessCalendar) -> None:
    durations = [S, 15 * M, H, 4 * H + 7 * S, 7 * H + 59 * M + 59 * S, 8 * H, 13 * H, 40 * H]
    # Starts every 97 minutes through both US and both European DST changes.
    for first in (datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 10, 22, tzinfo=UTC)):
        for k in range(0, 24 * 60 * 18, 97):
            start = first + k * M
            previous = start
            for d in durations:
                due = calendar.add(start, d)
                assert calendar.working_time(start, due) == d, (start, d)
                assert due >= previous
                assert calendar.is_open(due - S)
                previous = due


# --- pause and resume ---------------------------------------------------------------------


def test_resume_due() -> None:
    due = US.add(ny(2026, 11, 25, 16), 4 * H)  # Fri 2026-11-27 12:00
    assert resume_due(None, ny(2026, 11, 25, 16), ny(2026, 11, 30, 9), US) is None
    # Paused Wed 16:30 with 3.5 business hours left; resumed Monday 10:00.
    resumed = resume_due(due, ny(2026, 11, 25, 16, 30), ny(2026, 11, 30, 10), US)
    assert resumed == ny(2026, 11, 30, 13, 30)
    # Already breached when paused: unchanged.
    assert resume_due(due, ny(2026, 11, 27, 13), ny(2026, 12, 1, 9), US) is due
    assert resume_due(due, due, ny(2026, 12, 1, 9), US) is due


def test_pause_spanning_a_weekend() -> None:
    due = US.add(ny(2026, 11, 6, 16, 30), 4 * H)  # 0.5h Friday + 3.5h Monday
    assert due == ny(2026, 11, 9, 12, 30)
    # Paused Friday 16:00 (4.5h left), resumed Monday 09:00: Monday 13:30.
    assert resume_due(due, ny(2026, 11, 6, 16), ny(2026, 11, 9, 9), US) == ny(2026, 11, 9, 13, 30)
    # Paused and resumed in closed time: no working time lost, same due.
    assert resume_due(due, ny(2026, 11, 6, 18), ny(2026, 11, 8, 12), US) == due
    # Paused Friday 16:30 (all 4h left), resumed Monday 11:00: Monday 15:00.
    assert resume_due(due, ny(2026, 11, 6, 16, 30), ny(2026, 11, 9, 11), US) == ny(2026, 11, 9, 15)


def test_resume_due_on_wall_clock() -> None:
    paused = ny(2026, 11, 6, 16)
    assert resume_due(paused + 2 * H, paused, paused + 24 * H, AlwaysOpen()) == paused + 26 * H


# --- calendar_for ---------------------------------------------------------------------------


def test_calendar_for() -> None:
    assert calendar_for(Policy("office", business_hours=True), US) is US
    assert isinstance(calendar_for(Policy("vip", business_hours=False), US), AlwaysOpen)
    assert isinstance(calendar_for(None, US), AlwaysOpen)
    [default] = policies_from_config({"policies": [{"name": "x", "first_response": "4h"}]})
    assert calendar_for(default, US) is US


# --- configuration --------------------------------------------------------------------------


def test_config_from_toml() -> None:
    sla = tomllib.loads(
        """
        [sla]
        timezone = "America/New_York"
        holidays = "US"
        closed_dates = ["2026-12-24", 2026-12-31]
        [sla.hours]
        Monday = "09:00-17:00"
        TUE = ["09:00-12:00", "13:00-17:00"]
        wed = "9:00-17:00"
        thursday = "09:00-17:00"
        fri = " 09:00 - 17:00 "
        sat = ""
        sun = []
        """
    )["sla"]
    calendar = calendar_from_config(sla)
    assert isinstance(calendar, BusinessCalendar)
    assert calendar.closed_dates == {date(2026, 12, 24), date(2026, 12, 31)}
    assert calendar.hours[0] == ((time(9), time(17)),)
    assert calendar.hours[1] == ((time(9), time(12)), (time(13), time(17)))
    assert calendar.hours[5] == calendar.hours[6] == ()
    assert calendar.add(ny(2026, 11, 25, 16), 4 * H) == ny(2026, 11, 27, 12)
    assert calendar.add(ny(2026, 12, 23, 16), 4 * H) == ny(2026, 12, 28, 12)
    assert calendar.add(ny(2026, 11, 3, 11), 2 * H) == ny(2026, 11, 3, 14)


def test_config_default_timezone_is_utc() -> None:
    calendar = calendar_from_config({"hours": {"mon": "09:00-17:00"}})
    assert isinstance(calendar, BusinessCalendar)
    assert calendar.add(datetime(2026, 11, 2, 8, tzinfo=UTC), H) == datetime(
        2026, 11, 2, 10, tzinfo=UTC
    )
    assert calendar.holidays is None


@pytest.mark.parametrize(
    ("sla", "message"),
    [
        ({"hours": {"mon": "9-17"}}, 'sla.hours.mon: "9-17" is not a window like 09:00-17:00'),
        ({"hours": {"mon": "25:00-26:00"}}, 'sla.hours.mon: "25:00-26:00" is not a window'),
        ({"hours": {"mon": "09:00-24:30"}}, 'sla.hours.mon: "09:00-24:30" is not a window'),
        ({"hours": {"mon": "09:60-10:00"}}, 'sla.hours.mon: "09:60-10:00" is not a window'),
        ({"hours": {"mon": "24:00-02:00"}}, 'sla.hours.mon: "24:00-02:00" is not a window'),
        ({"hours": {"tue": ["09:00-12:00", "1pm-5pm"]}}, 'sla.hours.tue: "1pm-5pm" is not'),
        ({"hours": {"mon": 9}}, 'sla.hours.mon: expected a string like "09:00-17:00"'),
        ({"hours": {"mon": ["09:00-17:00", 5]}}, "sla.hours.mon: expected a string"),
        ({"hours": "09:00-17:00"}, "sla.hours: expected a table of days"),
        ({"hours": {"funday": "09:00-17:00"}}, "sla.hours.funday: unknown day"),
        ({"hours": {"mon": "09:00-17:00", "Monday": ""}}, "sla.hours.Monday: monday is given"),
        ({"hours": {"mon": "", "sat": []}}, "sla.hours: no day has opening hours"),
        ({"hours": {}}, "sla.hours: no day has opening hours"),
        ({"timezone": "Mars/Base"}, 'sla.timezone: unknown time zone "Mars/Base"'),
        ({"timezone": ""}, 'sla.timezone: unknown time zone ""'),
        ({"timezone": "../etc/passwd"}, 'sla.timezone: unknown time zone "../etc/passwd"'),
        ({"timezone": 5}, 'sla.timezone: expected a name like "Europe/Berlin", got 5'),
        ({"holidays": "XX"}, 'sla.holidays: unknown country code "XX"'),
        ({"holidays": "US-ZZ"}, 'sla.holidays: unknown subdivision "ZZ" of "US"'),
        ({"holidays": True}, 'sla.holidays: expected a country code like "US"'),
        ({"closed_dates": "2026-12-24"}, "sla.closed_dates: expected a list of dates"),
        ({"closed_dates": ["24.12.2026"]}, "sla.closed_dates[0]: '24.12.2026' is not a date"),
        ({"closed_dates": ["2026-12-24", 7]}, "sla.closed_dates[1]: 7 is not a date"),
        (
            {"closed_dates": [datetime(2026, 12, 24, 9)]},
            "sla.closed_dates[0]: datetime.datetime(2026, 12, 24, 9, 0) is not a date",
        ),
    ],
)
def test_config_errors(sla: dict[str, Any], message: str) -> None:
    sla.setdefault("hours", WEEKDAYS)
    with pytest.raises(SLAConfigError) as info:
        calendar_from_config(sla)
    assert str(info.value).startswith(message)


# --- policy validation --------------------------------------------------------------------


def test_policies_accept_every_match_key() -> None:
    match = {"channel": "email", "priority": "high", "vip": True, "tag": "x", "account": "a"}
    [policy] = policies_from_config({"policies": [{"match": match, "business_hours": False}]})
    assert policy.match == match
    assert policy.business_hours is False


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        (
            [{"name": "a"}, {"match": {"team": "x"}}],
            "sla.policies[1].match.team: unknown match key "
            "(use channel, priority, vip, tag, account)",
        ),
        ([{"match": "email"}], "sla.policies[0].match: expected a table, got 'email'"),
        (
            [{"business_hours": "yes"}],
            "sla.policies[0].business_hours: expected true or false, got 'yes'",
        ),
        ([{"business_hours": 1}], "sla.policies[0].business_hours: expected true or false, got 1"),
        (["vip"], "sla.policies[0]: expected a table, got 'vip'"),
        (
            [{"first_response": "4x"}],
            "sla.policies[0]: '4x' is not a duration like 30s, 15m, 4h or 2d",
        ),
    ],
)
def test_policy_errors(policies: list[Any], message: str) -> None:
    with pytest.raises(SLAConfigError) as info:
        policies_from_config({"policies": policies})
    assert str(info.value) == message


def test_a_lazy_holiday_table_is_built_on_first_use_and_reports_a_bad_code() -> None:
    """The console builds the holiday table off its start-up path."""
    from omnitui.desk.sla import LazyHolidays, SLAConfigError, calendar_from_config

    sla = {"timezone": "America/New_York", "holidays": "US", "hours": {"mon": "09:00-17:00"}}
    cal = calendar_from_config(sla, lazy=True)
    assert isinstance(cal.holidays, LazyHolidays)  # type: ignore[attr-defined]
    assert cal.is_closed_date(date(2026, 11, 26))  # type: ignore[attr-defined]  # Thanksgiving
    bad = calendar_from_config({**sla, "holidays": "XX"}, lazy=True)
    with pytest.raises(SLAConfigError, match="unknown country code"):
        bad.holidays.load()  # type: ignore[attr-defined]

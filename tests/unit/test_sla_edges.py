"""Edges of the SLA module a mutation sample (bench/mutation.py) found unguarded: the
countdown's unit boundaries, which policy matches (tags, lists of channels), the
defaults when ``[sla]`` names no policy, overlapping opening windows, and the
validation of window times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from omnitui.desk.sla import (
    DEFAULT_POLICIES,
    BusinessCalendar,
    Policy,
    SLAConfigError,
    calendar_from_config,
    format_countdown,
    pick_policy,
    policies_from_config,
)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59, "59s"),
        (59.9, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h00m"),
        (86399, "23h59m"),
        (86400, "1d00h"),
        (2 * 86400 + 4 * 3600 + 59, "2d04h"),
        (-45, "-45s"),
        (-3660, "-1h01m"),
    ],
)
def test_the_countdown_changes_unit_exactly_at_the_boundaries(seconds: float, shown: str) -> None:
    assert format_countdown(seconds) == shown


def facts(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "channel": "email",
        "priority": "normal",
        "vip": False,
        "tags": [],
        "account": "support-mail",
    }
    return {**base, **changes}


def test_a_tag_policy_matches_only_conversations_with_one_of_its_tags() -> None:
    policy = Policy("billing", {"tag": ["refund", "invoice"]}, first_response=timedelta(hours=2))
    assert policy.matches(**facts(tags=["invoice"]))  # type: ignore[arg-type]
    assert policy.matches(**facts(tags=["other", "refund"]))  # type: ignore[arg-type]
    assert not policy.matches(**facts(tags=["other"]))  # type: ignore[arg-type]
    assert not policy.matches(**facts())  # type: ignore[arg-type]
    single = Policy("one", {"tag": "refund"})
    assert single.matches(**facts(tags=["refund"]))  # type: ignore[arg-type]
    assert not single.matches(**facts(tags=["refunds"]))  # type: ignore[arg-type]


def test_a_list_matches_any_of_its_values_and_nothing_else() -> None:
    policy = Policy("chat", {"channel": ["telegram", "matrix"], "vip": False})
    assert policy.matches(**facts(channel="matrix"))  # type: ignore[arg-type]
    assert not policy.matches(**facts(channel="email"))  # type: ignore[arg-type]
    assert not policy.matches(**facts(channel="telegram", vip=True))  # type: ignore[arg-type]


def test_without_policies_every_channel_gets_the_default_targets() -> None:
    defaults = policies_from_config({})
    assert defaults == DEFAULT_POLICIES
    assert all(not p.business_hours for p in defaults)  # 24x7 without [sla.hours]
    on_hours = policies_from_config({"hours": {"mon": "09:00-17:00"}})
    assert [p.name for p in on_hours] == [p.name for p in DEFAULT_POLICIES]
    assert all(p.business_hours for p in on_hours)
    email = pick_policy(defaults, **facts())
    assert email is not None and email.first_response == timedelta(hours=4)
    vip = pick_policy(defaults, **facts(vip=True))
    assert vip is not None and vip.name == "vip" and vip.first_response == timedelta(hours=1)


def test_overlapping_windows_merge_into_one_span() -> None:
    cal = BusinessCalendar(
        UTC,
        {0: [(time(9), time(12)), (time(11), time(14)), (time(13), time(13, 30))]},
    )
    monday = date(2026, 11, 23)
    assert cal.windows(monday) == (
        (datetime(2026, 11, 23, 9, tzinfo=UTC), datetime(2026, 11, 23, 14, tzinfo=UTC)),
    )
    start = datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert cal.working_time(start, start + timedelta(hours=8)) == timedelta(hours=5)
    assert cal.add(start, timedelta(hours=5)) == datetime(2026, 11, 23, 14, tzinfo=UTC)


def test_a_window_overlapping_the_latest_span_extends_that_span_only() -> None:
    cal = BusinessCalendar(
        UTC, {0: [(time(9), time(10)), (time(11), time(12)), (time(11, 30), time(13))]}
    )
    spans = cal.windows(date(2026, 11, 23))
    assert [(a.strftime("%H:%M"), b.strftime("%H:%M")) for a, b in spans] == [
        ("09:00", "10:00"),
        ("11:00", "13:00"),
    ]
    inside = BusinessCalendar(
        UTC, {0: [(time(9), time(10)), (time(11), time(14)), (time(11, 30), time(12))]}
    )
    spans = inside.windows(date(2026, 11, 23))
    assert [(a.hour, b.hour) for a, b in spans] == [(9, 10), (11, 14)]  # never shrinks


def test_windows_that_only_touch_merge_and_a_gap_is_closed_time() -> None:
    cal = BusinessCalendar(
        UTC, {0: [(time(9), time(12)), (time(12), time(13)), (time(14), time(15))]}
    )
    spans = cal.windows(date(2026, 11, 23))
    assert [(a.hour, b.hour) for a, b in spans] == [(9, 13), (14, 15)]


@pytest.mark.parametrize("window", ["09:60-17:00", "09:00-17:60", "24:00-25:00", "9-17", "x"])
def test_a_window_with_an_impossible_time_is_refused(window: str) -> None:
    with pytest.raises(SLAConfigError, match="is not a window like 09:00-17:00"):
        calendar_from_config({"hours": {"mon": window}})


@pytest.mark.parametrize("window", ["09:59-17:59", "00:00-24:00", "23:00-01:00"])
def test_the_last_minute_of_an_hour_is_a_valid_window_time(window: str) -> None:
    cal = calendar_from_config({"hours": {"mon": window}})
    assert cal.windows(date(2026, 11, 23))  # type: ignore[attr-defined]

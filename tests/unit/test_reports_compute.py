"""The report record over hand-built conversations: which conversations a period
counts, the previous period, per-channel and grouped figures, and ``null`` where there
is nothing to measure (docs/REPORTS.md)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from omnitui.reports import ConvRecord, MessageRecord, StatusChange, build_report

H = timedelta(hours=1)
DAY = timedelta(days=1)
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 11, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def answered(
    cid: int, created: datetime, wait: timedelta, *, channel: str = "email", **fields: Any
) -> ConvRecord:
    """A conversation whose customer got an agent reply after ``wait``."""
    messages = (MessageRecord("in", created), MessageRecord("out", created + wait, "sam"))
    return ConvRecord(id=cid, channel=channel, created_at=created, messages=messages, **fields)


def resolved(cid: int, created: datetime, after: timedelta, **fields: Any) -> ConvRecord:
    done = created + after
    return answered(
        cid,
        created,
        H,
        status="resolved",
        resolved_at=done,
        changes=(StatusChange(done, "open", "resolved"),),
        **fields,
    )


def test_an_empty_period_is_zeros_and_nulls() -> None:
    report = build_report([], since=SINCE, until=UNTIL, now=NOW)
    assert report["conversations"] == {"created": 0, "resolved": 0, "reopened": 0}
    assert report["messages"] == {"in": 0, "out": 0}
    for key in ("first_response_seconds", "first_response_business_seconds", "resolution_seconds"):
        assert report[key] == {"median": None, "p90": None}
    assert report["sla"] == {"met": 0, "breached": 0, "attainment": None, "breaching_now": 0}
    assert report["fcr"] is None and report["aht_seconds"] is None
    assert report["csat"] == {
        "surveys": 0,
        "answers": 0,
        "score": None,
        "response_rate": None,
        "comments": [],
    }
    assert report["by_channel"] == {}
    assert report["next_response_seconds"] == {"median": None, "p90": None}
    assert set(report["created_by_day"]) == set(report["backlog"]) and len(report["backlog"]) == 10
    assert sum(report["created_by_day"].values()) == sum(report["backlog"].values()) == 0
    assert report["heatmap"] == {
        d: [0] * 24 for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    assert report["top_tags"] == [] and report["agents"] == {}


def test_the_period_counts_conversations_created_in_it_and_the_previous_period_the_rest() -> None:
    records = [
        answered(1, SINCE, 10 * timedelta(minutes=1)),  # first instant: in
        answered(2, UNTIL - timedelta(seconds=1), 20 * timedelta(minutes=1)),  # in
        answered(3, UNTIL, H),  # the end is excluded
        answered(4, SINCE - DAY, 30 * timedelta(minutes=1)),  # previous period
        answered(5, SINCE - 11 * DAY, H),  # before the previous period
    ]
    report = build_report(records, since=SINCE, until=UNTIL, now=NOW)
    assert report["conversations"]["created"] == 2
    assert report["first_response_seconds"] == {"median": 900.0, "p90": 1140.0}
    previous = report["previous"]
    assert (previous["since"], previous["until"]) == (
        (SINCE - 10 * DAY).isoformat(),
        SINCE.isoformat(),
    )
    assert previous["conversations"]["created"] == 1
    assert previous["first_response_seconds"] == {"median": 1800.0, "p90": 1800.0}


def test_volume_sla_and_fcr_add_up_per_channel() -> None:
    records = [
        resolved(1, SINCE, 2 * H, first_responded_at=SINCE + H, first_response_due=SINCE + 4 * H),
        resolved(
            2,
            SINCE + DAY,
            4 * H,
            first_responded_at=SINCE + DAY + H,
            first_response_due=SINCE + DAY + H / 2,
        ),
        answered(3, SINCE + 2 * DAY, H, channel="telegram", resolution_due=SINCE + 2 * DAY + 2 * H),
    ]
    report = build_report(records, since=SINCE, until=UNTIL, now=NOW)
    assert report["conversations"] == {"created": 3, "resolved": 2, "reopened": 0}
    assert report["messages"] == {"in": 3, "out": 3}
    assert report["resolution_seconds"] == {"median": 3 * 3600.0, "p90": 3.8 * 3600}
    assert report["sla_by_clock"]["first_response"] == {"met": 1, "breached": 1, "attainment": 0.5}
    assert report["sla_by_clock"]["resolution"] == {"met": 0, "breached": 1, "attainment": 0.0}
    assert report["sla"] == {
        "met": 1,
        "breached": 2,
        "attainment": pytest.approx(1 / 3),
        "breaching_now": 1,  # conversation 3: open, its resolution clock overdue
    }
    assert report["fcr"] == 1.0  # both resolved after one reply, never reopened
    assert sorted(report["by_channel"]) == ["email", "telegram"]
    email = report["by_channel"]["email"]
    assert email["conversations"]["created"] == 2 and email["fcr"] == 1.0
    telegram = report["by_channel"]["telegram"]
    assert telegram["resolution_seconds"] == {"median": None, "p90": None}
    assert telegram["fcr"] is None


def test_groups_by_day_in_the_configured_zone_by_agent_and_by_tag() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    records = [
        answered(
            1, datetime(2026, 11, 2, 14, tzinfo=UTC), H, assignee="sam", tags=("billing", "vip")
        ),
        answered(2, datetime(2026, 11, 2, 16, tzinfo=UTC), H, tags=("billing",)),
    ]
    by_day = build_report(records, since=SINCE, until=UNTIL, now=NOW, by="day", tz=tokyo)
    # 16:00 UTC is already 3 November in Tokyo.
    assert by_day["by"] == "day"
    assert {k: v["conversations"]["created"] for k, v in by_day["groups"].items()} == {
        "2026-11-02": 1,
        "2026-11-03": 1,
    }
    by_agent = build_report(records, since=SINCE, until=UNTIL, now=NOW, by="agent")
    assert sorted(by_agent["groups"]) == ["(unassigned)", "sam"]
    by_tag = build_report(records, since=SINCE, until=UNTIL, now=NOW, by="tag")
    assert {k: v["conversations"]["created"] for k, v in by_tag["groups"].items()} == {
        "billing": 2,
        "vip": 1,
    }
    by_week = build_report(records, since=SINCE, until=UNTIL, now=NOW, by="week")
    assert list(by_week["groups"]) == ["2026-W45"]


def test_unknown_grouping_is_refused() -> None:
    with pytest.raises(ValueError, match="month"):
        build_report([], since=SINCE, until=UNTIL, now=NOW, by="month")


def test_the_compute_part_loads_neither_rich_nor_textual() -> None:
    probe = (
        "import sys, omnitui.reports.compute, omnitui.reports.loader; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'textual'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

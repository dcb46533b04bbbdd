"""The figures added to the first slice, on hand-built histories with known answers
(docs/REPORTS.md): next-response times on the wall clock and business hours, the
first-response buckets, the backlog at the end of each local day (reopenings and old
conversations included), the heat map in the report's zone, top tags, the per-agent
table, handling time, CSAT with odd mixes of answers, SLA per policy and breaches now."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from omnitui.desk.settings import DeskSettings
from omnitui.desk.sla import BusinessCalendar, Policy
from omnitui.reports import ConvRecord, MessageRecord, StatusChange, build_report
from omnitui.reports.records import SurveyRecord

H = timedelta(hours=1)
DAY = timedelta(days=1)
MON = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
SINCE, UNTIL = MON, MON + 7 * DAY
NOW = MON + 30 * DAY
NINE_TO_FIVE = {d: [(time(9), time(17))] for d in range(5)}


def msg(direction: str, at: datetime, author: str | None = "sam") -> MessageRecord:
    return MessageRecord(direction, at, author if direction != "in" else None)


def conv(cid: int, created: datetime, *messages: MessageRecord, **fields: Any) -> ConvRecord:
    return ConvRecord(
        id=cid, ref=f"C-{cid}", channel="email", created_at=created, messages=messages, **fields
    )


def report(records: list[ConvRecord], **kw: Any) -> dict[str, Any]:
    return build_report(records, since=SINCE, until=UNTIL, now=NOW, **kw)


def test_next_response_counts_from_the_first_unanswered_customer_message() -> None:
    t = MON + 10 * H
    record = conv(
        1,
        t,
        msg("in", t),
        msg("out", t + H),  # first response: 1 h
        msg("in", t + 5 * H),  # waits from here …
        msg("in", t + 6 * H),  # … not from here
        msg("out", t + 8 * H),  # next response: 3 h
        msg("note", t + 9 * H),
        msg("in", t + 20 * H),  # unanswered: no figure yet
    )
    settings = DeskSettings(
        policies=(Policy("all", {}),), calendar=BusinessCalendar(UTC, NINE_TO_FIVE)
    )
    out = report([record], settings=settings)
    assert out["first_response_seconds"] == {"median": 3600.0, "p90": 3600.0}
    assert out["next_response_seconds"] == {"median": 3 * 3600.0, "p90": 3 * 3600.0}
    # 15:00 → 18:00 Monday: two business hours (the office closes at 17:00).
    assert out["next_response_business_seconds"] == {"median": 2 * 3600.0, "p90": 2 * 3600.0}


def test_first_response_buckets_per_channel() -> None:
    waits = [30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 30 * 3600, 3600]  # 1 h is "1-4h"
    records = [
        conv(i, MON + i * H, msg("in", MON + i * H), msg("out", MON + i * H + timedelta(seconds=w)))
        for i, w in enumerate(waits)
    ]
    out = report(records)
    assert out["first_response_buckets"] == {"<1h": 1, "1-4h": 2, "4-8h": 1, "8-24h": 1, ">24h": 1}
    assert out["by_channel"]["email"]["first_response_buckets"] == out["first_response_buckets"]


def test_backlog_at_the_end_of_each_local_day() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    # Created Monday 10:00 UTC, resolved Tuesday 12:00, reopened Wednesday 09:00,
    # resolved Thursday 15:00 (UTC). Tokyo days end at 15:00 UTC.
    created = MON + 10 * H
    reopened = conv(
        1,
        created,
        msg("in", created),
        msg("out", created + H),
        msg("in", MON + 2 * DAY + 9 * H),
        status="resolved",
        resolved_at=MON + 3 * DAY + 15 * H,
        changes=(
            StatusChange(MON + DAY + 12 * H, "open", "resolved"),
            StatusChange(MON + 2 * DAY + 9 * H, "resolved", "open"),
            StatusChange(MON + 3 * DAY + 15 * H, "open", "resolved"),
        ),
    )
    old = conv(2, MON - 60 * DAY, msg("in", MON - 60 * DAY))  # never answered, still open
    old_done = conv(  # resolved long before the period: not in it
        3,
        MON - 60 * DAY,
        msg("in", MON - 60 * DAY),
        status="resolved",
        resolved_at=MON - 59 * DAY,
    )
    out = report([reopened, old, old_done], tz=tokyo)
    # The period is Monday 00:00 UTC (Monday 09:00 in Tokyo) to the next Monday.
    assert list(out["backlog"]) == [f"2026-11-{d:02d}" for d in range(2, 10)]
    assert out["backlog"]["2026-11-02"] == 2  # Mon 15:00 UTC: both open
    assert out["backlog"]["2026-11-03"] == 1  # Tue 15:00 UTC: resolved at 12:00
    assert out["backlog"]["2026-11-04"] == 2  # Wed 15:00 UTC: reopened at 09:00
    assert out["backlog"]["2026-11-05"] == 1  # Thu 15:00 UTC: resolved at that instant
    assert out["backlog"]["2026-11-06"] == 1
    assert out["created_by_day"]["2026-11-02"] == 1
    assert sum(out["created_by_day"].values()) == 1  # the old ones are not the period's
    assert out["conversations"]["reopened"] == 1


def test_the_heat_map_is_in_the_report_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    late = MON + 23 * H + 30 * 60 * timedelta(seconds=1)  # Monday 23:30 UTC
    record = conv(1, late, msg("in", late), msg("in", late + 2 * H), msg("out", late + 3 * H))
    out = report([record], tz=tokyo)
    assert out["heatmap"]["tue"][8] == 1 and out["heatmap"]["tue"][10] == 1
    assert sum(map(sum, out["heatmap"].values())) == 2  # replies are not counted


def test_top_tags_and_the_per_agent_table() -> None:
    t = MON + 10 * H
    records = [
        conv(
            1,
            t,
            msg("in", t),
            msg("out", t + H),
            assignee="sam",
            tags=("billing", "refund"),
            handling=(("sam", 120.0), ("alex", 60.0)),
        ),
        conv(
            2,
            t,
            msg("in", t),
            msg("out", t + 3 * H),
            assignee="sam",
            tags=("billing",),
            handling=(("sam", 60.0), ("sam", 120.0)),
        ),
        conv(3, t, msg("in", t), assignee=None, tags=("shipping",)),
    ]
    out = report(records)
    assert out["top_tags"] == [["billing", 2], ["refund", 1], ["shipping", 1]]
    sam = out["agents"]["sam"]
    assert "alex" not in out["agents"]  # the table is by assignee
    assert (sam["conversations"], sam["replies"]) == (2, 2)
    assert sam["first_response_seconds"] == {"median": 2 * 3600.0, "p90": pytest_approx(2.8 * 3600)}
    # Handling of sam's conversations, whoever had them open: 180 s on C-1 and C-2.
    assert sam["aht_seconds"] == 180.0
    assert out["agents"]["(unassigned)"]["conversations"] == 1
    # AHT per conversation handled: (180 + 180) / 2.
    assert out["aht_seconds"] == 180.0


def pytest_approx(value: float) -> Any:
    import pytest

    return pytest.approx(value)


def test_csat_is_the_share_of_four_and_five_among_answers() -> None:
    t = MON + 10 * H
    surveys = (
        SurveyRecord(t + DAY, 5, "great", t + DAY + H),
        SurveyRecord(t + DAY, 4, "", t + DAY + 2 * H),
        SurveyRecord(t + DAY, 1, "[red]slow[/red]", t + DAY + 3 * H),
        SurveyRecord(t + DAY),  # never answered
        SurveyRecord(t + DAY, 3, "meh"),  # a score without an answer time is no answer
    )
    records = [conv(1, t, msg("in", t), msg("out", t + H), assignee="sam", surveys=surveys)]
    out = report(records)
    csat = out["csat"]
    assert (csat["surveys"], csat["answers"]) == (5, 3)
    assert csat["score"] == 2 / 3 and csat["response_rate"] == 3 / 5
    assert [c["comment"] for c in csat["comments"]] == ["[red]slow[/red]", "great"]
    assert csat["comments"][0]["conversation"] == "C-1"
    assert out["agents"]["sam"]["csat"] == {"answers": 3, "score": 2 / 3}


def test_sla_per_policy_and_conversations_breaching_now() -> None:
    t = MON + 10 * H
    settings = DeskSettings(
        policies=(
            Policy("vip", {"vip": True}, first_response=H),
            Policy("email", {"channel": "email"}, first_response=4 * H),
        )
    )
    records = [
        conv(
            1,
            t,
            msg("in", t),
            msg("out", t + 2 * H),
            vip=True,
            first_responded_at=t + 2 * H,
            first_response_due=t + H,
        ),
        conv(
            2,
            t,
            msg("in", t),
            msg("out", t + 2 * H),
            first_responded_at=t + 2 * H,
            first_response_due=t + 4 * H,
        ),
        conv(3, t, msg("in", t), first_response_due=t + 4 * H),  # unanswered, overdue now
        conv(4, t, msg("in", t), first_response_due=NOW + H),  # still running
    ]
    out = report(records, settings=settings)
    assert out["sla_by_policy"]["vip"]["first_response"] == {
        "met": 0,
        "breached": 1,
        "attainment": 0.0,
    }
    assert out["sla_by_policy"]["email"]["first_response"] == {
        "met": 1,
        "breached": 1,
        "attainment": 0.5,
    }
    # Breaching now: a clock still running past its due time (C-3), not one that was
    # answered late (C-1).
    assert out["sla"]["breaching_now"] == 1
    assert out["previous"]["sla_by_policy"] == {}


def test_the_digest_day_and_the_day_before_are_local_days_across_dst() -> None:
    from omnitui.reports.digest import yesterday

    berlin = ZoneInfo("Europe/Berlin")
    # Monday 26 October 2026, 07:05: yesterday was Sunday the 25th, 25 hours long.
    before, start, end, day = yesterday(datetime(2026, 10, 26, 7, 5, tzinfo=berlin), berlin)
    assert day == "2026-10-25"
    assert [t.astimezone(berlin).isoformat() for t in (before, start, end)] == [
        "2026-10-24T00:00:00+02:00",
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
    ]
    assert end - start == timedelta(hours=25) and start - before == timedelta(hours=24)


def test_days_still_to_come_have_no_backlog() -> None:
    t = MON + 10 * H
    record = conv(1, t, msg("in", t))
    out = build_report([record], since=SINCE, until=UNTIL, now=MON + 2 * DAY + H)
    assert list(out["backlog"].values()) == [1, 1, 1, None, None, None, None]
    assert out["created_by_day"]["2026-11-02"] == 1

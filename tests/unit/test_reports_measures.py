"""Report figures of one conversation on hand-built histories with known answers
(docs/REPORTS.md): first response on business hours across a weekend and a holiday,
notes and the acknowledgement not counting, resolution time without pauses, SLA
verdicts, first-contact resolution and reopenings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from omnitui.desk.settings import ACK_AUTHOR, DeskSettings
from omnitui.desk.sla import BusinessCalendar, Policy
from omnitui.reports.measures import measure
from omnitui.reports.records import ConvRecord, MessageRecord, StatusChange
from omnitui.reports.stats import percentile, summary

H = timedelta(hours=1)
FRI = datetime(2026, 11, 27, tzinfo=UTC)  # a Friday; Monday 30 November is a holiday
HOLIDAY = date(2026, 11, 30)
NINE_TO_FIVE = {d: [(time(9), time(17))] for d in range(5)}
BUSINESS = DeskSettings(
    policies=(Policy("email", {"channel": "email"}, first_response=4 * H, resolution=24 * H),),
    calendar=BusinessCalendar(UTC, NINE_TO_FIVE, holidays={HOLIDAY}),
)
WALL = DeskSettings(policies=(Policy("all", {}, business_hours=False),))
NOW = datetime(2026, 12, 31, tzinfo=UTC)


def msg(direction: str, at: datetime, author: str | None = None) -> MessageRecord:
    return MessageRecord(direction, at, author)


def change(at: datetime, old: str, new: str) -> StatusChange:
    return StatusChange(at, old, new)


def conv(created: datetime, *messages: MessageRecord, **fields: Any) -> ConvRecord:
    return ConvRecord(id=1, channel="email", created_at=created, messages=messages, **fields)


def test_business_first_response_skips_the_weekend_and_the_holiday() -> None:
    # Friday 16:00 → Tuesday 10:00: 1 h on Friday, Saturday, Sunday and the Monday
    # holiday closed, 1 h on Tuesday.
    asked, answered = FRI + 16 * H, FRI + 4 * 24 * H + 10 * H
    m = measure(conv(asked, msg("in", asked), msg("out", answered, "sam")), BUSINESS, NOW)
    assert m.first_response == (answered - asked).total_seconds() == 90 * 3600
    assert m.first_response_business == 2 * 3600


def test_a_policy_without_business_hours_counts_wall_clock() -> None:
    asked, answered = FRI + 16 * H, FRI + 4 * 24 * H + 10 * H
    m = measure(conv(asked, msg("in", asked), msg("out", answered, "sam")), WALL, NOW)
    assert m.first_response_business == m.first_response == 90 * 3600


def test_notes_and_the_acknowledgement_are_not_a_first_response() -> None:
    t = FRI + 9 * H
    m = measure(
        conv(
            t,
            msg("in", t),
            msg("out", t + timedelta(seconds=5), ACK_AUTHOR),
            msg("note", t + timedelta(minutes=10), "sam"),
            msg("out", t + timedelta(minutes=30), "sam"),
        ),
        WALL,
        NOW,
    )
    assert m.first_response == 1800
    assert (m.messages_in, m.messages_out) == (1, 2)  # the acknowledgement was sent


def test_no_agent_reply_or_no_customer_message_has_no_first_response() -> None:
    t = FRI + 9 * H
    only_ack = conv(t, msg("in", t), msg("out", t + H, ACK_AUTHOR), msg("note", t + H, "sam"))
    outbound_only = conv(t, msg("out", t, "sam"))
    for record in (only_ack, outbound_only):
        m = measure(record, WALL, NOW)
        assert m.first_response is None and m.first_response_business is None


def test_resolution_time_leaves_out_pending_and_snoozed() -> None:
    t = FRI + 9 * H
    record = conv(
        t,
        msg("in", t),
        msg("out", t + H, "sam"),
        status="resolved",
        resolved_at=t + 6 * H,
        changes=(
            change(t + H, "open", "pending"),  # 1 h open
            change(t + 3 * H, "pending", "open"),  # 2 h paused
            change(t + 4 * H, "open", "snoozed"),  # 1 h open
            change(t + 5 * H, "snoozed", "open"),  # 1 h paused
            change(t + 6 * H, "open", "resolved"),  # 1 h open
        ),
    )
    m = measure(record, BUSINESS, NOW)
    assert m.resolved and m.resolution == 3 * 3600
    assert m.resolution_business == 3 * 3600  # all inside Friday 09:00–17:00


def test_resolution_business_time_across_the_weekend() -> None:
    created, done = FRI + 15 * H, FRI + 4 * 24 * H + 11 * H  # Friday 15:00 → Tuesday 11:00
    record = conv(
        created,
        msg("in", created),
        status="resolved",
        resolved_at=done,
        changes=(change(done, "open", "resolved"),),
    )
    m = measure(record, BUSINESS, NOW)
    assert m.resolution == (done - created).total_seconds()
    assert m.resolution_business == 4 * 3600


def test_without_status_events_a_resolved_conversation_was_open_until_resolved() -> None:
    t = FRI + 9 * H
    m = measure(conv(t, msg("in", t), status="resolved", resolved_at=t + 2 * H), WALL, NOW)
    assert m.resolution == 7200 and not m.reopened


def test_unresolved_conversations_have_no_resolution_time() -> None:
    t = FRI + 9 * H
    m = measure(conv(t, msg("in", t), status="pending", paused_at=t + H), WALL, NOW)
    assert not m.resolved and m.resolution is None and m.first_contact_resolved is None


def _resolved_then_reopened(after: timedelta, replies: int = 1) -> ConvRecord:
    t = FRI + 9 * H
    resolved = t + 2 * H
    reopened = resolved + after
    return conv(
        t,
        msg("in", t),
        *(msg("out", t + H + timedelta(minutes=i), "sam") for i in range(replies)),
        msg("in", reopened),
        msg("out", reopened + H, "sam"),
        status="resolved",
        resolved_at=reopened + 2 * H,
        changes=(
            change(resolved, "open", "resolved"),
            change(reopened, "resolved", "open"),
            change(reopened + 2 * H, "open", "resolved"),
        ),
    )


def test_reopened_within_seven_days_is_not_first_contact_resolution() -> None:
    m = measure(_resolved_then_reopened(timedelta(days=3)), WALL, NOW)
    assert m.reopened and m.first_contact_resolved is False
    # Open 2 h before the first resolution and 2 h after the reopening.
    assert m.resolution == 4 * 3600


def test_reopened_after_seven_days_keeps_first_contact_resolution() -> None:
    m = measure(_resolved_then_reopened(timedelta(days=8)), WALL, NOW)
    assert m.reopened and m.first_contact_resolved is True


def test_two_replies_before_the_resolution_is_not_first_contact_resolution() -> None:
    m = measure(_resolved_then_reopened(timedelta(days=8), replies=2), WALL, NOW)
    assert m.first_contact_resolved is False


def test_resolved_without_any_reply_is_not_first_contact_resolution() -> None:
    t = FRI + 9 * H
    record = conv(
        t, msg("in", t), msg("out", t + H, ACK_AUTHOR), status="resolved", resolved_at=t + H
    )
    assert measure(record, WALL, NOW).first_contact_resolved is False


def test_an_undo_that_reopens_counts_as_a_reopening() -> None:
    t = FRI + 9 * H
    record = conv(
        t,
        msg("in", t),
        msg("out", t + H, "sam"),
        status="open",
        changes=(change(t + 2 * H, "open", "resolved"), StatusChange(t + 3 * H, None, "open")),
    )
    m = measure(record, WALL, NOW)
    assert m.reopened and m.first_contact_resolved is False and not m.resolved


@pytest.mark.parametrize(
    ("fields", "first", "resolution"),
    [
        ({"first_responded_at": FRI + 2 * H, "first_response_due": FRI + 4 * H}, "met", None),
        ({"first_responded_at": FRI + 5 * H, "first_response_due": FRI + 4 * H}, "breached", None),
        ({"first_response_due": NOW - H}, "breached", None),  # unanswered, overdue
        ({"first_response_due": NOW + H}, None, None),  # still running
        (
            {"first_response_due": NOW - H, "status": "resolved", "resolved_at": FRI + H},
            None,  # resolved without a reply: no verdict
            None,
        ),
        (
            {"resolution_due": FRI + 4 * H, "status": "resolved", "resolved_at": FRI + 3 * H},
            None,
            "met",
        ),
        (
            {"resolution_due": FRI + 4 * H, "status": "resolved", "resolved_at": FRI + 5 * H},
            None,
            "breached",
        ),
        ({"resolution_due": NOW - H}, None, "breached"),
        # Paused before its due time: judged at the pause, so not breached.
        (
            {"resolution_due": FRI + 4 * H, "status": "pending", "paused_at": FRI + 3 * H},
            None,
            None,
        ),
        (
            {"resolution_due": FRI + 4 * H, "status": "pending", "paused_at": FRI + 5 * H},
            None,
            "breached",
        ),
    ],
)
def test_sla_clock_verdicts(
    fields: dict[str, Any], first: str | None, resolution: str | None
) -> None:
    m = measure(conv(FRI, msg("in", FRI), **fields), WALL, NOW)
    assert (m.first_response_clock, m.resolution_clock) == (first, resolution)


def test_percentiles_interpolate_between_closest_ranks() -> None:
    assert summary([40, 10, 30, 20]) == {"median": 25.0, "p90": 37.0}
    assert summary([7]) == {"median": 7.0, "p90": 7.0}
    assert summary([]) == {"median": None, "p90": None}
    assert percentile([0, 100], 90) == 90.0


def test_a_resolve_undone_in_the_same_instant_is_still_a_reopening() -> None:
    t = FRI + 9 * H
    record = conv(
        t,
        msg("in", t),
        changes=(change(t + H, "open", "resolved"), StatusChange(t + H, None, "open")),
    )
    m = measure(record, WALL, NOW)
    assert m.reopened and m.first_contact_resolved is False


def test_a_log_out_of_step_with_a_resolved_conversation_counts_up_to_its_resolution() -> None:
    # The log says reopened after the resolution the conversation stands in (an
    # imported or older store): resolution time stops at resolved_at, it does not run
    # on to the end of time (and business hours are not counted for centuries).
    t = FRI + 9 * H
    record = conv(
        t,
        msg("in", t),
        status="resolved",
        resolved_at=t + 2 * H,
        changes=(change(t + 2 * H, "open", "resolved"), change(t + 3 * H, "resolved", "open")),
    )
    m = measure(record, BUSINESS, NOW)
    assert m.resolution == 2 * 3600 and m.resolution_business == 2 * 3600

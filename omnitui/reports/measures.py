"""What one conversation contributes to a report: first response, resolution time,
SLA clock outcomes, first-contact resolution. Pure; the definitions are
docs/REPORTS.md's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from omnitui.desk.settings import ACK_AUTHOR, DeskSettings
from omnitui.desk.sla import Calendar, calendar_for, pick_policy
from omnitui.reports.records import ConvRecord, MessageRecord
from omnitui.reports.timeline import running, spans
from storage.models import PAUSED_STATUSES

#: A reopening later than this after the first resolution does not undo FCR.
FCR_WINDOW = timedelta(days=7)

#: The outcome of one SLA clock: ``met``, ``breached``, or None (still running, or
#: stopped without a verdict, e.g. resolved without any reply).
Outcome = str | None


@dataclass(frozen=True, slots=True)
class Measures:
    """One conversation's figures; None where there is nothing to measure."""

    messages_in: int
    messages_out: int
    first_response: float | None
    first_response_business: float | None
    resolved: bool
    reopened: bool
    resolution: float | None
    resolution_business: float | None
    first_contact_resolved: bool | None
    first_response_clock: Outcome
    resolution_clock: Outcome


def is_agent_reply(msg: MessageRecord) -> bool:
    """A public reply by an agent: an ``out`` message that is not the acknowledgement
    auto-reply (notes are ``note``, never ``out``)."""
    return msg.direction == "out" and msg.author != ACK_AUTHOR


def calendar_of(settings: DeskSettings, conv: ConvRecord) -> Calendar:
    """The calendar of the conversation's SLA policy (the first that matches now)."""
    policy = pick_policy(
        settings.policies,
        channel=conv.channel,
        priority=conv.priority,
        vip=conv.vip,
        tags=list(conv.tags),
        account=conv.account,
    )
    return calendar_for(policy, settings.calendar)


def measure(conv: ConvRecord, settings: DeskSettings, now: datetime) -> Measures:
    """Every figure of one conversation, judged at ``now``."""
    calendar = calendar_of(settings, conv)
    first_in = next((m.sent_at for m in conv.messages if m.direction == "in"), None)
    first_reply = None
    if first_in is not None:
        first_reply = next(
            (m.sent_at for m in conv.messages if is_agent_reply(m) and m.sent_at >= first_in),
            None,
        )
    frt = frt_business = None
    if first_in is not None and first_reply is not None:
        frt = (first_reply - first_in).total_seconds()
        frt_business = calendar.working_time(first_in, first_reply).total_seconds()
    timeline = spans(conv, now)
    resolved = conv.status == "resolved" and conv.resolved_at is not None
    resolution = resolution_business = None
    if resolved:
        open_spans = [(a, b) for a, b, status in timeline if running(status)]
        resolution = sum((b - a).total_seconds() for a, b in open_spans)
        resolution_business = sum(
            calendar.working_time(a, b).total_seconds() for a, b in open_spans
        )
    return Measures(
        messages_in=sum(1 for m in conv.messages if m.direction == "in"),
        messages_out=sum(1 for m in conv.messages if m.direction == "out"),
        first_response=frt,
        first_response_business=frt_business,
        resolved=resolved,
        reopened=_reopened(timeline),
        resolution=resolution,
        resolution_business=resolution_business,
        first_contact_resolved=_first_contact(conv, timeline),
        first_response_clock=first_response_outcome(conv, now),
        resolution_clock=resolution_outcome(conv, now),
    )


def _reopened(timeline: list[tuple[datetime, datetime, str]]) -> bool:
    return any(
        status == "resolved" and after != "resolved"
        for (_, _, status), (_, _, after) in zip(timeline, timeline[1:], strict=False)
    )


def _first_contact(conv: ConvRecord, timeline: list[tuple[datetime, datetime, str]]) -> bool | None:
    """None when never resolved; else whether the first resolution came after exactly
    one agent reply and was not reopened within :data:`FCR_WINDOW`."""
    for i, (start, _, status) in enumerate(timeline):
        if status != "resolved":
            continue
        replies = sum(1 for m in conv.messages if is_agent_reply(m) and m.sent_at <= start)
        later = timeline[i + 1 : i + 2]
        reopened_soon = bool(later) and later[0][0] <= start + FCR_WINDOW
        return replies == 1 and not reopened_soon
    return None


def first_response_outcome(conv: ConvRecord, now: datetime) -> Outcome:
    """The first-response clock as :func:`omnitui.desk.clocks.breached` judges it: met
    when answered by its due time; breached when answered late, or unanswered past it
    while not resolved; no verdict while it runs or when resolved unanswered."""
    due, done = conv.first_response_due, conv.first_responded_at
    if due is None:
        return None
    if done is not None:
        return "met" if done <= due else "breached"
    if conv.status != "resolved" and due < now:
        return "breached"
    return None


def resolution_outcome(conv: ConvRecord, now: datetime) -> Outcome:
    """The resolution clock as :func:`omnitui.desk.clocks.breached` judges it: met when
    resolved by its due time; breached when resolved late or overdue (a paused clock is
    judged at its pause); no verdict while it runs."""
    due = conv.resolution_due
    if due is None:
        return None
    if conv.status == "resolved" and conv.resolved_at is not None:
        return "met" if conv.resolved_at <= due else "breached"
    clock = conv.paused_at if conv.paused_at and conv.status in PAUSED_STATUSES else now
    return "breached" if due < clock else None

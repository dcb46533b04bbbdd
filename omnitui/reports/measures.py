"""What one conversation contributes to a report (pure; the definitions are
docs/REPORTS.md's).

:func:`fact_of` computes a :class:`Fact`: everything that does not depend on when the
report runs (times, counts, verdicts of stopped clocks, the spans it was unresolved,
when its customer wrote). A running SLA clock is kept as its due time and judged by
:func:`judge` when the report runs, so a fact stays exact until the conversation
changes (see :mod:`omnitui.reports.fact_store`). :func:`measure` is both at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from omnitui.desk.settings import ACK_AUTHOR, SURVEY_AUTHOR, DeskSettings
from omnitui.desk.sla import Calendar, Policy, calendar_for, pick_policy
from omnitui.reports.records import ConvRecord, MessageRecord
from omnitui.reports.timeline import Span, running, spans
from storage.models import PAUSED_STATUSES

#: A reopening later than this after the first resolution does not undo FCR.
FCR_WINDOW = timedelta(days=7)
#: Where a fact's timeline ends: after any real event (the last span is open-ended).
_END = datetime(9999, 1, 1, tzinfo=UTC)
_ZERO = timedelta(0)

#: The outcome of one SLA clock: ``met``, ``breached``, or None (still running, or
#: stopped without a verdict, e.g. resolved without any reply).
Outcome = str | None
#: A clock as stored: ``met``, ``breached``, ``due`` (running: breached once its due
#: time has passed) or None; and the due time in epoch seconds.
ClockState = tuple[str | None, float | None]
#: Authors of ``out`` messages that are not an agent's reply.
AUTOMATIC_AUTHORS = frozenset({ACK_AUTHOR, SURVEY_AUTHOR})


@dataclass(frozen=True, slots=True)
class Fact:
    """One conversation's report figures that do not depend on the report's time.

    Times are seconds; instants epoch seconds; ``day`` the local creation date and
    ``hours`` the local ``weekday * 100 + hour`` of each customer message."""

    created: float
    day: str
    policy: str
    messages_in: int
    messages_out: int
    replies: int
    handled: float
    first_response: float | None
    first_response_business: float | None
    next_responses: tuple[tuple[float, float], ...]
    resolved: bool
    reopened: bool
    resolution: float | None
    resolution_business: float | None
    fcr: bool | None
    first_response_clock: ClockState
    resolution_clock: ClockState
    unresolved: tuple[tuple[float, float | None], ...]
    hours: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Measures:
    """One conversation's figures judged at one instant; None where there is nothing
    to measure."""

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
    auto-reply or a satisfaction survey (notes are ``note``, never ``out``)."""
    return msg.direction == "out" and msg.author not in AUTOMATIC_AUTHORS


def policy_of(settings: DeskSettings, conv: ConvRecord) -> Policy | None:
    """The conversation's SLA policy: the first that matches it as it is now."""
    return pick_policy(
        settings.policies,
        channel=conv.channel,
        priority=conv.priority,
        vip=conv.vip,
        tags=list(conv.tags),
        account=conv.account,
    )


def calendar_of(settings: DeskSettings, conv: ConvRecord) -> Calendar:
    """The calendar of the conversation's SLA policy (the first that matches now)."""
    return calendar_for(policy_of(settings, conv), settings.calendar)


def fact_of(conv: ConvRecord, settings: DeskSettings, tz: tzinfo = UTC) -> Fact:
    """Every figure of one conversation that does not depend on the report's time."""
    policy = policy_of(settings, conv)
    calendar = calendar_for(policy, settings.calendar)
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
    timeline = spans(conv, _END)
    resolved = conv.status == "resolved" and conv.resolved_at is not None
    resolution = resolution_business = None
    if resolved and conv.resolved_at is not None:
        # Up to the resolution the conversation stands in now, whatever its log says
        # after it (a log out of step with the conversation must not count on forever).
        done = conv.resolved_at
        open_spans = [
            (a, min(b, done)) for a, b, status in timeline if running(status) and a < done
        ]
        # Summed as durations (exact microseconds), then turned into seconds once.
        resolution = sum((b - a for a, b in open_spans), _ZERO).total_seconds()
        resolution_business = sum(
            (calendar.working_time(a, b) for a, b in open_spans), _ZERO
        ).total_seconds()
    return Fact(
        created=conv.created_at.timestamp(),
        day=conv.created_at.astimezone(tz).date().isoformat(),
        policy=policy.name if policy is not None else "",
        messages_in=sum(1 for m in conv.messages if m.direction == "in"),
        messages_out=sum(1 for m in conv.messages if m.direction == "out"),
        replies=sum(1 for m in conv.messages if is_agent_reply(m)),
        handled=sum(seconds for _, seconds in conv.handling),
        first_response=frt,
        first_response_business=frt_business,
        next_responses=next_responses(conv, first_reply, calendar),
        resolved=resolved,
        reopened=_reopened(timeline),
        resolution=resolution,
        resolution_business=resolution_business,
        fcr=_first_contact(conv, timeline),
        first_response_clock=first_response_state(conv),
        resolution_clock=resolution_state(conv),
        unresolved=_unresolved(timeline),
        hours=tuple(
            (t.weekday() * 100 + t.hour)
            for t in (m.sent_at.astimezone(tz) for m in conv.messages if m.direction == "in")
        ),
    )


def measure(conv: ConvRecord, settings: DeskSettings, now: datetime) -> Measures:
    """Every figure of one conversation, judged at ``now``."""
    fact = fact_of(conv, settings)
    at = now.timestamp()
    return Measures(
        messages_in=fact.messages_in,
        messages_out=fact.messages_out,
        first_response=fact.first_response,
        first_response_business=fact.first_response_business,
        resolved=fact.resolved,
        reopened=fact.reopened,
        resolution=fact.resolution,
        resolution_business=fact.resolution_business,
        first_contact_resolved=fact.fcr,
        first_response_clock=judge(fact.first_response_clock, at),
        resolution_clock=judge(fact.resolution_clock, at),
    )


def next_responses(
    conv: ConvRecord, first_reply: datetime | None, calendar: Calendar
) -> tuple[tuple[float, float], ...]:
    """After the first response, each time the customer wrote while no message of
    theirs was waiting: from that message to the next agent reply, in wall-clock and
    business seconds. A message still unanswered gives nothing yet; an answer to a
    satisfaction survey waits for nothing."""
    if first_reply is None:
        return ()
    out: list[tuple[float, float]] = []
    waiting: datetime | None = None
    for m in conv.messages:
        if m.sent_at < first_reply:
            continue
        if m.direction == "in":
            if waiting is None and m.sent_at > first_reply and not m.survey_answer:
                waiting = m.sent_at
        elif is_agent_reply(m) and waiting is not None and m.sent_at >= waiting:
            out.append(
                (
                    (m.sent_at - waiting).total_seconds(),
                    calendar.working_time(waiting, m.sent_at).total_seconds(),
                )
            )
            waiting = None
    return tuple(out)


def judge(state: ClockState, now: float) -> Outcome:
    """A stored clock's outcome at ``now`` (epoch seconds): a running clock is
    breached once its due time has passed, else it has no verdict yet."""
    clock, due = state
    if clock == "due":
        return "breached" if due is not None and due < now else None
    return clock


def _reopened(timeline: list[Span]) -> bool:
    return any(
        status == "resolved" and after != "resolved"
        for (_, _, status), (_, _, after) in zip(timeline, timeline[1:], strict=False)
    )


def _unresolved(timeline: list[Span]) -> tuple[tuple[float, float | None], ...]:
    """The spans in which the conversation was not resolved, merged, as epoch seconds
    (the last one open-ended while it lasts)."""
    out: list[list[float | None]] = []
    for start, end, status in timeline:
        if status == "resolved" or end < start:
            continue
        a = start.timestamp()
        b = None if end >= _END else end.timestamp()
        if out and out[-1][1] == a:
            out[-1][1] = b
        else:
            out.append([a, b])
    return tuple((float(a or 0.0), b) for a, b in out)


def _first_contact(conv: ConvRecord, timeline: list[Span]) -> bool | None:
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


def first_response_state(conv: ConvRecord) -> ClockState:
    """The first-response clock as :func:`omnitui.desk.clocks.breached` judges it: met
    when answered by its due time; breached when answered late; while unanswered and
    not resolved it runs (breached once past due); resolved unanswered has no verdict."""
    due, done = conv.first_response_due, conv.first_responded_at
    if due is None:
        return (None, None)
    if done is not None:
        return ("met" if done <= due else "breached", due.timestamp())
    if conv.status != "resolved":
        return ("due", due.timestamp())
    return (None, due.timestamp())


def resolution_state(conv: ConvRecord) -> ClockState:
    """The resolution clock as :func:`omnitui.desk.clocks.breached` judges it: met when
    resolved by its due time; breached when resolved late; a paused clock is judged at
    its pause; otherwise it runs."""
    due = conv.resolution_due
    if due is None:
        return (None, None)
    if conv.status == "resolved" and conv.resolved_at is not None:
        return ("met" if conv.resolved_at <= due else "breached", due.timestamp())
    if conv.paused_at and conv.status in PAUSED_STATUSES:
        return ("breached" if due < conv.paused_at else None, due.timestamp())
    return ("due", due.timestamp())


def first_response_outcome(conv: ConvRecord, now: datetime) -> Outcome:
    """The first-response clock's verdict at ``now``."""
    return judge(first_response_state(conv), now.timestamp())


def resolution_outcome(conv: ConvRecord, now: datetime) -> Outcome:
    """The resolution clock's verdict at ``now``."""
    return judge(resolution_state(conv), now.timestamp())

"""The decide step of ingest: pure functions from one batch and what was loaded for it
to everything the write phase records.

No session, no clock: the caller passes ``now``. :func:`dedupe` drops messages already
stored; :func:`plan_batch` places each message (threading), starts conversations,
applies ``[routing]``, the auto-generated tag and the SLA clocks, reopens what a
customer message reopens, decides which new conversations get an acknowledgement,
which name other customers' conversations, which messages answer a survey (those
reopen nothing and start no clock) and which new conversations wait for
auto-assignment; :func:`assign_arrivals` gives those out over the agents the caller
loaded for them (``[assignment]``). The result is an :class:`IngestPlan` of plain
records that :mod:`omnitui.desk.ingest` writes in one phase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from adapters.base import InboundMessage
from omnitui.desk import clocks
from omnitui.desk.assignment import ACTOR as ASSIGN_ACTOR
from omnitui.desk.assignment import AgentRecord, Arrival, Pool, skip_reason
from omnitui.desk.lifecycle import reopen_for_customer
from omnitui.desk.records import ConvRecord, SenderRecord, SurveyRecord
from omnitui.desk.routing import Facts
from omnitui.desk.settings import AUTO_TAG, REOPEN_WINDOW, DeskSettings
from omnitui.desk.survey_answers import Answer, read_answer
from omnitui.desk.threads import Candidates, ThreadIndex
from storage import repository as repo

#: What the thread shows for an acknowledgement until it is written, just before it
#: is sent (see docs/ROUTING.md).
ACK_PENDING_TEXT = "Acknowledgement auto-reply: written from [routing.acknowledge] when sent."
#: How much earlier than a survey's record a channel may date its answer (whole-second
#: timestamps, clocks that differ a little).
CLOCK_SLACK = timedelta(minutes=2)


@dataclass
class Deduped:
    """A batch without what is already stored: the new messages, in order, and the
    edits of stored ones (external id, new text)."""

    messages: list[InboundMessage] = field(default_factory=list)
    edits: list[tuple[str, str]] = field(default_factory=list)


def dedupe(messages: Sequence[InboundMessage], seen_ext: set[str], seen_mid: set[str]) -> Deduped:
    """Skip messages already stored (same external id, or same Message-ID: the same
    mail in another folder); an edited one already stored becomes an edit. Earlier
    messages of the batch count as stored for later ones."""
    seen_ext, seen_mid = set(seen_ext), set(seen_mid)
    out = Deduped()
    for msg in messages:
        if msg.edited and msg.external_id in seen_ext:
            out.edits.append((msg.external_id, msg.text))
            continue
        if msg.external_id in seen_ext or (msg.message_id and msg.message_id in seen_mid):
            continue
        seen_ext.add(msg.external_id)
        if msg.message_id:
            seen_mid.add(msg.message_id)
        out.messages.append(msg)
    return out


@dataclass
class Planned:
    """One message of the batch and where it goes."""

    msg: InboundMessage
    sender: SenderRecord
    conv: ConvRecord
    new: bool


@dataclass
class PlannedEvent:
    """An event to log about ``conv`` (its id is known only once written)."""

    kind: str
    conv: ConvRecord
    at: datetime
    actor: str = "system"
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class IngestPlan:
    """Everything one batch records, in order."""

    edits: list[tuple[str, str]] = field(default_factory=list)
    placed: list[Planned] = field(default_factory=list)
    #: Conversations the batch starts, in order (``key`` negative, ``id`` None).
    created: list[ConvRecord] = field(default_factory=list)
    #: Routing and status events, in the order they happened.
    events: list[PlannedEvent] = field(default_factory=list)
    #: New conversations that get an acknowledgement, queued at ``now`` (rendered when sent).
    acknowledge: list[ConvRecord] = field(default_factory=list)
    #: New conversations whose first message named other customers' conversations.
    mentions: list[tuple[ConvRecord, InboundMessage, list[str]]] = field(default_factory=list)
    #: Survey answers: the survey, the index of the message in ``placed``, the answer.
    answers: list[tuple[SurveyRecord, int, Answer]] = field(default_factory=list)
    #: New conversations a customer started that wait for auto-assignment (no routing
    #: rule assigned them), each with its customer's VIP flag.
    arrivals: list[tuple[ConvRecord, bool]] = field(default_factory=list)
    #: Agents auto-assignment gave a conversation, with their new ``last_assigned_at``.
    assigned: dict[str, datetime] = field(default_factory=dict)

    def conversations(self) -> list[ConvRecord]:
        """Every conversation the batch touches, each once."""
        seen: dict[int, ConvRecord] = {}
        for p in self.placed:
            seen.setdefault(p.conv.key, p.conv)
        return list(seen.values())


def plan_batch(
    settings: DeskSettings,
    account: str,
    batch: Deduped,
    senders: Sequence[SenderRecord],
    candidates: Candidates,
    *,
    vip: Mapping[int, bool],
    recently_acknowledged: set[int],
    now: datetime,
    surveys: Mapping[int, SurveyRecord] | None = None,
) -> IngestPlan:
    """Decide where each message of ``batch`` goes and what that changes.

    ``senders[i]`` sent ``batch.messages[i]``; ``vip`` maps customers to their VIP flag;
    ``recently_acknowledged`` holds the customers acknowledged within
    ``[routing.acknowledge].per_sender``; ``surveys`` the delivered, unanswered surveys
    by conversation. The candidates' records are changed in place.
    """
    plan = IngestPlan(edits=list(batch.edits))
    index = ThreadIndex(candidates, settings.signing(), REOPEN_WINDOW)
    acked = set(recently_acknowledged)
    waiting = dict(surveys or {})
    for msg, sender in zip(batch.messages, senders, strict=True):
        customer_id = sender.customer_id
        conv = index.find(msg, customer_id)
        answered = answer_for(settings, waiting, candidates.by_id, conv, msg, customer_id)
        if answered is not None and conv is None:
            conv = candidates.by_id[answered[0].conversation_id]  # a chat answer, late
        new = conv is None
        if conv is None:
            conv = ConvRecord(
                key=-(len(plan.created) + 1),
                id=None,
                ref=None,
                account=account,
                channel=msg.channel,
                customer_id=customer_id,
                thread_key=msg.thread_key,
                subject=msg.subject,
                created_at=msg.sent_at,
            )
            plan.created.append(conv)
            refs = index.foreign_refs(msg, customer_id)
            if refs:
                plan.mentions.append((conv, msg, refs))
        plan.placed.append(Planned(msg, sender, conv, new))
        index.landed(msg, conv, customer_id)
        repo.count(
            conv,  # type: ignore[arg-type]  # a ConvRecord has the fields count() updates
            direction=msg.direction,
            text=msg.text,
            sent_at=msg.sent_at,
        )
        if msg.auto_generated and AUTO_TAG not in conv.tags:
            # Auto-replies, bulk and list mail: visible to the agent, and never
            # answered by automation (mail loops).
            conv.tags = [*conv.tags, AUTO_TAG]
        if answered is not None:
            # The customer rated: kept in the thread, and nothing reopens or restarts.
            del waiting[answered[0].conversation_id]
            plan.answers.append((answered[0], len(plan.placed) - 1, answered[1]))
            continue
        if msg.direction != "in":
            continue
        is_vip = bool(vip.get(conv.customer_id))
        if new:
            route(settings, conv, msg, is_vip, plan.events)
            if conv.assignee is None and wants_assignment(settings, conv, is_vip):
                plan.arrivals.append((conv, is_vip))  # a routing rule's assign wins
        clocks.on_customer_message(settings, conv, msg.sent_at, new=new, vip=is_vip)
        reopened = reopen_for_customer(settings, conv, msg.sent_at, vip=is_vip)
        if reopened is not None:
            plan.events.append(
                PlannedEvent(
                    "conversation.status", conv, msg.sent_at, "customer", reopened["detail"]
                )
            )
        if new and should_acknowledge(settings, conv, msg, now=now, acknowledged=acked):
            acked.add(customer_id)
            conv.acknowledged_at = now
            conv.message_count += 1  # the acknowledgement's ``out`` message
            plan.acknowledge.append(conv)
    for conv, _msg, _refs in plan.mentions:
        conv.message_count += 1  # the "mentions" note
    return plan


def answer_for(
    settings: DeskSettings,
    waiting: Mapping[int, SurveyRecord],
    by_id: Mapping[int, ConvRecord],
    conv: ConvRecord | None,
    msg: InboundMessage,
    customer_id: int,
) -> tuple[SurveyRecord, Answer] | None:
    """The survey ``msg`` answers, and the answer, or None. It must land in the
    survey's conversation (a chat message that would start a new conversation, after
    the three days a chat reopens in, may still answer its customer's survey), while
    that is resolved, within ``answer_days`` of the survey, come from the surveyed
    customer (not from our own address), and read as an answer."""
    if msg.direction != "in" or msg.kind != "message" or msg.auto_generated:
        return None
    survey = waiting.get(conv.id) if conv is not None and conv.id is not None else None
    if survey is None and conv is None and msg.channel != "email":
        late = [
            w
            for w in waiting.values()
            if w.customer_id == customer_id
            and w.channel == msg.channel
            and w.conversation_id in by_id
            and by_id[w.conversation_id].thread_key in (msg.thread_key, None)
        ]
        survey = max(late, key=lambda w: w.sent_at) if late else None
    if survey is None or survey.customer_id != customer_id:
        return None  # only the surveyed customer answers (not a colleague in the thread)
    if msg.sender.address.strip().lower() in settings.own_addresses:
        return None  # an agent writing from our own address
    target = conv if conv is not None else by_id[survey.conversation_id]
    if target.status != "resolved":
        return None
    start = survey.sent_at - CLOCK_SLACK
    if not start <= msg.sent_at <= survey.sent_at + settings.csat.answer_within:
        return None
    answer = read_answer(msg.text)
    return None if answer is None else (survey, answer)


def route(
    settings: DeskSettings,
    conv: ConvRecord,
    msg: InboundMessage,
    vip: bool,
    events: list[PlannedEvent],
) -> None:
    """Apply ``[routing]`` to a conversation that just arrived."""
    decision = settings.routing.decide(
        Facts(
            channel=conv.channel,
            account=conv.account,
            vip=vip,
            tags=list(conv.tags),
            priority=conv.priority,
            sender=msg.sender.address,
            subject=msg.subject,
            text=msg.text[:20_000],
        )
    )
    if decision.priority:
        conv.priority = decision.priority
    if decision.tags:
        conv.tags = [*conv.tags, *(t for t in decision.tags if t not in conv.tags)]
    if decision.assignee is not None:
        conv.assignee = decision.assignee
    if decision.rules:
        events.append(
            PlannedEvent(
                "conversation.routed",
                conv,
                msg.sent_at,
                detail={
                    "rules": decision.rules,
                    "priority": conv.priority,
                    "tags": decision.tags,
                    "assignee": conv.assignee,
                },
            )
        )


def wants_assignment(settings: DeskSettings, conv: ConvRecord, vip: bool) -> bool:
    """Whether auto-assignment applies to a conversation that just arrived (on, not a
    skipped channel, not auto-generated mail)."""
    arrival = Arrival(channel=conv.channel, tags=tuple(conv.tags), vip=vip)
    return skip_reason(settings.assignment, arrival) is None


def assign_arrivals(
    settings: DeskSettings, plan: IngestPlan, agents: Sequence[AgentRecord], now: datetime
) -> None:
    """Give each of ``plan.arrivals``, in order, to the agent ``[assignment]`` chooses
    among ``agents`` (each one given counts for the next); record who and why, or why
    nobody, and the agents' new ``last_assigned_at`` in ``plan.assigned``."""
    pool = Pool(settings.assignment, agents, now)
    for conv, vip in plan.arrivals:
        choice = pool.give(Arrival(channel=conv.channel, tags=tuple(conv.tags), vip=vip))
        if not choice.applies:
            continue
        detail: dict[str, Any] = {"reason": choice.reason, "strategy": settings.assignment.strategy}
        if choice.agent is None:
            plan.events.append(
                PlannedEvent("conversation.assign_skipped", conv, now, ASSIGN_ACTOR, detail)
            )
            continue
        conv.assignee = choice.agent
        detail = {"from": None, "to": choice.agent, "assignee": choice.agent, **detail}
        plan.events.append(PlannedEvent("conversation.assigned", conv, now, ASSIGN_ACTOR, detail))
    plan.assigned = dict(pool.stamps)


def should_acknowledge(
    settings: DeskSettings,
    conv: ConvRecord,
    msg: InboundMessage,
    *,
    now: datetime,
    acknowledged: set[int],
) -> bool:
    """Acknowledge a new conversation only when a person wrote it: never mail from our
    own addresses, auto-replies, reports or lists (``auto_generated``), old mail of a
    first sync, or a customer in ``acknowledged`` (acknowledged within ``per_sender``)."""
    ack = settings.routing.acknowledge
    if not (
        ack is not None
        and settings.routing.acknowledges(conv.channel)
        and conv.acknowledged_at is None
        and not msg.auto_generated
        and AUTO_TAG not in conv.tags
        and msg.kind == "message"
        and now - msg.sent_at <= ack.max_age
    ):
        return False
    if msg.sender.address.strip().lower() in settings.own_addresses:
        return False  # our own mail (a loop, or a copy of a reply)
    return not ack.per_sender or conv.customer_id not in acknowledged

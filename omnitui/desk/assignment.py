"""Auto-assignment of new conversations (``[assignment]``, team mode; docs/TEAM.md).

:func:`load_agents` is ingest's load step: every agent and the open and pending
conversations assigned to them, in one query, inside the ingest's transaction, read
only when a batch brings new conversations to assign. :func:`choose` is pure: over
those records, one arriving conversation and ``now``, it names the agent who gets it
(or nobody) and says why. :class:`Pool` is the batch's view of the agents as
:func:`omnitui.desk.ingest_plan.assign_arrivals` gives conversations out, so a batch of
ten new conversations goes round the team, not ten times to one agent.
:func:`record_stamps` is the write step's part.

An agent is eligible when present (not flagged away, and their console's heartbeat
younger than ``away_after``; never seen counts as away), under their capacity (open and
pending conversations assigned to them, snoozed ones not counted), and skilled: the
conversation's channel is one of theirs, one of its tags is one of theirs, its language
one of theirs (each list empty: any; the language is unknown today, and unknown matches
everyone). A VIP customer goes to the VIP agents (``vip_agents``, else the agents
flagged ``vip``) when one is eligible, else to anyone eligible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from omnitui.config.assignment import Assignment
from omnitui.desk.settings import AUTO_TAG
from storage.models import Agent, Conversation, table_of
from storage.queries import ACTIVE_STATUSES

#: The actor of the events auto-assignment records.
ACTOR = "auto-assign"
_NEVER = datetime.min.replace(tzinfo=UTC)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class AgentRecord:
    """An agent as assignment sees them, with ``load``: the open and pending
    conversations assigned to them."""

    name: str
    channels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    capacity: int | None = None
    vip: bool = False
    away: bool = False
    last_seen_at: datetime | None = None
    last_assigned_at: datetime | None = None
    load: int = 0


@dataclass(frozen=True)
class Arrival:
    """What assignment reads of a conversation that just arrived."""

    channel: str
    tags: tuple[str, ...] = ()
    #: None: not known (nothing detects a language yet), which every agent matches.
    language: str | None = None
    vip: bool = False


@dataclass(frozen=True)
class Choice:
    """Who gets the conversation (None: nobody) and why. ``applies`` is False when
    auto-assignment leaves this conversation alone (off, a skipped channel,
    auto-generated mail): nothing is recorded then."""

    agent: str | None
    reason: str
    applies: bool = True


# -- pure -----------------------------------------------------------------------------
def skip_reason(settings: Assignment, arrival: Arrival) -> str | None:
    """Why auto-assignment leaves ``arrival`` alone, or None when it applies."""
    if not settings.enabled:
        return "auto-assignment is off"
    if arrival.channel in settings.skip_channels:
        return f"channel {arrival.channel} is not auto-assigned"
    if AUTO_TAG in arrival.tags:
        return "auto-generated mail"  # an out-of-office or a bounce takes nobody's time
    return None


def unavailable(settings: Assignment, agent: AgentRecord, now: datetime) -> str | None:
    """``"away"`` or ``"full"`` when ``agent`` takes nothing now, else None."""
    if agent.away or agent.last_seen_at is None:
        return "away"
    if now - agent.last_seen_at > settings.away_after:
        return "away"
    if agent.capacity is not None and agent.load >= agent.capacity:
        return "full"
    return None


def skilled(agent: AgentRecord, arrival: Arrival) -> bool:
    """Whether ``agent``'s channels, tags and languages fit ``arrival`` (empty: any)."""
    if agent.channels and arrival.channel.lower() not in _lower(agent.channels):
        return False
    if agent.tags and not _lower(agent.tags) & _lower(arrival.tags):
        return False
    if agent.languages and arrival.language is not None:
        return _primary(arrival.language) in {_primary(x) for x in agent.languages}
    return True


def choose(
    settings: Assignment, agents: Sequence[AgentRecord], arrival: Arrival, now: datetime
) -> Choice:
    """The agent who gets ``arrival`` by ``settings.strategy``, and why; None when
    auto-assignment does not apply or nobody is eligible."""
    skip = skip_reason(settings, arrival)
    if skip is not None:
        return Choice(None, skip, applies=False)
    if not agents:
        return Choice(None, "no agents")
    why: dict[str, str] = {}
    for agent in agents:
        why[agent.name] = unavailable(settings, agent, now) or (
            "" if skilled(agent, arrival) else "unskilled"
        )
    eligible = [a for a in agents if not why[a.name]]
    if not eligible:
        counts = [f"{sum(w == k for w in why.values())} {k}" for k in ("away", "full", "unskilled")]
        return Choice(None, "nobody eligible: " + ", ".join(c for c in counts if c[0] != "0"))
    prefix = ""
    if arrival.vip:
        named = set(settings.vip_agents) or {a.name for a in agents if a.vip}
        vips = [a for a in eligible if a.name in named]
        if vips:
            eligible, prefix = vips, "VIP customer to a VIP agent; "
        elif named:
            prefix = "VIP customer, no VIP agent available; "
    if settings.strategy == "least_loaded":
        best = min(eligible, key=lambda a: (a.load, a.last_assigned_at or _NEVER, a.name))
        cap = "no cap" if best.capacity is None else f"capacity {best.capacity}"
        reason = f"least loaded of {len(eligible)}: {best.load} open, {cap}"
    else:
        best = min(eligible, key=lambda a: (a.last_assigned_at or _NEVER, a.name))
        reason = f"round robin over {len(eligible)}: longest since a new conversation"
    return Choice(best.name, prefix + reason)


class Pool:
    """The agents while one batch is planned: each conversation given out adds one to
    its agent's load and makes them the most recently assigned, by a stamp just after
    ``now`` and after every stamp seen (a microsecond apart), so the batch and the next
    one go round in order."""

    def __init__(self, settings: Assignment, agents: Iterable[AgentRecord], now: datetime) -> None:
        self.settings = settings
        self.now = now
        self.agents = {a.name: a for a in agents}
        #: Agent → their new ``last_assigned_at`` (the write step stores it).
        self.stamps: dict[str, datetime] = {}

    def give(self, arrival: Arrival) -> Choice:
        """Choose for ``arrival`` and count the conversation against its agent."""
        choice = choose(self.settings, list(self.agents.values()), arrival, self.now)
        if choice.agent is not None:
            newest = max(a.last_assigned_at or _NEVER for a in self.agents.values())
            stamp = max(self.now, newest) + _TICK
            agent = self.agents[choice.agent]
            self.agents[agent.name] = replace(agent, load=agent.load + 1, last_assigned_at=stamp)
            self.stamps[agent.name] = stamp
        return choice


def _lower(values: Iterable[str]) -> set[str]:
    return {v.strip().casefold() for v in values}


def _primary(language: str) -> str:
    """``"de-AT"`` → ``"de"``: a German speaker takes Austrian German."""
    return language.strip().lower().replace("_", "-").split("-")[0]


# -- load and write -------------------------------------------------------------------
def load_agents(s: Session) -> list[AgentRecord]:
    """Every agent with the open and pending conversations assigned to them: one query
    (a count per agent on the assignee index), read inside the caller's transaction."""
    agent, conv = table_of(Agent), table_of(Conversation)
    load = (
        sa_select(func.count())
        .select_from(conv)
        .where(conv.c.assignee == agent.c.name, conv.c.status.in_(ACTIVE_STATUSES))
        .correlate(agent)
        .scalar_subquery()
    )
    c = agent.c
    rows = s.connection().execute(
        sa_select(
            c.name,
            c.channels,
            c.tags,
            c.languages,
            c.capacity,
            c.vip,
            c.away,
            c.last_seen_at,
            c.last_assigned_at,
            load,
        ).order_by(c.name)
    )
    return [
        AgentRecord(
            name=name,
            channels=tuple(channels or ()),
            tags=tuple(tags or ()),
            languages=tuple(languages or ()),
            capacity=capacity,
            vip=bool(vip),
            away=bool(away),
            last_seen_at=seen,
            last_assigned_at=assigned,
            load=int(count or 0),
        )
        for name, channels, tags, languages, capacity, vip, away, seen, assigned, count in rows
    ]


def record_stamps(s: Session, stamps: dict[str, datetime]) -> None:
    """Store each agent's new ``last_assigned_at``, never moving it back (another
    ingest may have given them one meanwhile)."""
    for name, stamp in sorted(stamps.items()):
        s.exec(
            update(Agent)
            .where(
                col(Agent.name) == name,
                (col(Agent.last_assigned_at).is_(None)) | (col(Agent.last_assigned_at) < stamp),
            )
            .values(last_assigned_at=stamp)
        )

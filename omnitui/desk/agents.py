"""The team (team mode): its agents, who a console or command runs as, who may do what.

**Team mode** is on when the ``agent`` table has a row. Then every console and every
writing command runs as one agent of the team (``[agent] name``, ``--agent`` or
``$OMNITUI_AGENT``) and is refused as anyone else; forgetting and merging customers
needs an agent with ``admin``. A store without agents is a one-person desk and works
as it always has: nothing here refuses anything then.

Who manages the team: anyone, while no agent is an admin (so the first agent can be
added); once one is, only admins add, change or remove agents — but every agent may
mark themselves away and back.

Removing an agent keeps history: events, replies, notes and handling times keep their
name as text, and resolved conversations keep them as assignee. Their open
conversations are never unassigned silently: :func:`remove_agent` refuses while they
have some, unless told to hand them to another agent or unassign them (each change an
ordinary ``conversation.assigned`` event).

Imports only :mod:`~omnitui.desk.settings` and :mod:`~omnitui.desk.conversation_ops`
(assignment, tags) from the desk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import exists, func, literal
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from omnitui.desk import conversation_ops
from omnitui.desk.settings import ACK_AUTHOR, SURVEY_AUTHOR, SYSTEM_AUTHOR, DeskError, DeskSettings
from omnitui.sanitize import UNSAFE_FOR_OUTPUT
from storage import repository as repo
from storage.models import CHANNELS, Agent, Conversation, table_of

#: The longest agent name.
NAME_MAX = 64
#: The largest capacity (open conversations auto-assignment may give one agent).
CAPACITY_MAX = 100_000
#: The longest email address (RFC 5321's path limit).
EMAIL_MAX = 254
#: Names the desk itself writes as an event's actor or a message's author: an agent
#: called so could not be told apart from it.
RESERVED_NAMES: Final = frozenset({"system", "customer", SYSTEM_AUTHOR, ACK_AUTHOR, SURVEY_AUTHOR})
#: Statuses of a conversation someone still has to work on (removing its agent asks
#: where it goes).
OPEN_STATUSES = ("open", "pending", "snoozed")
#: Statuses that count against an agent's capacity (snoozed ones wait: they do not).
LOAD_STATUSES = ("open", "pending")

_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*")
_EMAIL_LOCAL = re.compile(r"[^\s@<>()\[\],;:\"\\]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_NO_CAP = ("none", "unlimited", "")


class AgentError(DeskError):
    """A team action that cannot be done; ``field`` names the value at fault (``name``,
    ``email``, ``channels``, ``tags``, ``languages``, ``capacity``) when it is bad input,
    and is empty when the store's state refuses it."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NotOnTeam(AgentError):
    """In team mode, the name a console or command runs as is not an agent."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"agent {name!r} is not on the team (omnitui agent list; set [agent] name or --agent)"
        )
        self.name = name


class NotAdmin(AgentError):
    """In team mode, an action only an admin agent may do."""

    def __init__(self, action: str) -> None:
        super().__init__(f"{action} needs an admin agent (omnitui agent set NAME --admin)")
        self.action = action


class StillAssigned(AgentError):
    """Removing an agent who still has open conversations, without saying where they go."""

    def __init__(self, name: str, count: int) -> None:
        super().__init__(
            f"{name} still has {count} open conversation{'s' if count != 1 else ''} "
            "assigned: give them to another agent or unassign them"
        )
        self.name = name
        self.count = count


# -- checking values ----------------------------------------------------------------
def clean_name(name: str) -> str:
    """An agent's name as stored: stripped; 1–64 characters, no control or bidi
    characters, not one of the names the desk writes itself."""
    value = name.strip()
    if not value:
        raise AgentError("an agent's name cannot be empty", "name")
    if UNSAFE_FOR_OUTPUT.search(value):
        raise AgentError(f"agent name {value!r} has control characters", "name")
    if len(value) > NAME_MAX:
        raise AgentError(
            f"agent name {value[:20]!r}… is {len(value)} characters long (at most {NAME_MAX})",
            "name",
        )
    if value.lower() in RESERVED_NAMES:
        raise AgentError(f"{value!r} is a name omnitui itself writes in the history", "name")
    return value


def clean_email(text: str) -> str:
    """A plain address (``alice@example.com``), or "" for none."""
    from email.utils import parseaddr

    value = text.strip()
    if not value:
        return ""
    _display, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if (
        address != value
        or not at
        or len(value) > EMAIL_MAX
        or UNSAFE_FOR_OUTPUT.search(value)
        or not _EMAIL_LOCAL.fullmatch(local)
        or not _EMAIL_DOMAIN.fullmatch(domain)
    ):
        raise AgentError(f"{text!r} is not an address like alice@example.com", "email")
    return f"{local}@{domain.lower()}"


def split_list(text: str) -> list[str]:
    """``a,b, c`` as ``["a", "b", "c"]`` (blanks dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def clean_channels(channels: Iterable[str]) -> list[str]:
    """Known channel names, lower case, without repeats; empty means any channel."""
    out: list[str] = []
    for raw in channels:
        channel = raw.strip().lower()
        if channel not in CHANNELS:
            raise AgentError(f"unknown channel {raw!r} (one of {', '.join(CHANNELS)})", "channels")
        if channel not in out:
            out.append(channel)
    return out


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags as conversations store them; empty means any tag."""
    try:
        return conversation_ops.clean_tags(tags)
    except ValueError as exc:
        raise AgentError(str(exc), "tags") from None


def clean_languages(languages: Iterable[str]) -> list[str]:
    """Short BCP 47 codes (``en``, ``pt-br``, ``zh-hant``), lower case, without repeats;
    empty means any language."""
    out: list[str] = []
    for raw in languages:
        code = raw.strip().lower().replace("_", "-")
        if not _LANGUAGE.fullmatch(code) or len(code) > 35:
            raise AgentError(
                f"{raw!r} is not a language code like en, pt-br or zh-hant", "languages"
            )
        if code not in out:
            out.append(code)
    return out


def parse_capacity(text: str) -> int | None:
    """``N`` (0 or more open conversations from auto-assignment) or ``none`` (no cap)."""
    value = text.strip().lower()
    if value in _NO_CAP:
        return None
    if not (value.isascii() and value.isdigit()):
        raise AgentError(
            f"{text!r} is not a number of conversations (0 or more) or none", "capacity"
        )
    number = int(value)
    if number > CAPACITY_MAX:
        raise AgentError(f"{number} is more than {CAPACITY_MAX}; use none for no cap", "capacity")
    return number


# -- who runs this ---------------------------------------------------------------------
@dataclass(frozen=True)
class Membership:
    """What the store says of one name: is there a team, and is the name on it."""

    name: str
    team: bool
    member: bool
    admin: bool


def membership(s: Session, name: str) -> Membership:
    """Team mode, and whether ``name`` is an agent and an admin: one query."""
    agent = table_of(Agent)
    row = (
        s.connection()
        .execute(
            sa_select(
                exists(sa_select(literal(1)).select_from(agent)),
                sa_select(agent.c.admin).where(agent.c.name == name).scalar_subquery(),
            )
        )
        .one()
    )
    team, admin = bool(row[0]), row[1]
    return Membership(name=name, team=team, member=admin is not None, admin=bool(admin))


def team_mode(s: Session) -> bool:
    """Whether the store has agents (team mode)."""
    return membership(s, "").team


def check_member(s: Session, name: str) -> Membership:
    """In team mode, ``name`` must be an agent (:class:`NotOnTeam`); a store without
    agents lets anyone through."""
    found = membership(s, name)
    if found.team and not found.member:
        raise NotOnTeam(name)
    return found


def require_admin(s: Session, name: str, action: str) -> None:
    """In team mode, ``name`` must be an admin agent to do ``action`` (e.g. "customer
    merge"): :class:`NotOnTeam` or :class:`NotAdmin`. Without a team: nothing."""
    found = check_member(s, name)
    if found.team and not found.admin:
        raise NotAdmin(action)


def may_manage(s: Session, actor: str, *, target: str, only_away: bool) -> None:
    """Whether ``actor`` may change the team: anyone while no agent is an admin, then
    only admins — except an agent marking themselves away or back."""
    if only_away and actor == target and membership(s, actor).member:
        return
    admins = s.exec(select(func.count()).select_from(Agent).where(col(Agent.admin))).one()
    if admins == 0:
        return
    found = membership(s, actor)
    if not found.member:
        raise NotOnTeam(actor)
    if not found.admin:
        raise NotAdmin("changing the team")


# -- the team ----------------------------------------------------------------------------
def get_agent(s: Session, name: str) -> Agent:
    """The agent named ``name`` (:class:`AgentError` when there is none)."""
    agent = s.get(Agent, name.strip())
    if agent is None:
        raise AgentError(f"no agent {name.strip()!r} (omnitui agent list)")
    return agent


def list_agents(s: Session) -> list[Agent]:
    """Every agent, by name."""
    return list(s.exec(select(Agent).order_by(col(Agent.name))).all())


def loads(s: Session) -> dict[str, int]:
    """Each assignee's load: their open and pending conversations (what ``capacity``
    caps)."""
    rows = s.exec(
        select(Conversation.assignee, func.count())
        .where(
            col(Conversation.assignee).is_not(None),
            col(Conversation.status).in_(LOAD_STATUSES),
        )
        .group_by(col(Conversation.assignee))
    ).all()
    return {name: int(n) for name, n in rows if name is not None}


def add_agent(
    s: Session,
    name: str,
    *,
    actor: str,
    email: str = "",
    channels: Sequence[str] = (),
    tags: Sequence[str] = (),
    languages: Sequence[str] = (),
    capacity: int | None = None,
    vip: bool = False,
    admin: bool = False,
) -> Agent:
    """Add an agent (values checked as by the ``clean_*`` functions); one
    ``agent.added`` event by ``actor``."""
    name = clean_name(name)
    _check_capacity(capacity)
    agent = Agent(
        name=name,
        email=clean_email(email),
        channels=clean_channels(channels),
        tags=clean_tags(tags),
        languages=clean_languages(languages),
        capacity=capacity,
        vip=vip,
        admin=admin,
    )
    may_manage(s, actor, target=name, only_away=False)
    if s.get(Agent, name) is not None:
        raise AgentError(f"agent {name!r} is already on the team (omnitui agent set)")
    s.add(agent)
    s.flush()
    repo.log_event(s, "agent.added", actor=actor, detail={"agent": name, **_shown(agent)})
    return agent


class _Keep:
    """Leave as it is: for :func:`set_agent`'s ``capacity`` (where None means no cap)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


def set_agent(
    s: Session,
    name: str,
    *,
    actor: str,
    email: str | None = None,
    channels: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    capacity: int | None | _Keep = KEEP,
    vip: bool | None = None,
    admin: bool | None = None,
    away: bool | None = None,
) -> dict[str, Any]:
    """Change what is given (None, or :data:`KEEP` for ``capacity``: unchanged); one
    ``agent.changed`` event by ``actor`` with the old and new values. Returns the
    changed fields' new values (empty: nothing changed)."""
    wanted: dict[str, Any] = {}
    if email is not None:
        wanted["email"] = clean_email(email)
    if channels is not None:
        wanted["channels"] = clean_channels(channels)
    if tags is not None:
        wanted["tags"] = clean_tags(tags)
    if languages is not None:
        wanted["languages"] = clean_languages(languages)
    if not isinstance(capacity, _Keep):
        _check_capacity(capacity)
        wanted["capacity"] = capacity
    for key, flag in (("vip", vip), ("admin", admin), ("away", away)):
        if flag is not None:
            wanted[key] = flag
    agent = get_agent(s, name)
    may_manage(s, actor, target=agent.name, only_away=set(wanted) <= {"away"})
    changed = {k: v for k, v in wanted.items() if getattr(agent, k) != v}
    if not changed:
        return {}
    before = {k: getattr(agent, k) for k in changed}
    for key, value in changed.items():
        setattr(agent, key, value)
    s.add(agent)
    s.flush()
    repo.log_event(
        s,
        "agent.changed",
        actor=actor,
        detail={"agent": agent.name, "from": before, "to": changed},
    )
    return changed


def remove_agent(
    settings: DeskSettings,
    s: Session,
    name: str,
    *,
    reassign: str | None = None,
    unassign: bool = False,
) -> int:
    """Remove an agent; their history stays. Their open conversations go to the agent
    ``reassign``, or are unassigned with ``unassign``; with neither, any open
    conversation still assigned to them is :class:`StillAssigned`. Each moved
    conversation is a ``conversation.assigned`` event, the removal an ``agent.removed``
    event, all by ``settings.agent``. Returns how many conversations moved."""
    agent = get_agent(s, name)
    if reassign is not None and unassign:
        raise AgentError(
            "either hand the conversations to an agent or unassign them, not both", "reassign"
        )
    may_manage(s, settings.agent, target=agent.name, only_away=False)
    target: str | None = None
    if reassign is not None:
        target = get_agent(s, reassign).name
        if target == agent.name:
            raise AgentError(
                f"cannot hand {agent.name}'s conversations to {agent.name}", "reassign"
            )
    assigned = list(
        s.exec(
            select(Conversation)
            .where(
                Conversation.assignee == agent.name,
                col(Conversation.status).in_(OPEN_STATUSES),
            )
            .order_by(col(Conversation.id))
        ).all()
    )
    if assigned and target is None and not unassign:
        raise StillAssigned(agent.name, len(assigned))
    for conv in assigned:
        conversation_ops.assign(settings, s, conv, target)
    s.delete(agent)
    s.flush()
    repo.log_event(
        s,
        "agent.removed",
        actor=settings.agent,
        detail={"agent": agent.name, "moved": len(assigned), "to": target},
    )
    return len(assigned)


def _check_capacity(capacity: int | None) -> None:
    if capacity is not None and not 0 <= capacity <= CAPACITY_MAX:
        raise AgentError(f"{capacity} is not 0 to {CAPACITY_MAX} (or none)", "capacity")


def _shown(agent: Agent) -> dict[str, Any]:
    """An agent's settings as an event's detail."""
    return {
        "email": agent.email,
        "channels": list(agent.channels),
        "tags": list(agent.tags),
        "languages": list(agent.languages),
        "capacity": agent.capacity,
        "vip": agent.vip,
        "admin": agent.admin,
    }

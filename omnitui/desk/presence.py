"""Who else has a conversation open (team mode): each console says which conversation
it shows and whether its agent is typing a reply there, and keeps saying so with a
heartbeat; a row not refreshed for :data:`FRESH` is gone (a console that was killed).
The heartbeat also stamps the agent's ``last_seen_at``, which auto-assignment reads to
tell an agent who is away."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, delete, select, update
from sqlmodel import Session, col

from storage.models import Agent, Presence, table_of
from storage.types import utcnow

#: How often a console refreshes its presence (seconds).
HEARTBEAT_SECONDS = 30
#: A presence older than this is not shown (a console that ended without saying so).
FRESH = timedelta(seconds=90)
STATES = ("viewing", "typing")


@dataclass(frozen=True)
class Watcher:
    """Another agent on a conversation: who, and ``viewing`` or ``typing``."""

    agent: str
    state: str


def show(s: Session, agent: str, conversation_id: int, state: str = "viewing") -> None:
    """``agent``'s console shows the conversation (``typing``: a reply is being
    written); any other conversation it showed is left."""
    state = state if state in STATES else "viewing"
    now = utcnow()
    table = table_of(Presence)
    s.execute(
        delete(table).where(table.c.agent == agent, table.c.conversation_id != conversation_id)
    )
    values = {"agent": agent, "conversation_id": conversation_id, "state": state, "seen_at": now}
    # Imported here: the console loads this module at start, and only one is needed.
    keys, changes = ["agent", "conversation_id"], {"state": state, "seen_at": now}
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        upsert: Any = pg_insert(table).values(**values)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        upsert = sqlite_insert(table).values(**values)
    s.execute(upsert.on_conflict_do_update(index_elements=keys, set_=changes))


def leave(s: Session, agent: str) -> None:
    """``agent``'s console shows no conversation any more."""
    s.execute(delete(table_of(Presence)).where(table_of(Presence).c.agent == agent))


def heartbeat(s: Session, agent: str) -> None:
    """Keep ``agent``'s presence fresh and stamp them as seen (their console is open)."""
    now = utcnow()
    s.execute(
        update(table_of(Presence)).where(table_of(Presence).c.agent == agent).values(seen_at=now)
    )
    s.execute(
        update(table_of(Agent)).where(table_of(Agent).c.name == agent).values(last_seen_at=now)
    )


def watchers(
    conn: Connection | Session, me: str, now: datetime | None = None
) -> dict[int, tuple[Watcher, ...]]:
    """The other agents on each conversation right now (fresh rows only), by id."""
    since = (now or utcnow()) - FRESH
    rows = conn.execute(
        select(col(Presence.conversation_id), col(Presence.agent), col(Presence.state))
        .where(col(Presence.seen_at) >= since, col(Presence.agent) != me)
        .order_by(col(Presence.agent))
    ).all()
    found: dict[int, list[Watcher]] = {}
    for cid, agent, state in rows:
        found.setdefault(cast(int, cid), []).append(Watcher(agent, state))
    return {cid: tuple(ws) for cid, ws in found.items()}


def describe(ws: tuple[Watcher, ...]) -> str:
    """``sam is viewing · ana is typing a reply`` (plain text, names as stored)."""
    return " · ".join(
        f"{w.agent} is typing a reply" if w.state == "typing" else f"{w.agent} is viewing"
        for w in ws
    )

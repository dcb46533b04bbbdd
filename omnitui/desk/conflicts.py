"""Two agents, one conversation: optimistic concurrency on ``conversation.version``.

Every ORM flush of a changed :class:`~storage.models.Conversation` is ``UPDATE … WHERE
id = ? AND version = ?`` (``version_id_col``), so a write computed from a row another
writer changed since raises ``StaleDataError`` instead of overwriting it. On top of that,
an agent's action carries the version the agent *saw* (the inbox row, the open
conversation, the dialog): :func:`expect` refuses the action when the row moved on since,
before anything is written. Both become one :class:`ConversationChanged` line naming what
changed (:func:`changed`), and nothing of the action is kept.

Which writes move the version, and which do not (so they never make another agent's
action fail):

- **an agent's decision** — status, resolve, snooze, priority, tags, assignment, reply,
  note, merge (both sides: :func:`claim` takes them first), split, undo, VIP (its
  clocks): the ORM flush, version + 1;
- **ingest** (a customer's message): the ORM flush, version + 1; a race is a
  ``StaleDataError`` that ``storage.errors.is_transient`` calls transient, so the sync
  rolls the step back and runs it again on the fresh rows;
- **customer merge** (``customer_id`` by a Core UPDATE): ``version = version + 1``;
- **snooze wake-up** (:func:`omnitui.desk.lifecycle.wake_due`): version + 1, but by an
  UPDATE guarded on the version it read, so a conversation an agent changes at that
  moment is left to the agent (and woken next time if still due), never an error;
- **mark read** (:func:`omnitui.desk.conversation_ops.mark_read`): a Core UPDATE of
  ``unread`` alone, version untouched: opening a conversation is nobody's decision;
- **urgency refresh and recount**: never written alone, always inside one of the writes
  above (they recompute columns of a row that write changes anyway);
- **acknowledgement dropped, survey dropped** at send time (the sync): the ORM flush,
  version + 1 (the message count changes);
- drafts, presence, handling time, the outbox, events: other tables, no version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from omnitui.desk.settings import ACK_AUTHOR, SURVEY_AUTHOR, WorkflowError
from omnitui.sanitize import clean_line
from storage.models import Conversation, Event, RefAlias, table_of
from storage.types import utcnow

_C = table_of(Conversation).c
_E = table_of(Event).c

#: Events that come with a change of the conversation row (the newest one is named).
_CHANGE_KINDS = (
    "conversation.status",
    "conversation.assigned",
    "conversation.priority",
    "conversation.tags",
    "conversation.merged",
    "conversation.split",
    "conversation.note",
    "conversation.undone",
    "conversation.routed",
    "outbox.queued",
    "outbox.withdrawn",
)
#: Customer events that change their conversations too (customer id, clocks).
_CUSTOMER_KINDS = ("customer.merged", "customer.vip")


class ConversationChanged(WorkflowError):
    """The conversation changed since the agent saw it (another agent, the customer, a
    snooze ending): nothing of the action was applied. ``summary`` says what changed,
    e.g. ``C-1042 changed meanwhile: sam resolved it 4 s ago``; ``merged_into``: the id
    of the conversation it was merged into, when it is gone."""

    def __init__(
        self, summary: str, conversation_id: int | None = None, merged_into: int | None = None
    ) -> None:
        self.summary = summary
        self.conversation_id = conversation_id
        self.merged_into = merged_into
        super().__init__(f"{summary} — nothing was applied; run it again to apply yours")

    def console_line(self) -> str:
        """The console's words: it reloads what the agent sees at once."""
        return f"{self.summary} — reloaded; press again to apply yours"


def expect(s: Session, conv: Conversation, expected: int | None, *, me: str = "") -> None:
    """Refuse an action on ``conv`` (loaded in ``s``) when the agent saw another version
    of it (``expected``; None: no check)."""
    if expected is not None and conv.version != expected:
        assert conv.id is not None  # a stored row
        raise changed(s, conv.id, ref=conv.ref, me=me)


def claim(s: Session, *convs: Conversation) -> None:
    """Take ``convs`` for this transaction before changing anything else: their version
    moves on now, by the guarded UPDATE, in id order (two merges of the same pair never
    wait on each other). Raises ``StaleDataError`` when one changed since it was read
    (or waits, on PostgreSQL, for a writer holding it, then raises)."""
    for conv in sorted(convs, key=lambda c: c.id or 0):
        conv.version = conv.version + 1
    s.flush()


def changed(
    s: Session,
    conversation_id: int,
    *,
    ref: str | None = None,
    me: str = "",
    now: datetime | None = None,
) -> ConversationChanged:
    """The :class:`ConversationChanged` for ``conversation_id`` as it is now: the newest
    change (who, what, how long ago), or where it went when it was merged away. Reads
    with Core, so stale objects in ``s`` do not matter."""
    now = now or utcnow()
    row = s.execute(
        select(_C.ref, _C.customer_id, _C.status, _C.assignee, _C.last_inbound_at).where(
            _C.id == conversation_id
        )
    ).first()
    if row is None:
        return _gone(s, conversation_id, ref, me, now)
    shown = row.ref or ref or "the conversation"
    event = s.execute(
        select(_E.actor, _E.kind, _E.at, _E.detail)
        .where(
            or_(
                (_E.conversation_id == conversation_id) & _E.kind.in_(_CHANGE_KINDS),
                (_E.customer_id == row.customer_id) & _E.kind.in_(_CUSTOMER_KINDS),
            )
        )
        .order_by(_E.at.desc(), _E.id.desc())
        .limit(1)
    ).first()
    wrote = row.last_inbound_at
    if wrote is not None and (event is None or wrote > event.at):
        what = f"the customer wrote {_ago(wrote, now)}"
    elif event is not None and _woken(event.actor, event.kind, event.detail):
        what = f"its snooze ended {_ago(event.at, now)}"
    elif event is not None:
        what = f"{_who(event.actor, me)} {_did(event.kind, event.detail)} {_ago(event.at, now)}"
    else:
        what = f"now {row.status}" + (f", assigned to {row.assignee}" if row.assignee else "")
    return ConversationChanged(
        clean_line(f"{shown} changed meanwhile: {what}", 200), conversation_id
    )


def _gone(
    s: Session, conversation_id: int, ref: str | None, me: str, now: datetime
) -> ConversationChanged:
    """A conversation that no longer exists: where it went (merged into another)."""
    alias = s.execute(
        select(table_of(RefAlias).c.conversation_id).where(table_of(RefAlias).c.ref == ref)
    ).first()
    if ref is None or alias is None or alias.conversation_id is None:
        return ConversationChanged(f"{ref or 'the conversation'} no longer exists", conversation_id)
    into = s.execute(select(_C.ref).where(_C.id == alias.conversation_id)).scalar()
    merged = s.execute(
        select(_E.actor, _E.at, _E.detail)
        .where(_E.conversation_id == alias.conversation_id, _E.kind == "conversation.merged")
        .order_by(_E.at.desc(), _E.id.desc())
    ).all()
    by = next((e for e in merged if (e.detail or {}).get("from") == ref), None)
    text = f"{ref} was merged into {into}"
    if by is not None:
        text += f" by {_who(by.actor, me)} {_ago(by.at, now)}"
    return ConversationChanged(clean_line(text, 200), conversation_id, alias.conversation_id)


def _woken(actor: str, kind: str, detail: Any) -> bool:
    """Whether an event is a snooze running out (:func:`omnitui.desk.lifecycle.wake_due`)."""
    detail = detail if isinstance(detail, dict) else {}
    return actor == "system" and kind == "conversation.status" and detail.get("from") == "snoozed"


def _who(actor: str, me: str) -> str:
    if actor == me and me:
        return "you"
    if actor == "customer":
        return "the customer"
    if actor in ("system", ACK_AUTHOR, SURVEY_AUTHOR):
        return "omnitui"
    return actor


def _did(kind: str, detail: Any) -> str:
    """What an event did to the conversation, as a short phrase."""
    detail = detail if isinstance(detail, dict) else {}
    to = detail.get("to")
    if kind == "conversation.status":
        return {
            "resolved": "resolved it",
            "pending": "set it pending",
            "snoozed": "snoozed it",
        }.get(str(to), "reopened it" if detail.get("from") == "resolved" else "opened it")
    if kind == "conversation.assigned":
        return f"assigned it to {to}" if to else "unassigned it"
    if kind == "conversation.priority":
        return f"set its priority to {to}"
    if kind == "conversation.tags":
        return "changed its tags"
    if kind == "conversation.merged":
        return f"merged {detail.get('from', 'another conversation')} into it"
    if kind == "conversation.split":
        return "split a message out of it"
    if kind == "conversation.note":
        return "added a note"
    if kind == "conversation.undone":
        return f"undid a {detail.get('action', 'change')}"
    if kind == "outbox.queued":
        return "queued a reply"
    if kind == "outbox.withdrawn":
        return "withdrew a reply"
    if kind == "customer.merged":
        return "merged its customer with another"
    if kind == "customer.vip":
        return "changed its customer's VIP flag"
    return "changed it"


def _ago(when: datetime, now: datetime) -> str:
    seconds = max(int((now - when).total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"

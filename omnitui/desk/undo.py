"""Undo for the quick conversation actions (resolve, snooze, pending, priority, tags,
assignment): the fields an action changed are remembered before and after it, and
undoing puts the "before" back — only while the conversation still looks exactly as
the action left it, so an undo never overwrites what a customer or another agent did
since. The fields are compared rather than ``conversation.version``: a change that
leaves them alone (a note, another reply's count) does not block the undo. The write
itself is guarded by the version like any other (:mod:`omnitui.desk.conflicts`): a
change landing between the check and the write is a ``StaleDataError`` and nothing is
undone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from omnitui.desk import clocks
from omnitui.errors import OmnituiError
from storage import repository as repo
from storage.models import Conversation

#: The conversation fields the quick actions change (and undo restores).
FIELDS = (
    "status",
    "priority",
    "assignee",
    "tags",
    "snoozed_until",
    "paused_at",
    "first_response_due",
    "next_response_due",
    "resolution_due",
    "resolved_at",
)
#: How many actions the console can take back, newest first.
DEPTH = 20


class UndoError(OmnituiError, ValueError):
    """Nothing to undo, or the conversation changed since."""


@dataclass(frozen=True)
class UndoStep:
    """One action that can be taken back."""

    conversation_id: int
    ref: str
    label: str  # "resolve", "snooze", "tags", …
    before: dict[str, Any]
    after: dict[str, Any]


def snapshot(conv: Conversation) -> dict[str, Any]:
    """The undoable fields of ``conv`` as they are now."""
    values = {name: getattr(conv, name) for name in FIELDS}
    values["tags"] = list(values["tags"] or [])
    return values


def step(conv: Conversation, label: str, before: dict[str, Any]) -> UndoStep | None:
    """The undo step of an action that turned ``before`` into ``conv``'s current fields;
    None when it changed nothing."""
    after = snapshot(conv)
    if after == before or conv.id is None:
        return None
    return UndoStep(conv.id, conv.ref or "", label, before, after)


def undo(s: Session, item: UndoStep, *, actor: str) -> Conversation:
    """Put back what ``item`` changed, logging a ``conversation.undone`` event."""
    conv = s.get(Conversation, item.conversation_id)
    if conv is None:
        raise UndoError(f"{item.ref} no longer exists; nothing undone")
    if not _same(snapshot(conv), item.after):
        raise UndoError(f"{item.ref} changed since the {item.label}; nothing undone")
    for name, value in item.before.items():
        setattr(conv, name, list(value) if name == "tags" else value)
    clocks.refresh_urgency(conv)
    s.add(conv)
    repo.log_event(
        s,
        "conversation.undone",
        actor=actor,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        detail={
            "action": item.label,
            "restored": {k: _plain(v) for k, v in item.before.items() if item.after[k] != v},
        },
    )
    return conv


def _same(now: dict[str, Any], then: dict[str, Any]) -> bool:
    return all(_plain(now[k]) == _plain(then[k]) for k in FIELDS)


def _plain(value: Any) -> Any:
    """A value as JSON keeps it (times as ISO 8601, to the second)."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    return value

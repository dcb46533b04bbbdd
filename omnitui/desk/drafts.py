"""Drafts kept in the store: the unsent reply or note of each conversation, saved as
the agent types, so closing the composer, resolving, quitting, a restart or a crash
never loses one. The console writes them (``omnitui.ui.draft_saver``); the inbox marks
conversations that have one; quitting lists them first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage.models import Conversation, Draft
from storage.types import utcnow

#: The modes a draft can be written in.
MODES = ("reply", "note")


@dataclass(frozen=True)
class DraftText:
    """A stored draft: what it is for and its text."""

    conversation_id: int
    mode: str
    body: str
    updated_at: datetime


@dataclass(frozen=True)
class UnsentDraft:
    """One line of the list shown before quitting."""

    conversation_id: int
    ref: str
    mode: str
    chars: int


def save(s: Session, conversation_id: int, mode: str, body: str, author: str) -> None:
    """Keep ``body`` as the conversation's draft; a blank body removes it."""
    if not body.strip():
        discard(s, conversation_id)
        return
    mode = mode if mode in MODES else "reply"
    draft = s.get(Draft, conversation_id)
    if draft is None:
        s.add(
            Draft(
                conversation_id=conversation_id,
                mode=mode,
                body=body,
                author=author,
                updated_at=utcnow(),
            )
        )
    else:
        draft.mode, draft.body, draft.author, draft.updated_at = mode, body, author, utcnow()
        s.add(draft)


def save_now(engine: Engine, conversation_id: int, mode: str, body: str, author: str) -> bool:
    """Save in a transaction of its own; False when the conversation is gone (merged
    away or forgotten meanwhile)."""
    try:
        with Session(engine) as s:
            save(s, conversation_id, mode, body, author)
            s.commit()
    except IntegrityError:
        return False
    return True


def discard(s: Session, conversation_id: int) -> None:
    """Remove the conversation's draft (it was sent, or the agent threw it away)."""
    s.exec(delete(Draft).where(col(Draft.conversation_id) == conversation_id))


def load(engine: Engine, conversation_id: int) -> DraftText | None:
    """The conversation's draft, if it has one."""
    with engine.connect() as conn:
        row = conn.execute(
            select(col(Draft.mode), col(Draft.body), col(Draft.updated_at)).where(
                col(Draft.conversation_id) == conversation_id
            )
        ).first()
    if row is None:
        return None
    return DraftText(conversation_id, row.mode, row.body, row.updated_at)


def unsent(engine: Engine, limit: int = 20) -> tuple[int, list[UnsentDraft]]:
    """How many drafts are waiting, and the newest ``limit`` of them with their
    conversation's reference."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                col(Draft.conversation_id),
                col(Conversation.ref),
                col(Draft.mode),
                col(Draft.body),
            )
            .join(Conversation, col(Conversation.id) == col(Draft.conversation_id))
            .order_by(col(Draft.updated_at).desc())
        ).all()
    # ``conversation_id`` is the primary key: never NULL (the model types it optional).
    items = [UnsentDraft(cast(int, r[0]), r[1] or "", r[2], len(r[3])) for r in rows[:limit]]
    return len(rows), items

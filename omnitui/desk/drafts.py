"""Drafts kept in the store: the unsent reply or note of each conversation and agent,
saved as the agent types, so closing the composer, resolving, quitting, a restart or a
crash never loses one, and two agents drafting in one conversation never overwrite each
other. The console writes them (``omnitui.ui.draft_saver``); the inbox marks
conversations that have one; quitting lists the agent's own first. A draft remembers
the newest message when it began, so the reply can say what happened since
(:func:`changes_since`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage.models import Conversation, Draft, Message
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


def newest_message_id(s: Session, conversation_id: int) -> int | None:
    """The id of the conversation's newest stored message (None when it has none)."""
    return s.execute(
        select(func.max(col(Message.id))).where(col(Message.conversation_id) == conversation_id)
    ).scalar()


def save(s: Session, conversation_id: int, mode: str, body: str, author: str) -> None:
    """Keep ``body`` as ``author``'s draft of the conversation; a blank body removes it.
    A new draft records when it began and the newest message it was written after."""
    if not body.strip():
        discard(s, conversation_id, author)
        return
    mode = mode if mode in MODES else "reply"
    draft = s.get(Draft, (conversation_id, author))
    now = utcnow()
    if draft is None:
        s.add(
            Draft(
                conversation_id=conversation_id,
                mode=mode,
                body=body,
                author=author,
                updated_at=now,
                began_at=now,
                base_message_id=newest_message_id(s, conversation_id),
            )
        )
    else:
        draft.mode, draft.body, draft.updated_at = mode, body, now
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


def discard(s: Session, conversation_id: int, author: str) -> None:
    """Remove ``author``'s draft of the conversation (sent, or thrown away)."""
    s.exec(
        delete(Draft).where(
            col(Draft.conversation_id) == conversation_id, col(Draft.author) == author
        )
    )


def load(engine: Engine, conversation_id: int, author: str) -> DraftText | None:
    """``author``'s draft of the conversation, if there is one."""
    with engine.connect() as conn:
        row = conn.execute(
            select(col(Draft.mode), col(Draft.body), col(Draft.updated_at)).where(
                col(Draft.conversation_id) == conversation_id, col(Draft.author) == author
            )
        ).first()
    if row is None:
        return None
    return DraftText(conversation_id, row.mode, row.body, row.updated_at)


def unsent(engine: Engine, author: str, limit: int = 20) -> tuple[int, list[UnsentDraft]]:
    """How many of ``author``'s drafts are waiting, and the newest ``limit`` of them with
    their conversation's reference."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                col(Draft.conversation_id),
                col(Conversation.ref),
                col(Draft.mode),
                col(Draft.body),
            )
            .join(Conversation, col(Conversation.id) == col(Draft.conversation_id))
            .where(col(Draft.author) == author)
            .order_by(col(Draft.updated_at).desc())
        ).all()
    # ``conversation_id`` is the primary key: never NULL (the model types it optional).
    items = [UnsentDraft(cast(int, r[0]), r[1] or "", r[2], len(r[3])) for r in rows[:limit]]
    return len(rows), items

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
    #: The newest message of the conversation when the draft began.
    base_message_id: int | None = None


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


def save(
    s: Session,
    conversation_id: int,
    mode: str,
    body: str,
    author: str,
    base_message_id: int | None = None,
) -> None:
    """Keep ``body`` as ``author``'s draft of the conversation; a blank body removes it.
    A new draft records when it began and the newest message it was written after
    (``base_message_id``: the newest the agent had on screen; else the newest stored)."""
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
                base_message_id=base_message_id
                if base_message_id is not None
                else newest_message_id(s, conversation_id),
            )
        )
    else:
        draft.mode, draft.body, draft.updated_at = mode, body, now
        if base_message_id is not None:
            draft.base_message_id = base_message_id
        s.add(draft)


def save_now(
    engine: Engine,
    conversation_id: int,
    mode: str,
    body: str,
    author: str,
    base_message_id: int | None = None,
) -> bool:
    """Save in a transaction of its own; False when the conversation is gone (merged
    away or forgotten meanwhile)."""
    try:
        with Session(engine) as s:
            save(s, conversation_id, mode, body, author, base_message_id)
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
            select(
                col(Draft.mode), col(Draft.body), col(Draft.updated_at), col(Draft.base_message_id)
            ).where(col(Draft.conversation_id) == conversation_id, col(Draft.author) == author)
        ).first()
    if row is None:
        return None
    return DraftText(conversation_id, row.mode, row.body, row.updated_at, row.base_message_id)


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


@dataclass(frozen=True)
class SinceDraft:
    """A message that came after a draft began: the customer's, or another agent's."""

    who: str
    direction: str
    at: datetime
    text: str


def changes_since(
    s: Session, conversation_id: int, author: str, after_message_id: int | None
) -> list[SinceDraft]:
    """What happened in the conversation after message ``after_message_id`` (the newest
    the agent had seen when their draft began): the customer wrote, another agent
    replied or added a note. Empty when nothing did (or nothing is known to compare)."""
    if after_message_id is None:
        return []
    rows = s.execute(
        select(
            col(Message.direction),
            col(Message.author),
            col(Message.from_addr),
            col(Message.sent_at),
            col(Message.text),
        )
        .where(
            col(Message.conversation_id) == conversation_id,
            col(Message.id) > after_message_id,
        )
        .order_by(col(Message.id))
        .limit(50)
    ).all()
    found = []
    for direction, who, sender, at, text in rows:
        if direction != "in" and who == author:
            continue  # the agent's own earlier reply or note
        name = "the customer" if direction == "in" else (who or "another agent")
        first = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
        if direction == "in" and sender:
            name = f"{name} ({sender})"
        found.append(SinceDraft(name, direction, at, first[:120]))
    return found

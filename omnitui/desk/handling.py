"""Handling time in the store: one ``Handling`` row per stretch an agent actively had
a conversation open in the console (the stretches come from
``omnitui.ui.handling_tracker``).

A stretch still running is flushed again and again (at least once a minute, so a crash
loses at most that): each flush names the stretch by its conversation, agent and start,
and updates that row instead of adding one. The caller commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from storage.models import Conversation, Handling


def record_handling(
    session: Session, conversation_id: int, agent: str, started_at: datetime, seconds: float
) -> bool:
    """Record (or extend) the stretch of ``agent`` on a conversation that began at
    ``started_at`` and has lasted ``seconds``. False when there is nothing to record:
    no time, or the conversation is gone (merged away, erased)."""
    if seconds <= 0 or session.get(Conversation, conversation_id) is None:
        return False
    row = session.exec(
        select(Handling).where(
            Handling.conversation_id == conversation_id,
            Handling.agent == agent,
            Handling.started_at == started_at,
        )
    ).first()
    if row is None:
        session.add(
            Handling(
                conversation_id=conversation_id,
                agent=agent,
                started_at=started_at,
                seconds=seconds,
            )
        )
    elif seconds > row.seconds:
        row.seconds = seconds
    return True

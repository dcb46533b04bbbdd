"""Satisfaction surveys (``[csat]``): queued when a conversation is resolved, dropped
when it opens again before they go, answered by the customer's next message.

- :func:`after_resolve` queues the survey through the outbox on the conversation's
  own account and channel (author :data:`SURVEY_AUTHOR`), unless :func:`skip_reason`
  says why not; either way an event (``csat.sent`` / ``csat.skipped``) records it.
- :func:`still_wanted` is asked by the sync just before sending: a conversation no
  longer resolved (the customer wrote, an undo) drops the survey and its row.
- :func:`open_surveys` and :func:`record_answers` are ingest's load and write steps
  for answers; which message answers is decided in :mod:`omnitui.desk.ingest_plan`
  with :func:`omnitui.desk.survey_answers.read_answer`.

A survey that fails to send stays recorded: the outbox shows the failure, and it
cannot be answered (only delivered surveys are). Every function leaves the commit to
the caller. Rules: docs/CSAT.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from adapters.base import ReplyWindow
from omnitui.desk import reply_windows
from omnitui.desk.conversation_ops import recount
from omnitui.desk.outbox import queue_out
from omnitui.desk.records import SurveyRecord
from omnitui.desk.settings import (
    ACK_AUTHOR,
    AUTO_TAG,
    SURVEY_AUTHOR,
    SYSTEM_AUTHOR,
    DeskSettings,
)
from omnitui.desk.survey_answers import Answer
from storage import repository as repo
from storage.models import Conversation, Message, Outbox, Survey
from storage.types import utcnow

#: Authors of ``out`` messages that are not an agent's reply (nothing to rate).
NOT_AGENTS = (ACK_AUTHOR, SURVEY_AUTHOR, SYSTEM_AUTHOR)


def after_resolve(
    settings: DeskSettings, s: Session, conv: Conversation, at: datetime
) -> Survey | None:
    """Queue the survey of a conversation just resolved, when ``[csat]`` has one for
    its channel and nothing rules it out; returns its row."""
    text = settings.csat.text_for(conv.channel)
    if text is None:
        return None
    window = reply_windows.window_for(settings.accounts, s, conv, at)
    reason = skip_reason(settings, s, conv, at, window)
    if reason is not None:
        _event(s, "csat.skipped", conv, at, {"reason": reason})
        return None
    item = queue_out(s, conv, text, SURVEY_AUTHOR, at)
    if window.until is not None:  # the sync checks it again before each attempt
        item.send_options = {"window_until": window.until.astimezone(UTC).isoformat()}
    survey = record_survey(s, conv, item, at)
    _event(s, "csat.sent", conv, at, {"survey_id": survey.id, "outbox_id": item.id})
    return survey


def record_survey(s: Session, conv: Conversation, item: Outbox, at: datetime) -> Survey:
    """The ``Survey`` row of a survey queued as ``item`` on ``conv`` (flushed: its id
    is known)."""
    survey = Survey(
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        account=conv.account,
        channel=conv.channel,
        outbox_id=item.id,
        sent_at=at,
    )
    s.add(survey)
    s.flush()
    return survey


def skip_reason(
    settings: DeskSettings, s: Session, conv: Conversation, at: datetime, window: ReplyWindow
) -> str | None:
    """Why the conversation gets no survey now, or None: auto-generated mail, our own
    address, no agent reply, a recent survey of the customer, a closed reply window."""
    if AUTO_TAG in (conv.tags or []):
        return "auto-generated sender"
    last_from = s.exec(
        select(Message.from_addr)
        .where(Message.conversation_id == conv.id, Message.direction == "in")
        .order_by(col(Message.sent_at).desc(), col(Message.id).desc())
        .limit(1)
    ).first()
    if last_from is None:
        return "no customer message"
    if last_from.strip().lower() in settings.own_addresses:
        return "our own address"
    replied = s.exec(
        select(Message.id)
        .where(
            Message.conversation_id == conv.id,
            Message.direction == "out",
            col(Message.author).not_in(NOT_AGENTS),
        )
        .limit(1)
    ).first()
    if replied is None:
        return "no agent reply"
    every = settings.csat.every
    if every is not None and conv.customer_id is not None:
        recent = s.exec(
            select(Survey.id)
            .where(Survey.customer_id == conv.customer_id, col(Survey.sent_at) > at - every)
            .limit(1)
        ).first()
        if recent is not None:
            return f"surveyed within {every.days} days"
    if not window.allows_text or window.tag or window.remaining == 0:
        # A tag (Messenger's HUMAN_AGENT) is for a person's reply, never a survey.
        return "reply window closed"
    return None


def is_survey(item: Outbox) -> bool:
    """Whether an outbox item is a survey."""
    return item.author == SURVEY_AUTHOR


def still_wanted(s: Session, item: Outbox) -> bool:
    """Whether a queued survey should still go: its conversation is still resolved and
    still the surveyed customer's (a merge can change that). If not, the survey, its
    ``out`` message and its row are removed and ``csat.skipped`` says why. The caller
    commits."""
    conv = s.get(Conversation, item.conversation_id)
    survey = s.exec(select(Survey).where(col(Survey.outbox_id) == item.id)).first()
    reason = "reopened before it was sent"
    if conv is not None and survey is not None and survey.customer_id != conv.customer_id:
        reason = "its conversation now belongs to another customer"
    elif conv is not None and conv.status == "resolved":
        return True
    s.exec(delete(Survey).where(col(Survey.outbox_id) == item.id))
    msg = s.get(Message, item.sent_message_id) if item.sent_message_id is not None else None
    if msg is not None:
        s.delete(msg)
    s.delete(item)
    s.flush()
    if conv is not None:
        recount(s, conv)
        _event(s, "csat.skipped", conv, utcnow(), {"reason": reason})
    return False


# -- answers (ingest's load and write steps) ---------------------------------------
def open_surveys(
    settings: DeskSettings, s: Session, account: str, customer_ids: Iterable[int], now: datetime
) -> dict[int, SurveyRecord]:
    """The unanswered, delivered surveys of these customers on ``account`` still
    within ``answer_days``, by conversation (the newest of each)."""
    ids = list(set(customer_ids))
    if not ids:
        return {}
    rows = s.exec(
        select(Survey)
        .join(Outbox, col(Outbox.id) == col(Survey.outbox_id))
        .where(
            col(Survey.customer_id).in_(ids),
            Survey.account == account,
            col(Survey.answered_at).is_(None),
            Outbox.state == "sent",
            col(Survey.sent_at) > now - settings.csat.answer_within,
        )
        .order_by(col(Survey.sent_at), col(Survey.id))
    ).all()
    found: dict[int, SurveyRecord] = {}
    for row in rows:
        assert row.id is not None and row.conversation_id is not None  # stored rows
        found[row.conversation_id] = SurveyRecord(
            id=row.id,
            conversation_id=row.conversation_id,
            customer_id=row.customer_id or 0,
            channel=row.channel,
            sent_at=_aware(row.sent_at),
        )
    return found


@dataclass(frozen=True)
class StoredAnswer:
    """An answer to record: the survey, the message that carried it, what it said."""

    survey_id: int
    message_id: int
    answer: Answer
    text: str
    at: datetime


def record_answers(s: Session, answers: Sequence[StoredAnswer]) -> None:
    """Store the score, the reply and its comment on each survey; log ``csat.answered``."""
    for got in answers:
        survey = s.get(Survey, got.survey_id)
        if survey is None:
            continue
        survey.score = got.answer.score
        survey.comment = got.answer.comment
        survey.answer = got.text
        survey.answered_at = got.at
        survey.message_id = got.message_id
        repo.log_event(
            s,
            "csat.answered",
            actor="customer",
            conversation_id=survey.conversation_id,
            customer_id=survey.customer_id,
            detail={"survey_id": survey.id, "score": got.answer.score},
            at=got.at,
        )


# -- shown ------------------------------------------------------------------------
def describe(s: Session, conversation_id: int) -> list[str]:
    """One line per survey of the conversation: when sent, its delivery, the answer."""
    rows = s.exec(
        select(Survey, Outbox.state)
        .join(Outbox, col(Outbox.id) == col(Survey.outbox_id), isouter=True)
        .where(Survey.conversation_id == conversation_id)
        .order_by(col(Survey.sent_at), col(Survey.id))
    ).all()
    out = []
    for survey, state in rows:
        line = f"sent {_aware(survey.sent_at).isoformat()}"
        if state is not None and state != "sent":
            line += f" ({state})"
        if survey.answered_at is None:
            line += ", not answered"
        else:
            line += f", answered {_aware(survey.answered_at).isoformat()}"
            line += f", score {survey.score}" if survey.score is not None else ""
            line += f', comment "{survey.comment}"' if survey.comment else ""
        out.append(line)
    return out


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _event(
    s: Session, kind: str, conv: Conversation, at: datetime, detail: dict[str, object]
) -> None:
    repo.log_event(
        s,
        kind,
        actor=SURVEY_AUTHOR,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        detail=detail,
        at=at,
    )

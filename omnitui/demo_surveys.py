"""The demo's satisfaction surveys and handling times: answered and unanswered surveys
on resolved conversations (scores and comments in several languages), and a few
stretches of agent work, so the report's CSAT and average handling time have figures.

Written straight into the store at the demo's own times (the seeded conversations are
resolved without the desk's survey rule, which reads the real clock).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from omnitui.config.csat import DEFAULT_TEXT
from omnitui.desk import SURVEY_AUTHOR, Desk
from omnitui.desk.outbox import queue_out
from omnitui.desk.survey_answers import read_answer
from omnitui.desk.surveys import NOT_AGENTS, record_survey
from storage import repository as repo
from storage.models import Conversation, Handling, Message, Survey

#: Answers for the first resolved conversations, in order (None: not answered).
ANSWERS: tuple[str | None, ...] = (
    "5 — the courier was there at 7, perfect!",
    "4/5 schnelle Antwort, danke",
    "最高！ありがとうございました。",
    "很好，发货很快。",
    "★★★☆☆ la livraison était un peu lente",
    None,
    "muy bien, gracias por todo",
    "👍",
    None,
    "2 - it took three emails to get an answer",
)
#: Seconds an agent spent on each of the first conversations with a reply.
HANDLING_SECONDS = (240.0, 95.0, 610.0, 180.0, 45.0, 330.0, 150.0, 420.0)


def seed_surveys(s: Session, desk: Desk, now: datetime) -> int:
    """Surveys on the first resolved conversations, some answered; returns how many."""
    convs = s.exec(
        select(Conversation).where(Conversation.status == "resolved").order_by(col(Conversation.id))
    ).all()
    made = 0
    for conv, answer in zip(convs, ANSWERS, strict=False):
        at = min((conv.resolved_at or now) + timedelta(minutes=2), now)
        item = queue_out(s, conv, DEFAULT_TEXT, SURVEY_AUTHOR, at)
        desk.mark_sent(s, item, provider_id=f"demo-survey-{item.id}", at=at)
        survey = record_survey(s, conv, item, at)
        made += 1
        if answer is not None:
            _answer(s, conv, survey, answer, min(at + timedelta(minutes=37), now))
    return made


def _answer(s: Session, conv: Conversation, survey: Survey, text: str, at: datetime) -> None:
    last_in = s.exec(
        select(Message)
        .where(Message.conversation_id == conv.id, Message.direction == "in")
        .order_by(col(Message.sent_at).desc())
    ).first()
    msg = repo.add_message(
        s,
        conv,
        external_id=f"demo:csat:{survey.id}",
        direction="in",
        text=text,
        sent_at=at,
        identity_id=last_in.identity_id if last_in else None,
        from_addr=last_in.from_addr if last_in else "",
        raw=text.encode("utf-8"),
        raw_type="text/plain",
    )
    got = read_answer(text)
    survey.answer = text
    survey.answered_at = at
    survey.message_id = msg.id
    if got is not None:
        survey.score = got.score
        survey.comment = got.comment


def seed_handling(s: Session, desk: Desk) -> int:
    """Handling time on the first conversations an agent replied to; returns how many."""
    replies = s.exec(
        select(Message.conversation_id, Message.sent_at)
        .where(Message.direction == "out", col(Message.author).not_in(NOT_AGENTS))
        .order_by(col(Message.conversation_id), col(Message.sent_at))
    ).all()
    first: dict[int, datetime] = {}
    for conv_id, sent_at in replies:
        if conv_id is not None:
            first.setdefault(conv_id, sent_at)
    for (conv_id, sent_at), seconds in zip(first.items(), HANDLING_SECONDS, strict=False):
        agent = desk.agent if conv_id % 3 else "sam"
        s.add(
            Handling(
                conversation_id=conv_id,
                agent=agent,
                started_at=sent_at - timedelta(seconds=seconds),
                seconds=seconds,
            )
        )
    s.flush()
    return min(len(first), len(HANDLING_SECONDS))

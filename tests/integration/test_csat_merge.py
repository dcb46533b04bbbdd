"""Surveys and merges (SQLite and PostgreSQL): a survey queued for one customer's
conversation never goes to another customer after an agent merges the two, and the
merged-in conversation's handling time stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adapters.base import Adapter, InboundMessage, OutboundMessage, Sender, SendResult
from omnitui.config.csat import Csat
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import Conversation, Event, Outbox, Survey

NOW = datetime.now(UTC).replace(microsecond=0)
H = timedelta(hours=1)


def _arrive(desk: Desk, s: Session, n: int, at: datetime, who: str) -> Conversation:
    msg = desk.ingest(
        s,
        "mail",
        InboundMessage(
            external_id=f"m{n}",
            channel="email",
            sender=Sender("email", who, who),
            sent_at=at,
            text="help",
            subject=f"question {n}",
        ),
    )
    assert msg is not None
    conv = s.get(Conversation, msg.conversation_id)
    assert conv is not None
    return conv


class _Capture:
    """An adapter that records what it is asked to send."""

    kind = "capture"

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_id=f"x{len(self.sent)}")

    def close(self) -> None:
        pass


def test_a_merged_in_conversations_unsent_survey_is_dropped(engine: Engine) -> None:
    desk = Desk(csat=Csat(enabled=True))
    with Session(engine) as s:
        ana = _arrive(desk, s, 1, NOW - 5 * H, "ana@example.com")
        desk.reply(s, ana, "fixed", at=NOW - 4 * H)
        bob = _arrive(desk, s, 2, NOW - 3 * H, "bob@example.com")
        desk.reply(s, bob, "fixed", at=NOW - 2 * H)
        desk.resolve(s, bob)
        desk.resolve(s, ana)  # both surveys queued
        s.commit()
        ana_id, bob_id = ana.id, bob.id
    with Session(engine) as s:
        source, target = s.get(Conversation, ana_id), s.get(Conversation, bob_id)
        assert source is not None and target is not None
        desk.merge_conversations(s, source, target)
        s.commit()
        queued = s.exec(
            select(Outbox.id).where(Outbox.state == "queued").order_by(col(Outbox.id))
        ).all()
        skipped = s.exec(select(Event).where(Event.kind == "csat.skipped")).all()
        surveys = s.exec(select(Survey)).all()
    assert [e.detail["reason"] for e in skipped] == ["merged before it was sent"]
    assert [sv.conversation_id for sv in surveys] == [bob_id]
    capture = _Capture()
    service = SyncService(engine, desk, ())
    for item in queued:
        service._send_one(item, cast(Adapter, capture))  # noqa: SLF001 - as a round does
    surveys_sent = [m.to for m in capture.sent if m.text.startswith("How did we do")]
    assert surveys_sent == ["bob@example.com"]  # Bob's own; Ana's never reaches him

"""The helpdesk rules: threading, de-duplication, reopening and SLA clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk, DeskError
from storage.models import Conversation, Customer, Identity, Message

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def mail(
    n: int,
    *,
    subject: str = "Grinder broke",
    frm: str = "ana@example.com",
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    at: datetime | None = None,
) -> InboundMessage:
    return InboundMessage(
        external_id=f"INBOX/1/{n}",
        channel="email",
        sender=Sender("email", frm, "Ana Lima"),
        sent_at=at or T0 + timedelta(minutes=n),
        text=f"message {n}",
        subject=subject,
        message_id=f"<m{n}@example.com>",
        in_reply_to=in_reply_to,
        references=references,
    )


def chat(n: int, *, user: str = "5001", at: datetime | None = None) -> InboundMessage:
    return InboundMessage(
        external_id=f"tg:{user}:{n}",
        channel="telegram",
        sender=Sender("telegram", user, "Mei"),
        sent_at=at or T0 + timedelta(minutes=n),
        text=f"chat {n}",
        thread_key=user,
    )


def count(s: Session, model: type) -> int:
    return len(s.exec(select(model)).all())


def test_email_threads_by_reference_in_subject_and_by_headers(session: Session) -> None:
    desk = Desk()
    first = desk.ingest(session, "mail", mail(1))
    assert first is not None
    conv = session.get(Conversation, first.conversation_id)
    assert conv is not None and conv.ref == f"C-{1000 + conv.id}"
    by_ref = desk.ingest(session, "mail", mail(2, subject=f"Re: [{conv.ref}] Grinder broke"))
    by_header = desk.ingest(
        session, "mail", mail(3, subject="other", in_reply_to="<m1@example.com>")
    )
    by_refs = desk.ingest(
        session, "mail", mail(4, subject="x", references=("<zz@x>", "<m2@example.com>"))
    )
    unrelated = desk.ingest(session, "mail", mail(5, subject="New question"))
    assert by_ref and by_header and by_refs and unrelated
    assert {by_ref.conversation_id, by_header.conversation_id, by_refs.conversation_id} == {conv.id}
    assert unrelated.conversation_id != conv.id
    session.commit()
    assert count(session, Conversation) == 2
    assert count(session, Customer) == 1  # same address, one customer


def test_redelivery_is_harmless(session: Session) -> None:
    desk = Desk()
    assert desk.ingest(session, "mail", mail(1)) is not None
    assert desk.ingest(session, "mail", mail(1)) is None
    session.commit()
    assert count(session, Message) == 1


def test_chat_joins_open_conversation_and_resolved_one_reopens(session: Session) -> None:
    desk = Desk()
    a = desk.ingest(session, "tg", chat(1))
    b = desk.ingest(session, "tg", chat(2))
    assert a and b and a.conversation_id == b.conversation_id
    conv = session.get(Conversation, a.conversation_id)
    assert conv is not None
    desk.resolve(session, conv)
    c = desk.ingest(session, "tg", chat(3, at=conv.resolved_at + timedelta(hours=1)))  # type: ignore[operator]
    assert c is not None and c.conversation_id == conv.id
    assert conv.status == "open"
    desk.resolve(session, conv)
    late = desk.ingest(session, "tg", chat(4, at=conv.resolved_at + timedelta(days=30)))  # type: ignore[operator]
    assert late is not None and late.conversation_id != conv.id


def test_same_phone_number_on_sms_and_calls_is_one_customer(session: Session) -> None:
    desk = Desk()
    sms = InboundMessage("SM1", "sms", Sender("sms", "+1 (555) 123-4567"), T0, "hi")
    call = InboundMessage(
        "CA1", "phone", Sender("sms", "+15551234567"), T0, "Missed call", kind="call"
    )
    desk.ingest(session, "twilio", sms)
    desk.ingest(session, "twilio", call)
    session.commit()
    assert count(session, Identity) == 1
    assert count(session, Customer) == 1
    assert count(session, Conversation) == 2  # SMS and calls are separate channels


def test_sla_first_response_met_by_reply_not_by_note(session: Session) -> None:
    desk = Desk()
    msg = desk.ingest(session, "mail", mail(1))
    assert msg is not None
    conv = session.get(Conversation, msg.conversation_id)
    assert conv is not None
    assert conv.first_response_due == msg.sent_at + timedelta(hours=4)  # default email target
    assert conv.urgency_due == int(conv.first_response_due.timestamp())
    desk.note(session, conv, "checking with the warehouse", at=msg.sent_at + timedelta(hours=1))
    assert conv.first_responded_at is None
    desk.reply(
        session, conv, "Sorry! A new one is on its way.", at=msg.sent_at + timedelta(hours=2)
    )
    assert conv.first_responded_at == msg.sent_at + timedelta(hours=2)
    # The customer writes again: the next-response clock starts from that message.
    again = desk.ingest(
        session, "mail", mail(9, subject=f"Re: [{conv.ref}] x", at=msg.sent_at + timedelta(hours=3))
    )
    assert again is not None and again.conversation_id == conv.id
    assert conv.next_response_due == msg.sent_at + timedelta(hours=3 + 8)


def test_resolved_conversation_has_no_running_clock_and_reopens(session: Session) -> None:
    desk = Desk()
    msg = desk.ingest(session, "mail", mail(1))
    assert msg is not None
    conv = session.get(Conversation, msg.conversation_id)
    assert conv is not None
    desk.resolve(session, conv)
    assert conv.status == "resolved"
    from storage.models import NO_DUE

    assert conv.urgency_due == NO_DUE
    desk.ingest(session, "mail", mail(2, in_reply_to="<m1@example.com>", at=T0 + timedelta(days=1)))
    assert conv.status == "open"
    assert conv.urgency_due != NO_DUE


def test_empty_reply_is_refused(session: Session) -> None:
    desk = Desk()
    msg = desk.ingest(session, "mail", mail(1))
    assert msg is not None
    conv = session.get(Conversation, msg.conversation_id)
    with pytest.raises(DeskError):
        desk.reply(session, conv, "  \n ")  # type: ignore[arg-type]

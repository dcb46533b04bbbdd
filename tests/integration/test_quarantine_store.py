"""The quarantine table: one row per item however often it is seen, its exact bytes
kept, and erased with the customer it names."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk
from storage import quarantine
from storage import repository as repo
from storage.models import Quarantine


def test_an_item_seen_again_is_one_row_with_its_exact_bytes(session: Session) -> None:
    raw = b"From: a@b.c\r\n\r\n\xff\x00 exact bytes"
    for _ in range(3):
        quarantine.put(session, account="m", external_id="uid:INBOX/1/7", raw=raw, error="E")
    session.commit()
    (row,) = session.exec(select(Quarantine)).all()
    assert row.raw == raw and row.attempts == 3
    conn = session.connection()
    assert quarantine.count(conn) == 1
    (info,) = quarantine.listing(conn)
    assert info.size == len(raw) and info.external_id == "uid:INBOX/1/7"
    assert quarantine.drop(session, row.id) and not quarantine.drop(session, row.id)  # type: ignore[arg-type]


def test_forgetting_a_customer_drops_their_quarantined_mail(session: Session) -> None:
    desk = Desk()
    msg = desk.ingest(
        session,
        "m",
        InboundMessage(
            external_id="mid:<1@x>",
            channel="email",
            sender=Sender("email", "Ana@Example.com", "Ana"),
            sent_at=datetime(2026, 11, 20, tzinfo=UTC),
            text="hi",
            message_id="<1@x>",
        ),
    )
    assert msg is not None
    quarantine.put(
        session, account="m", external_id="a", raw=b"From: ana@example.com\r\n\r\nx", error="E"
    )
    quarantine.put(
        session, account="m", external_id="b", raw=b"From: bo@example.com\r\n\r\nx", error="E"
    )
    session.commit()
    customer_id = repo.find_identity(session, "email", "ana@example.com").customer_id  # type: ignore[union-attr]
    counts = repo.forget_customer(session, customer_id)  # type: ignore[arg-type]
    session.commit()
    assert counts["quarantined"] == 1
    assert [q.external_id for q in session.exec(select(Quarantine)).all()] == ["b"]

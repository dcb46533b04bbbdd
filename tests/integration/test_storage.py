"""The store through the repository: address normalisation, erasure, URLs, upgrades.

Schema, keys, cascades, migrations and files are in test_storage_schema.py, search in
test_storage_search.py, engine options and start-up failures in test_storage_engine.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from storage import StoreError, migrate, open_store
from storage import repository as repo
from storage.engine import make_engine
from storage.models import (
    Attachment,
    Conversation,
    Customer,
    Event,
    Identity,
    Message,
    RawMessage,
)
from storage.search import search

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def conversation(
    s: Session,
    address: str = "ana@example.com",
    name: str = "Ana Lima",
    subject: str = "Grinder broke",
) -> Conversation:
    ident = repo.get_or_create_identity(s, "email", address, name)
    return repo.create_conversation(
        s,
        account="mail",
        channel="email",
        customer_id=ident.customer_id,
        subject=subject,  # type: ignore[arg-type]
        created_at=T0,
    )


def message(s: Session, conv: Conversation, n: int, body: str, **kw) -> Message:  # noqa: ANN003
    return repo.add_message(
        s,
        conv,
        external_id=f"x{n}",
        direction="in",
        text=body,
        sent_at=T0 + timedelta(minutes=n),
        **kw,
    )


def refs(session: Session, query: str) -> set[str | None]:
    return {h.ref for h in search(session, query)}


def test_addresses_are_normalised(session: Session) -> None:
    a = repo.get_or_create_identity(session, "email", "Ana@Example.COM ")
    b = repo.get_or_create_identity(session, "email", "ana@example.com")
    c = repo.get_or_create_identity(session, "sms", "+1 (555) 123-4567")
    d = repo.get_or_create_identity(session, "phone", "+15551234567")
    assert a.id == b.id and c.id == d.id


def test_forgetting_a_customer_erases_everything_of_theirs(session: Session) -> None:
    conv = conversation(session)
    msg = message(
        session,
        conv,
        1,
        "my address is 1 Main St",
        raw=b"From: ana\r\n\r\nhi",
        attachments=[repo.NewAttachment("id.jpg", "image/jpeg", b"\xff\xd8data")],
    )
    other = conversation(session, "bob@example.com", "Bob", subject="Other")
    message(session, other, 2, "unrelated")
    session.commit()
    assert refs(session, "main st") == {conv.ref}
    customer_id, msg_id = conv.customer_id, msg.id
    counts = repo.forget_customer(session, customer_id)  # type: ignore[arg-type]
    session.commit()
    session.expunge_all()
    assert counts == {"conversations": 1, "messages": 1, "identities": 1, "quarantined": 0}
    assert session.get(Customer, customer_id) is None
    assert session.exec(select(Identity).where(Identity.address == "ana@example.com")).all() == []
    assert session.get(Message, msg_id) is None
    assert session.get(RawMessage, msg_id) is None
    assert session.exec(select(Attachment)).all() == []
    events = session.exec(select(Event)).all()
    assert all(e.customer_id != customer_id for e in events)
    forgotten = [e for e in events if e.kind == "customer.forgotten"]
    assert len(forgotten) == 1 and "Ana" not in str(forgotten[0].detail)
    assert len(session.exec(select(Conversation)).all()) == 1  # Bob's is untouched
    # Nothing of theirs is left in the search index either.
    assert refs(session, "main st") == set()
    assert refs(session, "lima") == set()
    assert refs(session, "grinder") == set()


@pytest.mark.parametrize("url", ["mysql://x/y", "nonsense", "sqlite:////proc/nope/x.sqlite"])
def test_unusable_urls_are_one_clear_error(url: str) -> None:
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert "\n" not in str(info.value)


def test_make_engine_accepts_plain_postgresql_scheme() -> None:
    engine = make_engine("postgresql://u@127.0.0.1/db")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_an_upgraded_store_is_searchable_and_writable(db_url: str) -> None:
    """Data written at revision 0001 is found by search after the upgrade, and the
    repository writes (and search finds) new data in the upgraded store."""
    from alembic import command

    old = make_engine(db_url)
    with old.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0001")
        when = "'2026-01-01 00:00:00'"
        conn.execute(
            text(
                "INSERT INTO customer (name, vip, notes, created_at) "
                f"VALUES ('Ana Lima', false, '', {when})"
            )
        )
        conn.execute(
            text(
                "INSERT INTO conversation (ref, account, channel, customer_id, subject,"
                " preview, status, priority, tags, unread, message_count, created_at,"
                " last_message_at, urgency_due, recency) SELECT 'C-OLD', 'mail', 'email',"
                f" id, 'Grinder broke', '', 'open', 'normal', '[]', true, 1, {when}, {when},"
                " 0, 0 FROM customer"
            )
        )
        conn.execute(
            text(
                "INSERT INTO message (conversation_id, account, external_id, direction, kind,"
                ' from_addr, to_addrs, subject, text, sent_at, received_at, "references",'
                " has_attachments) SELECT id, 'mail', 'old1', 'in', 'message', '', '[]', '',"
                f" 'The burr squeals', {when}, {when}, '[]', false FROM conversation"
            )
        )
    assert migrate.current_revision(old) == "0001"
    old.dispose()

    store = open_store(db_url)
    try:
        assert migrate.current_revision(store) == migrate.HEAD
        with Session(store) as s:
            assert refs(s, "squeals") == {"C-OLD"}  # a message from before the upgrade
            assert refs(s, "ana grinder") == {"C-OLD"}
            new = conversation(s, "bo@example.com", "Bo Berg", subject="Kettle leaks")
            message(s, new, 1, "the lid is cracked")
            s.commit()
            bo = repo.get_or_create_identity(s, "email", "BO@example.com")
            assert bo.customer_id == new.customer_id
            assert refs(s, "cracked") == {new.ref}
            assert refs(s, "berg kettle") == {new.ref}
    finally:
        store.dispose()

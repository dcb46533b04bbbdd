"""Linking identities by a phone number (SQLite and PostgreSQL): only SMS numbers and
numbers an adapter vouched for (``Sender.phone``) link; a Matrix address that looks like
a WhatsApp puppet proves nothing by itself. The 0006 migration's backfill."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, text
from sqlmodel import Session, select

from omnitui.desk import identities
from storage import migrate, open_store
from storage import repository as repo
from storage.engine import make_engine
from storage.models import Customer, Event, Identity

PHONE = "+15551234567"
PUPPET = "@whatsapp_15551234567:bridge.example.org"
EVIL = "@whatsapp_15551234567:evil.example"


def ident(s: Session, channel: str, address: str, phone: str | None = None) -> Identity:
    """Look up or create one identity, as the desk does for one inbound message."""
    found = identities.identities_for(s, [(channel, address, "", phone)])
    return found[(channel, repo.normalise_address(channel, address))]


def events(s: Session, kind: str) -> list[Event]:
    s.flush()
    return list(s.exec(select(Event).where(Event.kind == kind)).all())


def test_sms_first_then_a_vouched_puppet_is_one_customer(session: Session) -> None:
    sms = ident(session, "sms", PHONE)
    assert sms.phone == PHONE  # an SMS identity always carries its number
    puppet = ident(session, "matrix", PUPPET, PHONE)
    assert puppet.customer_id == sms.customer_id and puppet.phone == PHONE
    assert len(events(session, "customer.linked")) == 1


def test_vouched_puppet_first_then_sms_is_one_customer(session: Session) -> None:
    puppet = ident(session, "matrix", PUPPET, PHONE)
    sms = ident(session, "sms", "+1 555 123 4567")
    assert sms.customer_id == puppet.customer_id


def test_a_puppet_address_without_a_vouched_number_is_never_linked(session: Session) -> None:
    """The attack: any server can host ``@whatsapp_<victim's number>``."""
    sms = ident(session, "sms", PHONE)
    evil = ident(session, "matrix", EVIL)
    assert evil.customer_id != sms.customer_id and evil.phone is None
    # Nor the other way round: an SMS number never joins an unvouched puppet.
    other = ident(session, "matrix", "@wa_15559876543:evil.example")
    later = ident(session, "sms", "+15559876543")
    assert later.customer_id != other.customer_id
    assert len(session.exec(select(Customer)).all()) == 4
    assert events(session, "customer.linked") == []


def test_three_tuples_still_work_and_vouch_for_nothing(session: Session) -> None:
    found = identities.identities_for(session, [("sms", PHONE, "Ana"), ("matrix", PUPPET, "Ana")])
    sms, puppet = found[("sms", PHONE)], found[("matrix", PUPPET)]
    assert sms.phone == PHONE and puppet.phone is None
    assert sms.customer_id != puppet.customer_id


def test_new_sms_and_puppet_in_one_batch_are_one_customer(session: Session) -> None:
    found = identities.identities_for(
        session, [("matrix", PUPPET, "Ana", PHONE), ("sms", PHONE, "Ana"), ("email", "a@x.org", "")]
    )
    assert found[("matrix", PUPPET)].customer_id == found[("sms", PHONE)].customer_id
    assert found[("email", "a@x.org")].customer_id != found[("sms", PHONE)].customer_id
    assert len(session.exec(select(Customer)).all()) == 2


@pytest.mark.parametrize("claim", ["not a number", "+12345", "+1555123456789012", "+१२३४५६७"])
def test_a_malformed_vouched_number_is_ignored(session: Session, claim: str) -> None:
    sms = ident(session, "sms", PHONE)
    other = ident(session, "matrix", PUPPET, claim)
    assert other.phone is None and other.customer_id != sms.customer_id


def test_a_number_of_two_customers_links_nothing(session: Session) -> None:
    first = ident(session, "sms", PHONE)
    # A second customer comes to hold the number: an identity seen before it was
    # vouched for (bridge server trusted later) gets the number, but is not merged.
    puppet = ident(session, "matrix", PUPPET)
    assert ident(session, "matrix", PUPPET, PHONE).phone == PHONE
    assert puppet.customer_id != first.customer_id
    newcomer = ident(session, "matrix", "@wa_15551234567:bridge.example.org", PHONE)
    assert newcomer.customer_id not in (first.customer_id, puppet.customer_id)
    (conflict,) = events(session, "customer.link_conflict")
    assert conflict.detail == {"channel": "matrix", "count": 2}


def test_sms_identities_added_without_the_repository_carry_their_number(
    session: Session,
) -> None:
    """The column default fills ``phone`` for ORM adds and Core inserts alike (demo,
    bench generator), so a later vouched puppet links to them."""
    now = datetime.now(UTC)
    customer = Customer(name="Ana")
    session.add(customer)
    session.flush()
    session.add(Identity(customer_id=customer.id, channel="sms", address=PHONE))
    session.execute(
        insert(Identity),
        [
            {
                "customer_id": customer.id,
                "channel": "sms",
                "address": "+15550000000",
                "created_at": now,
            },
            {"customer_id": customer.id, "channel": "matrix", "address": EVIL, "created_at": now},
        ],
    )
    session.flush()
    phones = dict(session.exec(select(Identity.address, Identity.phone)).all())
    assert phones == {PHONE: PHONE, "+15550000000": "+15550000000", EVIL: None}
    assert ident(session, "matrix", PUPPET, PHONE).customer_id == customer.id


def test_migration_backfills_sms_numbers_only_and_keeps_links(db_url: str) -> None:
    from alembic import command

    old = make_engine(db_url)
    with old.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0005")
    with old.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customer (id, name, vip, notes, created_at) VALUES "
                "(1, 'Ana', false, '', '2026-01-01 00:00:00'),"
                "(2, 'Bo', false, '', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO identity (customer_id, channel, address, display_name, created_at)"
                " VALUES (1, 'sms', :phone, '', '2026-01-01 00:00:00'),"
                " (1, 'matrix', :puppet, '', '2026-01-01 00:00:00'),"
                " (2, 'sms', 'short-code-42', '', '2026-01-01 00:00:00'),"
                " (2, 'email', 'bo@example.com', '', '2026-01-01 00:00:00')"
            ),
            {"phone": PHONE, "puppet": EVIL},
        )
        if old.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('customer_id_seq', 2)"))
    old.dispose()
    store: Engine = open_store(db_url)
    try:
        assert migrate.current_revision(store) == migrate.HEAD
        with Session(store) as s:
            rows = s.exec(select(Identity.address, Identity.phone, Identity.customer_id)).all()
            assert sorted(rows) == sorted(
                [
                    (PHONE, PHONE, 1),
                    (EVIL, None, 1),  # cannot be verified after the fact; the link stays
                    ("short-code-42", None, 2),
                    ("bo@example.com", None, 2),
                ]
            )
            # A puppet from anywhere no longer joins Ana; a vouched one does.
            assert ident(s, "matrix", "@wa_15551234567:evil.example").customer_id != 1
            assert ident(s, "matrix", PUPPET, PHONE).customer_id == 1
    finally:
        store.dispose()

"""The store on SQLite and PostgreSQL: migrations, constraints, erasure, files, search."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
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


def test_migrating_twice_is_a_noop(engine: Engine, db_url: str) -> None:
    assert migrate.current_revision(engine) == migrate.HEAD
    again = open_store(db_url)
    assert migrate.current_revision(again) == migrate.HEAD
    again.dispose()


def test_head_constant_matches_alembic() -> None:
    assert migrate.head_revision() == migrate.HEAD


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, SQLModel.metadata)
    # FTS shadow tables and expression indexes are ours, not the models'.
    diff = [
        d
        for d in diff
        if not (d[0] == "remove_table" and "_fts" in d[1].name)
        and not (d[0] == "remove_index" and "_fts" in d[1].name)
    ]
    assert diff == []


def test_identity_and_message_keys_are_unique(session: Session) -> None:
    conv = conversation(session)
    message(session, conv, 1, "hello")
    session.commit()
    session.add(Identity(customer_id=conv.customer_id, channel="email", address="ana@example.com"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    conv = session.exec(select(Conversation)).one()
    with pytest.raises(IntegrityError):
        message(session, conv, 1, "hello again")  # same account and external id
        session.commit()


def test_addresses_are_normalised(session: Session) -> None:
    a = repo.get_or_create_identity(session, "email", "Ana@Example.COM ")
    b = repo.get_or_create_identity(session, "email", "ana@example.com")
    c = repo.get_or_create_identity(session, "sms", "+1 (555) 123-4567")
    d = repo.get_or_create_identity(session, "phone", "+15551234567")
    assert a.id == b.id and c.id == d.id


def test_timestamps_round_trip_as_aware_utc(session: Session) -> None:
    conv = conversation(session)
    berlin = timezone(timedelta(hours=1))
    message(session, conv, 1, "x")
    conv.first_response_due = datetime(2026, 11, 23, 14, 0, tzinfo=berlin)
    session.commit()
    session.expire_all()
    got = session.exec(select(Conversation)).one()
    assert got.first_response_due == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    assert got.first_response_due.tzinfo is not None
    with pytest.raises(Exception):  # noqa: B017 - naive datetimes are refused
        got.first_response_due = datetime(2026, 1, 1)
        session.commit()


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
    other = conversation(session, "bob@example.com", "Bob")
    message(session, other, 2, "unrelated")
    session.commit()
    customer_id, msg_id = conv.customer_id, msg.id
    counts = repo.forget_customer(session, customer_id)  # type: ignore[arg-type]
    session.commit()
    session.expunge_all()
    assert counts == {"conversations": 1, "messages": 1, "identities": 1}
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


def test_sqlite_files_are_private_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "store.sqlite"
    engine = open_store(f"sqlite:///{path}")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    engine.dispose()


@pytest.mark.parametrize("url", ["mysql://x/y", "nonsense", "sqlite:////proc/nope/x.sqlite"])
def test_unusable_urls_are_one_clear_error(url: str) -> None:
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert "\n" not in str(info.value)


def test_unreachable_postgres_is_one_clear_error() -> None:
    with pytest.raises(StoreError) as info:
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert "cannot open database" in str(info.value) and "\n" not in str(info.value)


def test_make_engine_accepts_plain_postgresql_scheme() -> None:
    engine = make_engine("postgresql://u@127.0.0.1/db")
    assert engine.dialect.driver == "psycopg"


# -- search -----------------------------------------------------------------


@pytest.fixture
def corpus(session: Session) -> dict[str, Conversation]:
    grinder = conversation(session, subject="Grinder broke")
    message(session, grinder, 1, "The burr grinder squeals and then stops. Refund please.")
    kettle = conversation(session, "mei@example.jp", "田中 芽衣", subject="ケトルについて")
    message(session, kettle, 2, "ケトル 壊れた 😀 the kettle leaks")
    order = conversation(session, "bo@example.com", "Bo Lindqvist", subject="Order status")
    message(session, order, 3, "Where is order 4471?")
    session.commit()
    return {"grinder": grinder, "kettle": kettle, "order": order}


def refs(session: Session, query: str) -> set[str]:
    return {h.ref for h in search(session.connection(), query)}  # type: ignore[misc]


def test_search_words_across_subject_body_and_names(session: Session, corpus) -> None:  # noqa: ANN001
    assert refs(session, "squeals") == {corpus["grinder"].ref}
    assert refs(session, "grinder broke") == {corpus["grinder"].ref}  # subject
    assert refs(session, "lindqvist") == {corpus["order"].ref}  # customer name
    assert refs(session, "4471") == {corpus["order"].ref}
    assert refs(session, "kettle") == {corpus["kettle"].ref}


def test_search_is_and_with_prefix_on_last_word(session: Session, corpus) -> None:  # noqa: ANN001
    assert refs(session, "refu") == {corpus["grinder"].ref}
    assert refs(session, "burr refund") == {corpus["grinder"].ref}
    assert refs(session, "burr kettle") == set()


def test_search_cjk_and_emoji(session: Session, corpus) -> None:  # noqa: ANN001
    assert refs(session, "ケトル") == {corpus["kettle"].ref}
    assert refs(session, "田中") == {corpus["kettle"].ref}


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "OR",
        "NEAR(",
        "-",
        ":",
        "'",
        "(",
        "a AND",
        "",
        "   ",
        "\x00",
        "col:x",
        "^",
        "}{",
        "%",
        "_",
    ],
)
def test_hostile_queries_never_raise(session: Session, corpus, query: str) -> None:  # noqa: ANN001
    search(session.connection(), query)


def test_search_follows_updates_and_deletes(session: Session, corpus) -> None:  # noqa: ANN001
    msg = session.exec(select(Message).where(Message.external_id == "x3")).one()
    msg.text = "Where is parcel 9000?"
    session.commit()
    assert refs(session, "4471") == set()
    assert refs(session, "parcel") == {corpus["order"].ref}
    repo.forget_customer(session, corpus["order"].customer_id)
    session.commit()
    session.expunge_all()
    assert refs(session, "parcel") == set()
    assert refs(session, "lindqvist") == set()


def test_search_snippet_is_plain_text_around_the_match(session: Session, corpus) -> None:  # noqa: ANN001
    (hit,) = search(session.connection(), "squeals")
    assert "squeals" in hit.snippet and "\ue000" not in hit.snippet
    start, end = hit.highlights[0]
    assert hit.snippet[start:end].lower() == "squeals"


def test_an_older_store_upgrades_and_keeps_its_data(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = make_engine(url)
    cfg = migrate._alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            text(
                "INSERT INTO customer (name, vip, notes, created_at) "
                "VALUES ('Ana', 0, '', '2026-01-01 00:00:00')"
            )
        )
    assert migrate.current_revision(engine) == "0001"
    engine.dispose()
    upgraded = open_store(url)
    assert migrate.current_revision(upgraded) == migrate.HEAD
    with Session(upgraded) as s:
        assert s.exec(select(Customer)).one().name == "Ana"
        assert repo.get_or_create_identity(s, "email", "ana@example.com").id is not None
    assert refs_for(upgraded, "ana") == set()  # search still works after the upgrade


def refs_for(engine: Engine, query: str) -> set[str]:
    with engine.connect() as conn:
        return {h.ref for h in search(conn, query)}  # type: ignore[misc]


def schema_objects(engine: Engine) -> set[str]:
    """Names of every table, index and trigger (SQLite) or index (PostgreSQL)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT type || ':' || name FROM sqlite_master"))
        else:
            rows = conn.execute(
                text(
                    "SELECT 'index:' || indexname FROM pg_indexes"
                    " WHERE schemaname = current_schema()"
                    " UNION SELECT 'table:' || tablename FROM pg_tables"
                    " WHERE schemaname = current_schema()"
                )
            )
        return {r[0] for r in rows}


def test_migrations_from_scratch_build_the_same_store_as_fast_creation(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """New stores skip Alembic; the migration chain must build exactly the same thing."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    if engine.dialect.name == "sqlite":
        other = make_engine(f"sqlite:///{tmp_path / 'migrated.sqlite'}")
    else:
        with engine.begin() as conn:  # a second schema beside the fixture's
            conn.execute(text("CREATE SCHEMA migrated_twin"))
        other = make_engine(
            db_url.rsplit("options=", 1)[0] + "options=-csearch_path%3Dmigrated_twin"
        )
    try:
        cfg = migrate._alembic_config()
        with other.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        assert schema_objects(other) == schema_objects(engine)
        with other.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert [d for d in diff if "_fts" not in str(d)] == []
    finally:
        other.dispose()
        if engine.dialect.name != "sqlite":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA migrated_twin CASCADE"))

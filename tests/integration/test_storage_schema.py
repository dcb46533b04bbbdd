"""The store's schema on SQLite and PostgreSQL: migrations, keys, cascades, files, time."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, insert, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from storage import StoreError, migrate, open_store
from storage.engine import make_engine
from storage.models import (
    Attachment,
    Conversation,
    Customer,
    Event,
    Identity,
    Message,
    Outbox,
    RawMessage,
    table_of,
)
from tests.conftest import pg_url_or_skip
from tests.support import store_race

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def add_thread(s: Session, n: int, name: str = "Ana Lima") -> tuple[Customer, Conversation]:
    """A customer with an e-mail identity and one conversation (not committed)."""
    customer = Customer(name=name)
    s.add(customer)
    s.flush()
    s.add(Identity(customer_id=customer.id, channel="email", address=f"c{n}@example.com"))
    conv = Conversation(ref=f"C-{n}", account="mail", channel="email", customer_id=customer.id)
    s.add(conv)
    s.flush()
    return customer, conv


def add_thread_before_0011(s: Session, n: int, name: str) -> Conversation:
    """:func:`add_thread` on a store older than 0011 (no ``conversation.version``): the
    conversation row goes in without that column; the record returned is not attached."""
    customer = Customer(name=name)
    s.add(customer)
    s.flush()
    conv = Conversation(ref=f"C-{n}", account="mail", channel="email", customer_id=customer.id)
    table = table_of(Conversation)
    row = {c.name: getattr(conv, c.name) for c in table.columns if c.name not in ("id", "version")}
    conv.id = s.execute(insert(table).values(**row).returning(table.c.id)).scalar_one()
    return conv


def add_message(s: Session, conv: Conversation, external_id: str, body: str = "hi") -> Message:
    msg = Message(
        conversation_id=conv.id, account="mail", external_id=external_id, direction="in", text=body
    )
    s.add(msg)
    s.flush()
    return msg


def schema_sql(engine: Engine) -> set[tuple[str, str]]:
    """Every table, index and trigger of the store, with the SQL of indexes, triggers
    and virtual tables (columns of tables are compared with the models instead)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT type, name, coalesce(sql, '') FROM sqlite_master"))
            return {
                (name, " ".join(sql.split()) if kind != "table" or "VIRTUAL" in sql else "")
                for kind, name, sql in rows
            }
        rows = conn.execute(
            text(
                "SELECT indexname, replace(indexdef, schemaname || '.', '') FROM pg_indexes"
                " WHERE schemaname = current_schema()"
                " UNION SELECT tablename, '' FROM pg_tables WHERE schemaname = current_schema()"
            )
        )
        return {(name, sql) for name, sql in rows}


def model_diff(engine: Engine) -> list[object]:
    """Differences between the store and the models (FTS objects are not the models')."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import storage.models  # noqa: F401

    with engine.connect() as conn:
        opts = {"compare_type": True, "include_name": migrate.include_name}
        return compare_metadata(MigrationContext.configure(conn, opts=opts), SQLModel.metadata)


def alembic_upgrade(url: str, revision: str) -> Engine:
    """Run the real migration chain up to ``revision`` on the database at ``url``."""
    from alembic import command

    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), revision)
    return engine


# -- migrations -------------------------------------------------------------------------


def test_migrating_twice_is_a_noop(engine: Engine, db_url: str) -> None:
    before = schema_sql(engine)
    assert migrate.current_revision(engine) == migrate.HEAD
    again = open_store(db_url)
    migrate.upgrade(again)
    assert migrate.current_revision(again) == migrate.HEAD
    assert schema_sql(again) == before
    with again.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    again.dispose()


def test_opening_a_current_store_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    open_store(url).dispose()
    code = (
        "import sys; from storage import open_store; "
        f"open_store({url!r}); print('alembic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"
    assert out.stderr == ""


def test_head_constant_matches_alembic() -> None:
    assert migrate.head_revision() == migrate.HEAD


def test_new_store_equals_the_models(engine: Engine) -> None:
    """A new store (created without Alembic) has exactly the models' tables."""
    assert model_diff(engine) == []


def test_migration_chain_builds_the_models_and_the_same_store(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """The migration files build what the models describe, and the very same objects
    (FTS tables, triggers, expression indexes, with the same SQL) as a new store."""
    if engine.dialect.name == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrated.sqlite'}"
    else:
        with engine.begin() as conn:
            conn.execute(text("CREATE SCHEMA migrated_twin"))
        url = db_url.rsplit("options=", 1)[0] + "options=-csearch_path%3Dmigrated_twin"
    migrated = alembic_upgrade(url, "head")
    try:
        assert model_diff(migrated) == []
        assert schema_sql(migrated) == schema_sql(engine)
    finally:
        migrated.dispose()
        if engine.dialect.name != "sqlite":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA migrated_twin CASCADE"))


def test_autogenerate_writes_no_app_types() -> None:
    """New revisions generated from the models import neither storage nor sqlmodel."""
    from alembic.autogenerate import produce_migrations, render_python_code
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    import storage.models  # noqa: F401

    with create_engine("sqlite://").connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"render_item": migrate.render_item})
        ops = produce_migrations(ctx, SQLModel.metadata).upgrade_ops
        assert ops is not None
        code = render_python_code(ops, render_item=migrate.render_item)
    assert "storage" not in code and "sqlmodel" not in code
    assert "sa.Column('created_at', sa.DateTime(), nullable=False)" in code
    assert "sa.Column('name', sa.String(), nullable=False)" in code


def test_search_objects_exist(engine: Engine) -> None:
    names = {name for name, _sql in schema_sql(engine)}
    if engine.dialect.name == "sqlite":
        for fts in ("message_fts", "conversation_fts", "customer_fts"):
            assert {fts, f"{fts}_ai", f"{fts}_au", f"{fts}_ad"} <= names
    else:
        assert {"ix_message_fts", "ix_conversation_fts", "ix_customer_fts"} <= names


def test_an_older_store_upgrades_and_keeps_its_data(db_url: str) -> None:
    old = alembic_upgrade(db_url, "0001")
    with old.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customer (name, vip, notes, created_at) "
                "VALUES ('Ana Lima', false, '', '2026-01-01 00:00:00')"
            )
        )
    assert migrate.current_revision(old) == "0001"
    old.dispose()
    store = open_store(db_url)
    assert migrate.current_revision(store) == migrate.HEAD
    assert model_diff(store) == []
    with Session(store) as s:
        assert s.exec(select(Customer)).one().name == "Ana Lima"
        _customer, conv = add_thread(s, 1, "Bo")
        msg = add_message(s, conv, "x1")
        msg.source = "INBOX/1/1"  # a column of a later revision
        s.commit()
    store.dispose()


def test_an_older_store_finds_cjk_words_inside_runs_once_upgraded(db_url: str) -> None:
    """Migration 0009 indexes again what an older store holds in Chinese or Japanese,
    so a word inside a run is found in old mail too, and new text keeps being found."""
    from storage.search import search

    old = alembic_upgrade(db_url, "0008")
    with Session(old) as s:
        conv = add_thread_before_0011(s, 1, "王小明")
        add_message(s, conv, "old-1", "你好，我的订单还没到。")
        s.commit()
        conv_id = conv.id
    old.dispose()
    store = open_store(db_url)
    assert migrate.current_revision(store) == migrate.HEAD
    with Session(store) as s:
        assert [h.conversation_id for h in search(s, "还没到")] == [conv_id]
        assert [h.conversation_id for h in search(s, "小明")] == [conv_id]
        stored = s.get(Conversation, conv_id)
        assert stored is not None
        add_message(s, stored, "new-1", "ケトルが壊れた")
        s.commit()
        assert [h.conversation_id for h in search(s, "壊れた")] == [conv_id]
    store.dispose()


def test_migrations_are_silent(tmp_path: Path) -> None:
    """Alembic logs nothing to the terminal while migrating at start-up."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    alembic_upgrade(url, "0001").dispose()
    code = f"from storage import open_store, migrate; open_store({url!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert migrate.current_revision(make_engine(url)) == migrate.HEAD


def test_a_failed_migration_changes_nothing(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migrations run in one transaction, on SQLite too: a failure rolls them back."""
    alembic_upgrade(db_url, "0001").dispose()
    real = migrate._run_alembic

    def run_then_fail(conn) -> None:  # noqa: ANN001
        real(conn)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(migrate, "_run_alembic", run_then_fail)
    engine = make_engine(db_url)
    with pytest.raises(StoreError) as info:
        migrate.upgrade(engine)
    assert "disk on fire" in str(info.value) and "\n" not in str(info.value)
    assert migrate.current_revision(engine) == "0001"
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("message")}
        assert "source" not in columns  # added by 0002, rolled back
        if engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    monkeypatch.undo()
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.HEAD
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_starts_create_the_store_once(backend: str) -> None:
    # Processes and threads together on stores that do not exist yet (nor, for SQLite,
    # their directory), several times: the races are rare per start (the directory
    # made twice, WAL switched on by two connections at once, a header read closing
    # the SQLite locks of the process). Every wait in the race is bounded.
    pg = pg_url_or_skip() if backend == "postgresql" else None
    summary = store_race.race(iterations=8, processes=4, threads=4, pg=pg, wait=30)
    assert summary.errors == {} and summary.failed_iterations == 0
    assert summary.iterations == 8


def test_a_store_from_a_newer_omnitui_is_refused(engine: Engine, db_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError) as info:
        open_store(db_url)
    message = str(info.value)
    assert "9999" in message and "newer omnitui" in message and "\n" not in message


def test_a_foreign_database_is_left_alone(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customer (id INTEGER PRIMARY KEY, crm_code TEXT)"))
    with pytest.raises(StoreError, match="not an omnitui store"):
        migrate.upgrade(engine)
    with engine.connect() as conn:
        assert inspect(conn).get_table_names() == ["customer"]
    engine.dispose()


def test_unreachable_postgres_is_one_clear_line() -> None:
    with pytest.raises(StoreError) as info:
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    message = str(info.value)
    assert "cannot open database" in message and "127.0.0.1:1" in message
    assert "connection refused" in message.lower() and "\n" not in message


def test_a_file_that_is_not_a_database_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not SQLite, just some text that is long enough" * 40)
    with pytest.raises(StoreError) as info:
        open_store(f"sqlite:///{path}")
    assert "not a database" in str(info.value) and "\n" not in str(info.value)


# -- keys and cascades --------------------------------------------------------------------


def test_identity_channel_and_address_are_unique(session: Session) -> None:
    customer, _conv = add_thread(session, 1)
    session.commit()
    session.add(Identity(customer_id=customer.id, channel="email", address="c1@example.com"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    session.add(Identity(customer_id=customer.id, channel="sms", address="c1@example.com"))
    session.commit()  # same address on another channel is another identity


def test_message_account_and_external_id_are_unique(session: Session) -> None:
    _customer, conv = add_thread(session, 1)
    add_message(session, conv, "x1")
    session.commit()
    with pytest.raises(IntegrityError):
        add_message(session, conv, "x1")
    session.rollback()
    conv = session.exec(select(Conversation)).one()
    msg = Message(
        conversation_id=conv.id, account="other", external_id="x1", direction="in", text=""
    )
    session.add(msg)
    session.commit()  # the same id from another account is another message


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(
        Message(conversation_id=424242, account="mail", external_id="x", direction="in", text="")
    )
    with pytest.raises(IntegrityError):
        session.commit()


def test_deleting_a_customer_cascades_to_everything_of_theirs(session: Session) -> None:
    customer, conv = add_thread(session, 1)
    msg = add_message(session, conv, "x1", "my address is 1 Main St")
    session.add(RawMessage(message_id=msg.id, data=b"From: ana\r\n\r\nhi"))
    session.add(Attachment(message_id=msg.id, filename="id.jpg", content=b"\xff\xd8"))
    session.add(Event(kind="note", conversation_id=conv.id))
    session.add(Event(kind="customer.merged", customer_id=customer.id))
    session.add(Outbox(conversation_id=conv.id, account="mail", channel="email", body="hi"))
    other_customer, other = add_thread(session, 2, "Bo")
    other_msg = add_message(session, other, "x2")
    other_outbox = Outbox(
        conversation_id=other.id,
        account="mail",
        channel="email",
        sent_message_id=msg.id,  # points at a message that goes away: set to NULL
    )
    session.add(other_outbox)
    session.add(Event(kind="kept", customer_id=other_customer.id))
    session.commit()
    gone, kept, kept_msg = customer.id, other.id, other_msg.id

    session.exec(delete(Customer).where(Customer.id == gone))  # type: ignore[call-overload]
    session.commit()
    session.expunge_all()

    def count(model: type[SQLModel]) -> int:
        return session.exec(select(func.count()).select_from(model)).one()

    assert session.get(Customer, gone) is None
    assert [i.address for i in session.exec(select(Identity))] == ["c2@example.com"]
    assert [c.id for c in session.exec(select(Conversation))] == [kept]
    assert [m.id for m in session.exec(select(Message))] == [kept_msg]
    assert count(RawMessage) == 0 and count(Attachment) == 0
    assert [e.kind for e in session.exec(select(Event))] == ["kept"]
    outboxes = session.exec(select(Outbox)).all()
    assert [(o.conversation_id, o.sent_message_id) for o in outboxes] == [(kept, None)]


def test_deleting_an_identity_keeps_its_messages(session: Session) -> None:
    _customer, conv = add_thread(session, 1)
    ident = session.exec(select(Identity)).one()
    msg = add_message(session, conv, "x1")
    msg.identity_id = ident.id
    session.commit()
    session.delete(ident)
    session.commit()
    session.expire_all()
    assert session.get(Message, msg.id).identity_id is None  # type: ignore[union-attr]


# -- files and connections ----------------------------------------------------------------


def test_sqlite_file_is_private_wal_and_waits_for_locks(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "store.sqlite"
    engine = open_store(f"sqlite:///{path}")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    engine.dispose()
    for sidecar in path.parent.iterdir():  # -wal and -shm, when present
        assert stat.S_IMODE(sidecar.stat().st_mode) & 0o077 == 0, sidecar


def test_sqlite_file_permissions_are_tightened_when_reopened(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    open_store(f"sqlite:///{path}").dispose()
    os.chmod(path, 0o644)
    open_store(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- time ---------------------------------------------------------------------------------


def test_timestamps_round_trip_as_aware_utc(session: Session) -> None:
    _customer, conv = add_thread(session, 1)
    berlin = timezone(timedelta(hours=1))
    conv.first_response_due = datetime(2026, 11, 23, 14, 0, tzinfo=berlin)
    msg = add_message(session, conv, "x1")
    msg.sent_at = T0
    session.commit()
    session.expunge_all()
    got = session.exec(select(Conversation)).one()
    assert got.first_response_due == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    assert got.first_response_due.utcoffset() == timedelta(0)
    assert got.created_at.tzinfo is not None
    sent = session.exec(select(Message.sent_at)).one()
    assert sent == T0 and sent.utcoffset() == timedelta(0)
    # Comparisons in SQL use the same UTC instant whatever the offset given.
    due = select(Conversation).where(
        Conversation.first_response_due < datetime(2026, 11, 23, 14, 30, tzinfo=berlin)
    )
    assert session.exec(due).one().id == got.id


def test_naive_timestamps_are_refused(session: Session) -> None:
    _customer, conv = add_thread(session, 1)
    conv.resolved_at = datetime(2026, 1, 1)  # no time zone
    with pytest.raises(Exception, match="naive datetime"):
        session.commit()


def test_the_cjk_function_lives_beside_the_tables_whoever_migrates() -> None:
    """A team database: the tables in one schema, and the role that upgrades has its
    own schema first on its search_path. The search function must land beside the
    tables, or every other agent's search fails (issue 14 review)."""
    import uuid
    from urllib.parse import quote

    from sqlalchemy import create_engine

    from storage.search import search

    base = pg_url_or_skip()
    tables, own = f"t_{uuid.uuid4().hex[:10]}", f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{tables}"'))
        conn.execute(text(f'CREATE SCHEMA "{own}"'))
    sep = "&" if "?" in base else "?"

    def url(path: str) -> str:
        return f"{base}{sep}options={quote(f'-csearch_path={path}')}"

    try:
        alembic_upgrade(url(tables), "0008").dispose()
        upgraded = open_store(url(f"{own},{tables}"))  # the admin's own schema first
        upgraded.dispose()
        agent = open_store(url(tables))  # another role: only the tables' schema
        with Session(agent) as s:
            _customer, conv = add_thread(s, 1, "王小明")
            add_message(s, conv, "m1", "我的订单还没到")
            s.commit()
            assert [h.conversation_id for h in search(s, "还没到")] == [conv.id]
        agent.dispose()
        with admin.connect() as conn:
            where = (
                conn.execute(
                    text(
                        "SELECT n.nspname FROM pg_proc p "
                        "JOIN pg_namespace n ON n.oid = p.pronamespace "
                        "WHERE p.proname = 'omnitui_cjk' AND n.nspname IN (:a, :b)"
                    ),
                    {"a": tables, "b": own},
                )
                .scalars()
                .all()
            )
        assert where == [tables]
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{tables}" CASCADE'))
            conn.execute(text(f'DROP SCHEMA "{own}" CASCADE'))
        admin.dispose()

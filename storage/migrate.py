"""Schema migrations with Alembic, run programmatically at start-up.

An already-current store costs one connection and one read of ``alembic_version``
(about 1 ms for SQLite); Alembic (≈ 0.5 s to import) is loaded only when the schema is
behind. A new, empty database is created directly from the models plus
:mod:`storage.fts` and stamped at :data:`HEAD` (a test keeps that identical to what the
migration chain builds).

Creation and upgrades run in one transaction that also serialises concurrent starts
(SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock), so a failed migration leaves
the store as it was, and two processes starting together never migrate twice. On SQLite
foreign keys are switched off while migrating (table rebuilds must not cascade) and
checked before committing.

A new revision, generated against a store at head (then edit it; bump :data:`HEAD`)::

    from alembic import command
    from storage.migrate import alembic_config
    cfg = alembic_config()
    cfg.set_main_option("sqlalchemy.url", "sqlite:///dev.sqlite")
    command.revision(cfg, "what changed", autogenerate=True, rev_id="0004")
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from storage.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest revision in migrations/versions; a test keeps it equal to Alembic's head.
HEAD = "0011"
#: PostgreSQL advisory lock key held while creating or migrating ("omnitui" in hex-ish).
_PG_LOCK = 0x6F6D6E6974
_VERSION_TABLE = "alembic_version"


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at, or None for a database without our schema."""
    with engine.connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(_VERSION_TABLE):
        return None
    row = conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).first()
    return None if row is None else str(row[0])


def upgrade(engine: Engine) -> None:
    """Bring the store to :data:`HEAD`: a no-op (one query) when already there.

    Raises :class:`StoreError` with a one-line reason when the database cannot be
    reached, is newer than this program, or a migration fails.
    """
    where = _describe(engine)
    try:
        revision = current_revision(engine)
    except DBAPIError as exc:
        if _sqlstate(exc) == _DENIED:
            raise StoreError(
                f"cannot open database {where}: {_role(engine)} may not read the store "
                f"({_reason(exc)}): grant it the agent role (omnitui agent roles; "
                "docs/TEAM.md)"
            ) from None
        raise StoreError(f"cannot open database {where}: {_reason(exc)}") from None
    if revision == HEAD:
        return
    try:
        with engine.connect() as conn:
            _upgrade_locked(conn)
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure is one line for the user
        raise _migration_error(engine, revision, exc) from exc


def _migration_error(engine: Engine, revision: str | None, exc: Exception) -> StoreError:
    """The one line for a failed creation or upgrade. A role that may not change the
    schema (a team's agent role, docs/TEAM.md) is told that the owner must do it."""
    where = _describe(engine)
    state = _sqlstate(exc)
    if state == _DENIED and revision is None:
        return StoreError(
            f"database {where} has no omnitui store yet, and {_role(engine)} may not "
            "create one: open it once as the store's owner role (docs/TEAM.md)"
        )
    if state == _DENIED:
        return StoreError(
            f"database {where} is at schema revision {revision} and this omnitui needs "
            f"{HEAD}, but {_role(engine)} may not change the schema: open it once as the "
            "store's owner role to upgrade it (docs/TEAM.md)"
        )
    if state == _NO_SCHEMA:
        return StoreError(
            f"cannot create the store in database {where}: no schema on the search_path "
            "exists (create it, or name it in the URL: options=-csearch_path%3DNAME)"
        )
    return StoreError(
        f"cannot migrate database {where} from revision {revision or 'none'} "
        f"to {HEAD}: {_reason(exc)}"
    )


def _upgrade_locked(conn: Connection) -> None:
    """Create or migrate inside one transaction holding the store's write lock."""
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction
        conn.commit()
    try:
        with conn.begin():
            if sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            revision = _revision(conn)  # again: another process may have done it
            if revision == HEAD:
                return
            if revision is None:
                if _create_fresh(conn):
                    return
                raise StoreError(
                    f"database {_describe(conn.engine)} has tables but no omnitui schema "
                    "version: it is not an omnitui store (use a new database)"
                )
            _check_known(revision, _describe(conn.engine))
            _run_alembic(conn)
            if sqlite:
                bad = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                if bad is not None:
                    raise StoreError(
                        f"migrating {_describe(conn.engine)} would break a foreign key "
                        f"(table {bad[0]}, row {bad[1]}); nothing was changed"
                    )
    finally:
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def _create_fresh(conn: Connection) -> bool:
    """Create the newest schema directly in an empty database and stamp it, without
    loading Alembic. False when the database already has tables."""
    if inspect(conn).get_table_names():
        return False
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401 - registers the tables
    from storage import fact_triggers, fts, live_triggers

    SQLModel.metadata.create_all(conn)
    for statement in fts.create_statements(conn.dialect.name):
        conn.execute(text(statement))
    schema = None
    if conn.dialect.name == "postgresql":
        schema = conn.execute(text("SELECT current_schema()")).scalar()
    for statement in fact_triggers.create_statements(conn.dialect.name, schema):
        conn.execute(text(statement))
    for statement in live_triggers.create_statements(conn.dialect.name, schema):
        conn.execute(text(statement))
    conn.execute(
        text(
            f"CREATE TABLE {_VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
            f"CONSTRAINT {_VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
        )
    )
    conn.execute(text(f"INSERT INTO {_VERSION_TABLE} (version_num) VALUES (:v)"), {"v": HEAD})
    return True


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for storage/migrations (no alembic.ini), bound to ``connection``."""
    from alembic.config import Config

    _quiet_alembic()
    cfg = Config(stdout=io.StringIO())
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


# Kept for callers and tests that used the earlier private name.
_alembic_config = alembic_config


def head_revision() -> str:
    """The newest revision Alembic knows of."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _check_known(revision: str | None, where: str) -> None:
    """Refuse a store stamped by a newer omnitui (or anything else) with a clear line."""
    if revision is None:
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    if revision not in {s.revision for s in script.walk_revisions()}:
        raise StoreError(
            f"database {where} is at schema revision {revision!r}, which this omnitui "
            f"does not know (newest: {HEAD}); use a newer omnitui"
        )


def _run_alembic(conn: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(conn), "head")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic autogenerate hook: leave the full-text search objects (FTS5 tables and
    their shadow tables, GIN expression indexes) out of model comparisons."""
    return not (type_ in ("table", "index") and name and "_fts" in name)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Alembic autogenerate hook: write app column types as plain SQLAlchemy ones
    (``UTCDateTime`` as ``sa.DateTime()``, SQLModel's ``AutoString`` as ``sa.String()``),
    so revision files never import app code."""
    if type_ != "type":
        return False
    from sqlmodel.sql.sqltypes import AutoString

    from storage.types import UTCDateTime

    if isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _quiet_alembic() -> None:
    """Alembic logs at INFO; keep it off stdout/stderr unless the app logs warnings."""
    log = logging.getLogger("alembic")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())
    log.setLevel(logging.WARNING)


def _describe(engine: Engine) -> str:
    """The store's URL without a password (nor a ``password=`` parameter), for messages."""
    from storage.engine import redact_url

    return redact_url(engine.url.render_as_string(hide_password=True))


#: PostgreSQL's SQLSTATE for "permission denied" and "must be owner of".
_DENIED = "42501"
#: PostgreSQL's SQLSTATE for "no schema has been selected to create in".
_NO_SCHEMA = "3F000"


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL error (psycopg 3 or 2), else None."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(state) if state else None


def _role(engine: Engine) -> str:
    """``role 'name'`` of the URL's user, for messages."""
    user = engine.url.username
    return f"role {user!r}" if user else "this database role"


def _reason(exc: BaseException) -> str:
    """The first line of the driver's (or Alembic's) message."""
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip()
    first = message.splitlines()[0].strip() if message else type(exc).__name__
    return first.rstrip(".")

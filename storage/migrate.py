"""Schema migrations with Alembic, run programmatically at start-up.

When the store is already at the newest revision only the version table is read:
Alembic itself (slow to import) is loaded only when there is something to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError

from storage.errors import StoreError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest revision in migrations/versions; a test keeps it equal to Alembic's head.
HEAD = "0003"


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at, or None for a new store."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def _alembic_config():  # noqa: ANN202 - alembic.config.Config, imported lazily
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest revision Alembic knows of."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def create_fresh(engine: Engine) -> bool:
    """Create the newest schema directly in an empty database and stamp it, without
    loading Alembic (it costs half a second). False when the database is not empty."""
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401 - registers the tables
    from storage.fts import create_statements

    with engine.begin() as conn:
        if inspect(conn).get_table_names():
            return False
        SQLModel.metadata.create_all(conn)
        for statement in create_statements(conn.dialect.name):
            conn.execute(text(statement))
        conn.execute(
            text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD})
    return True


def upgrade(engine: Engine) -> None:
    """Bring the store to the newest schema; a no-op (one query) when already there."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        revision = current_revision(engine)
        if revision == HEAD:
            return
        if revision is None and create_fresh(engine):
            return
        from alembic import command

        logging.getLogger("alembic").setLevel(logging.WARNING)
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except (OperationalError, DBAPIError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot open database {url}: {reason}") from None

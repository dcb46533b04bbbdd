"""CJK search: the full-text indexes hold each CJK character as a word of its own

Revision ID: 0009
Revises: 0008

SQLite: the FTS5 triggers index ``omnitui_cjk(text)`` (a function every connection of
storage.engine registers); the rows holding CJK characters are indexed again. PostgreSQL:
the function ``omnitui_cjk`` and the GIN indexes over it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.cjk import FUNCTION, has_cjk, pg_function_in, spaced
from storage.fts import FTS, pg_index, sqlite_triggers

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Rows read per step while re-indexing.
_STEP = 5000


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Beside the tables, whatever the migrating role's search_path puts first.
        schema = bind.execute(
            sa.text(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = 'message'::regclass"
            )
        ).scalar_one()
        op.execute(pg_function_in(schema))
        for fts, table, column in FTS:
            op.execute(f"DROP INDEX IF EXISTS ix_{fts}")
            op.execute(pg_index(fts, table, column))
        return
    for fts, table, column in FTS:
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        for statement in sqlite_triggers(fts, table, column):
            op.execute(statement)
        _reindex_cjk(bind, fts, table, column)


def _reindex_cjk(bind: sa.Connection, fts: str, table: str, column: str) -> None:
    """Index again, spaced, the rows that hold CJK characters (the rest are unchanged)."""
    last = 0
    while True:
        rows = bind.execute(
            sa.text(f"SELECT id, {column} FROM {table} WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": _STEP},
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        for row_id, value in rows:
            if value is None or not has_cjk(value):
                continue
            bind.execute(
                sa.text(f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', :id, :old)"),
                {"id": row_id, "old": value},
            )
            bind.execute(
                sa.text(f"INSERT INTO {fts}(rowid, {column}) VALUES (:id, :new)"),
                {"id": row_id, "new": spaced(value)},
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for fts, table, column in FTS:
            op.execute(f"DROP INDEX IF EXISTS ix_{fts}")
            op.execute(
                f"CREATE INDEX ix_{fts} ON {table} USING gin (to_tsvector('simple', {column}))"
            )
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}(text)")
        return
    for fts, table, column in FTS:
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
        op.execute(
            f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column}); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, "
            f"old.{column}); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {column} ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, "
            f"old.{column}); "
            f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column}); END"
        )

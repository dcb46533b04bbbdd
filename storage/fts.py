"""The full-text search objects at the newest schema, as SQL per dialect.

SQLite: FTS5 external-content tables kept in sync by triggers. PostgreSQL: GIN indexes
over ``to_tsvector('simple', …)`` ('simple' suits names and non-English text: no
stemming, no stop words). Both index the text through ``omnitui_cjk``
(:mod:`storage.cjk`: each CJK character a word of its own). Used by the fast creation
of new stores; each change to these objects also has its migration (0001 created them,
0009 added ``omnitui_cjk``), and a test keeps the two identical.
"""

from __future__ import annotations

from storage.cjk import FUNCTION, PG_FUNCTION

FTS = (
    ("message_fts", "message", "text"),
    ("conversation_fts", "conversation", "subject"),
    ("customer_fts", "customer", "name"),
)


def create_statements(dialect: str) -> list[str]:
    """SQL creating the search objects on ``dialect`` (sqlite or postgresql)."""
    out: list[str] = [PG_FUNCTION] if dialect == "postgresql" else []
    for fts, table, column in FTS:
        if dialect == "sqlite":
            out += [
                f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', "
                f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
                *sqlite_triggers(fts, table, column),
            ]
        elif dialect == "postgresql":
            out.append(pg_index(fts, table, column))
    return out


def sqlite_triggers(fts: str, table: str, column: str) -> list[str]:
    """The triggers keeping ``fts`` in step with ``table``, through ``omnitui_cjk``."""
    old, new = f"{FUNCTION}(old.{column})", f"{FUNCTION}(new.{column})"
    return [
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, {new}); END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {column} ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, {new}); END",
    ]


def pg_index(fts: str, table: str, column: str) -> str:
    """The GIN index searching ``table.column`` on PostgreSQL."""
    return (
        f"CREATE INDEX ix_{fts} ON {table} USING gin (to_tsvector('simple', {FUNCTION}({column})))"
    )


def drop_statements(dialect: str) -> list[str]:
    """SQL removing the search objects."""
    out: list[str] = []
    for fts, _table, _column in FTS:
        if dialect == "sqlite":
            out += [f"DROP TRIGGER IF EXISTS {fts}_{s}" for s in ("ai", "ad", "au")]
            out.append(f"DROP TABLE IF EXISTS {fts}")
        elif dialect == "postgresql":
            out.append(f"DROP INDEX IF EXISTS ix_{fts}")
    if dialect == "postgresql":
        out.append(f"DROP FUNCTION IF EXISTS {FUNCTION}(text)")
    return out

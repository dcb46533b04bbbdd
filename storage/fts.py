"""The full-text search objects, as SQL per dialect.

SQLite: FTS5 external-content tables kept in sync by triggers. PostgreSQL: GIN indexes
over ``to_tsvector('simple', …)`` ('simple' suits names and non-English text: no
stemming, no stop words). Used by migration 0001 and by the fast creation of new
stores; a later change to these objects belongs in a new migration, not here.
"""

from __future__ import annotations

FTS = (
    ("message_fts", "message", "text"),
    ("conversation_fts", "conversation", "subject"),
    ("customer_fts", "customer", "name"),
)


def create_statements(dialect: str) -> list[str]:
    """SQL creating the search objects on ``dialect`` (sqlite or postgresql)."""
    out: list[str] = []
    for fts, table, column in FTS:
        if dialect == "sqlite":
            out += [
                f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', "
                f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
                f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
                f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column}); END",
                f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
                f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, "
                f"old.{column}); END",
                f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {column} ON {table} BEGIN "
                f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, "
                f"old.{column}); "
                f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column}); END",
            ]
        elif dialect == "postgresql":
            out.append(
                f"CREATE INDEX ix_{fts} ON {table} USING gin (to_tsvector('simple', {column}))"
            )
    return out


def drop_statements(dialect: str) -> list[str]:
    """SQL removing the search objects."""
    out: list[str] = []
    for fts, _table, _column in FTS:
        if dialect == "sqlite":
            out += [f"DROP TRIGGER IF EXISTS {fts}_{s}" for s in ("ai", "ad", "au")]
            out.append(f"DROP TABLE IF EXISTS {fts}")
        elif dialect == "postgresql":
            out.append(f"DROP INDEX IF EXISTS ix_{fts}")
    return out

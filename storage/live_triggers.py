"""The triggers that announce changes to other consoles (live updates, team mode).

A change to a conversation (any column: a new message, its status, its assignee…), a
draft begun or dropped, a presence row coming, going or changing state, an outgoing
message changing delivery state: each names the conversation concerned.

- PostgreSQL: ``pg_notify`` on the channel :func:`channel` of the tables' schema with
  the payload ``"<kind>:<conversation id>"``; delivered at commit, once per distinct
  payload and transaction. A console ``LISTEN``s and reads no table to learn of it.
- SQLite: a row in ``change_log``; a console watches ``PRAGMA data_version`` (a cheap
  read of the file header) and reads the rows past its last ``seq``. Old rows are
  pruned in batches by the trigger itself.

Used by the fast creation of new stores and by migration 0011.
"""

from __future__ import annotations

#: The PostgreSQL trigger function (created beside the tables).
PG_FUNCTION = "omnitui_announce_change"
#: How many ``change_log`` rows an SQLite store keeps (a console further behind reloads
#: everything).
KEEP = 10_000
_PRUNE_EVERY = 1_000

# (trigger suffix, event, table, conversation id expression, kind)
_SQLITE = (
    ("conversation_ai", "INSERT", "conversation", "new.id", "conversation"),
    ("conversation_au", "UPDATE", "conversation", "new.id", "conversation"),
    ("conversation_ad", "DELETE", "conversation", "old.id", "conversation"),
    ("draft_ai", "INSERT", "draft", "new.conversation_id", "draft"),
    ("draft_ad", "DELETE", "draft", "old.conversation_id", "draft"),
    ("presence_ai", "INSERT", "presence", "new.conversation_id", "presence"),
    ("presence_au", "UPDATE OF state", "presence", "new.conversation_id", "presence"),
    ("presence_ad", "DELETE", "presence", "old.conversation_id", "presence"),
    ("outbox_au", "UPDATE OF state", "outbox", "new.conversation_id", "outbox"),
)


def channel(schema: str | None) -> str:
    """The ``NOTIFY`` channel of a store whose tables live in ``schema`` (PostgreSQL),
    so two stores in one database never hear each other."""
    return f"omnitui.{schema or 'public'}"


def create_statements(dialect: str, schema: str | None = None) -> list[str]:
    """SQL creating the triggers on ``dialect``; on PostgreSQL ``schema`` is the
    tables' own (the function goes there)."""
    if dialect == "sqlite":
        return _sqlite()
    if dialect == "postgresql":
        return _postgresql(schema)
    return []


def drop_statements(dialect: str) -> list[str]:
    """SQL removing the triggers (and the PostgreSQL function)."""
    if dialect == "sqlite":
        names = [name for name, *_ in _SQLITE] + ["change_log_prune"]
        return [f"DROP TRIGGER IF EXISTS live_{n}" for n in names]
    if dialect == "postgresql":
        return [f"DROP FUNCTION IF EXISTS {PG_FUNCTION}() CASCADE"]
    return []


def _sqlite() -> list[str]:
    statements = [
        f"CREATE TRIGGER live_{name} AFTER {event} ON {table} BEGIN "
        f"INSERT INTO change_log (conversation_id, kind) VALUES ({ref}, '{kind}'); END"
        for name, event, table, ref, kind in _SQLITE
    ]
    # Only every _PRUNE_EVERY-th row prunes, so a big ingest pays one DELETE per batch.
    statements.append(
        "CREATE TRIGGER live_change_log_prune AFTER INSERT ON change_log "
        f"WHEN new.seq % {_PRUNE_EVERY} = 0 BEGIN "
        f"DELETE FROM change_log WHERE seq <= new.seq - {KEEP}; END"
    )
    return statements


def _postgresql(schema: str | None) -> list[str]:
    where = '"' + schema.replace('"', '""') + '".' if schema else ""
    function = f"{where}{PG_FUNCTION}"
    body = (
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        "DECLARE ref integer;\n"
        "BEGIN\n"
        "  IF TG_TABLE_NAME = 'conversation' THEN\n"
        "    IF TG_OP = 'DELETE' THEN ref := OLD.id; ELSE ref := NEW.id; END IF;\n"
        "  ELSIF TG_OP = 'DELETE' THEN ref := OLD.conversation_id;\n"
        "  ELSE ref := NEW.conversation_id;\n"
        "  END IF;\n"
        "  IF ref IS NOT NULL THEN\n"
        "    PERFORM pg_notify('omnitui.' || TG_TABLE_SCHEMA, TG_ARGV[0] || ':' || ref);\n"
        "  END IF;\n"
        "  RETURN NULL;\n"
        "END $fn$"
    )
    return [
        body,
        "CREATE TRIGGER live_conversation AFTER INSERT OR UPDATE OR DELETE ON conversation "
        f"FOR EACH ROW EXECUTE FUNCTION {function}('conversation')",
        "CREATE TRIGGER live_draft AFTER INSERT OR DELETE ON draft "
        f"FOR EACH ROW EXECUTE FUNCTION {function}('draft')",
        "CREATE TRIGGER live_presence AFTER INSERT OR DELETE OR UPDATE OF state ON presence "
        f"FOR EACH ROW EXECUTE FUNCTION {function}('presence')",
        "CREATE TRIGGER live_outbox AFTER UPDATE OF state ON outbox "
        f"FOR EACH ROW EXECUTE FUNCTION {function}('outbox')",
    ]

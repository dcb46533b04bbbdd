"""The triggers that forget a conversation's stored report figures (``report_fact``)
whenever something they are computed from changes: the conversation row, one of its
messages (added, removed, moved, re-dated), a status change in its log, its handling
time, which of its messages answered a survey, its customer's VIP flag. A report then
computes the figures again, so stored figures are never stale. Used by the fast
creation of new stores and by migration 0010.
"""

from __future__ import annotations

#: The PostgreSQL trigger function (created beside the tables).
PG_FUNCTION = "omnitui_forget_report_fact"
STATUS_KINDS = "('conversation.status', 'conversation.undone')"
_SQLITE_TRIGGERS = (
    "conversation_au",
    "message_ai",
    "message_ad",
    "message_au",
    "event_ai",
    "handling_ai",
    "handling_ad",
    "handling_au",
    "survey_ai",
    "survey_ad",
    "survey_au",
)


def create_statements(dialect: str, schema: str | None = None) -> list[str]:
    """SQL creating the triggers on ``dialect``; on PostgreSQL ``schema`` is the
    tables' own (the function goes there and names them with it)."""
    if dialect == "sqlite":
        return _sqlite()
    if dialect == "postgresql":
        return _postgresql(schema)
    return []


def drop_statements(dialect: str) -> list[str]:
    """SQL removing the triggers (and the PostgreSQL function)."""
    if dialect == "sqlite":
        names = (*_SQLITE_TRIGGERS, "customer_au")
        return [f"DROP TRIGGER IF EXISTS report_fact_{n}" for n in names]
    if dialect == "postgresql":
        return [f"DROP FUNCTION IF EXISTS {PG_FUNCTION}() CASCADE"]
    return []


def _forget(ref: str) -> str:
    return f"DELETE FROM report_fact WHERE conversation_id = {ref};"


def _sqlite() -> list[str]:
    return [
        "CREATE TRIGGER report_fact_conversation_au AFTER UPDATE ON conversation "
        f"BEGIN {_forget('old.id')} END",
        "CREATE TRIGGER report_fact_message_ai AFTER INSERT ON message "
        f"BEGIN {_forget('new.conversation_id')} END",
        "CREATE TRIGGER report_fact_message_ad AFTER DELETE ON message "
        f"BEGIN {_forget('old.conversation_id')} END",
        "CREATE TRIGGER report_fact_message_au AFTER UPDATE OF conversation_id, direction, "
        f"author, sent_at ON message BEGIN {_forget('old.conversation_id')} "
        f"{_forget('new.conversation_id')} END",
        f"CREATE TRIGGER report_fact_event_ai AFTER INSERT ON event WHEN new.kind IN "
        f"{STATUS_KINDS} BEGIN {_forget('new.conversation_id')} END",
        "CREATE TRIGGER report_fact_handling_ai AFTER INSERT ON handling "
        f"BEGIN {_forget('new.conversation_id')} END",
        "CREATE TRIGGER report_fact_handling_ad AFTER DELETE ON handling "
        f"BEGIN {_forget('old.conversation_id')} END",
        "CREATE TRIGGER report_fact_handling_au AFTER UPDATE ON handling "
        f"BEGIN {_forget('old.conversation_id')} {_forget('new.conversation_id')} END",
        "CREATE TRIGGER report_fact_survey_ai AFTER INSERT ON survey "
        f"BEGIN {_forget('new.conversation_id')} END",
        "CREATE TRIGGER report_fact_survey_ad AFTER DELETE ON survey "
        f"BEGIN {_forget('old.conversation_id')} END",
        "CREATE TRIGGER report_fact_survey_au AFTER UPDATE OF conversation_id, message_id "
        f"ON survey BEGIN {_forget('old.conversation_id')} {_forget('new.conversation_id')} END",
        "CREATE TRIGGER report_fact_customer_au AFTER UPDATE OF vip ON customer "
        "WHEN old.vip IS NOT new.vip BEGIN DELETE FROM report_fact WHERE conversation_id IN "
        "(SELECT id FROM conversation WHERE customer_id = new.id); END",
    ]


def _postgresql(schema: str | None) -> list[str]:
    where = '"' + schema.replace('"', '""') + '".' if schema else ""
    function = f"{where}{PG_FUNCTION}()"
    facts, conversations = f"{where}report_fact", f"{where}conversation"
    # The tables are named with their schema, so the statements are planned once and
    # work for every role whatever its search path.
    body = (
        f"CREATE OR REPLACE FUNCTION {function} RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        "BEGIN\n"
        "  IF TG_TABLE_NAME = 'conversation' THEN\n"
        f"    DELETE FROM {facts} WHERE conversation_id = OLD.id;\n"
        "  ELSIF TG_TABLE_NAME = 'customer' THEN\n"
        f"    DELETE FROM {facts} f USING {conversations} c "
        "WHERE f.conversation_id = c.id AND c.customer_id = NEW.id;\n"
        "  ELSE\n"
        "    IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
        f"      DELETE FROM {facts} WHERE conversation_id = OLD.conversation_id;\n"
        "    END IF;\n"
        "    IF TG_OP IN ('UPDATE', 'INSERT') THEN\n"
        f"      DELETE FROM {facts} WHERE conversation_id = NEW.conversation_id;\n"
        "    END IF;\n"
        "  END IF;\n"
        "  RETURN NULL;\n"
        "END $fn$"
    )
    return [
        body,
        "CREATE TRIGGER report_fact_conversation AFTER UPDATE ON conversation "
        f"FOR EACH ROW EXECUTE FUNCTION {function}",
        "CREATE TRIGGER report_fact_message AFTER INSERT OR DELETE OR UPDATE OF "
        "conversation_id, direction, author, sent_at ON message "
        f"FOR EACH ROW EXECUTE FUNCTION {function}",
        f"CREATE TRIGGER report_fact_event AFTER INSERT ON event FOR EACH ROW WHEN "
        f"(NEW.kind IN {STATUS_KINDS}) EXECUTE FUNCTION {function}",
        "CREATE TRIGGER report_fact_handling AFTER INSERT OR DELETE OR UPDATE ON handling "
        f"FOR EACH ROW EXECUTE FUNCTION {function}",
        "CREATE TRIGGER report_fact_survey AFTER INSERT OR DELETE OR UPDATE OF "
        f"conversation_id, message_id ON survey FOR EACH ROW EXECUTE FUNCTION {function}",
        "CREATE TRIGGER report_fact_customer AFTER UPDATE OF vip ON customer FOR EACH ROW "
        f"WHEN (OLD.vip IS DISTINCT FROM NEW.vip) EXECUTE FUNCTION {function}",
    ]

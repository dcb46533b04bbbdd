"""Reports: satisfaction surveys, handling time, and each conversation's report figures

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.fact_triggers import create_statements, drop_statements

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _fk(target: str, ondelete: str = "CASCADE") -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete=ondelete)


def _tables_schema() -> str | None:
    """The schema holding the store's tables on PostgreSQL (whatever the migrating
    role's search_path puts first); None on SQLite."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    return str(
        bind.execute(
            sa.text(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = 'conversation'::regclass"
            )
        ).scalar_one()
    )


def upgrade() -> None:
    schema = _tables_schema()
    op.create_table(
        "survey",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.Integer(), _fk("conversation.id"), nullable=False),
        sa.Column("customer_id", sa.Integer(), _fk("customer.id"), nullable=True),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("outbox_id", sa.Integer(), _fk("outbox.id", "SET NULL"), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Integer(), _fk("message.id", "SET NULL"), nullable=True),
        schema=schema,
    )
    op.create_index("ix_survey_conversation_id", "survey", ["conversation_id"], schema=schema)
    op.create_index("ix_survey_outbox_id", "survey", ["outbox_id"], schema=schema)
    op.create_index("ix_survey_customer_sent", "survey", ["customer_id", "sent_at"], schema=schema)
    op.create_table(
        "handling",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.Integer(), _fk("conversation.id"), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        schema=schema,
    )
    op.create_index(
        "ix_handling_conversation",
        "handling",
        ["conversation_id", "agent", "seconds"],
        schema=schema,
    )
    op.create_table(
        "report_fact",
        sa.Column("conversation_id", sa.Integer(), _fk("conversation.id"), primary_key=True),
        sa.Column("basis", sa.String(length=64), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("settled", sa.Float(), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("assignee", sa.String(length=128), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=False),
        sa.Column("messages_in", sa.Integer(), nullable=False),
        sa.Column("messages_out", sa.Integer(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("handled", sa.Float(), nullable=False),
        sa.Column("first_response", sa.BigInteger(), nullable=True),
        sa.Column("first_response_business", sa.BigInteger(), nullable=True),
        sa.Column("next_responses", sa.Text(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.Column("resolution", sa.BigInteger(), nullable=True),
        sa.Column("resolution_business", sa.BigInteger(), nullable=True),
        sa.Column("fcr", sa.Boolean(), nullable=True),
        sa.Column("first_response_clock", sa.String(length=8), nullable=True),
        sa.Column("first_response_due", sa.Float(), nullable=True),
        sa.Column("resolution_clock", sa.String(length=8), nullable=True),
        sa.Column("resolution_due", sa.Float(), nullable=True),
        sa.Column("unresolved", sa.Text(), nullable=False),
        sa.Column("hours", sa.Text(), nullable=False),
        schema=schema,
    )
    op.create_index("ix_report_fact_created", "report_fact", ["created"], schema=schema)
    op.create_index("ix_conversation_created", "conversation", ["created_at"], schema=schema)
    op.create_index(
        "ix_conversation_report",
        "conversation",
        ["status", "resolved_at", "created_at"],
        schema=schema,
    )
    for statement in create_statements(op.get_bind().dialect.name, schema):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_index("ix_conversation_report", "conversation")
    op.drop_index("ix_conversation_created", "conversation")
    op.drop_table("report_fact")
    op.drop_table("handling")
    op.drop_table("survey")

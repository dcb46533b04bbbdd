"""Reports: satisfaction surveys, handling time, and each conversation's report figures

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _fk(target: str, ondelete: str = "CASCADE") -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete=ondelete)


def upgrade() -> None:
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
    )
    op.create_index("ix_survey_conversation_id", "survey", ["conversation_id"])
    op.create_index("ix_survey_outbox_id", "survey", ["outbox_id"])
    op.create_index("ix_survey_customer_sent", "survey", ["customer_id", "sent_at"])
    op.create_table(
        "handling",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.Integer(), _fk("conversation.id"), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
    )
    op.create_index("ix_handling_conversation_id", "handling", ["conversation_id"])
    op.create_table(
        "report_fact",
        sa.Column("conversation_id", sa.Integer(), _fk("conversation.id"), primary_key=True),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("basis", sa.String(length=64), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=False),
        sa.Column("messages_in", sa.Integer(), nullable=False),
        sa.Column("messages_out", sa.Integer(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("first_response", sa.Float(), nullable=True),
        sa.Column("first_response_business", sa.Float(), nullable=True),
        sa.Column("next_responses", sa.Text(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.Column("resolution", sa.Float(), nullable=True),
        sa.Column("resolution_business", sa.Float(), nullable=True),
        sa.Column("fcr", sa.Boolean(), nullable=True),
        sa.Column("first_response_clock", sa.String(length=8), nullable=True),
        sa.Column("first_response_due", sa.Float(), nullable=True),
        sa.Column("resolution_clock", sa.String(length=8), nullable=True),
        sa.Column("resolution_due", sa.Float(), nullable=True),
        sa.Column("unresolved", sa.Text(), nullable=False),
        sa.Column("hours", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("report_fact")
    op.drop_table("handling")
    op.drop_table("survey")

"""Workflow: SLA pause and acknowledgement times, merged references, outbox lookup index

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", sa.DateTime(), nullable=True))
    op.create_index("ix_outbox_sent_message_id", "outbox", ["sent_message_id"])
    op.create_table(
        "ref_alias",
        sa.Column("ref", sa.String(length=32), primary_key=True),
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("conversation.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_index("ix_ref_alias_conversation_id", "ref_alias", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_ref_alias_conversation_id", table_name="ref_alias")
    op.drop_table("ref_alias")
    op.drop_index("ix_outbox_sent_message_id", table_name="outbox")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("paused_at")

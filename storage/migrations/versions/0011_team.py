"""Team mode: agents, presence, the change feed, drafts per agent, conversation
versions, account leaders

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.live_triggers import create_statements, drop_statements

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _tables_schema() -> str | None:
    """The schema holding the store's tables on PostgreSQL; None on SQLite."""
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
    op.add_column(
        "conversation",
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        schema=schema,
    )
    op.add_column(
        "account_state", sa.Column("leader", sa.String(length=256), nullable=True), schema=schema
    )
    op.add_column(
        "account_state", sa.Column("leader_seen_at", sa.DateTime(), nullable=True), schema=schema
    )
    op.create_table(
        "agent",
        sa.Column("name", sa.String(length=128), primary_key=True),
        sa.Column("email", sa.String(length=320), nullable=False, server_default=""),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("away", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("last_assigned_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        schema=schema,
    )
    op.create_table(
        "presence",
        sa.Column("agent", sa.String(length=128), primary_key=True),
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("conversation.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        schema=schema,
    )
    op.create_index(
        "ix_presence_conversation", "presence", ["conversation_id", "seen_at"], schema=schema
    )
    op.create_table(
        "change_log",
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        schema=schema,
    )
    # A draft per conversation and agent: two agents drafting in one conversation no
    # longer overwrite each other. Existing drafts keep their author.
    op.create_table(
        "draft_new",
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("conversation.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("author", sa.String(length=128), primary_key=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("began_at", sa.DateTime(), nullable=True),
        sa.Column("base_message_id", sa.Integer(), nullable=True),
        schema=schema,
    )
    op.execute(
        "INSERT INTO draft_new (conversation_id, author, mode, body, updated_at, began_at) "
        "SELECT conversation_id, substr(author, 1, 128), mode, body, updated_at, updated_at "
        "FROM draft"
    )
    op.drop_table("draft", schema=schema)
    op.rename_table("draft_new", "draft", schema=schema)
    if schema is not None:
        # PostgreSQL keeps the constraint's old name through a rename; use the usual one.
        op.execute(f'ALTER TABLE "{schema}".draft RENAME CONSTRAINT draft_new_pkey TO draft_pkey')
        op.execute(
            f'ALTER TABLE "{schema}".draft RENAME CONSTRAINT '
            "draft_new_conversation_id_fkey TO draft_conversation_id_fkey"
        )
    for statement in create_statements(op.get_bind().dialect.name, schema):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("change_log")
    op.drop_index("ix_presence_conversation", "presence")
    op.drop_table("presence")
    op.drop_table("agent")
    op.drop_column("account_state", "leader_seen_at")
    op.drop_column("account_state", "leader")
    op.drop_column("conversation", "version")

"""Identity phone: the number an identity provably stands for, used to link customers

SMS identities get their own number; other identities (Matrix bridge puppets) stay NULL,
as a number claimed by an address cannot be verified after the fact. Links already
made are kept.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _phone(address: str) -> str | None:
    """``+`` and 6–15 ASCII digits when the address is exactly that, else None."""
    digits = address.strip().removeprefix("+")
    if digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 15:
        return "+" + digits
    return None


def upgrade() -> None:
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
    op.create_index("ix_identity_phone", "identity", ["phone"])
    identity = sa.table(
        "identity",
        sa.column("id", sa.Integer()),
        sa.column("channel", sa.String()),
        sa.column("address", sa.String()),
        sa.column("phone", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(identity.c.id, identity.c.address).where(identity.c.channel == "sms")
    ).all()
    numbers = [{"b_id": i, "b_phone": p} for i, a in rows if (p := _phone(a)) is not None]
    update = (
        identity.update()
        .where(identity.c.id == sa.bindparam("b_id"))
        .values(phone=sa.bindparam("b_phone"))
    )
    for start in range(0, len(numbers), 1000):
        bind.execute(update, numbers[start : start + 1000])


def downgrade() -> None:
    op.drop_index("ix_identity_phone", table_name="identity")
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_column("phone")

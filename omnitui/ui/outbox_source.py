"""What the outbox screen reads: undelivered replies (``omnitui.outbox_items``) with the
customer each goes to, and the counts the status line compares. Called in worker
threads, never on the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from omnitui.outbox_items import STATES, OutboxCounts, Pending, outbox_counts, undelivered
from storage.models import Conversation, Customer, Identity, Message
from storage.repository import identity_channel

#: Replies shown in the list; more are counted and pointed to the CLI.
LIST_LIMIT = 1000

_C = Conversation.__table__.c  # type: ignore[attr-defined]
_CU = Customer.__table__.c  # type: ignore[attr-defined]
_I = Identity.__table__.c  # type: ignore[attr-defined]
_M = Message.__table__.c  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Row:
    """One reply as the screen lists it."""

    item: Pending
    #: ``Name <address>`` of the customer it goes to ("" when unknown).
    recipient: str


@dataclass(frozen=True)
class Items:
    """The first :data:`LIST_LIMIT` replies, oldest first, and the counts read with them."""

    rows: list[Row]
    counts: OutboxCounts

    @property
    def total(self) -> int:
        return self.counts.total


def load_items(engine: Engine, limit: int = LIST_LIMIT) -> Items:
    """Every reply not sent yet (queued, sending, failing, failed, uncertain)."""
    with engine.connect() as conn:
        counts = outbox_counts(conn)
        items = undelivered(conn, states=STATES)[:limit]
        to = recipients(conn, {i.conversation_id for i in items if i.conversation_id})
    return Items([Row(i, to.get(i.conversation_id or 0, "")) for i in items], counts)


def recipients(conn: Connection, conversation_ids: set[int]) -> dict[int, str]:
    """Who each conversation's replies go to, as ``sync.outbound_for`` picks it: the
    customer's identity that wrote last in the conversation, else the customer's newest
    address on the channel."""
    found: dict[int, str] = {}
    for cid in sorted(conversation_ids):
        conv = conn.execute(
            select(_C.customer_id, _C.channel, _CU.name)
            .select_from(Conversation.__table__.join(Customer.__table__, _CU.id == _C.customer_id))  # type: ignore[attr-defined]
            .where(_C.id == cid)
        ).first()
        if conv is None:
            continue
        mine = select(_I.id).where(_I.customer_id == conv.customer_id)
        address = conn.execute(
            select(_I.address)
            .select_from(Message.__table__.join(Identity.__table__, _I.id == _M.identity_id))  # type: ignore[attr-defined]
            .where(_M.conversation_id == cid, _M.direction == "in", _M.identity_id.in_(mine))
            .order_by(_M.sent_at.desc())
            .limit(1)
        ).scalar()
        if address is None:
            address = conn.execute(
                select(_I.address)
                .where(
                    _I.customer_id == conv.customer_id,
                    _I.channel == identity_channel(conv.channel),
                )
                .order_by(_I.id.desc())
                .limit(1)
            ).scalar()
        name = (conv.name or "").strip()
        if name and address:
            found[cid] = f"{name} <{address}>"
        else:
            found[cid] = name or address or ""
    return found

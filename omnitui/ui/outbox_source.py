"""What the outbox screen reads: undelivered replies (``omnitui.desk.outbox``) with the
customer each goes to, and the counts the status line compares. Called in worker
threads, never on the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from omnitui.desk.outbox import STATES, OutboxCounts, Pending, outbox_counts, undelivered
from storage.models import Conversation, Customer

#: Replies shown in the list; more are counted and pointed to the CLI.
LIST_LIMIT = 1000


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
    to = recipients(engine, {i.conversation_id for i in items if i.conversation_id})
    return Items([Row(i, to.get(i.conversation_id or 0, "")) for i in items], counts)


def recipients(engine: Engine, conversation_ids: set[int]) -> dict[int, str]:
    """Who each conversation's replies go to, by the rule the sender uses
    (``sync.reply_recipient``): ``Name <address>``."""
    from sqlmodel import Session

    from omnitui.sync import reply_recipient

    found: dict[int, str] = {}
    with Session(engine) as s:
        for cid in sorted(conversation_ids):
            conv = s.get(Conversation, cid)
            if conv is None:
                continue
            customer = s.get(Customer, conv.customer_id) if conv.customer_id else None
            name = (customer.name if customer else "").strip()
            address = reply_recipient(s, conv)
            found[cid] = f"{name} <{address}>" if name and address else name or address or ""
    return found

"""Both sides of a merge or an erasure, described before anyone confirms it (console
dialog and CLI question alike). Customer text is returned raw: callers sanitise."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.models import Conversation, Customer, Identity, Message


@dataclass(frozen=True)
class ConversationSide:
    """What a conversation is, in a few words."""

    ref: str
    subject: str
    channel: str
    status: str
    customer: str
    messages: int

    def line(self) -> str:
        """``C-1042 · email · open · Ana García · 3 messages · "Refund for…"``."""
        subject = f' · "{self.subject[:60]}"' if self.subject else ""
        return (
            f"{self.ref} · {self.channel} · {self.status} · {self.customer} · "
            f"{self.messages} message{'s' if self.messages != 1 else ''}{subject}"
        )


@dataclass(frozen=True)
class CustomerSide:
    """Who a customer is: name, addresses, how many conversations."""

    id: int
    name: str
    vip: bool
    addresses: tuple[str, ...]
    conversations: int

    def line(self) -> str:
        """``Ana García (VIP) · ana@example.com, +34… · 4 conversations``."""
        shown = ", ".join(self.addresses[:4]) + (" …" if len(self.addresses) > 4 else "")
        return (
            f"{self.name or '(no name)'}{' (VIP)' if self.vip else ''} · {shown or 'no address'}"
            f" · {self.conversations} conversation{'s' if self.conversations != 1 else ''}"
        )


def conversation_side(s: Session, conv: Conversation) -> ConversationSide:
    """Describe ``conv``."""
    customer = s.get(Customer, conv.customer_id) if conv.customer_id is not None else None
    messages = s.exec(
        select(func.count(col(Message.id))).where(Message.conversation_id == conv.id)
    ).one()
    return ConversationSide(
        conv.ref or "",
        conv.subject or conv.preview or "",
        conv.channel,
        conv.status,
        customer.name if customer is not None else "",
        int(messages),
    )


def customer_side(s: Session, customer_id: int) -> CustomerSide | None:
    """Describe a customer; None when there is none with that id."""
    customer = s.get(Customer, customer_id)
    if customer is None:
        return None
    addresses = s.exec(
        select(Identity.channel, Identity.address).where(Identity.customer_id == customer_id)
    ).all()
    count = s.exec(
        select(func.count(col(Conversation.id))).where(Conversation.customer_id == customer_id)
    ).one()
    return CustomerSide(
        customer_id,
        customer.name,
        customer.vip,
        tuple(a if c in ("email", "sms") else f"{c}:{a}" for c, a in addresses),
        int(count),
    )

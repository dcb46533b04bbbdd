"""Writes to the store: identities, conversations, messages, outbox, events, cursors.

Every function takes an open :class:`sqlmodel.Session` and leaves committing to the
caller, so a poll's messages and its advanced cursor commit in one transaction.
Business rules (SLA targets, threading) live in ``omnitui``; this module records facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, select

from storage.models import (
    NO_DUE,
    AccountState,
    Attachment,
    Conversation,
    Customer,
    Event,
    Identity,
    Message,
    Outbox,
    RawMessage,
    SyncCursor,
)
from storage.types import epoch, utcnow

REF_PREFIX = "C-"
REF_OFFSET = 1000


def normalise_address(channel: str, address: str) -> str:
    """The canonical form of an address: emails lower-cased, phone numbers bare."""
    address = address.strip()
    if channel == "email":
        return address.lower()
    if channel in ("sms", "phone"):
        keep = "".join(ch for ch in address if ch.isdigit() or ch == "+")
        return keep or address
    return address


def identity_channel(channel: str) -> str:
    """Identity channel for a conversation channel: SMS and calls share phone numbers."""
    return "sms" if channel == "phone" else channel


def ref_for(conversation_id: int) -> str:
    """The human reference of a conversation id (``C-1042``)."""
    return f"{REF_PREFIX}{REF_OFFSET + conversation_id}"


def id_for_ref(ref: str) -> int | None:
    """The conversation id a reference names, or None if it is not one of ours."""
    ref = ref.strip().strip("[]").upper()
    if not ref.startswith(REF_PREFIX):
        return None
    digits = ref[len(REF_PREFIX) :]
    if not digits.isdigit():
        return None
    value = int(digits) - REF_OFFSET
    return value if value > 0 else None


def log_event(
    s: Session,
    kind: str,
    *,
    actor: str = "system",
    conversation_id: int | None = None,
    customer_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    """Record who did what when."""
    ev = Event(
        kind=kind,
        actor=actor,
        conversation_id=conversation_id,
        customer_id=customer_id,
        detail=detail or {},
        at=at or utcnow(),
    )
    s.add(ev)
    return ev


def find_identity(s: Session, channel: str, address: str) -> Identity | None:
    """The identity with this channel and address, if known."""
    channel = identity_channel(channel)
    address = normalise_address(channel, address)
    return s.exec(
        select(Identity).where(Identity.channel == channel, Identity.address == address)
    ).one_or_none()


def get_or_create_identity(
    s: Session, channel: str, address: str, display_name: str = ""
) -> Identity:
    """The identity for ``channel:address``, creating it and its customer if new.

    A new identity whose address is also known on a linked channel (the same phone
    number on SMS and calls) joins that customer.
    """
    found = find_identity(s, channel, address)
    if found is not None:
        if display_name and not found.display_name:
            found.display_name = display_name
        return found
    channel = identity_channel(channel)
    address = normalise_address(channel, address)
    customer = Customer(name=display_name or address)
    s.add(customer)
    s.flush()
    ident = Identity(
        customer_id=customer.id, channel=channel, address=address, display_name=display_name
    )
    s.add(ident)
    s.flush()
    log_event(s, "customer.created", customer_id=customer.id, detail={"via": channel})
    return ident


def create_conversation(
    s: Session,
    *,
    account: str,
    channel: str,
    customer_id: int,
    subject: str = "",
    created_at: datetime | None = None,
    priority: str = "normal",
    actor: str = "system",
    thread_key: str | None = None,
) -> Conversation:
    """A new open conversation with its reference assigned."""
    created = created_at or utcnow()
    conv = Conversation(
        account=account,
        channel=channel,
        customer_id=customer_id,
        thread_key=thread_key,
        subject=subject,
        priority=priority,
        created_at=created,
        last_message_at=created,
        recency=-epoch(created),
    )
    s.add(conv)
    s.flush()
    assert conv.id is not None
    conv.ref = ref_for(conv.id)
    log_event(
        s,
        "conversation.created",
        actor=actor,
        conversation_id=conv.id,
        customer_id=customer_id,
        detail={"channel": channel, "account": account},
        at=created,
    )
    return conv


def message_exists(s: Session, account: str, external_id: str) -> bool:
    """Whether this account already stored a message with this external id."""
    row = s.exec(
        select(Message.id).where(Message.account == account, Message.external_id == external_id)
    ).first()
    return row is not None


def message_id_exists(s: Session, account: str, message_id: str) -> bool:
    """Whether this account already stored a message with this Message-ID header."""
    row = s.exec(
        select(Message.id).where(Message.account == account, Message.message_id == message_id)
    ).first()
    return row is not None


@dataclass(frozen=True)
class NewAttachment:
    """An attachment to store with a message."""

    filename: str
    content_type: str
    content: bytes | None = None
    size: int | None = None
    sha256: str | None = None


def add_message(
    s: Session,
    conv: Conversation,
    *,
    external_id: str,
    direction: str,
    text: str,
    sent_at: datetime,
    received_at: datetime | None = None,
    kind: str = "message",
    identity_id: int | None = None,
    author: str | None = None,
    from_addr: str = "",
    to_addrs: Sequence[str] = (),
    subject: str = "",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    raw: bytes | None = None,
    raw_type: str = "message/rfc822",
    attachments: Iterable[NewAttachment] = (),
    source: str | None = None,
) -> Message:
    """Store one message in ``conv`` and update the conversation's summary columns.

    The caller has checked :func:`message_exists`; the unique key on
    (account, external_id) still refuses a duplicate at commit.
    """
    atts = list(attachments)
    msg = Message(
        conversation_id=conv.id,
        account=conv.account,
        external_id=external_id,
        direction=direction,
        kind=kind,
        identity_id=identity_id,
        author=author,
        from_addr=from_addr,
        to_addrs=list(to_addrs),
        subject=subject,
        text=text,
        sent_at=sent_at,
        received_at=received_at or utcnow(),
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=list(references),
        has_attachments=bool(atts),
        source=source,
    )
    s.add(msg)
    s.flush()
    if raw is not None:
        s.add(RawMessage(message_id=msg.id, data=raw, content_type=raw_type))
    for att in atts:
        data = att.content
        s.add(
            Attachment(
                message_id=msg.id,
                filename=att.filename,
                content_type=att.content_type,
                size=len(data) if data is not None else (att.size or 0),
                sha256=att.sha256 or (sha256(data).hexdigest() if data is not None else ""),
                content=data,
            )
        )
    conv.message_count = (conv.message_count or 0) + 1
    if direction != "note" and sent_at >= conv.last_message_at:
        conv.last_message_at = sent_at
        conv.recency = -epoch(sent_at)
        first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        conv.preview = first_line[:200]
    if direction == "in":
        conv.unread = True
        if conv.last_inbound_at is None or sent_at > conv.last_inbound_at:
            conv.last_inbound_at = sent_at
    return msg


def running_due(conv: Conversation) -> datetime | None:
    """The most urgent SLA due time still running on ``conv`` (None when none runs)."""
    if conv.status in ("resolved", "snoozed"):
        return None
    dues: list[datetime] = []
    if conv.first_responded_at is None and conv.first_response_due is not None:
        dues.append(conv.first_response_due)
    if conv.status != "pending":
        if conv.next_response_due is not None:
            dues.append(conv.next_response_due)
        if conv.resolution_due is not None:
            dues.append(conv.resolution_due)
    return min(dues) if dues else None


def refresh_urgency(conv: Conversation) -> None:
    """Recompute the inbox sort column from the conversation's SLA fields."""
    due = running_due(conv)
    conv.urgency_due = epoch(due) if due is not None else NO_DUE


def set_status(
    s: Session,
    conv: Conversation,
    status: str,
    *,
    actor: str = "me",
    at: datetime | None = None,
    snoozed_until: datetime | None = None,
) -> None:
    """Change a conversation's status and record it."""
    at = at or utcnow()
    old = conv.status
    conv.status = status
    conv.snoozed_until = snoozed_until if status == "snoozed" else None
    if status == "resolved":
        conv.resolved_at = at
    elif old == "resolved":
        conv.resolved_at = None
    refresh_urgency(conv)
    log_event(
        s,
        "conversation.status",
        actor=actor,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        detail={"from": old, "to": status},
        at=at,
    )


def queue_outbox(
    s: Session,
    conv: Conversation,
    body: str,
    *,
    author: str = "me",
    message_id_header: str | None = None,
    mime: bytes | None = None,
) -> Outbox:
    """Queue a reply on the conversation's own account and channel."""
    item = Outbox(
        conversation_id=conv.id,
        account=conv.account,
        channel=conv.channel,
        author=author,
        body=body,
        state="queued",
        message_id_header=message_id_header,
        mime=mime,
        next_attempt_at=utcnow(),
    )
    s.add(item)
    s.flush()
    log_event(
        s,
        "outbox.queued",
        actor=author,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        detail={"outbox_id": item.id},
    )
    return item


def set_account_state(s: Session, account: str, **fields: Any) -> AccountState:
    """Update the health record of one account."""
    state = s.get(AccountState, account)
    if state is None:
        state = AccountState(account=account)
        s.add(state)
    for key, value in fields.items():
        setattr(state, key, value)
    return state


def load_cursors(s: Session, account: str) -> dict[str, dict[str, Any]]:
    """Every stored cursor of ``account`` keyed by folder."""
    rows = s.exec(select(SyncCursor).where(SyncCursor.account == account)).all()
    return {row.folder: dict(row.state) for row in rows}


def save_cursor(s: Session, account: str, folder: str, state: dict[str, Any]) -> None:
    """Store where polling ``account``/``folder`` resumes."""
    row = s.exec(
        select(SyncCursor).where(SyncCursor.account == account, SyncCursor.folder == folder)
    ).one_or_none()
    if row is None:
        s.add(SyncCursor(account=account, folder=folder, state=dict(state)))
    else:
        row.state = dict(state)
        row.updated_at = utcnow()


def forget_customer(s: Session, customer_id: int, *, actor: str = "me") -> dict[str, int]:
    """Erase a customer and everything of theirs (GDPR/CCPA erasure).

    Returns counts of what was removed. The only trace left is an event with the
    former customer id and those counts: no names, addresses or text.
    """
    conv_ids = list(
        s.exec(select(Conversation.id).where(Conversation.customer_id == customer_id)).all()
    )
    counts = {
        "conversations": len(conv_ids),
        "messages": s.exec(
            select(func.count(Message.id)).where(Message.conversation_id.in_(conv_ids))
        ).one()
        if conv_ids
        else 0,
        "identities": s.exec(
            select(func.count(Identity.id)).where(Identity.customer_id == customer_id)
        ).one(),
    }
    if conv_ids:
        s.exec(delete(Outbox).where(Outbox.conversation_id.in_(conv_ids)))
        s.exec(delete(Event).where(Event.conversation_id.in_(conv_ids)))
    s.exec(delete(Event).where(Event.customer_id == customer_id))
    s.exec(delete(Customer).where(Customer.id == customer_id))
    s.flush()
    log_event(s, "customer.forgotten", actor=actor, detail={"former_id": customer_id, **counts})
    return counts

"""Writes to the store: identities, conversations, messages, outbox, events, cursors.

Every function takes an open :class:`sqlmodel.Session` and leaves committing to the
caller, so a poll's messages and its advanced cursor commit in one transaction.
Business rules (SLA targets and urgency, threading, routing) live in ``omnitui.desk``;
this module records facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, tuple_, update
from sqlmodel import Session, col, select

from storage import quarantine
from storage.limits import MAX_INT
from storage.models import (
    NO_DUE,
    AccountState,
    Attachment,
    Conversation,
    Customer,
    Draft,
    Event,
    Identity,
    Message,
    Outbox,
    RawMessage,
    RefAlias,
    SyncCursor,
    table_of,
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
    # ASCII digits only ("²" is a digit to str.isdigit), and no more than an id holds:
    # a subject's [C-99999999999999999999999] is not one of ours, on any backend.
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 10:
        return None
    value = int(digits) - REF_OFFSET
    return value if 0 < value <= MAX_INT else None


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
        id=_first_free_id(s),
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


@dataclass(frozen=True)
class NewAttachment:
    """An attachment to store with a message."""

    filename: str
    content_type: str
    content: bytes | None = None
    size: int | None = None
    sha256: str | None = None
    remote_ref: str | None = None


def add_message(
    s: Session,
    conv: Conversation,
    *,
    raw: bytes | None = None,
    raw_type: str = "message/rfc822",
    attachments: Iterable[NewAttachment] = (),
    **fields: Any,
) -> Message:
    """Store one message in ``conv`` and update the conversation's summary columns.

    ``fields`` are :class:`Message` columns (``external_id``, ``direction``, ``text``,
    ``sent_at``, …). The caller has checked :func:`known_messages`; the unique key on
    (account, external_id) still refuses a duplicate.
    """
    atts = list(attachments)
    msg = new_message(conv, has_attachments=bool(atts), **fields)
    s.add(msg)
    s.flush()
    store_payload(s, msg, raw, raw_type, atts)
    count_message(conv, msg)
    return msg


def new_message(conv: Conversation, **fields: Any) -> Message:
    """A message row for ``conv`` (not yet added to the session)."""
    fields.setdefault("received_at", utcnow())
    for key in ("to_addrs", "references"):
        fields[key] = list(fields.get(key) or ())
    return Message(conversation_id=conv.id, account=conv.account, **fields)


def store_payload(
    s: Session,
    msg: Message,
    raw: bytes | None,
    raw_type: str,
    attachments: Sequence[NewAttachment],
) -> None:
    """Add the raw bytes and attachments of a flushed message."""
    if raw is not None:
        s.add(RawMessage(message_id=msg.id, data=raw, content_type=raw_type))
    for att in attachments:
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


def store_payloads(
    s: Session,
    items: Sequence[tuple[int, bytes | None, str, Sequence[NewAttachment]]],
) -> None:
    """:func:`store_payload` for many stored messages at once (bulk inserts), each given
    by its id."""
    raws = [
        {"message_id": msg_id, "data": raw, "content_type": raw_type}
        for msg_id, raw, raw_type, _atts in items
        if raw is not None
    ]
    atts = [
        {
            "message_id": msg_id,
            "filename": att.filename,
            "content_type": att.content_type,
            "size": len(att.content) if att.content is not None else (att.size or 0),
            "sha256": att.sha256
            or (sha256(att.content).hexdigest() if att.content is not None else ""),
            "content": att.content,
            "remote_ref": att.remote_ref,
        }
        for msg_id, _raw, _type, attachments in items
        for att in attachments
    ]
    if raws:
        s.execute(insert(table_of(RawMessage)), raws)
    if atts:
        s.execute(insert(table_of(Attachment)), atts)


def log_events(s: Session, events: Sequence[dict[str, Any]]) -> None:
    """Record many events at once (bulk insert); keys as :func:`log_event`'s arguments."""
    if not events:
        return
    now = utcnow()
    rows = [
        {
            "kind": e["kind"],
            "actor": e.get("actor", "system"),
            "conversation_id": e.get("conversation_id"),
            "customer_id": e.get("customer_id"),
            "detail": e.get("detail") or {},
            "at": e.get("at") or now,
        }
        for e in events
    ]
    s.execute(insert(table_of(Event)), rows)


def count_message(conv: Conversation, msg: Message) -> None:
    """Update a conversation's summary columns for one more message."""
    count(conv, direction=msg.direction, text=msg.text, sent_at=msg.sent_at)


def count(conv: Conversation, *, direction: str, text: str, sent_at: datetime) -> None:
    """Update a conversation's summary columns for one more message."""
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


def _first_free_id(s: Session) -> int | None:
    """On SQLite, the id the next conversation must take when the newest ones were
    merged away: SQLite would reuse the highest deleted rowid, and a merged-away
    reference must keep leading to its merge target. None: let the database choose."""
    if s.get_bind().dialect.name != "sqlite":
        return None  # PostgreSQL sequences never go back
    merged = [id_for_ref(r) or 0 for r in s.exec(select(RefAlias.ref)).all()]
    if not merged:
        return None
    newest = s.exec(select(func.max(Conversation.id))).one() or 0
    floor = max(merged)
    return floor + 1 if floor >= newest else None


def insert_conversations(s: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert new conversations in bulk (``account``, ``channel``, ``customer_id``,
    ``thread_key``, ``subject``, ``created_at``, and any other column, which otherwise
    takes a new open conversation's value), set their references, and return their ids
    in order."""
    table = table_of(Conversation)
    full = [
        {
            "preview": "",
            "status": "open",
            "priority": "normal",
            "assignee": None,
            "tags": [],
            "unread": True,
            "message_count": 0,
            "last_message_at": row["created_at"],
            "recency": -epoch(row["created_at"]),
            "urgency_due": NO_DUE,
            **row,
        }
        for row in rows
    ]
    first = _first_free_id(s)
    if first is not None:
        for n, row in enumerate(full):
            row["id"] = first + n
    result = s.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), full)
    ids = [r[0] for r in result]
    s.execute(
        update(table).where(table.c.id == bindparam("b_id")).values(ref=bindparam("b_ref")),
        [{"b_id": i, "b_ref": ref_for(i)} for i in ids],
    )
    return ids


def insert_messages(s: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert message rows in bulk; returns their ids in order."""
    table = table_of(Message)
    now = utcnow()
    full = [{"received_at": now, "author": None, **row} for row in rows]
    result = s.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), full)
    return [r[0] for r in result]


def known_messages(
    s: Session, account: str, external_ids: Iterable[str], message_ids: Iterable[str]
) -> tuple[set[str], set[str]]:
    """Which of these external ids and Message-IDs the account already stored."""
    ext = list(set(external_ids))
    mids = list(set(message_ids))
    seen_ext: set[str] = set()
    seen_mid: set[str] = set()
    for chunk in _chunks(ext):
        seen_ext.update(
            s.exec(
                select(Message.external_id).where(
                    Message.account == account, col(Message.external_id).in_(chunk)
                )
            ).all()
        )
    for chunk in _chunks(mids):
        seen_mid.update(
            m
            for m in s.exec(
                select(Message.message_id).where(
                    Message.account == account, col(Message.message_id).in_(chunk)
                )
            ).all()
            if m
        )
    return seen_ext, seen_mid


def edit_message_text(s: Session, account: str, external_id: str, text: str) -> None:
    """Replace a stored message's text (the customer edited it on their side)."""
    table = table_of(Message)
    s.execute(
        update(table)
        .where(table.c.account == account)
        .where(table.c.external_id == external_id)
        .values(text=text)
    )


def find_identities(s: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Identity]:
    """The stored identities with these normalised ``(channel, address)`` keys."""
    found: dict[tuple[str, str], Identity] = {}
    for chunk in _chunks(list(keys), 400):
        for ident in s.exec(
            select(Identity).where(tuple_(Identity.channel, Identity.address).in_(chunk))
        ).all():
            found[(ident.channel, ident.address)] = ident
    return found


def phone_owners(s: Session, phones: set[str]) -> dict[str, set[int]]:
    """The customers that already have an identity with each of ``phones``."""
    out: dict[str, set[int]] = {}
    for chunk in _chunks(sorted(phones), 400):
        rows = s.exec(
            select(Identity.phone, Identity.customer_id)
            .where(col(Identity.phone).in_(chunk))
            .distinct()
        ).all()
        for phone, customer_id in rows:
            # ``phone`` is one of ``phones`` (so set); ``customer_id`` is NOT NULL.
            assert phone is not None and customer_id is not None
            out.setdefault(phone, set()).add(customer_id)
    return out


def add_customers(s: Session, names: Sequence[str]) -> list[Customer]:
    """New customers with these names, flushed (their ids are set)."""
    customers = [Customer(name=name) for name in names]
    s.add_all(customers)
    if customers:
        s.flush()
    return customers


def _chunks(items: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def set_status(
    s: Session,
    conv: Conversation,
    status: str,
    *,
    actor: str = "me",
    at: datetime | None = None,
    snoozed_until: datetime | None = None,
) -> None:
    """Record a status as given (no rule applied: the desk's lifecycle decides pauses
    and clocks, and refreshes the urgency)."""
    at = at or utcnow()
    old = conv.status
    conv.status = status
    conv.snoozed_until = snoozed_until if status == "snoozed" else None
    if status == "resolved":
        conv.resolved_at = at
    elif old == "resolved":
        conv.resolved_at = None
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
            select(func.count(col(Message.id))).where(col(Message.conversation_id).in_(conv_ids))
        ).one()
        if conv_ids
        else 0,
        "identities": s.exec(
            select(func.count(col(Identity.id))).where(Identity.customer_id == customer_id)
        ).one(),
    }
    addresses = list(
        s.exec(select(Identity.address).where(Identity.customer_id == customer_id)).all()
    )
    counts["quarantined"] = quarantine.forget_mentions(s, addresses)
    if conv_ids:
        s.exec(delete(Outbox).where(col(Outbox.conversation_id).in_(conv_ids)))
        s.exec(delete(Draft).where(col(Draft.conversation_id).in_(conv_ids)))
        s.exec(delete(Event).where(col(Event.conversation_id).in_(conv_ids)))
    s.exec(delete(Event).where(col(Event.customer_id) == customer_id))
    s.exec(delete(Customer).where(col(Customer.id) == customer_id))
    s.flush()
    log_event(s, "customer.forgotten", actor=actor, detail={"former_id": customer_id, **counts})
    return counts

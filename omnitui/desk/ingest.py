"""Ingest, one way: load what a batch needs, decide in :mod:`omnitui.desk.ingest_plan`,
write the result in one phase.

1. **Load**: which external ids and Message-IDs are stored; the senders' identities
   and customers (new senders are recorded first: their customers need ids, and phone
   numbers link them, see :func:`omnitui.desk.identities.identities_for`); the VIP flags;
   the conversations the batch may join (:func:`omnitui.desk.threads.load_candidates`);
   which customers were acknowledged within ``per_sender``; their surveys waiting for
   an answer (:func:`omnitui.desk.surveys.open_surveys`).
2. **Decide**: :func:`omnitui.desk.ingest_plan.plan_batch`, pure. When it leaves new
   conversations to auto-assign (``[assignment]`` on), the agents and their loads are
   read then (:func:`omnitui.desk.assignment.load_agents`: no query otherwise, and as
   late as possible, so the choice sees what other ingests committed) and
   :func:`~omnitui.desk.ingest_plan.assign_arrivals`, pure too, gives them out.
3. **Write**: edits, new conversations, messages and their payloads, the changed
   conversation fields, events, acknowledgement outbox items (rendered when sent, by
   :mod:`omnitui.desk.acknowledgement`), "mentions" notes, survey answers and the
   auto-assigned agents' ``last_assigned_at``.

Takes an open Session and leaves the commit to the caller, so a poll's messages and its
cursor commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from adapters.base import InboundMessage
from omnitui.desk import assignment, identities, surveys
from omnitui.desk.ingest_plan import (
    ACK_PENDING_TEXT,
    IngestPlan,
    assign_arrivals,
    dedupe,
    plan_batch,
)
from omnitui.desk.records import MUTABLE, ConvRecord, SenderRecord
from omnitui.desk.settings import ACK_AUTHOR, SYSTEM_AUTHOR, DeskSettings
from omnitui.desk.threads import load_candidates
from storage import repository as repo
from storage.models import Conversation, Customer, Message, Outbox
from storage.types import utcnow


def ingest_many(
    settings: DeskSettings, s: Session, account: str, messages: Sequence[InboundMessage]
) -> list[int]:
    """Store a poll's messages, in order, each in the right conversation, and return the
    new message ids; messages already stored (same external id, or same Message-ID) are
    skipped. A few queries and flushes per batch, not per message."""
    now = utcnow()
    seen_ext, seen_mid = repo.known_messages(
        s,
        account,
        (m.external_id for m in messages),
        (m.message_id for m in messages if m.message_id),
    )
    batch = dedupe(messages, seen_ext, seen_mid)
    if not batch.messages:
        for external_id, text in batch.edits:
            repo.edit_message_text(s, account, external_id, text)
        return []
    senders = _senders(s, batch.messages)
    customers = [sender.customer_id for sender in senders]
    candidates, rows = load_candidates(s, account, batch.messages, customers, settings.signing())
    plan = plan_batch(
        settings,
        account,
        batch,
        senders,
        candidates,
        vip=_vip(s, set(customers)),
        recently_acknowledged=_recently_acknowledged(settings, s, set(customers), now),
        now=now,
        surveys=surveys.open_surveys(settings, s, account, customers, now),
    )
    if plan.arrivals:
        assign_arrivals(settings, plan, assignment.load_agents(s), now)
    return write(s, account, plan, rows, now)


def _senders(s: Session, batch: Sequence[InboundMessage]) -> list[SenderRecord]:
    """The identity and customer of each message's sender (new ones are recorded)."""
    idents = identities.identities_for(
        s,
        (
            (m.sender.channel, m.sender.address, m.sender.display_name, m.sender.phone)
            for m in batch
        ),
    )
    out = []
    for msg in batch:
        channel = repo.identity_channel(msg.sender.channel)
        ident = idents[(channel, repo.normalise_address(channel, msg.sender.address))]
        assert ident.id is not None and ident.customer_id is not None  # stored, flushed
        out.append(SenderRecord(ident.id, ident.customer_id, ident.display_name))
    return out


def _vip(s: Session, customer_ids: set[int]) -> dict[int, bool]:
    rows = s.exec(select(Customer.id, Customer.vip).where(col(Customer.id).in_(customer_ids))).all()
    return {cid: bool(v) for cid, v in rows if cid is not None}


def _recently_acknowledged(
    settings: DeskSettings, s: Session, customer_ids: set[int], now: datetime
) -> set[int]:
    """Customers of the batch acknowledged within ``[routing.acknowledge].per_sender``."""
    ack = settings.routing.acknowledge
    if ack is None or not ack.per_sender or not customer_ids:
        return set()
    rows = s.exec(
        select(Conversation.customer_id)
        .join(Outbox, col(Conversation.id) == col(Outbox.conversation_id))
        .where(
            col(Conversation.customer_id).in_(customer_ids),
            Outbox.author == ACK_AUTHOR,
            col(Outbox.created_at) > now - ack.per_sender,
        )
        .distinct()
    ).all()
    return {cid for cid in rows if cid is not None}


# -- write ------------------------------------------------------------------------
def write(
    s: Session,
    account: str,
    plan: IngestPlan,
    rows: dict[int, Conversation],
    now: datetime,
) -> list[int]:
    """Record ``plan``: returns the new message ids in batch order."""
    for external_id, text in plan.edits:
        repo.edit_message_text(s, account, external_id, text)
    ids_of = _create(s, account, plan.created)
    for conv in plan.created:
        conv.id = ids_of[conv.key]
    ids = repo.insert_messages(
        s,
        [
            {
                "conversation_id": p.conv.id,
                "account": account,
                "external_id": p.msg.external_id,
                "direction": p.msg.direction,
                "kind": p.msg.kind,
                "text": p.msg.text,
                "sent_at": p.msg.sent_at,
                "identity_id": p.sender.identity_id,
                "from_addr": p.msg.sender.address,
                "to_addrs": list(p.msg.to),
                "subject": p.msg.subject,
                "message_id": p.msg.message_id,
                "in_reply_to": p.msg.in_reply_to,
                "references": list(p.msg.references),
                "source": p.msg.source,
                "has_attachments": bool(p.msg.attachments),
            }
            for p in plan.placed
        ],
    )
    repo.store_payloads(
        s,
        [
            (
                message_id,
                p.msg.raw or None,
                p.msg.raw_type,
                [
                    repo.NewAttachment(
                        a.filename,
                        a.content_type,
                        a.content,
                        a.size,
                        a.sha256 or None,
                        a.remote_ref,
                    )
                    for a in p.msg.attachments
                ],
            )
            for message_id, p in zip(ids, plan.placed, strict=True)
        ],
    )
    # New conversations were inserted with the plan's final values: only the stored
    # ones the plan changed are updated, and a new one is loaded only to act on.
    created = {c.key for c in plan.created}
    acted_on = plan.acknowledge + [c for c, _m, _r in plan.mentions]
    stored = _rows(s, rows, sorted({c.id for c in acted_on if c.key in created and c.id}))
    for conv in plan.conversations() + [c for c, _m, _r in plan.mentions]:
        if conv.key in created:
            continue
        row = _row_of(stored, conv)
        for name, value in conv.changes(row).items():
            setattr(row, name, value)
    repo.log_events(s, [_event(e.kind, e.conv, e.at, e.actor, e.detail) for e in plan.events])
    assignment.record_stamps(s, plan.assigned)
    events: list[dict[str, Any]] = []
    for conv in plan.acknowledge:
        item = queue_acknowledgement(s, _row_of(stored, conv), now)
        events.append(_event("outbox.queued", conv, now, ACK_AUTHOR, {"outbox_id": item.id}))
        events.append(_event("conversation.acknowledged", conv, now, detail={"outbox_id": item.id}))
    for conv, msg, refs in plan.mentions:
        s.add(_mentions_note(_row_of(stored, conv), msg, refs))
        events.append(_event("conversation.mentions", conv, msg.sent_at, detail={"refs": refs}))
    repo.log_events(s, events)
    surveys.record_answers(
        s,
        [
            surveys.StoredAnswer(
                survey.id, ids[i], answer, plan.placed[i].msg.text, plan.placed[i].msg.sent_at
            )
            for survey, i, answer in plan.answers
        ],
    )
    if plan.mentions:
        s.flush()
    return ids


def _create(s: Session, account: str, created: list[ConvRecord]) -> dict[int, int]:
    """Insert the batch's new conversations and log them; plan key → id."""
    if not created:
        return {}
    new_ids = repo.insert_conversations(
        s,
        [
            {
                "account": account,
                "channel": c.channel,
                "customer_id": c.customer_id,
                "thread_key": c.thread_key,
                "subject": c.subject,
                **{name: getattr(c, name) for name in MUTABLE},
            }
            for c in created
        ],
    )
    repo.log_events(
        s,
        [
            {
                "kind": "conversation.created",
                "conversation_id": cid,
                "customer_id": c.customer_id,
                "at": c.created_at,
                "detail": {"channel": c.channel, "account": account},
            }
            for cid, c in zip(new_ids, created, strict=True)
        ],
    )
    return {c.key: cid for c, cid in zip(created, new_ids, strict=True)}


def _rows(s: Session, rows: dict[int, Conversation], new_ids: list[int]) -> dict[int, Conversation]:
    """The stored rows of the conversations loaded and the ones just created."""
    out = dict(rows)
    if new_ids:
        for conv in s.exec(select(Conversation).where(col(Conversation.id).in_(new_ids))).all():
            assert conv.id is not None  # a stored row
            out[conv.id] = conv
    return out


def _row_of(stored: dict[int, Conversation], conv: ConvRecord) -> Conversation:
    """The stored row of a conversation of the plan (loaded or just inserted: its id
    is set)."""
    assert conv.id is not None
    return stored[conv.id]


def _event(
    kind: str,
    conv: ConvRecord,
    at: datetime,
    actor: str = "system",
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "actor": actor,
        "conversation_id": conv.id,
        "customer_id": conv.customer_id,
        "detail": detail or {},
        "at": at,
    }


def queue_acknowledgement(s: Session, conv: Conversation, at: datetime) -> Outbox:
    """Queue the acknowledgement auto-reply of ``conv`` with an empty body: it is
    written from ``[routing.acknowledge].text`` just before it is sent. Its ``out``
    message shows :data:`ACK_PENDING_TEXT` meanwhile. The conversation's counters are
    the plan's (already counted)."""
    item = Outbox(
        conversation_id=conv.id,
        account=conv.account,
        channel=conv.channel,
        author=ACK_AUTHOR,
        body="",
        state="queued",
        next_attempt_at=at,
    )
    s.add(item)
    s.flush()
    msg = repo.new_message(
        conv,
        external_id=f"outbox:{item.id}",
        direction="out",
        text=ACK_PENDING_TEXT,
        sent_at=at,
        author=ACK_AUTHOR,
        subject=conv.subject,
    )
    s.add(msg)
    s.flush()
    item.sent_message_id = msg.id
    return item


def _mentions_note(conv: Conversation, msg: InboundMessage, refs: list[str]) -> Message:
    """The private note saying that ``msg`` started ``conv`` instead of joining another
    customer's conversation it named."""
    return repo.new_message(
        conv,
        external_id=f"mentions:{conv.id}",
        direction="note",
        text=(
            f"Mentions {', '.join(refs)}, a conversation of another customer. This sender is "
            "not that customer, so the message started this conversation instead of "
            "joining it; replies here go to this sender only."
        ),
        sent_at=msg.sent_at,
        author=SYSTEM_AUTHOR,
    )

"""The helpdesk's rules applied to the store: ingest, reply, note, resolve, SLA clocks.

Every method takes an open Session and leaves the commit to the caller, so a
poll's messages and its cursor, or an action and its event, commit together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from adapters.base import InboundMessage
from omnitui.desk.routing import Facts, Routing
from omnitui.desk.sla import (
    DEFAULT_POLICIES,
    AlwaysOpen,
    Calendar,
    Policy,
    calendar_for,
    pick_policy,
    resume_due,
)
from omnitui.desk.threads import ThreadIndex
from omnitui.errors import OmnituiError
from storage import repository as repo
from storage.models import Conversation, Customer, Identity, Message, Outbox
from storage.types import utcnow

#: A chat message from a customer whose last conversation on that channel was
#: resolved less than this long ago reopens it; later ones start a new conversation.
REOPEN_WINDOW = timedelta(days=3)
_KEY_LOCK = threading.Lock()
#: Tag on conversations with auto-generated mail (Auto-Submitted, Precedence, lists).
AUTO_TAG = "auto-generated"
#: Author of acknowledgement auto-replies (they never count as a first response).
ACK_AUTHOR = "auto-acknowledgement"
#: Author of the notes omnitui itself writes (e.g. "mentions C-1001").
SYSTEM_AUTHOR = "omnitui"


class _NewConversation:
    """A conversation a batch will create (threading looks at status and resolved_at)."""

    status = "open"
    resolved_at = None

    def __init__(self, msg: InboundMessage, customer_id: int) -> None:
        self.msg = msg
        self.customer_id = customer_id
        #: Other customers' conversations the first message named (not joined).
        self.mentions: list[str] = []


class DeskError(OmnituiError):
    """An action that cannot be done (unknown reference, empty reply…)."""


@dataclass
class Desk:
    """Applies the helpdesk's rules; one per process, configured from ``[sla]``."""

    policies: Sequence[Policy] = DEFAULT_POLICIES
    calendar: Calendar = field(default_factory=AlwaysOpen)
    agent: str = "me"
    #: Key that signs the reference in our Message-IDs (see omnitui.desk.message_ids).
    signing_key: bytes | None = None
    #: Where to get the key the first time it is needed (keeps start-up fast).
    key_loader: Callable[[], bytes | None] | None = None
    routing: Routing = field(default_factory=Routing)
    #: Our own addresses (lower case): mail from them is never acknowledged.
    own_addresses: frozenset[str] = frozenset()

    def signing(self) -> bytes | None:
        """The signing key, loaded on first use (once, whatever thread asks)."""
        with _KEY_LOCK:
            if self.signing_key is None and self.key_loader is not None:
                self.signing_key = self.key_loader()
                self.key_loader = None
        return self.signing_key

    # -- SLA ---------------------------------------------------------------
    def policy_for(
        self, s: Session, conv: Conversation, *, vip: bool | None = None
    ) -> Policy | None:
        """The first policy matching this conversation (``vip`` when already known)."""
        if vip is None:
            customer = s.get(Customer, conv.customer_id)
            vip = bool(customer and customer.vip)
        return pick_policy(
            self.policies,
            channel=conv.channel,
            priority=conv.priority,
            vip=vip,
            tags=list(conv.tags or ()),
            account=conv.account,
        )

    def _due(self, policy: Policy | None, attr: str, start: datetime) -> datetime | None:
        target = getattr(policy, attr) if policy else None
        return None if target is None else calendar_for(policy, self.calendar).add(start, target)

    def resume_clocks(
        self, s: Session, conv: Conversation, paused_at: datetime, resumed_at: datetime
    ) -> None:
        """After pending/snoozed: move next-response and resolution due times on by the
        working time they had left when the clock stopped."""
        cal = calendar_for(self.policy_for(s, conv), self.calendar)
        conv.next_response_due = resume_due(conv.next_response_due, paused_at, resumed_at, cal)
        conv.resolution_due = resume_due(conv.resolution_due, paused_at, resumed_at, cal)
        repo.refresh_urgency(conv)

    def reapply_policy(self, s: Session, conv: Conversation) -> None:
        """Choose the policy again (priority, tags or VIP changed) and recompute the
        running clocks from when each started."""
        policy = self.policy_for(s, conv)
        if conv.first_responded_at is None:
            conv.first_response_due = self._due(policy, "first_response", conv.created_at)
        if conv.next_response_due is not None and conv.last_inbound_at is not None:
            conv.next_response_due = self._due(policy, "next_response", conv.last_inbound_at)
        if conv.status != "resolved":
            conv.resolution_due = self._due(policy, "resolution", conv.created_at)
        repo.refresh_urgency(conv)

    def on_customer_message(
        self,
        s: Session,
        conv: Conversation,
        at: datetime,
        *,
        new: bool,
        vip: bool | None = None,
    ) -> None:
        """Start or restart the clocks a customer message starts."""
        policy = self.policy_for(s, conv, vip=vip)
        if new:
            conv.first_response_due = self._due(policy, "first_response", at)
            conv.resolution_due = self._due(policy, "resolution", conv.created_at)
        elif conv.first_responded_at is not None and conv.next_response_due is None:
            conv.next_response_due = self._due(policy, "next_response", at)
        if conv.status in ("resolved", "pending", "snoozed"):
            # A customer message reopens; a timed snooze is woken early, as in
            # Zendesk and Freshdesk, because the customer is waiting again.
            from omnitui.desk.workflow import change_status

            if conv.status == "resolved":
                conv.resolution_due = self._due(policy, "resolution", at)
            change_status(self, s, conv, "open", actor="customer", at=at)
        repo.refresh_urgency(conv)

    def on_agent_reply(self, conv: Conversation, at: datetime) -> None:
        """A public reply meets first response and stops the next-response clock."""
        if conv.first_responded_at is None:
            conv.first_responded_at = at
        conv.next_response_due = None
        repo.refresh_urgency(conv)

    # -- inbound -----------------------------------------------------------
    def ingest(self, s: Session, account: str, msg: InboundMessage) -> Message | None:
        """Store one inbound message in the right conversation; None if already stored."""
        stored = self.ingest_many(s, account, [msg])
        return s.get(Message, stored[0]) if stored else None

    def ingest_many(
        self, s: Session, account: str, messages: Sequence[InboundMessage]
    ) -> list[int]:
        """Store a poll's messages, in order, each in the right conversation, and return
        the new message ids; messages already stored (same external id, or same
        Message-ID) are skipped.

        Works in bulk: a few queries and flushes per batch, not per message.
        """
        seen_ext, seen_mid = repo.known_messages(
            s,
            account,
            (m.external_id for m in messages),
            (m.message_id for m in messages if m.message_id),
        )
        batch: list[InboundMessage] = []
        for msg in messages:
            if msg.edited and msg.external_id in seen_ext:
                repo.edit_message_text(s, account, msg.external_id, msg.text)
                continue
            if msg.external_id in seen_ext or (msg.message_id and msg.message_id in seen_mid):
                continue  # the same mail again (another folder, a renumbered folder)
            seen_ext.add(msg.external_id)
            if msg.message_id:
                seen_mid.add(msg.message_id)
            batch.append(msg)
        if not batch:
            return []
        idents = repo.identities_for(
            s,
            (
                (m.sender.channel, m.sender.address, m.sender.display_name, m.sender.phone)
                for m in batch
            ),
        )

        def identity(msg: InboundMessage) -> Identity:
            channel = repo.identity_channel(msg.sender.channel)
            return idents[(channel, repo.normalise_address(channel, msg.sender.address))]

        customer_of = {i: identity(m).customer_id for i, m in enumerate(batch)}
        # SLA policies look at the customer's VIP flag: read them all at once.
        vip = dict(
            s.exec(
                select(Customer.id, Customer.vip).where(
                    col(Customer.id).in_(set(customer_of.values()))
                )
            ).all()
        )
        index = ThreadIndex(
            s,
            account,
            batch,
            customer_of,
            self.signing(),  # type: ignore[arg-type]
            REOPEN_WINDOW,
        )
        placed: list[tuple[InboundMessage, Conversation | _NewConversation, bool]] = []
        fresh: list[_NewConversation] = []
        for i, msg in enumerate(batch):
            customer_id = customer_of[i]
            conv = index.find(msg, customer_id)  # type: ignore[arg-type]
            new = conv is None
            if conv is None:
                conv = _NewConversation(msg, customer_id)  # type: ignore[arg-type]
                conv.mentions = index.foreign_refs(msg, customer_id)  # type: ignore[arg-type]
                fresh.append(conv)
            placed.append((msg, conv, new))
            index.landed(msg, conv, customer_id)  # type: ignore[arg-type]
        created = self._create_conversations(s, account, fresh)
        convs = [created[id(c)] if isinstance(c, _NewConversation) else c for _, c, _ in placed]
        ids = repo.insert_messages(
            s,
            [
                {
                    "conversation_id": conv.id,
                    "account": account,
                    "external_id": msg.external_id,
                    "direction": msg.direction,
                    "kind": msg.kind,
                    "text": msg.text,
                    "sent_at": msg.sent_at,
                    "identity_id": identity(msg).id,
                    "from_addr": msg.sender.address,
                    "to_addrs": list(msg.to),
                    "subject": msg.subject,
                    "message_id": msg.message_id,
                    "in_reply_to": msg.in_reply_to,
                    "references": list(msg.references),
                    "source": msg.source,
                    "has_attachments": bool(msg.attachments),
                }
                for (msg, _c, _n), conv in zip(placed, convs, strict=True)
            ],
        )
        payloads = []
        for message_id, (msg, _c, new), conv in zip(ids, placed, convs, strict=True):
            payloads.append(
                (
                    message_id,
                    msg.raw or None,
                    msg.raw_type,
                    [
                        repo.NewAttachment(
                            a.filename,
                            a.content_type,
                            a.content,
                            a.size,
                            a.sha256 or None,
                            a.remote_ref,
                        )
                        for a in msg.attachments
                    ],
                )
            )
            repo.count(conv, direction=msg.direction, text=msg.text, sent_at=msg.sent_at)
            if msg.auto_generated and AUTO_TAG not in (conv.tags or []):
                # Auto-replies, bulk and list mail: visible to the agent, and never
                # answered by automation (mail loops).
                conv.tags = [*(conv.tags or []), AUTO_TAG]
            if msg.direction == "in":
                is_vip = bool(vip.get(conv.customer_id))
                if new:
                    self._route(s, conv, msg, is_vip)
                self.on_customer_message(s, conv, msg.sent_at, new=new, vip=is_vip)
                if new and self._should_acknowledge(s, conv, msg):
                    self.acknowledge(s, conv, identity(msg).display_name)
        repo.store_payloads(s, payloads)
        for placeholder in fresh:
            if placeholder.mentions:
                self._note_mentions(s, created[id(placeholder)], placeholder)
        return ids

    def _note_mentions(self, s: Session, conv: Conversation, new: _NewConversation) -> None:
        """A message naming other customers' conversations started ``conv`` instead of
        joining them: say so in a private note, and log it on both sides."""
        refs = ", ".join(new.mentions)
        repo.add_message(
            s,
            conv,
            external_id=f"mentions:{conv.id}",
            direction="note",
            text=(
                f"Mentions {refs}, a conversation of another customer. This sender is not "
                "that customer, so the message started this conversation instead of "
                "joining it; replies here go to this sender only."
            ),
            sent_at=new.msg.sent_at,
            author=SYSTEM_AUTHOR,
        )
        repo.log_event(
            s,
            "conversation.mentions",
            conversation_id=conv.id,
            customer_id=conv.customer_id,
            detail={"refs": new.mentions},
            at=new.msg.sent_at,
        )

    def _route(self, s: Session, conv: Conversation, msg: InboundMessage, vip: bool) -> None:
        """Apply ``[routing]`` to a conversation that just arrived."""
        decision = self.routing.decide(
            Facts(
                channel=conv.channel,
                account=conv.account,
                vip=vip,
                tags=list(conv.tags or ()),
                priority=conv.priority,
                sender=msg.sender.address,
                subject=msg.subject,
                text=msg.text[:20_000],
            )
        )
        if decision.priority:
            conv.priority = decision.priority
        if decision.tags:
            conv.tags = [*(conv.tags or []), *(t for t in decision.tags if t not in conv.tags)]
        if decision.assignee is not None:
            conv.assignee = decision.assignee
        if decision.rules:
            repo.log_event(
                s,
                "conversation.routed",
                conversation_id=conv.id,
                customer_id=conv.customer_id,
                detail={
                    "rules": decision.rules,
                    "priority": conv.priority,
                    "tags": decision.tags,
                    "assignee": conv.assignee,
                },
                at=msg.sent_at,
            )

    def _should_acknowledge(self, s: Session, conv: Conversation, msg: InboundMessage) -> bool:
        """Acknowledge a new conversation only when a person wrote it: never mail from
        our own addresses, auto-replies, reports or lists (``auto_generated``), old
        mail of a first sync, or a sender acknowledged within ``per_sender``."""
        ack = self.routing.acknowledge
        if not (
            ack is not None
            and self.routing.acknowledges(conv.channel)
            and conv.acknowledged_at is None
            and not msg.auto_generated
            and AUTO_TAG not in (conv.tags or ())
            and msg.kind == "message"
            and utcnow() - msg.sent_at <= ack.max_age
        ):
            return False
        if msg.sender.address.strip().lower() in self.own_addresses:
            return False  # our own mail (a loop, or a copy of a reply)
        if not ack.per_sender:
            return True
        recent = s.exec(
            select(Outbox.id)
            .join(Conversation, col(Conversation.id) == col(Outbox.conversation_id))
            .where(
                Conversation.customer_id == conv.customer_id,
                Outbox.author == ACK_AUTHOR,
                col(Outbox.created_at) > utcnow() - ack.per_sender,
            )
            .limit(1)
        ).first()
        return recent is None

    def acknowledge(self, s: Session, conv: Conversation, name: str = "") -> Outbox | None:
        """Queue the acknowledgement auto-reply (once per conversation). It is not an
        agent's response: the first-response clock keeps running."""
        from pathlib import Path

        from omnitui.desk.kb import Article, KBError, placeholder_context, render

        ack = self.routing.acknowledge
        if ack is None or conv.acknowledged_at is not None:
            return None
        if not name:
            customer = s.get(Customer, conv.customer_id)
            name = customer.name if customer else ""
        context = placeholder_context(
            customer_name=name,
            conversation_ref=conv.ref,
            agent_name=self.agent,
            channel=conv.channel,
        )
        template = Article(Path("[routing.acknowledge].text"), "ack", "ack", body=ack.text)
        try:
            rendered = render(template, context, channel=conv.channel)
        except KBError:
            rendered = None
        if rendered is None or rendered.warnings or not rendered.text.strip():
            # Never a broken auto-reply: `omnitui doctor` names the problem.
            repo.log_event(s, "conversation.ack_skipped", conversation_id=conv.id)
            return None
        body = rendered.text.strip()
        at = utcnow()
        preview, last_at, recency = conv.preview, conv.last_message_at, conv.recency
        item = _queue_out(s, conv, body, ACK_AUTHOR, at)
        # The inbox keeps showing what the customer wrote, not the robot's answer.
        conv.preview, conv.last_message_at, conv.recency = preview, last_at, recency
        conv.acknowledged_at = at
        repo.log_event(
            s, "conversation.acknowledged", conversation_id=conv.id, detail={"outbox_id": item.id}
        )
        return item

    def _create_conversations(
        self, s: Session, account: str, fresh: list[_NewConversation]
    ) -> dict[int, Conversation]:
        """Insert the batch's new conversations; map each placeholder to its row."""
        if not fresh:
            return {}
        new_ids = repo.insert_conversations(
            s,
            [
                {
                    "account": account,
                    "channel": n.msg.channel,
                    "customer_id": n.customer_id,
                    "thread_key": n.msg.thread_key,
                    "subject": n.msg.subject,
                    "created_at": n.msg.sent_at,
                }
                for n in fresh
            ],
        )
        loaded = {
            c.id: c
            for c in s.exec(select(Conversation).where(col(Conversation.id).in_(new_ids))).all()
        }
        repo.log_events(
            s,
            [
                {
                    "kind": "conversation.created",
                    "conversation_id": cid,
                    "customer_id": n.customer_id,
                    "at": n.msg.sent_at,
                    "detail": {"channel": n.msg.channel, "account": account},
                }
                for cid, n in zip(new_ids, fresh, strict=True)
            ],
        )
        return {id(n): loaded[cid] for cid, n in zip(new_ids, fresh, strict=True)}

    # -- agent actions -----------------------------------------------------
    def reply(
        self, s: Session, conv: Conversation, body: str, *, at: datetime | None = None
    ) -> Outbox:
        """Queue a public reply; it shows in the thread at once as ``queued``."""
        body = body.strip("\n")
        if not body.strip():
            raise DeskError("the reply is empty")
        at = at or utcnow()
        item = _queue_out(s, conv, body, self.agent, at)
        conv.unread = False
        self.on_agent_reply(conv, at)
        if conv.status == "snoozed":
            self.set_status(s, conv, "open")
        return item

    def note(
        self, s: Session, conv: Conversation, body: str, *, at: datetime | None = None
    ) -> Message:
        """Add a private note (never sent to the customer)."""
        body = body.strip("\n")
        if not body.strip():
            raise DeskError("the note is empty")
        at = at or utcnow()
        msg = repo.add_message(
            s,
            conv,
            external_id=f"note:{conv.id}:{at.timestamp()}:{conv.message_count}",
            direction="note",
            text=body,
            sent_at=at,
            author=self.agent,
        )
        repo.log_event(
            s,
            "conversation.note",
            actor=self.agent,
            conversation_id=conv.id,
            customer_id=conv.customer_id,
        )
        return msg

    def resolve(self, s: Session, conv: Conversation) -> None:
        """Mark the conversation resolved."""
        self.set_status(s, conv, "resolved")

    def set_status(self, s: Session, conv: Conversation, status: str) -> None:
        """Change status (open, pending, snoozed, resolved), pausing SLA clocks."""
        from omnitui.desk.workflow import change_status

        change_status(self, s, conv, status)

    def withdraw_failed(self, s: Session, conv: Conversation) -> str:
        """Take back the latest reply that failed to send (so it can be edited) and
        return its text. Replies that may have been delivered (``uncertain``) or are
        being sent cannot be withdrawn."""
        item = s.exec(
            select(Outbox)
            .where(
                Outbox.conversation_id == conv.id,
                (col(Outbox.state) == "failed")
                | ((col(Outbox.state) == "queued") & (col(Outbox.attempts) > 0)),
            )
            .order_by(col(Outbox.id).desc())
        ).first()
        if item is None:
            raise DeskError("no failed reply to edit in this conversation")
        body = item.body
        if item.sent_message_id is not None:
            msg = s.get(Message, item.sent_message_id)
            if msg is not None:
                s.delete(msg)
                conv.message_count = max((conv.message_count or 1) - 1, 0)
        repo.log_event(
            s,
            "outbox.withdrawn",
            actor=self.agent,
            conversation_id=conv.id,
            detail={"outbox_id": item.id, "state": item.state},
        )
        s.delete(item)
        s.flush()
        self.clocks_after_withdrawal(s, conv)
        return body

    def clocks_after_withdrawal(self, s: Session, conv: Conversation) -> None:
        """The withdrawn reply no longer answers the customer: first response is the
        earliest agent reply left (and its clock runs again when none is left), and the
        next-response clock runs again if the customer wrote after the last one."""
        replies = s.exec(
            select(Message.sent_at)
            .where(
                Message.conversation_id == conv.id,
                Message.direction == "out",
                col(Message.author) != ACK_AUTHOR,
            )
            .order_by(col(Message.sent_at))
        ).all()
        policy = self.policy_for(s, conv)
        if not replies:
            conv.first_responded_at = None
            conv.first_response_due = self._due(policy, "first_response", conv.created_at)
            conv.next_response_due = None
        else:
            conv.first_responded_at = replies[0]
            waiting = conv.last_inbound_at is not None and conv.last_inbound_at > replies[-1]
            if waiting and conv.next_response_due is None:
                conv.next_response_due = self._due(
                    policy,
                    "next_response",
                    conv.last_inbound_at,  # type: ignore[arg-type]
                )
        repo.refresh_urgency(conv)

    def mark_read(self, conv: Conversation) -> None:
        """The agent has seen the latest messages."""
        conv.unread = False

    def mark_sent(
        self,
        s: Session,
        item: Outbox,
        *,
        provider_id: str,
        external_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Record that the channel accepted an outbox item."""
        at = at or utcnow()
        item.state = "sent"
        item.provider_id = provider_id
        item.sent_at = at
        item.updated_at = at
        item.last_error = None
        if item.sent_message_id is not None:
            msg = s.get(Message, item.sent_message_id)
            if msg is not None:
                if external_id:
                    msg.external_id = external_id
                if item.message_id_header:
                    # A customer's reply to this Message-ID threads here.
                    msg.message_id = item.message_id_header
        repo.log_event(
            s,
            "outbox.sent",
            actor=item.author,
            conversation_id=item.conversation_id,
            detail={"outbox_id": item.id, "provider_id": provider_id},
        )

    def mark_failed(
        self,
        s: Session,
        item: Outbox,
        error: str,
        *,
        retry_at: datetime | None,
        state: str = "failed",
    ) -> None:
        """Record a failed attempt: back to ``queued`` with ``retry_at``, or ``failed``."""
        now = utcnow()
        item.attempts += 1
        item.last_error = error
        item.updated_at = now
        item.state = "queued" if retry_at is not None else state
        item.next_attempt_at = retry_at
        repo.log_event(
            s,
            "outbox.failed",
            conversation_id=item.conversation_id,
            detail={"outbox_id": item.id, "error": error[:500], "will_retry": retry_at is not None},
        )


def _queue_out(s: Session, conv: Conversation, body: str, author: str, at: datetime) -> Outbox:
    """An outbox item and the ``out`` message that shows it in the thread at once."""
    item = repo.queue_outbox(s, conv, body, author=author)
    msg = repo.add_message(
        s,
        conv,
        external_id=f"outbox:{item.id}",
        direction="out",
        text=body,
        sent_at=at,
        author=author,
        subject=conv.subject,
    )
    item.sent_message_id = msg.id
    return item

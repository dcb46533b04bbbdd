"""The helpdesk's rules applied to the store: ingest, reply, note, resolve, SLA clocks.

Every method takes an open Session and leaves the commit to the caller, so a
poll's messages and its cursor, or an action and its event, commit together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from adapters.base import InboundMessage
from omnitui.message_ids import ref_from_message_id
from omnitui.sla import DEFAULT_POLICIES, AlwaysOpen, Calendar, Policy, pick_policy
from storage import repository as repo
from storage.models import Conversation, Customer, Message, Outbox
from storage.types import utcnow

_REF_IN_SUBJECT = re.compile(r"\[(C-\d+)\]", re.IGNORECASE)

#: A chat message from a customer whose last conversation on that channel was
#: resolved less than this long ago reopens it; later ones start a new conversation.
REOPEN_WINDOW = timedelta(days=3)


class DeskError(Exception):
    """An action that cannot be done (unknown reference, empty reply…)."""


@dataclass
class Desk:
    """Applies the helpdesk's rules; one per process, configured from ``[sla]``."""

    policies: Sequence[Policy] = DEFAULT_POLICIES
    calendar: Calendar = field(default_factory=AlwaysOpen)
    agent: str = "me"
    #: Key that signs the reference in our Message-IDs (see omnitui.message_ids).
    signing_key: bytes | None = None

    # -- SLA ---------------------------------------------------------------
    def policy_for(self, s: Session, conv: Conversation) -> Policy | None:
        """The first policy matching this conversation."""
        customer = s.get(Customer, conv.customer_id)
        return pick_policy(
            self.policies,
            channel=conv.channel,
            priority=conv.priority,
            vip=bool(customer and customer.vip),
            tags=list(conv.tags or ()),
            account=conv.account,
        )

    def _due(self, policy: Policy | None, attr: str, start: datetime) -> datetime | None:
        target = getattr(policy, attr) if policy else None
        return None if target is None else self.calendar.add(start, target)

    def on_customer_message(
        self, s: Session, conv: Conversation, at: datetime, *, new: bool
    ) -> None:
        """Start or restart the clocks a customer message starts."""
        policy = self.policy_for(s, conv)
        if new:
            conv.first_response_due = self._due(policy, "first_response", at)
            conv.resolution_due = self._due(policy, "resolution", conv.created_at)
        elif conv.first_responded_at is not None and conv.next_response_due is None:
            conv.next_response_due = self._due(policy, "next_response", at)
        if conv.status in ("resolved", "pending") or (
            conv.status == "snoozed" and conv.snoozed_until is None
        ):
            if conv.status == "resolved":
                conv.resolution_due = self._due(policy, "resolution", at)
            repo.set_status(s, conv, "open", actor="customer", at=at)
        repo.refresh_urgency(conv)

    def on_agent_reply(self, conv: Conversation, at: datetime) -> None:
        """A public reply meets first response and stops the next-response clock."""
        if conv.first_responded_at is None:
            conv.first_responded_at = at
        conv.next_response_due = None
        repo.refresh_urgency(conv)

    # -- inbound -----------------------------------------------------------
    def thread_email(self, s: Session, account: str, msg: InboundMessage) -> Conversation | None:
        """The conversation an email belongs to: by ``[C-n]`` in the subject, then by
        In-Reply-To/References matching a stored message, then by a signed reference
        in one of our own Message-IDs."""
        match = _REF_IN_SUBJECT.search(msg.subject or "")
        if match:
            conv_id = repo.id_for_ref(match.group(1))
            conv = s.get(Conversation, conv_id) if conv_id else None
            if conv is not None:
                return conv
        ids = [i for i in (msg.in_reply_to, *reversed(msg.references)) if i]
        if ids:
            row = s.exec(
                select(Message.conversation_id)
                .where(Message.account == account, col(Message.message_id).in_(ids))
                .limit(1)
            ).first()
            if row is not None:
                return s.get(Conversation, row)
            for mid in ids:
                ref = ref_from_message_id(mid, self.signing_key)
                conv_id = repo.id_for_ref(ref) if ref else None
                conv = s.get(Conversation, conv_id) if conv_id else None
                if conv is not None:
                    return conv
        return None

    def thread_chat(
        self, s: Session, account: str, channel: str, customer_id: int, at: datetime
    ) -> Conversation | None:
        """The customer's latest conversation on this account and channel, if still
        open or resolved within :data:`REOPEN_WINDOW`."""
        conv = s.exec(
            select(Conversation)
            .where(
                Conversation.account == account,
                Conversation.channel == channel,
                Conversation.customer_id == customer_id,
            )
            .order_by(col(Conversation.last_message_at).desc())
            .limit(1)
        ).first()
        if conv is None:
            return None
        if conv.status == "resolved" and (
            conv.resolved_at is None or at - conv.resolved_at > REOPEN_WINDOW
        ):
            return None
        return conv

    def ingest(self, s: Session, account: str, msg: InboundMessage) -> Message | None:
        """Store one inbound message in the right conversation; None if already stored."""
        if repo.message_exists(s, account, msg.external_id):
            return None
        if msg.message_id and repo.message_id_exists(s, account, msg.message_id):
            return None  # the same mail again (another folder, a renumbered folder)
        ident = repo.get_or_create_identity(
            s, msg.sender.channel, msg.sender.address, msg.sender.display_name
        )
        assert ident.customer_id is not None
        if msg.channel == "email":
            conv = self.thread_email(s, account, msg)
        else:
            conv = self.thread_chat(s, account, msg.channel, ident.customer_id, msg.sent_at)
        new = conv is None
        if conv is None:
            conv = repo.create_conversation(
                s,
                account=account,
                channel=msg.channel,
                customer_id=ident.customer_id,
                subject=msg.subject,
                created_at=msg.sent_at,
                thread_key=msg.thread_key,
            )
        stored = repo.add_message(
            s,
            conv,
            external_id=msg.external_id,
            direction=msg.direction,
            kind=msg.kind,
            text=msg.text,
            sent_at=msg.sent_at,
            identity_id=ident.id,
            from_addr=msg.sender.address,
            to_addrs=msg.to,
            subject=msg.subject,
            message_id=msg.message_id,
            in_reply_to=msg.in_reply_to,
            references=msg.references,
            raw=msg.raw or None,
            raw_type=msg.raw_type,
            source=msg.source,
            attachments=[
                repo.NewAttachment(a.filename, a.content_type, a.content, a.size, a.sha256 or None)
                for a in msg.attachments
            ],
        )
        if msg.direction == "in":
            self.on_customer_message(s, conv, msg.sent_at, new=new)
        return stored

    # -- agent actions -----------------------------------------------------
    def reply(
        self, s: Session, conv: Conversation, body: str, *, at: datetime | None = None
    ) -> Outbox:
        """Queue a public reply; it shows in the thread at once as ``queued``."""
        body = body.strip("\n")
        if not body.strip():
            raise DeskError("the reply is empty")
        at = at or utcnow()
        item = repo.queue_outbox(s, conv, body, author=self.agent)
        msg = repo.add_message(
            s,
            conv,
            external_id=f"outbox:{item.id}",
            direction="out",
            text=body,
            sent_at=at,
            author=self.agent,
            subject=conv.subject,
        )
        item.sent_message_id = msg.id
        conv.unread = False
        self.on_agent_reply(conv, at)
        if conv.status == "snoozed":
            repo.set_status(s, conv, "open", actor=self.agent, at=at)
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
        repo.set_status(s, conv, "resolved", actor=self.agent)

    def set_status(self, s: Session, conv: Conversation, status: str) -> None:
        """Change status (open, pending, snoozed, resolved)."""
        repo.set_status(s, conv, status, actor=self.agent)

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
        return body

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

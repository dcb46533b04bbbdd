"""The helpdesk's rules applied to the store: the :class:`Desk` facade.

Everything an agent, the console, the CLI or the sync does to conversations is a
method here, and each method is a thin delegation to the module that owns the rule:

- :mod:`~omnitui.desk.settings` — configuration (:class:`DeskSettings`), shared names;
- :mod:`~omnitui.desk.clocks` — SLA clocks, urgency, breach;
- :mod:`~omnitui.desk.lifecycle` — status changes with their pauses, snooze, wake;
- :mod:`~omnitui.desk.ingest` (load, write) and :mod:`~omnitui.desk.ingest_plan`
  (decide) — storing inbound messages;
- :mod:`~omnitui.desk.conversation_ops` — reply, note, priority, tags, assignment,
  merge, split;
- :mod:`~omnitui.desk.outbox` — outbox bookkeeping (sent, failed, withdraw, retry);
- :mod:`~omnitui.desk.acknowledgement` — the acknowledgement, written when sent;
- :mod:`~omnitui.desk.customers` — VIP, notes, merging customers;
- :mod:`~omnitui.desk.surveys` — the satisfaction survey after a resolution;
- :mod:`~omnitui.desk.conflicts` — two agents, one conversation (versions).

No module of the package imports this one. Every method takes an open Session and
leaves the commit to the caller, so a poll's messages and its cursor, or an action and
its event, commit together. An action an agent decides on a conversation takes
``expected_version``, the version the agent saw: when the row moved on since, it raises
:class:`ConversationChanged` and writes nothing (None: no check; a race inside the
write itself is a ``StaleDataError`` at flush, which the console and the CLI turn into
the same error).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlmodel import Session

from adapters.base import AdapterError, InboundMessage, OutboundAttachment, ReplyWindow
from omnitui.desk import (
    acknowledgement,
    clocks,
    conflicts,
    conversation_ops,
    customers,
    ingest,
    lifecycle,
    outbox,
    reply_windows,
    surveys,
)
from omnitui.desk.conflicts import ConversationChanged
from omnitui.desk.settings import (
    ACK_AUTHOR,
    AUTO_TAG,
    REOPEN_WINDOW,
    SURVEY_AUTHOR,
    SYSTEM_AUTHOR,
    DeskError,
    DeskSettings,
    ReplyWindowClosed,
    WorkflowError,
)
from omnitui.desk.sla import Policy
from storage.models import Conversation, Message, Outbox
from storage.types import utcnow

__all__ = [
    "ACK_AUTHOR",
    "AUTO_TAG",
    "REOPEN_WINDOW",
    "ConversationChanged",
    "SURVEY_AUTHOR",
    "SYSTEM_AUTHOR",
    "Desk",
    "DeskError",
    "DeskSettings",
    "ReplyWindowClosed",
    "WorkflowError",
]


class Desk(DeskSettings):
    """Applies the helpdesk's rules; one per process, configured from ``[sla]``,
    ``[routing]`` and the accounts (see :class:`DeskSettings` for the fields)."""

    # -- inbound -----------------------------------------------------------------
    def ingest(self, s: Session, account: str, msg: InboundMessage) -> Message | None:
        """Store one inbound message in the right conversation; None if already stored."""
        stored = self.ingest_many(s, account, [msg])
        return s.get(Message, stored[0]) if stored else None

    def ingest_many(
        self, s: Session, account: str, messages: Sequence[InboundMessage]
    ) -> list[int]:
        """Store a poll's messages (see :func:`omnitui.desk.ingest.ingest_many`)."""
        return ingest.ingest_many(self, s, account, messages)

    # -- replies and notes -------------------------------------------------------
    def reply(
        self,
        s: Session,
        conv: Conversation,
        body: str,
        *,
        at: datetime | None = None,
        files: Sequence[OutboundAttachment] = (),
    ) -> Outbox:
        """Queue a public reply (with ``files``, read by
        :func:`omnitui.desk.reply_files.read_files`); it shows in the thread at once as
        ``queued``."""
        return conversation_ops.reply(self, s, conv, body, at=at, files=files)

    def reply_template(
        self,
        s: Session,
        conv: Conversation,
        name: str,
        variables: Mapping[str, str],
        *,
        at: datetime | None = None,
    ) -> Outbox:
        """Queue the account's approved template ``name`` (outside a free-text window)."""
        return conversation_ops.reply_template(self, s, conv, name, variables, at=at)

    def reply_window(
        self, s: Session, conv: Conversation, now: datetime | None = None
    ) -> ReplyWindow:
        """What the conversation's platform lets an agent send now."""
        return reply_windows.window_for(self.accounts, s, conv, now)

    def window_closed_since_queued(self, s: Session, item: Outbox) -> str | None:
        """Why a queued free-text reply may no longer go (its window ended while it
        waited), or None; the sync asks before every attempt."""
        options = item.send_options or {}
        if "window_until" not in options:
            return None  # no window when it was queued (email, a template…)
        conv = s.get(Conversation, item.conversation_id)
        if conv is None:
            return None
        return reply_windows.closed_since_queued(self.accounts, s, conv, options)

    def templates(self, conv: Conversation) -> dict[str, str]:
        """The approved templates of the conversation's account, name -> platform id
        (none while the account's table is invalid: sending one says why)."""
        rule = self.accounts.get(conv.account)
        try:
            return rule.templates() if rule else {}
        except AdapterError:
            return {}

    def note(
        self, s: Session, conv: Conversation, body: str, *, at: datetime | None = None
    ) -> Message:
        """Add a private note (never sent to the customer)."""
        return conversation_ops.note(self, s, conv, body, at=at)

    def mark_read(self, s: Session, conversation_id: int) -> bool:
        """The agent has seen the latest messages (never a version change: see
        :func:`omnitui.desk.conversation_ops.mark_read`); whether it was unread."""
        return conversation_ops.mark_read(s, conversation_id)

    # -- status --------------------------------------------------------------------
    def set_status(
        self,
        s: Session,
        conv: Conversation,
        status: str,
        *,
        actor: str | None = None,
        at: datetime | None = None,
        expected_version: int | None = None,
    ) -> None:
        """Change status (open, pending, snoozed, resolved), pausing SLA clocks; a
        conversation just resolved gets its satisfaction survey (``[csat]``)."""
        conflicts.expect(s, conv, expected_version, me=self.agent)
        was = conv.status
        at = at or utcnow()
        lifecycle.change_status(self, s, conv, status, actor=actor, at=at)
        if status == "resolved" and was != "resolved":
            surveys.after_resolve(self, s, conv, at)

    def survey_still_wanted(self, s: Session, item: Outbox) -> bool:
        """Whether a queued survey should still go (its conversation is resolved);
        if not it is dropped. The sync asks just before sending one."""
        return surveys.still_wanted(s, item)

    def resolve(
        self, s: Session, conv: Conversation, *, expected_version: int | None = None
    ) -> None:
        """Mark the conversation resolved."""
        self.set_status(s, conv, "resolved", expected_version=expected_version)

    def snooze(
        self,
        s: Session,
        conv: Conversation,
        until: datetime | None,
        *,
        at: datetime | None = None,
        expected_version: int | None = None,
    ) -> None:
        """Hide a conversation until ``until``, or until the customer replies (None)."""
        conflicts.expect(s, conv, expected_version, me=self.agent)
        lifecycle.snooze(self, s, conv, until, at=at)

    def wake_due(self, s: Session, now: datetime | None = None) -> list[int]:
        """Reopen snoozed conversations whose time has come; returns their ids (one an
        agent changes at that moment is left to the agent)."""
        return lifecycle.wake_due(self, s, now)

    # -- priority, tags, assignment, merge, split -----------------------------------
    def set_priority(
        self,
        s: Session,
        conv: Conversation,
        priority: str,
        *,
        expected_version: int | None = None,
    ) -> None:
        """Change the priority; the SLA policy is chosen again."""
        conflicts.expect(s, conv, expected_version, me=self.agent)
        conversation_ops.set_priority(self, s, conv, priority)

    def edit_tags(
        self,
        s: Session,
        conv: Conversation,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        replace: Iterable[str] | None = None,
        expected_version: int | None = None,
    ) -> list[str]:
        """Add, remove or replace tags; returns the new list."""
        conflicts.expect(s, conv, expected_version, me=self.agent)
        return conversation_ops.edit_tags(self, s, conv, add=add, remove=remove, replace=replace)

    def assign(
        self,
        s: Session,
        conv: Conversation,
        assignee: str | None,
        *,
        expected_version: int | None = None,
    ) -> None:
        """Assign to an agent by name; None or empty unassigns."""
        conflicts.expect(s, conv, expected_version, me=self.agent)
        conversation_ops.assign(self, s, conv, assignee)

    def merge_conversations(
        self,
        s: Session,
        source: Conversation,
        target: Conversation,
        *,
        expected_version: int | None = None,
        expected_target_version: int | None = None,
    ) -> None:
        """Move everything of ``source`` into ``target`` and delete ``source`` (each side
        checked against the version the agent saw)."""
        conflicts.expect(s, source, expected_version, me=self.agent)
        conflicts.expect(s, target, expected_target_version, me=self.agent)
        conversation_ops.merge_conversations(self, s, source, target)

    def split_message(
        self, s: Session, message: Message, *, expected_version: int | None = None
    ) -> Conversation:
        """Move one inbound message out into a new conversation of its own
        (``expected_version``: of the conversation it leaves)."""
        source = s.get(Conversation, message.conversation_id)
        if source is not None:
            conflicts.expect(s, source, expected_version, me=self.agent)
        return conversation_ops.split_message(self, s, message)

    # -- customers -----------------------------------------------------------------
    def set_vip(self, s: Session, customer_id: int, vip: bool) -> None:
        """Flag or unflag a VIP; their open conversations' policy is chosen again."""
        customers.set_vip(self, s, customer_id, vip)

    def merge_customers(self, s: Session, keep_id: int, other_id: int) -> dict[str, int]:
        """Move everything of customer ``other_id`` to ``keep_id``; returns the counts."""
        return customers.merge_customers(s, keep_id, other_id, actor=self.agent)

    def set_customer_notes(self, s: Session, customer_id: int, notes: str) -> None:
        """Replace the free-form notes on a customer."""
        customers.set_notes(self, s, customer_id, notes)

    # -- SLA -------------------------------------------------------------------------
    def policy_for(
        self, s: Session, conv: Conversation, *, vip: bool | None = None
    ) -> Policy | None:
        """The first policy matching this conversation (``vip`` when already known)."""
        if vip is None:
            vip = lifecycle.customer_vip(s, conv)
        return clocks.policy_for(self, conv, vip=vip)

    def reapply_policy(self, s: Session, conv: Conversation) -> None:
        """Choose the policy again and recompute the running clocks."""
        clocks.reapply(self, conv, vip=lifecycle.customer_vip(s, conv))

    # -- outbox ----------------------------------------------------------------------
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
        outbox.mark_sent(s, item, provider_id=provider_id, external_id=external_id, at=at)

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
        outbox.mark_failed(s, item, error, retry_at=retry_at, state=state)

    def withdraw_failed(self, s: Session, conv: Conversation) -> str:
        """Take back the latest reply that failed to send and return its text."""
        return outbox.withdraw_failed(self, s, conv)

    def clocks_after_withdrawal(self, s: Session, conv: Conversation) -> None:
        """Set the clocks as if a withdrawn reply had never been written."""
        outbox.clocks_after_withdrawal(self, s, conv)

    def retry_failed(self, s: Session, conv: Conversation) -> int:
        """Queue every failing, failed or uncertain reply of ``conv`` for now; returns
        how many were queued (DeskError when none could be)."""
        return outbox.retry_failed(self, s, conv)

    def retry(self, s: Session, item_id: int, *, confirmed: bool = False) -> outbox.Pending:
        """Queue one failing, failed or uncertain reply for now."""
        return outbox.retry(s, item_id, actor=self.agent, confirmed=confirmed)

    def take_back(
        self, s: Session, item_id: int, *, confirmed: bool = False, kind: str = "cancelled"
    ) -> outbox.Pending:
        """Remove a reply not sent yet (``cancelled``, or ``withdrawn`` to edit it) with
        its ``out`` message, and set the clocks as if it had never been written."""
        return outbox.take_back(
            s, item_id, actor=self.agent, confirmed=confirmed, kind=kind, desk=self
        )

    def write_acknowledgement(self, s: Session, item: Outbox) -> bool:
        """Write a queued acknowledgement before it is sent; False: it was dropped."""
        return acknowledgement.write_acknowledgement(self, s, item)

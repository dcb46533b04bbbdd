"""SLA clock rules: which policy applies, when each clock is due, how a pause moves it,
which clock runs (the inbox's urgency) and whether a target was breached.

Pure functions, no session: they read and set the clock fields of a conversation —
a stored :class:`storage.models.Conversation` or any record with the same fields
(see :class:`Clocked`) — so the ingest plan and the agent actions share them.
Pending and snoozed stop the next-response and resolution clocks
(:data:`storage.models.PAUSED_STATUSES`); first response never pauses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from omnitui.desk.settings import DeskSettings
from omnitui.desk.sla import Policy, calendar_for, pick_policy, resume_due
from storage.models import NO_DUE, PAUSED_STATUSES
from storage.types import epoch


class Clocked(Protocol):
    """The conversation fields the clock rules read and write."""

    channel: str
    account: str
    priority: str
    tags: Any
    status: str
    created_at: datetime
    last_inbound_at: datetime | None
    first_responded_at: datetime | None
    first_response_due: datetime | None
    next_response_due: datetime | None
    resolution_due: datetime | None
    urgency_due: int


def policy_for(settings: DeskSettings, conv: Clocked, *, vip: bool) -> Policy | None:
    """The first policy matching this conversation."""
    return pick_policy(
        settings.policies,
        channel=conv.channel,
        priority=conv.priority,
        vip=vip,
        tags=list(conv.tags or ()),
        account=conv.account,
    )


def due(
    settings: DeskSettings, policy: Policy | None, target: str, start: datetime
) -> datetime | None:
    """When ``policy``'s ``target`` (``first_response``, ``next_response``,
    ``resolution``) started at ``start`` is due; None without that target."""
    span = getattr(policy, target) if policy else None
    return None if span is None else calendar_for(policy, settings.calendar).add(start, span)


def on_customer_message(
    settings: DeskSettings, conv: Clocked, at: datetime, *, new: bool, vip: bool
) -> None:
    """Start or restart the clocks a customer message starts (a resolved conversation
    gets a new resolution clock; the reopening itself is :mod:`omnitui.desk.lifecycle`'s)."""
    policy = policy_for(settings, conv, vip=vip)
    if new:
        conv.first_response_due = due(settings, policy, "first_response", at)
        conv.resolution_due = due(settings, policy, "resolution", conv.created_at)
    elif conv.first_responded_at is not None and conv.next_response_due is None:
        conv.next_response_due = due(settings, policy, "next_response", at)
    if conv.status == "resolved":
        conv.resolution_due = due(settings, policy, "resolution", at)
    refresh_urgency(conv)


def on_agent_reply(conv: Clocked, at: datetime) -> None:
    """A public reply meets first response and stops the next-response clock."""
    if conv.first_responded_at is None:
        conv.first_responded_at = at
    conv.next_response_due = None
    refresh_urgency(conv)


def resume(
    settings: DeskSettings, conv: Clocked, paused_at: datetime, resumed_at: datetime, *, vip: bool
) -> None:
    """After pending/snoozed: move next-response and resolution due times on by the
    working time they had left when the clock stopped."""
    cal = calendar_for(policy_for(settings, conv, vip=vip), settings.calendar)
    conv.next_response_due = resume_due(conv.next_response_due, paused_at, resumed_at, cal)
    conv.resolution_due = resume_due(conv.resolution_due, paused_at, resumed_at, cal)
    refresh_urgency(conv)


def reapply(settings: DeskSettings, conv: Clocked, *, vip: bool) -> None:
    """Choose the policy again (priority, tags or VIP changed) and recompute the running
    clocks from when each started."""
    policy = policy_for(settings, conv, vip=vip)
    if conv.first_responded_at is None:
        conv.first_response_due = due(settings, policy, "first_response", conv.created_at)
    if conv.next_response_due is not None and conv.last_inbound_at is not None:
        conv.next_response_due = due(settings, policy, "next_response", conv.last_inbound_at)
    if conv.status != "resolved":
        conv.resolution_due = due(settings, policy, "resolution", conv.created_at)
    refresh_urgency(conv)


def after_withdrawal(
    settings: DeskSettings, conv: Clocked, replies: Sequence[datetime], *, vip: bool
) -> None:
    """The clocks once a reply is taken back, given when the agent replies left were
    written (oldest first): first response is the earliest left (its clock runs again
    when none is left), and next response runs again if the customer wrote after the
    last one."""
    policy = policy_for(settings, conv, vip=vip)
    if not replies:
        conv.first_responded_at = None
        conv.first_response_due = due(settings, policy, "first_response", conv.created_at)
        conv.next_response_due = None
    else:
        conv.first_responded_at = replies[0]
        last_in = conv.last_inbound_at
        if last_in is not None and last_in > replies[-1] and conv.next_response_due is None:
            conv.next_response_due = due(settings, policy, "next_response", last_in)
    refresh_urgency(conv)


def running_due(conv: Any) -> datetime | None:
    """The most urgent SLA due time still running on ``conv`` (None when none runs)."""
    if conv.status == "resolved":
        return None
    dues: list[datetime] = []
    if conv.first_responded_at is None and conv.first_response_due is not None:
        dues.append(conv.first_response_due)
    if conv.status not in PAUSED_STATUSES:
        if conv.next_response_due is not None:
            dues.append(conv.next_response_due)
        if conv.resolution_due is not None:
            dues.append(conv.resolution_due)
    return min(dues) if dues else None


def refresh_urgency(conv: Any) -> None:
    """Recompute the inbox sort column (``urgency_due``) from the SLA fields."""
    found = running_due(conv)
    conv.urgency_due = epoch(found) if found is not None else NO_DUE


def breached(row: Any, now: datetime) -> bool:
    """Whether any SLA target of the conversation was missed, or is overdue now.

    While pending or snoozed the next-response and resolution clocks stand still at
    ``paused_at``: they count as breached only if they ran out before the pause."""
    first_due, first_done = _utc(row.first_response_due), _utc(row.first_responded_at)
    if first_due is not None:
        if first_done is None and row.status != "resolved" and first_due < now:
            return True
        if first_done is not None and first_done > first_due:
            return True
    paused = _utc(getattr(row, "paused_at", None))
    clock = paused if paused is not None and row.status in PAUSED_STATUSES else now
    next_due = _utc(row.next_response_due)
    if next_due is not None and next_due < clock and row.status != "resolved":
        return True
    res_due, res_done = _utc(row.resolution_due), _utc(row.resolved_at)
    if res_due is not None:
        if res_done is None and res_due < clock:
            return True
        if res_done is not None and res_done > res_due:
            return True
    return False


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value

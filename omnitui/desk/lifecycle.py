"""Status changes with their SLA pauses: open, pending, snoozed, resolved; snoozing and
waking; reading the snooze times agents type.

:func:`apply_status` is the rule, pure over the conversation's fields, returning the
event to record; :func:`change_status` loads what it needs, applies it and records it.
Every function that takes a Session leaves the commit to the caller. Rules chosen
where the helpdesks differ are in docs/WORKFLOW.md.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from omnitui.desk import clocks
from omnitui.desk.records import ConvRecord
from omnitui.desk.settings import DeskSettings, WorkflowError
from omnitui.desk.sla import MAX_DURATION, DurationTooLong, SLAConfigError, parse_duration
from storage import repository as repo
from storage.models import PAUSED_STATUSES, STATUSES, Conversation, Customer, table_of
from storage.types import utcnow

#: When "tomorrow" and "next week" snoozes wake, in the agent's time zone.
WAKE_TIME = time(9, 0)


def customer_vip(s: Session, conv: Conversation | ConvRecord) -> bool:
    """Whether the conversation's customer is a VIP (SLA policies match on it)."""
    customer = s.get(Customer, conv.customer_id)
    return bool(customer and customer.vip)


def apply_status(
    settings: DeskSettings,
    conv: Any,
    status: str,
    *,
    at: datetime,
    vip: bool,
    actor: str,
    snoozed_until: datetime | None = None,
) -> dict[str, Any]:
    """Move ``conv`` to ``status`` and return the ``conversation.status`` event to log.

    Pending and snoozed stop the next-response and resolution clocks; leaving them moves
    those due times on by the working time that was left (first response never pauses).
    """
    if status not in STATUSES:
        raise WorkflowError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    was_paused = conv.status in PAUSED_STATUSES and conv.paused_at is not None
    if status in PAUSED_STATUSES:
        if not was_paused:
            conv.paused_at = at
    elif was_paused:
        if status != "resolved":
            clocks.resume(settings, conv, conv.paused_at, at, vip=vip)
        conv.paused_at = None
    old = conv.status
    conv.status = status
    conv.snoozed_until = snoozed_until if status == "snoozed" else None
    if status == "resolved":
        conv.resolved_at = at
    elif old == "resolved":
        conv.resolved_at = None
    clocks.refresh_urgency(conv)
    return {
        "kind": "conversation.status",
        "actor": actor,
        "conversation_id": conv.id,
        "customer_id": conv.customer_id,
        "detail": {"from": old, "to": status},
        "at": at,
    }


def reopen_for_customer(
    settings: DeskSettings, conv: Any, at: datetime, *, vip: bool
) -> dict[str, Any] | None:
    """A customer message reopens a resolved, pending or snoozed conversation (a timed
    snooze is woken early, as in Zendesk and Freshdesk: the customer is waiting again);
    returns the status event, or None when it was open."""
    if conv.status == "open":
        return None
    return apply_status(settings, conv, "open", at=at, vip=vip, actor="customer")


def change_status(
    settings: DeskSettings,
    s: Session,
    conv: Conversation,
    status: str,
    *,
    actor: str | None = None,
    at: datetime | None = None,
    snoozed_until: datetime | None = None,
) -> None:
    """Apply :func:`apply_status` to a stored conversation and record the event."""
    event = apply_status(
        settings,
        conv,
        status,
        at=at or utcnow(),
        vip=customer_vip(s, conv),
        actor=actor or settings.agent,
        snoozed_until=snoozed_until,
    )
    repo.log_event(s, event.pop("kind"), **event)


def snooze(
    settings: DeskSettings,
    s: Session,
    conv: Conversation,
    until: datetime | None,
    *,
    at: datetime | None = None,
) -> None:
    """Hide a conversation until ``until``, or until the customer replies (None)."""
    at = at or utcnow()
    if until is not None and until <= at:
        raise WorkflowError("the snooze time is in the past")
    if conv.status == "resolved":
        raise WorkflowError(f"{conv.ref} is resolved; reopen it first")
    change_status(settings, s, conv, "snoozed", at=at, snoozed_until=until)


def wake_due(settings: DeskSettings, s: Session, now: datetime | None = None) -> list[int]:
    """Reopen snoozed conversations whose time has come; returns their ids.

    Bookkeeping, not an agent's decision, so it never wins a race against one: each
    conversation is woken by an UPDATE guarded on the version read here (and moving it
    on, :mod:`omnitui.desk.conflicts`). One an agent changes at that very moment is left
    as the agent made it — woken next time if still snoozed and due — and neither side
    gets an error."""
    now = now or utcnow()
    s.flush()  # the rows as this session has them
    table = table_of(Conversation)
    query = select(table).where(
        table.c.status == "snoozed",
        table.c.snoozed_until.is_not(None),
        table.c.snoozed_until <= now,
    )
    due = s.connection().execute(query).all()  # rows as read (version included)
    woken: list[int] = []
    for row in due:
        conv = ConvRecord.of(row)
        event = apply_status(
            settings,
            conv,
            "open",
            at=row.snoozed_until or now,
            vip=customer_vip(s, conv),
            actor="system",
        )
        conv.unread = True
        done = s.exec(
            update(Conversation)
            .where(col(Conversation.id) == row.id, col(Conversation.version) == row.version)
            .values(**conv.changes(row), version=col(Conversation.version) + 1)
        )
        if done.rowcount == 1:
            repo.log_event(s, event.pop("kind"), **event)
            woken.append(row.id)
    return woken


def parse_snooze(text: str, now: datetime, zone: tzinfo) -> datetime | None:
    """When a snooze typed as ``1h``/``90m``/``2d``, ``tomorrow``, ``next-week``,
    ``monday``…, ``reply`` (until the customer answers: None) or an ISO date/time
    ends. Local times are in ``zone``."""
    value = text.strip().lower().replace(" ", "-")
    if value in ("reply", "until-reply", "customer-reply"):
        return None
    local = now.astimezone(zone)
    if value == "tomorrow":
        return _at_wake(local.date() + timedelta(days=1), zone)
    if value in ("next-week", "nextweek", "week"):
        return _at_wake(local.date() + timedelta(days=7 - local.weekday()), zone)
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for i, name in enumerate(days):
        if value in (name, name[:3]):
            ahead = (i - local.weekday()) % 7 or 7
            return _at_wake(local.date() + timedelta(days=ahead), zone)
    try:
        return now + parse_duration(value)
    except DurationTooLong as exc:
        raise WorkflowError(f"snooze: {exc}") from None
    except SLAConfigError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise WorkflowError(
            f"{text!r}: snooze for a duration (1h, 2d), until tomorrow, next-week, a weekday, "
            "a date (2026-12-01 14:00) or reply"
        ) from None
    if parsed.tzinfo is None:
        if len(text.strip()) <= 10:  # a bare date: the start of that working day
            parsed = datetime.combine(parsed.date(), WAKE_TIME)
        parsed = parsed.replace(tzinfo=zone)
    if parsed - now > MAX_DURATION:
        raise WorkflowError(f"snooze: {text.strip()!r} is too far ahead (at most 100 years)")
    if parsed <= now:
        raise WorkflowError(f"snooze: {text.strip()!r} is in the past")
    return parsed


def _at_wake(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, WAKE_TIME, tzinfo=zone)

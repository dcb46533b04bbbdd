"""Conversation workflow: status (with SLA pauses), snooze, priority, tags, assignment,
merging two conversations and splitting a message out into a new one.

Every function takes an open Session and leaves the commit to the caller, like
:mod:`omnitui.desk`. Rules chosen where the helpdesks differ are in docs/WORKFLOW.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import Session, col, select

from omnitui.errors import OmnituiError
from storage import repository as repo
from storage.models import (
    PRIORITIES,
    STATUSES,
    Conversation,
    Draft,
    Event,
    Message,
    Outbox,
    RefAlias,
)
from storage.types import epoch, utcnow

if TYPE_CHECKING:
    from omnitui.desk import Desk

#: Statuses in which the next-response and resolution clocks stand still.
PAUSED = ("pending", "snoozed")
#: When "tomorrow" and "next week" snoozes wake, in the agent's time zone.
WAKE_TIME = time(9, 0)
_TAG = re.compile(r"^[\w][\w.:/+-]{0,63}$")


class WorkflowError(OmnituiError, ValueError):
    """An action that cannot be done as asked (bad priority, tag, snooze time…)."""


# -- status and the SLA pause ---------------------------------------------------
def change_status(
    desk: Desk,
    s: Session,
    conv: Conversation,
    status: str,
    *,
    actor: str | None = None,
    at: datetime | None = None,
    snoozed_until: datetime | None = None,
) -> None:
    """Move a conversation to ``status``; pending and snoozed stop the next-response
    and resolution clocks, and leaving them moves those due times on by the working
    time that was left (first response never pauses)."""
    if status not in STATUSES:
        raise WorkflowError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    at = at or utcnow()
    was_paused = conv.status in PAUSED and conv.paused_at is not None
    if status in PAUSED:
        if not was_paused:
            conv.paused_at = at
    elif was_paused:
        if status != "resolved":
            desk.resume_clocks(s, conv, conv.paused_at, at)  # type: ignore[arg-type]
        conv.paused_at = None
    repo.set_status(s, conv, status, actor=actor or desk.agent, at=at, snoozed_until=snoozed_until)


def snooze(
    desk: Desk,
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
    change_status(desk, s, conv, "snoozed", at=at, snoozed_until=until)


def wake_due(desk: Desk, s: Session, now: datetime | None = None) -> list[int]:
    """Reopen snoozed conversations whose time has come; returns their ids."""
    now = now or utcnow()
    due = s.exec(
        select(Conversation).where(
            Conversation.status == "snoozed",
            col(Conversation.snoozed_until).is_not(None),
            col(Conversation.snoozed_until) <= now,
        )
    ).all()
    for conv in due:
        change_status(desk, s, conv, "open", actor="system", at=conv.snoozed_until or now)
        conv.unread = True
    return [c.id for c in due if c.id is not None]


def parse_snooze(text: str, now: datetime, zone: tzinfo) -> datetime | None:
    """When a snooze typed as ``1h``/``90m``/``2d``, ``tomorrow``, ``next-week``,
    ``monday``…, ``reply`` (until the customer answers: None) or an ISO date/time
    ends. Local times are in ``zone``."""
    from omnitui.desk.sla import MAX_DURATION, DurationTooLong, SLAConfigError, parse_duration

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


def _at_wake(day, zone: tzinfo) -> datetime:  # noqa: ANN001 - a date
    return datetime.combine(day, WAKE_TIME, tzinfo=zone)


# -- priority, tags, assignment -----------------------------------------------
def set_priority(desk: Desk, s: Session, conv: Conversation, priority: str) -> None:
    """Change the priority; the SLA policy is chosen again (as in Zendesk)."""
    priority = priority.strip().lower()
    if priority not in PRIORITIES:
        raise WorkflowError(f"unknown priority {priority!r} (one of {', '.join(PRIORITIES)})")
    old = conv.priority
    if old == priority:
        return
    conv.priority = priority
    desk.reapply_policy(s, conv)
    repo.log_event(
        s,
        "conversation.priority",
        actor=desk.agent,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        detail={"from": old, "to": priority},
    )


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags as stored: lower case, no spaces, no duplicates, in the order given."""
    out: list[str] = []
    for raw in tags:
        tag = raw.strip().lower().lstrip("#")
        if not tag:
            continue
        if not _TAG.match(tag):
            raise WorkflowError(f"{raw!r} is not a tag (letters, digits and . : / + - _)")
        if tag not in out:
            out.append(tag)
    return out


def edit_tags(
    desk: Desk,
    s: Session,
    conv: Conversation,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    replace: Iterable[str] | None = None,
) -> list[str]:
    """Add, remove or replace tags; returns the new list."""
    old = list(conv.tags or [])
    if replace is not None:
        new = clean_tags(replace)
    else:
        gone = set(clean_tags(remove))
        new = [t for t in old if t not in gone]
        new += [t for t in clean_tags(add) if t not in new]
    if new == old:
        return new
    conv.tags = new
    desk.reapply_policy(s, conv)
    repo.log_event(
        s,
        "conversation.tags",
        actor=desk.agent,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        detail={"from": old, "to": new},
    )
    return new


def assign(desk: Desk, s: Session, conv: Conversation, assignee: str | None) -> None:
    """Assign to an agent by name; None or empty unassigns."""
    name = (assignee or "").strip() or None
    if name is not None and len(name) > 128:
        raise WorkflowError("an agent name is at most 128 characters")
    old = conv.assignee
    if old == name:
        return
    conv.assignee = name
    repo.log_event(
        s,
        "conversation.assigned",
        actor=desk.agent,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        detail={"from": old, "to": name},
    )


# -- merge and split ----------------------------------------------------------
def merge_conversations(desk: Desk, s: Session, source: Conversation, target: Conversation) -> None:
    """Move every message, reply and event of ``source`` into ``target`` and delete
    ``source``; its reference keeps leading to ``target``. Replies go on the
    target's channel."""
    if source.id == target.id:
        raise WorkflowError("a conversation cannot be merged into itself")
    for table in (Message, Outbox, Event):
        s.exec(
            update(table)
            .where(table.conversation_id == source.id)  # type: ignore[attr-defined]
            .values(conversation_id=target.id)
        )
    s.exec(
        update(RefAlias)
        .where(RefAlias.conversation_id == source.id)
        .values(conversation_id=target.id)
    )
    s.add(RefAlias(ref=source.ref, conversation_id=target.id))
    _merge_drafts(s, source, target)
    target.tags = [*(target.tags or []), *(t for t in source.tags or [] if t not in target.tags)]
    if (
        source.first_responded_at is None
        and source.first_response_due is not None
        and (
            target.first_responded_at is None
            and (
                target.first_response_due is None
                or source.first_response_due < target.first_response_due
            )
        )
    ):
        target.first_response_due = source.first_response_due
    if source.created_at < target.created_at:
        target.created_at = source.created_at
    target.unread = target.unread or source.unread
    s.flush()
    recount(s, target)
    repo.log_event(
        s,
        "conversation.merged",
        actor=desk.agent,
        conversation_id=target.id,
        customer_id=target.customer_id,
        detail={"from": source.ref, "from_customer_id": source.customer_id},
    )
    if target.status in ("resolved", *PAUSED) and source.status == "open":
        change_status(desk, s, target, "open")
    s.delete(source)
    s.flush()
    repo.refresh_urgency(target)


def _merge_drafts(s: Session, source: Conversation, target: Conversation) -> None:
    """A draft of the merged-away conversation moves to the one that stays (after its
    own draft, when it has one)."""
    moved = s.get(Draft, source.id)
    if moved is None:
        return
    kept = s.get(Draft, target.id)
    if kept is None:
        s.add(
            Draft(
                conversation_id=target.id,
                mode=moved.mode,
                body=moved.body,
                author=moved.author,
                updated_at=moved.updated_at,
            )
        )
    else:
        kept.body = kept.body.rstrip("\n") + "\n\n" + moved.body
        s.add(kept)
    s.delete(moved)
    s.flush()


def split_message(desk: Desk, s: Session, message: Message) -> Conversation:
    """Move one inbound message out into a new conversation of its own (same
    customer and channel), with its own SLA clocks."""
    source = s.get(Conversation, message.conversation_id)
    assert source is not None
    if source.message_count <= 1:
        raise WorkflowError("that is the conversation's only message")
    if message.direction != "in":
        raise WorkflowError("only a customer's message can be split out")
    conv = repo.create_conversation(
        s,
        account=source.account,
        channel=source.channel,
        customer_id=source.customer_id,  # type: ignore[arg-type]
        subject=message.subject or source.subject,
        created_at=message.sent_at,
    )
    message.conversation_id = conv.id
    s.flush()
    recount(s, source)
    recount(s, conv)
    desk.on_customer_message(s, conv, message.sent_at, new=True)
    repo.log_event(
        s,
        "conversation.split",
        actor=desk.agent,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        detail={"from": source.ref, "message_id": message.id},
    )
    return conv


def recount(s: Session, conv: Conversation) -> None:
    """Recompute a conversation's summary columns from its messages."""
    rows = s.exec(
        select(Message.direction, Message.text, Message.sent_at)
        .where(Message.conversation_id == conv.id)
        .order_by(col(Message.sent_at), col(Message.id))
    ).all()
    conv.message_count = len(rows)
    public = [r for r in rows if r[0] != "note"]
    if public:
        last = public[-1]
        conv.last_message_at = last[2]
        conv.recency = -epoch(last[2])
        conv.preview = next((ln.strip() for ln in last[1].splitlines() if ln.strip()), "")[:200]
    inbound = [r[2] for r in rows if r[0] == "in"]
    conv.last_inbound_at = max(inbound) if inbound else None


def find_by_ref(s: Session, ref: str) -> Conversation | None:
    """The conversation a reference names, following merges."""
    ref = ref.strip().strip("[]").strip().upper()
    if ref.isascii() and ref.isdigit():
        ref = f"C-{ref}"  # "1061" as typed in a prompt
    elif ref.startswith("C") and ref[1:].isascii() and ref[1:].isdigit():
        ref = f"C-{ref[1:]}"
    conv = s.exec(select(Conversation).where(Conversation.ref == ref)).first()
    if conv is not None:
        return conv
    alias = s.get(RefAlias, ref)
    return None if alias is None else s.get(Conversation, alias.conversation_id)

"""Agent actions on a conversation: reply, note, mark read, priority, tags, assignment,
merging two conversations and splitting a message out into a new one; finding one by
its reference.

Every function takes an open Session and leaves the commit to the caller. Status
changes are :mod:`omnitui.desk.lifecycle`'s, outbox bookkeeping
:mod:`omnitui.desk.outbox`'s, the clocks :mod:`omnitui.desk.clocks`'. Rules chosen
where the helpdesks differ are in docs/WORKFLOW.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from adapters.base import OutboundAttachment
from omnitui.desk import clocks, reply_files, reply_windows
from omnitui.desk.conflicts import claim
from omnitui.desk.lifecycle import change_status, customer_vip
from omnitui.desk.outbox import queue_out
from omnitui.desk.settings import DeskError, DeskSettings, ReplyWindowClosed, WorkflowError
from storage import repository as repo
from storage.models import (
    PAUSED_STATUSES,
    PRIORITIES,
    Agent,
    Conversation,
    Draft,
    Event,
    Handling,
    Message,
    Outbox,
    RefAlias,
    Survey,
    table_of,
)
from storage.types import epoch, utcnow

_TAG = re.compile(r"^[\w][\w.:/+-]{0,63}$")


# -- reply and note ---------------------------------------------------------------
def reply(
    settings: DeskSettings,
    s: Session,
    conv: Conversation,
    body: str,
    *,
    at: datetime | None,
    files: Sequence[OutboundAttachment] = (),
) -> Outbox:
    """Queue a public reply, with ``files`` if any; it shows in the thread at once as
    ``queued``. A reply its platform's window does not allow now is refused
    (:class:`ReplyWindowClosed`); one the window allows only with a message tag
    carries the tag; files the channel cannot take are refused (:class:`DeskError`)."""
    body = body.strip("\n")
    if not body.strip() and not files:
        raise DeskError("the reply is empty")
    at = at or utcnow()
    window = reply_windows.window_for(settings.accounts, s, conv, at)
    if not window.allows_text:
        raise ReplyWindowClosed(f"{conv.ref}: {window.reason or 'the reply window is closed'}")
    needed = reply_windows.messages_needed(body, len(files))
    if window.remaining is not None and needed > window.remaining:
        raise ReplyWindowClosed(
            f"{conv.ref}: this reply takes {needed} messages (its text and each file); "
            f"{window.remaining} may go before the customer writes again"
        )
    reply_files.check_files(settings.accounts, conv, files)
    options: dict[str, Any] = {"tag": window.tag} if window.tag else {}
    if window.until is not None:  # the sync checks it again before each attempt
        options["window_until"] = window.until.astimezone(UTC).isoformat()
    item = _queued_reply(settings, s, conv, body, at, options)
    if files:
        msg = s.get(Message, item.sent_message_id)
        assert msg is not None
        reply_files.attach(s, msg, files)
    return item


def reply_template(
    settings: DeskSettings,
    s: Session,
    conv: Conversation,
    name: str,
    variables: Mapping[str, str],
    *,
    at: datetime | None,
) -> Outbox:
    """Queue the account's approved template ``name`` with ``variables`` (what a
    platform accepts outside its free-text window, e.g. WhatsApp after 24 hours). The
    thread shows the template's name and variables."""
    at = at or utcnow()
    template = reply_windows.template_for(settings.accounts, conv, name)
    window = reply_windows.window_for(settings.accounts, s, conv, at)
    if window.state == "closed":
        raise ReplyWindowClosed(f"{conv.ref}: {window.reason or 'the reply window is closed'}")
    values = {str(k): str(v) for k, v in variables.items()}
    shown = f"[template {name}]" + "".join(f"\n{k}: {v}" for k, v in sorted(values.items()))
    options = {"template": template, "template_name": name, "variables": values}
    return _queued_reply(settings, s, conv, shown, at, options)


def _queued_reply(
    settings: DeskSettings,
    s: Session,
    conv: Conversation,
    body: str,
    at: datetime,
    options: dict[str, Any],
) -> Outbox:
    item = queue_out(s, conv, body, settings.agent, at)
    if options:
        item.send_options = options
    conv.unread = False
    clocks.on_agent_reply(conv, at)
    if conv.status == "snoozed":
        change_status(settings, s, conv, "open")
    return item


def note(
    settings: DeskSettings, s: Session, conv: Conversation, body: str, *, at: datetime | None
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
        author=settings.agent,
    )
    repo.log_event(
        s,
        "conversation.note",
        actor=settings.agent,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
    )
    return msg


def mark_read(s: Session, conversation_id: int) -> bool:
    """The agent has seen the latest messages: ``unread`` cleared by a Core UPDATE that
    leaves ``version`` alone, so opening a conversation never makes another agent's
    action on it a conflict. Whether it was unread."""
    done = s.exec(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.unread))
        .values(unread=False)
    )
    return done.rowcount == 1


# -- priority, tags, assignment -----------------------------------------------
def set_priority(settings: DeskSettings, s: Session, conv: Conversation, priority: str) -> None:
    """Change the priority; the SLA policy is chosen again (as in Zendesk)."""
    priority = priority.strip().lower()
    if priority not in PRIORITIES:
        raise WorkflowError(f"unknown priority {priority!r} (one of {', '.join(PRIORITIES)})")
    old = conv.priority
    if old == priority:
        return
    conv.priority = priority
    clocks.reapply(settings, conv, vip=customer_vip(s, conv))
    repo.log_event(
        s,
        "conversation.priority",
        actor=settings.agent,
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
    settings: DeskSettings,
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
    clocks.reapply(settings, conv, vip=customer_vip(s, conv))
    repo.log_event(
        s,
        "conversation.tags",
        actor=settings.agent,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        detail={"from": old, "to": new},
    )
    return new


def assign(settings: DeskSettings, s: Session, conv: Conversation, assignee: str | None) -> None:
    """Assign to an agent by name; None or empty unassigns."""
    name = (assignee or "").strip() or None
    if name is not None and len(name) > 128:
        raise WorkflowError("an agent name is at most 128 characters")
    old = conv.assignee
    if old == name:
        return
    if name is not None and s.get(Agent, name) is None and s.exec(select(Agent.name)).first():
        # Team mode (the store has agents): only to someone on the team.
        raise WorkflowError(f"no agent {name!r} on the team (omnitui agent list)")
    conv.assignee = name
    repo.log_event(
        s,
        "conversation.assigned",
        actor=settings.agent,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        detail={"from": old, "to": name},
    )


# -- merge and split ----------------------------------------------------------
def merge_conversations(
    settings: DeskSettings, s: Session, source: Conversation, target: Conversation
) -> None:
    """Move every message, reply, survey and event of ``source`` into ``target`` and delete
    ``source``; its reference keeps leading to ``target``. Replies go on the
    target's channel."""
    if source.id == target.id:
        raise WorkflowError("a conversation cannot be merged into itself")
    # Both sides first: of two merges of one conversation at once, one goes through and
    # the other stops here (StaleDataError) before moving anything.
    claim(s, source, target)
    _drop_unsent_surveys(settings, s, source, target)
    _mark_status_history(s, source)
    for table in (Message, Outbox, Event, Survey, Handling):
        s.exec(
            update(table)
            .where(table_of(table).c.conversation_id == source.id)
            .values(conversation_id=target.id)
        )
    s.exec(
        update(RefAlias)
        .where(col(RefAlias.conversation_id) == source.id)
        .values(conversation_id=target.id)
    )
    assert source.ref is not None  # create_conversation gives every conversation its ref
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
        actor=settings.agent,
        conversation_id=target.id,
        customer_id=target.customer_id,
        detail={"from": source.ref, "from_customer_id": source.customer_id},
    )
    if target.status in ("resolved", *PAUSED_STATUSES) and source.status == "open":
        change_status(settings, s, target, "open")
    s.delete(source)
    s.flush()
    clocks.refresh_urgency(target)


def _drop_unsent_surveys(
    settings: DeskSettings, s: Session, source: Conversation, target: Conversation
) -> None:
    """A survey of ``source`` not sent yet is dropped (with its outbox item and line):
    it asked about ``source``'s resolution, and after the merge it would go to
    ``target``'s customer, who may have had one already."""
    rows = s.exec(
        select(Survey, Outbox)
        .join(Outbox, col(Outbox.id) == col(Survey.outbox_id))
        .where(Survey.conversation_id == source.id, Outbox.state != "sent")
    ).all()
    for survey, item in rows:
        msg = s.get(Message, item.sent_message_id) if item.sent_message_id is not None else None
        if msg is not None:
            s.delete(msg)
        s.delete(survey)
        s.delete(item)
        repo.log_event(
            s,
            "csat.skipped",
            actor=settings.agent,
            conversation_id=target.id,
            customer_id=source.customer_id,
            detail={"reason": "merged before it was sent", "from": source.ref},
        )
    if rows:
        s.flush()


def _mark_status_history(s: Session, source: Conversation) -> None:
    """``source``'s status changes move with its other events but are marked
    ``merged_from``: they are its history, not the target's (reports rebuild a
    conversation's statuses from its own changes only)."""
    for event in s.exec(
        select(Event).where(
            Event.conversation_id == source.id,
            col(Event.kind).in_(("conversation.status", "conversation.undone")),
        )
    ).all():
        event.detail = {**event.detail, "merged_from": source.ref}
        s.add(event)
    s.flush()


def _merge_drafts(s: Session, source: Conversation, target: Conversation) -> None:
    """Each agent's draft of the merged-away conversation moves to the one that stays
    (after that agent's own draft there, when they have one)."""
    moved_all = s.exec(select(Draft).where(col(Draft.conversation_id) == source.id)).all()
    for moved in moved_all:
        kept = s.get(Draft, (target.id, moved.author))
        if kept is None:
            s.add(
                Draft(
                    conversation_id=target.id,
                    mode=moved.mode,
                    body=moved.body,
                    author=moved.author,
                    updated_at=moved.updated_at,
                    began_at=moved.began_at,
                    base_message_id=moved.base_message_id,
                )
            )
        else:
            kept.body = kept.body.rstrip("\n") + "\n\n" + moved.body
            s.add(kept)
        s.delete(moved)
    s.flush()


def split_message(settings: DeskSettings, s: Session, message: Message) -> Conversation:
    """Move one inbound message out into a new conversation of its own (same
    customer and channel), with its own SLA clocks."""
    source = s.get(Conversation, message.conversation_id)
    assert source is not None
    if source.message_count <= 1:
        raise WorkflowError("that is the conversation's only message")
    if message.direction != "in":
        raise WorkflowError("only a customer's message can be split out")
    assert source.customer_id is not None  # a NOT NULL column of a stored row
    conv = repo.create_conversation(
        s,
        account=source.account,
        channel=source.channel,
        customer_id=source.customer_id,
        subject=message.subject or source.subject,
        created_at=message.sent_at,
        actor=settings.agent,
    )
    message.conversation_id = conv.id
    s.flush()
    recount(s, source)
    recount(s, conv)
    clocks.on_customer_message(settings, conv, message.sent_at, new=True, vip=customer_vip(s, conv))
    repo.log_event(
        s,
        "conversation.split",
        actor=settings.agent,
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

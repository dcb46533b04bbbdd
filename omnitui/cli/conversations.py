"""``omnitui conv …``: work a conversation headless — show, status, snooze, priority,
tags, assignment, merge, split, and the breached / due-soon view.

Every change is race-safe: when another agent (or the sync) changed the conversation
between this command's read and its write, nothing is written and the command says
what changed in one line and exits 1 (:mod:`omnitui.desk.conflicts`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from omnitui.cli.context import (
    Yes,
    confirm_both_sides,
    desk_session,
    fail,
    find_conversation,
    load,
    say,
    stored_id,
)

if TYPE_CHECKING:
    from sqlmodel import Session

    from omnitui.desk import Desk
    from storage.models import Conversation
    from storage.queries import ThreadItem

conv_app = typer.Typer(
    help="Work a conversation: status, snooze, priority, tags, assignment, merge, split.",
    rich_markup_mode=None,
)

Ref = Annotated[str, typer.Argument(help="Conversation reference, e.g. C-1042.")]


def _act(
    ref: str,
    action: Callable[[Desk, Session, Conversation], Any],
    done: str | Callable[[Desk], str],
) -> None:
    """Run one workflow action on REF, commit, print one line."""
    from omnitui.desk import DeskError, WorkflowError

    with desk_session(writes=True) as (_cfg, desk, s):
        conv = find_conversation(s, ref)
        side = _side(conv)
        try:
            action(desk, s, conv)
        except (DeskError, WorkflowError) as exc:
            fail(f"{conv.ref}: {exc}", code=1)
        _commit(desk, s, side)
        say(f"{side[1]}: {done if isinstance(done, str) else done(desk)}")


def _side(conv: Conversation) -> tuple[int, str, int]:
    """A conversation as this command read it: id, reference, version."""
    return stored_id(conv), conv.ref or "", conv.version


def _commit(desk: Desk, s: Session, *sides: tuple[int, str, int]) -> None:
    """Commit; when another writer changed one of ``sides`` meanwhile (the write lost
    the race), nothing is written and one line says what changed (exit 1)."""
    from sqlalchemy.orm.exc import StaleDataError

    try:
        s.commit()
    except StaleDataError:
        _lost_race(desk, s, sides)


def _lost_race(desk: Desk, s: Session, sides: tuple[tuple[int, str, int], ...]) -> NoReturn:
    """After a lost race: roll back, and fail with what changed on the first of ``sides``
    whose version moved (or that is gone)."""
    from sqlalchemy import select

    from omnitui.desk.conflicts import changed
    from storage.models import Conversation as Conv
    from storage.models import table_of

    s.rollback()
    c = table_of(Conv).c
    ids = [cid for cid, _ref, _version in sides]
    now = dict(s.execute(select(c.id, c.version).where(c.id.in_(ids))).tuples().all())
    moved = next((x for x in sides if now.get(x[0]) != x[2]), sides[0])
    fail(str(changed(s, moved[0], ref=moved[1], me=desk.agent)), code=1)


@conv_app.command("show")
def conv_show(ref: Ref) -> None:
    """Status, priority, tags, assignee, SLA due times, surveys and the numbered
    messages."""
    from omnitui.desk import surveys
    from omnitui.desk.clocks import breached
    from omnitui.desk.reply_windows import describe
    from omnitui.sanitize import clean_line
    from storage import queries

    with desk_session() as (_cfg, desk, s):
        conv = find_conversation(s, ref)
        conv_id = stored_id(conv)
        conn = s.connection()
        items = queries.thread(conn, conv_id)
        now = datetime.now(UTC)
        say(f"{conv.ref}\t{conv.channel}\t{conv.account}\t{clean_line(conv.subject, 80)}")
        say(
            f"status: {conv.status}"
            + (f" until {_iso(conv.snoozed_until)}" if conv.snoozed_until else "")
        )
        say(f"priority: {conv.priority}")
        say(f"tags: {', '.join(conv.tags or []) or '-'}")
        say(f"assignee: {conv.assignee or '-'}")
        for name in ("first_response_due", "next_response_due", "resolution_due"):
            say(f"{name}: {_iso(getattr(conv, name)) or '-'}")
        say(f"breached: {str(breached(conv, now)).lower()}")
        window = desk.reply_window(s, conv, now)
        if describe(window):
            templates = ", ".join(sorted(desk.templates(conv))) or "-"
            say(f"reply window: {window.state}: {describe(window)} (templates: {templates})")
        for line in surveys.describe(s, conv_id):
            say(f"survey: {clean_line(line, 300)}")
        attempts = _attempts(s, conv_id)
        for n, item in enumerate(items, 1):
            say(
                f"{n}\t{item.direction}\t{_iso(item.sent_at)}\t{clean_line(item.author or '', 30)}"
                f"\t{_delivery(item, attempts.get(item.id, 0))}\t{clean_line(item.text, 70)}"
            )


def _attempts(s: Session, conversation_id: int) -> dict[int, int]:
    """Send attempts per ``out`` message of a conversation."""
    from sqlmodel import col, select

    from storage.models import Outbox

    rows = s.exec(
        select(Outbox.sent_message_id, Outbox.attempts).where(
            Outbox.conversation_id == conversation_id, col(Outbox.sent_message_id).is_not(None)
        )
    ).all()
    return {mid: n for mid, n in rows if mid is not None}


def _delivery(item: ThreadItem, attempts: int) -> str:
    """An ``out`` message's delivery state (``failing``: queued again after an error),
    with the last error when it is not sent; ``-`` for other messages."""
    from omnitui.desk.outbox_states import shown_state
    from omnitui.sanitize import clean_line

    if item.direction != "out":
        return "-"
    state = shown_state(item.delivery or "sent", attempts)
    if state == "sent" or not item.delivery_error:
        return state
    return f"{state}: {clean_line(item.delivery_error, 120)}"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


@conv_app.command("resolve")
def conv_resolve(ref: Ref) -> None:
    """Mark resolved (a customer message reopens it)."""
    _act(ref, lambda d, s, c: d.set_status(s, c, "resolved"), "resolved")


@conv_app.command("reopen")
def conv_reopen(ref: Ref) -> None:
    """Back to open."""
    _act(ref, lambda d, s, c: d.set_status(s, c, "open"), "open")


@conv_app.command("pending")
def conv_pending(ref: Ref) -> None:
    """Waiting on the customer: next-response and resolution clocks stop."""
    _act(ref, lambda d, s, c: d.set_status(s, c, "pending"), "pending")


@conv_app.command("snooze")
def conv_snooze(
    ref: Ref,
    until: Annotated[
        str,
        typer.Argument(
            help="1h, 90m, 2d, tomorrow, next-week, monday…, 2026-12-01 14:00, or reply "
            "(until the customer answers)."
        ),
    ],
) -> None:
    """Hide until a time or until the customer replies; SLA clocks stop meanwhile."""
    from omnitui.desk import WorkflowError
    from omnitui.desk.lifecycle import parse_snooze
    from omnitui.desk.sla import MAX_DURATION, DurationTooLong, SLAConfigError, parse_duration
    from omnitui.formatting import display_zone

    try:
        parse_duration(until)
    except DurationTooLong as exc:
        fail(f"snooze: {exc}")
    except SLAConfigError:
        pass  # not a duration: a date, a weekday, tomorrow…
    cfg = load()
    zone = display_zone(cfg.display_timezone) or datetime.now().astimezone().tzinfo
    try:
        when = parse_snooze(until, datetime.now(UTC), zone or UTC)
    except WorkflowError as exc:
        fail(str(exc))
    if when is not None and when - datetime.now(UTC) > MAX_DURATION:
        fail(f"snooze: {until!r} is too far ahead (at most 100 years)")
    label = "snoozed until the customer replies" if when is None else f"snoozed until {_iso(when)}"
    _act(ref, lambda d, s, c: d.snooze(s, c, when), label)


@conv_app.command("priority")
def conv_priority(
    ref: Ref, level: Annotated[str, typer.Argument(help="low, normal, high or urgent.")]
) -> None:
    """Set the priority (the SLA policy is chosen again)."""
    _act(ref, lambda d, s, c: d.set_priority(s, c, level), f"priority {level.lower()}")


@conv_app.command("tag")
def conv_tag(
    ref: Ref,
    tags: Annotated[list[str], typer.Argument(help="Tags to add.")],
    remove: Annotated[bool, typer.Option("--remove", help="Remove these tags instead.")] = False,
) -> None:
    """Add (or --remove) tags."""
    result: list[str] = []

    def run(d: Desk, s: Session, c: Conversation) -> None:
        result[:] = d.edit_tags(s, c, add=() if remove else tags, remove=tags if remove else ())

    _act(ref, run, "tags updated")
    say(", ".join(result) or "(no tags)")


@conv_app.command("assign")
def conv_assign(
    ref: Ref,
    agent: Annotated[str | None, typer.Argument(help="Agent name (default: you).")] = None,
    none: Annotated[bool, typer.Option("--none", help="Unassign.")] = False,
) -> None:
    """Assign to an agent ([agent].name when no name is given)."""

    def run(d: Desk, s: Session, c: Conversation) -> None:
        d.assign(s, c, None if none else (agent or d.agent))

    _act(ref, run, "unassigned" if none else (lambda d: f"assigned to {agent or d.agent}"))


@conv_app.command("merge")
def conv_merge(
    source: Annotated[str, typer.Argument(help="The conversation to merge away.")],
    target: Annotated[str, typer.Argument(help="The conversation that stays.")],
    yes: Yes = False,
) -> None:
    """Merge SOURCE into TARGET: messages, replies and events move; SOURCE's reference
    keeps leading to TARGET. Shows both and asks first, unless --yes."""
    from sqlalchemy.orm.exc import StaleDataError

    from omnitui.desk import WorkflowError
    from omnitui.desk.merge_preview import conversation_side

    with desk_session(writes=True) as (_cfg, desk, s):
        src, dst = find_conversation(s, source), find_conversation(s, target)
        src_ref = src.ref
        if src.id != dst.id:
            confirm_both_sides(
                f"merge {src_ref} into {dst.ref}",
                [
                    ("merged away:", conversation_side(s, src).line()),
                    ("stays:", conversation_side(s, dst).line()),
                ],
                yes,
            )
        sides = (_side(src), _side(dst))
        try:
            desk.merge_conversations(s, src, dst)
        except StaleDataError:  # the merge takes both sides first (conflicts.claim)
            _lost_race(desk, s, sides)
        except WorkflowError as exc:
            fail(str(exc), code=1)
        _commit(desk, s, *sides)
        print(f"{src_ref} merged into {sides[1][1]}")


@conv_app.command("split")
def conv_split(
    ref: Ref,
    number: Annotated[int, typer.Argument(help="The message's number in `conv show`.", min=1)],
) -> None:
    """Move one customer message out into a new conversation."""
    from omnitui.desk import WorkflowError
    from storage import queries
    from storage.models import Message

    with desk_session(writes=True) as (_cfg, desk, s):
        conv = find_conversation(s, ref)
        items = queries.thread(s.connection(), stored_id(conv))
        if number > len(items):
            fail(f"{conv.ref} has {len(items)} messages", code=1)
        message = s.get(Message, items[number - 1].id)
        assert message is not None
        side = _side(conv)
        try:
            new = desk.split_message(s, message)
        except WorkflowError as exc:
            fail(f"{conv.ref}: {exc}", code=1)
        new_ref = new.ref
        _commit(desk, s, side)
        print(f"message {number} of {side[1]} is now {new_ref}")


@conv_app.command("due")
def conv_due(
    within: Annotated[str, typer.Option("--within", help="Due within this long.")] = "1h",
) -> None:
    """The breached / due-soon view: running SLA clocks, most urgent first."""
    from omnitui.desk.sla import SLAConfigError, format_countdown, parse_duration
    from omnitui.sanitize import clean_line
    from storage import queries

    try:
        span = parse_duration(within)
    except SLAConfigError as exc:
        fail(f"--within: {exc}")
    now = datetime.now(UTC)
    with desk_session() as (_cfg, _desk, s):
        rows = queries.due_before(s.connection(), now + span, limit=1000)
        for r in rows:
            left = r.due - now.timestamp()
            state = "BREACHED" if left < 0 else "due"
            say(
                f"{r.ref}\t{state}\t{format_countdown(left)}\t{r.channel}\t{r.priority}"
                f"\t{clean_line(r.subject, 60)}"
            )
    if not rows:
        say(f"nothing breached or due within {within}", err=True)

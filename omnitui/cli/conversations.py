"""Headless agent commands: ``omnitui conv …`` (workflow), ``omnitui kb …`` and
``omnitui customer merge|vip|note``. Registered on :data:`omnitui.cli.app`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from omnitui.cli import (
    app,
    customer_app,
    db_url,
    fail,
    find_customer,
    load,
    make_desk,
    open_engine,
    say,
)

if TYPE_CHECKING:
    from sqlmodel import Session

    from omnitui.config import Config
    from omnitui.desk import Desk
    from storage.models import Conversation
    from storage.queries import ThreadItem

conv_app = typer.Typer(
    help="Work a conversation: status, snooze, priority, tags, assignment, merge, split.",
    rich_markup_mode=None,
)
kb_app = typer.Typer(help="The knowledge base of canned answers.", rich_markup_mode=None)
app.add_typer(conv_app, name="conv")
app.add_typer(kb_app, name="kb")

Ref = Annotated[str, typer.Argument(help="Conversation reference, e.g. C-1042.")]


@contextmanager
def _desk_session() -> Iterator[tuple[Config, Desk, Session]]:
    from sqlmodel import Session

    cfg = load()
    engine = open_engine(db_url(cfg))
    desk = make_desk(cfg)
    try:
        with Session(engine) as s:
            yield cfg, desk, s
    finally:
        engine.dispose()


def _conversation(s: Session, ref: str) -> Conversation:
    from omnitui.desk.workflow import find_by_ref

    conv = find_by_ref(s, ref)
    if conv is None:
        fail(f"no conversation {ref!r}", code=1)
    return conv


def _act(
    ref: str,
    action: Callable[[Desk, Session, Conversation], Any],
    done: str | Callable[[Desk], str],
) -> None:
    """Run one workflow action on REF, commit, print one line."""
    from omnitui.desk import DeskError
    from omnitui.desk.workflow import WorkflowError

    with _desk_session() as (_cfg, desk, s):
        conv = _conversation(s, ref)
        try:
            action(desk, s, conv)
        except (DeskError, WorkflowError) as exc:
            fail(f"{conv.ref}: {exc}", code=1)
        s.commit()
        say(f"{conv.ref}: {done if isinstance(done, str) else done(desk)}")


@conv_app.command("show")
def conv_show(ref: Ref) -> None:
    """Status, priority, tags, assignee, SLA due times and the numbered messages."""
    from omnitui.export import breached
    from omnitui.sanitize import clean_line
    from storage import queries

    with _desk_session() as (_cfg, _desk, s):
        conv = _conversation(s, ref)
        conn = s.connection()
        items = queries.thread(conn, conv.id)  # type: ignore[arg-type]
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
        attempts = _attempts(s, conv.id)  # type: ignore[arg-type]
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
    from omnitui.cli.outbox import shown_state
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
    from omnitui.desk.sla import MAX_DURATION, DurationTooLong, SLAConfigError, parse_duration
    from omnitui.desk.workflow import WorkflowError, parse_snooze, snooze
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
        when = parse_snooze(until, datetime.now(UTC), zone)  # type: ignore[arg-type]
    except WorkflowError as exc:
        fail(str(exc))
    if when is not None and when - datetime.now(UTC) > MAX_DURATION:
        fail(f"snooze: {until!r} is too far ahead (at most 100 years)")
    label = "snoozed until the customer replies" if when is None else f"snoozed until {_iso(when)}"
    _act(ref, lambda d, s, c: snooze(d, s, c, when), label)


@conv_app.command("priority")
def conv_priority(
    ref: Ref, level: Annotated[str, typer.Argument(help="low, normal, high or urgent.")]
) -> None:
    """Set the priority (the SLA policy is chosen again)."""
    from omnitui.desk.workflow import set_priority

    _act(ref, lambda d, s, c: set_priority(d, s, c, level), f"priority {level.lower()}")


@conv_app.command("tag")
def conv_tag(
    ref: Ref,
    tags: Annotated[list[str], typer.Argument(help="Tags to add.")],
    remove: Annotated[bool, typer.Option("--remove", help="Remove these tags instead.")] = False,
) -> None:
    """Add (or --remove) tags."""
    from omnitui.desk.workflow import edit_tags

    result: list[str] = []

    def run(d: Desk, s: Session, c: Conversation) -> None:
        result[:] = edit_tags(d, s, c, add=() if remove else tags, remove=tags if remove else ())

    _act(ref, run, "tags updated")
    say(", ".join(result) or "(no tags)")


@conv_app.command("assign")
def conv_assign(
    ref: Ref,
    agent: Annotated[str | None, typer.Argument(help="Agent name (default: you).")] = None,
    none: Annotated[bool, typer.Option("--none", help="Unassign.")] = False,
) -> None:
    """Assign to an agent ([agent].name when no name is given)."""
    from omnitui.desk.workflow import assign

    def run(d: Desk, s: Session, c: Conversation) -> None:
        assign(d, s, c, None if none else (agent or d.agent))

    _act(ref, run, "unassigned" if none else (lambda d: f"assigned to {agent or d.agent}"))


Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Do it without showing both sides and asking.")
]


def confirm_both_sides(action: str, lines: list[tuple[str, str]], yes: bool) -> None:
    """Show both sides of a merge or erasure and ask (on a terminal); without a terminal
    it takes ``--yes``. Customer text is sanitised for the terminal."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{action} cannot be undone: add --yes to confirm")
    for label, text in lines:
        say(f"{label:<13}{text}", err=True)
    typer.echo(f"{action}? This cannot be undone. [y/N] ", err=True, nl=False)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        fail("nothing changed", code=1)


@conv_app.command("merge")
def conv_merge(
    source: Annotated[str, typer.Argument(help="The conversation to merge away.")],
    target: Annotated[str, typer.Argument(help="The conversation that stays.")],
    yes: Yes = False,
) -> None:
    """Merge SOURCE into TARGET: messages, replies and events move; SOURCE's reference
    keeps leading to TARGET. Shows both and asks first, unless --yes."""
    from omnitui.desk.merge_preview import conversation_side
    from omnitui.desk.workflow import WorkflowError, merge_conversations

    with _desk_session() as (_cfg, desk, s):
        src, dst = _conversation(s, source), _conversation(s, target)
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
        try:
            merge_conversations(desk, s, src, dst)
        except WorkflowError as exc:
            fail(str(exc), code=1)
        s.commit()
        print(f"{src_ref} merged into {dst.ref}")


@conv_app.command("split")
def conv_split(
    ref: Ref,
    number: Annotated[int, typer.Argument(help="The message's number in `conv show`.", min=1)],
) -> None:
    """Move one customer message out into a new conversation."""
    from omnitui.desk.workflow import WorkflowError, split_message
    from storage import queries
    from storage.models import Message

    with _desk_session() as (_cfg, desk, s):
        conv = _conversation(s, ref)
        items = queries.thread(s.connection(), conv.id)  # type: ignore[arg-type]
        if number > len(items):
            fail(f"{conv.ref} has {len(items)} messages", code=1)
        message = s.get(Message, items[number - 1].id)
        assert message is not None
        try:
            new = split_message(desk, s, message)
        except WorkflowError as exc:
            fail(f"{conv.ref}: {exc}", code=1)
        s.commit()
        print(f"message {number} of {conv.ref} is now {new.ref}")


@conv_app.command("due")
def conv_due(
    within: Annotated[str, typer.Option("--within", help="Due within this long.")] = "1h",
) -> None:
    """The breached / due-soon view: running SLA clocks, most urgent first."""
    from sqlmodel import col, select

    from omnitui.desk.sla import SLAConfigError, format_countdown, parse_duration
    from omnitui.sanitize import clean_line
    from storage.models import NO_DUE, Conversation
    from storage.types import epoch

    try:
        span = parse_duration(within)
    except SLAConfigError as exc:
        fail(f"--within: {exc}")
    now = datetime.now(UTC)
    with _desk_session() as (_cfg, _desk, s):
        rows = s.exec(
            select(Conversation)
            .where(
                col(Conversation.urgency_due) < min(epoch(now + span), NO_DUE),
            )
            .order_by(col(Conversation.urgency_due), col(Conversation.id))
            .limit(1000)
        ).all()
        for c in rows:
            left = c.urgency_due - now.timestamp()
            state = "BREACHED" if left < 0 else "due"
            say(
                f"{c.ref}\t{state}\t{format_countdown(left)}\t{c.channel}\t{c.priority}"
                f"\t{clean_line(c.subject or c.preview, 60)}"
            )
    if not rows:
        say(f"nothing breached or due within {within}", err=True)


# -- knowledge base -------------------------------------------------------------
def _kb(cfg: Config):  # noqa: ANN202 - KnowledgeBase, lazily
    from omnitui.desk.kb import KnowledgeBase

    if cfg.kb_dir is None:
        fail(f"no knowledge base: set [kb] dir in {cfg.path or 'the config'}")
    kb = KnowledgeBase(cfg.kb_dir)
    kb.refresh()
    for problem in kb.problems:
        say(f"omnitui: kb: {problem}", err=True)
    return kb


@kb_app.command("list")
def kb_list() -> None:
    """Every answer: shortcut, title, tags."""
    from omnitui.sanitize import clean_line

    kb = _kb(load())
    for a in kb.articles():
        say(f"{a.shortcut}\t{clean_line(a.title, 80)}\t{','.join(a.tags)}")


@kb_app.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="Words, a shortcut, or part of a title.")],
    channel: Annotated[
        str | None, typer.Option("--channel", help="Only answers usable on this channel.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
) -> None:
    """Best match first, one per line: shortcut and title."""
    from omnitui.sanitize import clean_line

    kb = _kb(load())
    hits = kb.search(query, channel=channel, limit=limit)
    for a in hits:
        say(f"{a.shortcut}\t{clean_line(a.title, 80)}")
    if not hits:
        say(f"no answer matches {query!r}", err=True)
        raise typer.Exit(1)


@kb_app.command("show")
def kb_show(
    shortcut: Annotated[str, typer.Argument(help="The answer's shortcut.")],
    ref: Annotated[
        str | None, typer.Option("--ref", help="Render for this conversation's customer.")
    ] = None,
) -> None:
    """An answer as it would be sent (with --ref: for that conversation)."""
    from omnitui.sanitize import for_terminal

    cfg = load()
    kb = _kb(cfg)
    article = kb.get(shortcut)
    if article is None:
        fail(f"no answer with shortcut {shortcut!r} (see `omnitui kb list`)", code=1)
    if ref is None:
        print(for_terminal(article.body, keep_newlines=True))
        return
    with _desk_session() as (_cfg, desk, s):
        text, warnings = render_for(s, desk, _conversation(s, ref), article)
    for w in warnings:
        say(f"omnitui: warning: {w}", err=True)
    print(for_terminal(text, keep_newlines=True))


def render_for(s: Session, desk: Desk, conv: Conversation, article: Any) -> tuple[str, list[str]]:
    """An answer rendered for a conversation's customer: its text and any warnings."""
    from omnitui.desk.kb import KBError, placeholder_context, render
    from storage.models import Customer

    if not article.allowed_on(conv.channel):
        fail(
            f"answer {article.shortcut!r} is not for {conv.channel} (channels: "
            f"{', '.join(article.channels)})",
            code=1,
        )
    customer = s.get(Customer, conv.customer_id)
    context = placeholder_context(
        customer_name=customer.name if customer else "",
        conversation_ref=conv.ref,
        agent_name=desk.agent,
        channel=conv.channel,
        customer_vip=bool(customer and customer.vip),
    )
    try:
        rendered = render(article, context, channel=conv.channel)
    except KBError as exc:
        fail(str(exc), code=1)
    return rendered.text, list(rendered.warnings)


# -- customers --------------------------------------------------------------------
@customer_app.command("merge")
def customer_merge(
    keep: Annotated[str, typer.Argument(help="Address of the customer that stays.")],
    other: Annotated[str, typer.Argument(help="Address of the customer merged into it.")],
    yes: Yes = False,
) -> None:
    """Merge two customers: identities, conversations and events move; one event records
    it. Shows both and asks first, unless --yes."""
    from omnitui.desk.customers import merge_customers
    from omnitui.desk.merge_preview import customer_side

    with _desk_session() as (cfg, desk, s):
        a, b = find_customer(s, keep), find_customer(s, other)
        if a == b:
            fail(f"{keep} and {other} are already the same customer", code=1)
        kept, gone = customer_side(s, a), customer_side(s, b)
        assert kept is not None and gone is not None
        confirm_both_sides(
            f"merge customer {other} into {keep}",
            [("merged in:", gone.line()), ("stays:", kept.line())],
            yes,
        )
        counts = merge_customers(s, a, b, actor=cfg.agent_name)
        s.commit()
    print(
        f"merged: {counts['identities']} identities and {counts['conversations']} "
        f"conversations moved to customer {a}"
    )


@customer_app.command("vip")
def customer_vip(
    address: Annotated[str, typer.Argument(help="a@b.c, +1555…, or channel:address.")],
    off: Annotated[bool, typer.Option("--off", help="Remove the VIP flag.")] = False,
) -> None:
    """Flag a customer as VIP (their open conversations get the VIP policy)."""
    from omnitui.desk.customers import set_vip

    with _desk_session() as (_cfg, desk, s):
        set_vip(desk, s, find_customer(s, address), not off)
        s.commit()
    say(f"{address}: {'not ' if off else ''}VIP")


@customer_app.command("note")
def customer_note(
    address: Annotated[str, typer.Argument(help="a@b.c, +1555…, or channel:address.")],
    text: Annotated[str, typer.Argument(help="The note; '-' reads stdin; '' clears it.")],
) -> None:
    """Set the free-form notes on a customer (shown in the history pane)."""
    from omnitui.desk.customers import CustomerError, set_notes

    if text == "-":
        text = sys.stdin.read()
    with _desk_session() as (_cfg, desk, s):
        try:
            set_notes(desk, s, find_customer(s, address), text)
        except CustomerError as exc:
            fail(f"customer note: {exc} (got {len(text)})", code=1)
        s.commit()
    say(f"{address}: notes {'cleared' if not text.strip() else 'saved'}")

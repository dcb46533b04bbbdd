"""``omnitui outbox``: replies not yet delivered, with their last error, headless.

The stored states are ``queued → sending → sent | failed | uncertain``. The command
line adds one that is not stored: **failing**, a ``queued`` reply with ``attempts > 0``
(an attempt failed and a retry is pending at ``next_attempt_at``). ``queued`` here means
a reply not yet tried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from omnitui.cli import app, db_url, fail, load, open_engine, say
from omnitui.sanitize import clean_line
from storage.limits import MAX_INT

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlmodel import Session

outbox_app = typer.Typer(
    help="Replies not yet delivered: list them, retry or cancel one.",
    rich_markup_mode=None,
)
app.add_typer(outbox_app, name="outbox")

#: The states `omnitui outbox --state` takes (``failing`` is derived, see above).
STATES = ("queued", "sending", "failing", "failed", "uncertain")
#: The states that make `sync --once` exit non-zero.
PROBLEM_STATES = ("failing", "failed", "uncertain")
PREVIEW_CHARS = 40


@dataclass(frozen=True)
class Pending:
    """One undelivered reply as the command line shows it."""

    id: int
    ref: str
    account: str
    channel: str
    state: str  # one of STATES
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    body: str
    created_at: datetime


def shown_state(state: str, attempts: int) -> str:
    """The state the command line shows: a retried ``queued`` reply is ``failing``."""
    return "failing" if state == "queued" and attempts > 0 else state


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local_time(value: datetime | None, fmt: str = "%H:%M") -> str:
    """A stored (UTC) time in the local zone, or ``-``."""
    aware = _aware(value)
    return aware.astimezone().strftime(fmt) if aware is not None else "-"


def undelivered(
    s: Session,
    *,
    accounts: Iterable[str] | None = None,
    states: Iterable[str] = STATES,
) -> list[Pending]:
    """Replies not sent yet, oldest first, in the given (command-line) ``states``."""
    from sqlmodel import col, select

    from storage.models import Conversation, Outbox

    wanted = set(states)
    q = (
        select(Outbox, Conversation.ref)
        .join(Conversation, col(Conversation.id) == col(Outbox.conversation_id), isouter=True)
        .where(col(Outbox.state) != "sent")
        .order_by(col(Outbox.created_at), col(Outbox.id))
    )
    if accounts is not None:
        q = q.where(col(Outbox.account).in_(list(accounts)))
    found = []
    for item, ref in s.exec(q).all():
        state = shown_state(item.state, item.attempts)
        if state not in wanted or item.id is None:
            continue
        found.append(
            Pending(
                id=item.id,
                ref=ref or "-",
                account=item.account,
                channel=item.channel,
                state=state,
                attempts=item.attempts,
                next_attempt_at=_aware(item.next_attempt_at),
                last_error=item.last_error,
                body=item.body,
                created_at=item.created_at,
            )
        )
    return found


def problem_line(p: Pending) -> str:
    """``reply #ID on C-1001 failed: …`` (or ``is uncertain``/``is failing (…)``)."""
    error = clean_line(p.last_error or "no error recorded", 300)
    if p.state == "failed":
        what = "failed"
    elif p.state == "uncertain":
        what = "is uncertain"
    else:
        what = f"is failing (attempt {p.attempts}, retry at {local_time(p.next_attempt_at)})"
    return f"reply #{p.id} on {clean_line(p.ref, 40)} {what}: {error}"


def report_problems(engine: Engine, accounts: list[str]) -> dict[str, int]:
    """One stderr line per failing, failed or uncertain reply of ``accounts``; returns
    how many each account has (accounts without any are left out)."""
    from sqlmodel import Session

    with Session(engine) as s:
        problems = undelivered(s, accounts=accounts, states=PROBLEM_STATES)
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.account] = counts.get(p.account, 0) + 1
    order = {name: i for i, name in enumerate(accounts)}
    for p in sorted(problems, key=lambda p: order.get(p.account, 0)):  # stable: oldest first
        say(f"omnitui: {p.account}: {problem_line(p)}", err=True)
    return counts


@outbox_app.callback(invoke_without_command=True)
def outbox_list(
    ctx: typer.Context,
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only this state: " + ", ".join(STATES) + "."),
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
) -> None:
    """Replies not yet delivered, oldest first: id, conversation, account, channel,
    state, attempts, next retry, last error and the start of the text. "failing" is a
    queued reply whose last attempt failed and that will be tried again."""
    if ctx.invoked_subcommand is not None:
        return
    if state is not None and state not in STATES:
        fail(f"--state {state!r}: expected one of {', '.join(STATES)}")
    from sqlmodel import Session

    engine = open_engine(db_url(load()))
    with Session(engine) as s:
        items = undelivered(
            s,
            accounts=None if account is None else [account],
            states=STATES if state is None else (state,),
        )
    if not items:
        print("the outbox is empty" if state is None else f"no {state} replies")
        return
    for p in items:
        retry = f"retry {local_time(p.next_attempt_at)}" if p.state == "failing" else "-"
        say(
            f"#{p.id}\t{clean_line(p.ref, 40)}\t{clean_line(p.account, 40)}\t{p.channel}\t"
            f"{p.state}\t×{p.attempts}\t{retry}\t"
            f"{clean_line(p.last_error or '-', 300)}\t{clean_line(p.body, PREVIEW_CHARS)}"
        )
    print(f"{len(items)} reply(ies) not delivered; `omnitui outbox retry ID`, `cancel ID`")


def _get(s: Session, item_id: int):  # noqa: ANN202 - an Outbox
    from storage.models import Outbox

    item = s.get(Outbox, item_id)
    if item is None:
        fail(f"no reply #{item_id} in the outbox (see `omnitui outbox`)", code=1)
    if item.state == "sent":
        fail(f"reply #{item_id} was already sent", code=1)
    return item


ItemId = Annotated[int, typer.Argument(help="Reply id from `omnitui outbox`.", max=MAX_INT)]


@outbox_app.command("retry")
def outbox_retry(
    item_id: ItemId,
    yes: Annotated[
        bool, typer.Option("--yes", help="Retry an uncertain reply (it may arrive twice).")
    ] = False,
) -> None:
    """Send a failed, failing or uncertain reply at the next sync round."""
    from sqlalchemy import update
    from sqlmodel import Session, col

    from storage import repository as repo
    from storage.models import Outbox
    from storage.types import utcnow

    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        item = _get(s, item_id)
        state = shown_state(item.state, item.attempts)
        if state not in PROBLEM_STATES:
            fail(f"reply #{item_id} is {state}: nothing to retry", code=1)
        if state == "uncertain" and not yes:
            fail(
                f"reply #{item_id} is uncertain: the server may have it already, and a "
                "retry may deliver it twice; add --yes to send it again",
                code=1,
            )
        # Conditional: a sync that claimed it meanwhile keeps it.
        changed = s.execute(
            update(Outbox)
            .where(
                col(Outbox.id) == item_id,
                col(Outbox.state) == item.state,
                col(Outbox.attempts) == item.attempts,
            )
            .values(state="queued", next_attempt_at=utcnow(), updated_at=utcnow())
        ).rowcount
        if changed != 1:
            fail(f"reply #{item_id} changed meanwhile; see `omnitui outbox`", code=1)
        repo.log_event(
            s,
            "outbox.retried",
            actor=cfg.agent_name,
            conversation_id=item.conversation_id,
            detail={"outbox_id": item_id, "state": state},
        )
        s.commit()
    print(f"reply #{item_id} queued again; the next sync round sends it")


@outbox_app.command("cancel")
def outbox_cancel(
    item_id: ItemId,
    yes: Annotated[
        bool, typer.Option("--yes", help="Cancel an uncertain reply (it may have arrived).")
    ] = False,
) -> None:
    """Take back a reply not sent yet: it leaves the outbox and the thread."""
    from sqlalchemy import delete
    from sqlmodel import Session, col

    from storage import repository as repo
    from storage.models import Conversation, Message, Outbox

    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        item = _get(s, item_id)
        state = shown_state(item.state, item.attempts)
        if state == "sending":
            fail(f"reply #{item_id} is being sent right now; it cannot be cancelled", code=1)
        if state == "uncertain" and not yes:
            fail(
                f"reply #{item_id} is uncertain: the customer may have it already; "
                "add --yes to remove it from the thread anyway",
                code=1,
            )
        conversation_id, message_id = item.conversation_id, item.sent_message_id
        s.expunge(item)
        gone = s.execute(
            delete(Outbox).where(
                col(Outbox.id) == item_id,
                col(Outbox.state) == item.state,
                col(Outbox.attempts) == item.attempts,
            )
        ).rowcount
        if gone != 1:
            fail(f"reply #{item_id} changed meanwhile; see `omnitui outbox`", code=1)
        if message_id is not None:
            msg = s.get(Message, message_id)
            conv = s.get(Conversation, conversation_id) if conversation_id else None
            if msg is not None:
                s.delete(msg)
                if conv is not None:
                    conv.message_count = max((conv.message_count or 1) - 1, 0)
        repo.log_event(
            s,
            "outbox.cancelled",
            actor=cfg.agent_name,
            conversation_id=conversation_id,
            detail={"outbox_id": item_id, "state": state},
        )
        s.commit()
    print(f"reply #{item_id} cancelled")

"""``omnitui outbox``: replies not yet delivered, with their last error, headless.

The states and the changes are :mod:`omnitui.desk.outbox` (shared with the console's
outbox screen): **failing** is a ``queued`` reply with ``attempts > 0`` (an attempt
failed and a retry is pending at ``next_attempt_at``); ``queued`` here means a reply not
yet tried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from omnitui.cli.context import as_agent, db_url, fail, load, make_desk, open_engine, say
from omnitui.desk.outbox_states import PROBLEM_STATES, STATES, local_time, problem_line
from omnitui.sanitize import clean_line
from storage.limits import MAX_INT

if TYPE_CHECKING:
    from sqlalchemy import Engine

outbox_app = typer.Typer(
    help="Replies not yet delivered: list them, retry or cancel one.",
    rich_markup_mode=None,
)

PREVIEW_CHARS = 40


def report_problems(engine: Engine, accounts: list[str]) -> dict[str, int]:
    """One stderr line per failing, failed or uncertain reply of ``accounts``; returns
    how many each account has (accounts without any are left out)."""
    from sqlmodel import Session

    from omnitui.desk.outbox import undelivered

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

    from omnitui.desk.outbox import undelivered

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


#: What the command line adds to a refusal: where to look, or the option that confirms.
_HINTS = {
    ("retry", "missing"): " (see `omnitui outbox`)",
    ("cancel", "missing"): " (see `omnitui outbox`)",
    ("retry", "changed"): "; see `omnitui outbox`",
    ("cancel", "changed"): "; see `omnitui outbox`",
    ("retry", "uncertain"): "; add --yes to send it again",
    ("cancel", "uncertain"): "; add --yes to remove it from the thread anyway",
}


def _refused(command: str, exc: Exception) -> NoReturn:
    fail(f"{exc}{_HINTS.get((command, getattr(exc, 'reason', '')), '')}", code=1)


ItemId = Annotated[int, typer.Argument(help="Reply id from `omnitui outbox`.", max=MAX_INT)]


@outbox_app.command("retry")
def outbox_retry(
    item_id: ItemId,
    yes: Annotated[
        bool, typer.Option("--yes", help="Retry an uncertain reply (it may arrive twice).")
    ] = False,
) -> None:
    """Send a failed, failing or uncertain reply at the next sync round."""
    from sqlmodel import Session

    from omnitui.desk.outbox import OutboxRefused, retry

    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        as_agent(s, cfg)
        try:
            retry(s, item_id, actor=cfg.agent_name, confirmed=yes)
        except OutboxRefused as exc:
            _refused("retry", exc)
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
    from sqlmodel import Session

    from omnitui.desk.outbox import OutboxRefused, take_back

    cfg = load()
    engine = open_engine(db_url(cfg))
    desk = make_desk(cfg)
    with Session(engine) as s:
        as_agent(s, cfg)
        try:
            take_back(s, item_id, actor=cfg.agent_name, confirmed=yes, desk=desk)
        except OutboxRefused as exc:
            _refused("cancel", exc)
        s.commit()
    print(f"reply #{item_id} cancelled")

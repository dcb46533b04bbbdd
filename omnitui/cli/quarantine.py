"""``omnitui quarantine``: items an adapter or the store could not take, headless."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from omnitui.cli.context import as_agent, db_url, fail, load, make_desk, open_engine, say
from omnitui.sanitize import clean, clean_line
from storage.limits import MAX_INT

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from omnitui.config import Config

quarantine_app = typer.Typer(
    help="Items that could not be read or stored, kept with their raw payload.",
    rich_markup_mode=None,
    no_args_is_help=True,
)


@quarantine_app.command("list")
def quarantine_list(
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
) -> None:
    """Every kept item, oldest first: id, account, stage, size, when, external id, error."""
    from storage import quarantine

    engine = open_engine(db_url(load()))
    with engine.connect() as conn:
        items = quarantine.listing(conn, account=account)
    if not items:
        print("the quarantine is empty")
        return
    for it in items:
        when = it.updated_at.strftime("%Y-%m-%d %H:%M")
        print(
            f"{it.id:>5}  {clean_line(it.account, 20):<20} {it.stage:<5} "
            f"{it.size:>9} B  {when}  ×{it.attempts}  {clean_line(it.external_id, 60)}  "
            f"{clean_line(it.error, 120)}"
        )
    print(f"{len(items)} item(s); `omnitui quarantine show ID`, `retry`, `drop ID`")


def _item(engine, item_id: int):  # noqa: ANN001, ANN202
    from sqlmodel import Session

    from storage.models import Quarantine

    with Session(engine) as s:
        item = s.get(Quarantine, item_id)
        if item is None:
            fail(f"no quarantined item {item_id} (see `omnitui quarantine list`)", code=1)
        s.expunge(item)
        return item


@quarantine_app.command("show")
def quarantine_show(
    item_id: Annotated[int, typer.Argument(help="Item id from `quarantine list`.", max=MAX_INT)],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the exact raw bytes to this new file."),
    ] = None,
) -> None:
    """One item: where it came from, why it failed, and its raw payload (made safe for
    the terminal; ``--output FILE`` saves the exact bytes)."""
    engine = open_engine(db_url(load()))
    item = _item(engine, item_id)
    if output is not None:
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            fail(f"--output {output}: {exc.strerror or exc}")
        with os.fdopen(fd, "wb") as fh:
            fh.write(item.raw)
        print(f"wrote {len(item.raw)} bytes to {output}")
        return
    print(f"id: {item.id}")
    print(f"account: {clean_line(item.account)} ({clean_line(item.kind)})")
    print(f"folder: {clean_line(item.folder)}")
    print(f"external id: {clean_line(item.external_id)}")
    print(f"stage: {item.stage}  attempts: {item.attempts}")
    print(f"first seen: {item.created_at.isoformat()}  last: {item.updated_at.isoformat()}")
    print(f"error: {clean_line(item.error)}")
    print(f"raw: {item.raw_type}, {len(item.raw)} bytes")
    print("-" * 40)
    text = item.raw[:64_000].decode("utf-8", "replace")
    sys.stdout.write(clean(text))
    if len(item.raw) > 64_000:
        print(f"\n… {len(item.raw) - 64_000} more bytes (use --output FILE for all)")
    else:
        print()


@quarantine_app.command("retry")
def quarantine_retry(
    item_id: Annotated[
        int | None, typer.Argument(help="One item; all when left out.", max=MAX_INT)
    ] = None,
) -> None:
    """Read items again from their raw payload and store what now works; exit 1 while
    any of them still fails."""
    from omnitui.sync.quarantine_retry import retry

    cfg = load()
    engine = open_engine(db_url(cfg))
    _team_member(engine, cfg)
    if item_id is not None:
        _item(engine, item_id)
    outcomes = retry(
        engine,
        make_desk(cfg, signing=True),
        cfg.accounts,
        None if item_id is None else [item_id],
    )
    if not outcomes:
        print("the quarantine is empty")
        return
    failed = 0
    for o in outcomes:
        line = f"{o.item_id}: {clean_line(o.account)} {clean_line(o.external_id, 60)}: {o.result}"
        if o.result == "failed":
            failed += 1
            say(f"omnitui: {line} ({clean_line(o.detail)}); kept", err=True)
        else:
            say(f"{line} ({clean_line(o.detail)}); removed from the quarantine")
    raise typer.Exit(1 if failed else 0)


@quarantine_app.command("drop")
def quarantine_drop(
    item_id: Annotated[int, typer.Argument(help="Item id from `quarantine list`.", max=MAX_INT)],
) -> None:
    """Forget one item and its raw payload for good."""
    from sqlmodel import Session

    from storage import quarantine

    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        as_agent(s, cfg)
        if not quarantine.drop(s, item_id):
            fail(f"no quarantined item {item_id} (see `omnitui quarantine list`)", code=1)
        s.commit()
    print(f"dropped item {item_id}")


def _team_member(engine: Engine, cfg: Config) -> None:
    """In team mode only an agent of the team changes the quarantine."""
    from sqlmodel import Session

    with Session(engine) as s:
        as_agent(s, cfg)

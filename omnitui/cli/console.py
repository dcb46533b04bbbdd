"""The two commands that open the Textual console: ``omnitui`` with no command, and
``omnitui demo``. The only CLI module that loads Textual, and only inside them."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from omnitui.cli.context import as_agent, db_url, fail, load, make_desk, open_engine, say, state

if TYPE_CHECKING:
    from omnitui.config import Config
    from omnitui.desk import Desk


def open_console() -> None:
    """The console on the configured store, polling the accounts in the background."""
    from sqlmodel import Session

    cfg = load(console=True)
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        as_agent(s, cfg)  # team mode: only an agent of the team (one query)
    from omnitui.ui.app import run_console

    run_console(engine, cfg, make_desk(cfg, signing=True, lazy=True), demo=False)


def demo(
    db: Annotated[
        str | None, typer.Option("--db", help="Seed this database instead of a temporary one.")
    ] = None,
) -> None:
    """The console on sample data from every channel; sends nothing anywhere.

    It runs only on a store it seeded itself: never on a real one (``$OMNITUI_DB`` is
    ignored; a ``--db`` naming a store with real data is refused)."""
    from omnitui.demo import is_demo_store, seed
    from storage.engine import redact_url

    url = db or (None if state.db_from_env else state.db_url)
    tmp = None
    if url is not None:
        from omnitui.config import sqlite_dir_problem

        problem = sqlite_dir_problem(url)
        if problem:
            fail(f"--db: {problem}")
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="omnitui-demo-")
        url = f"sqlite:///{Path(tmp.name) / 'demo.sqlite'}"
    engine = open_engine(url)
    cfg = demo_config()
    desk = demo_desk(cfg)
    kind = is_demo_store(engine)
    if kind is False:
        engine.dispose()
        fail(
            f"{redact_url(url)} holds real conversations, not demo data: the demo runs "
            "only on its own sample store (leave out --db, or name a new file)"
        )
    if kind is None:
        seed(engine, agent=cfg.agent_name)
    from omnitui.ui.app import run_console

    try:
        run_console(engine, cfg, desk, demo=True)
    finally:
        engine.dispose()
        if tmp is not None:
            tmp.cleanup()


def demo_desk(cfg: Config) -> Desk:
    """The desk of the demo: the user's settings, the demo's accounts' reply windows
    and templates, and surveys on (nothing is polled or sent)."""
    from dataclasses import replace

    from omnitui.demo import DEMO_ACCOUNTS
    from omnitui.desk.account_rule import AccountRule

    desk = make_desk(cfg)
    desk.csat = replace(cfg.csat, enabled=True)
    desk.accounts = {
        name: AccountRule(kind, dict(settings)) for name, (kind, settings) in DEMO_ACCOUNTS.items()
    }
    return desk


def demo_config() -> Config:
    """The user's keys, agent name (or ``--agent``) and display settings, but no
    accounts or storage: the demo never reaches out. A broken config does not stop
    the demo."""
    from dataclasses import replace

    from omnitui.config import Config, ConfigError, load_config
    from omnitui.paths import config_path

    try:
        cfg = load_config(state.config_path or config_path(), required=False)
    except ConfigError as exc:
        say(f"omnitui: ignoring the config for the demo: {exc}", err=True)
        cfg = Config.empty()
    # The demo's own answers (omnitui/demo_kb/), unless the user has a KB to try.
    kb_dir = cfg.kb_dir or Path(__file__).resolve().parent.parent / "demo_kb"
    agent = state.agent or cfg.agent_name  # --agent / $OMNITUI_AGENT, as everywhere
    return replace(cfg, accounts=(), storage_url=None, kb_dir=kb_dir, agent_name=agent)

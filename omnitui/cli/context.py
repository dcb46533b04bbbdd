"""What every command shares: the global options, the config, the store and the desk,
the knowledge base, and the one-line output of results and failures.

Commands import these names from here; nothing here imports a command module or
Textual (the console is opened only by :mod:`omnitui.cli.console`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlmodel import Session

    from omnitui.config import Config
    from omnitui.desk import Desk
    from omnitui.desk.kb import KnowledgeBase
    from storage.models import Conversation


class State:
    """Options shared by every command (set by the global callback)."""

    config_path: Path | None = None
    config_explicit: bool = False
    db_url: str | None = None
    #: The URL came from ``$OMNITUI_DB``, not the command line (the demo ignores it).
    db_from_env: bool = False
    #: ``--agent`` / ``$OMNITUI_AGENT``: who this command runs as (over ``[agent] name``).
    agent: str | None = None


state = State()

#: ``--yes``: confirm a merge or an erasure without being asked.
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Do it without showing both sides and asking.")
]


# -- output -----------------------------------------------------------------------
def say(text: str, *, err: bool = False) -> None:
    """Print one line of untrusted or server-supplied text, controls made visible."""
    from omnitui.sanitize import for_terminal

    print(for_terminal(text), file=sys.stderr if err else sys.stdout, flush=True)


#: An error line quoting a pasted megabyte stays readable.
MAX_ERROR_CHARS = 1000


def shorten(message: str) -> str:
    """``message`` cut to :data:`MAX_ERROR_CHARS` (with an ellipsis)."""
    if len(message) > MAX_ERROR_CHARS:
        return message[: MAX_ERROR_CHARS - 1] + "…"
    return message


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear line on stderr and exit non-zero."""
    say(f"omnitui: {shorten(message)}", err=True)
    raise typer.Exit(code)


def failure_line(exc: Exception) -> str:
    """The one line (without the ``omnitui:`` prefix) for an exception no command caught.

    Expected failures — :class:`~omnitui.errors.OmnituiError` and the lower layers' own
    (``storage.errors.StoreError``, ``adapters.base.AdapterError``, which cannot derive
    from it) — carry words meant for the user: their first line. Anything else is a bug:
    its class and where it was raised, never its message (it may quote customer text).
    Text that is not UTF-8 (it can only come from an argument: stdin is checked when
    read) is said as such."""
    from adapters.base import AdapterError, describe_exception
    from omnitui.errors import OmnituiError
    from storage.errors import StoreError, describe_store_error, is_conflict

    if is_conflict(exc):  # a write that lost a race (conv commands say more themselves)
        return f"{describe_store_error(exc)} — run it again"
    if isinstance(exc, OmnituiError | StoreError | AdapterError):
        first = (str(exc).strip().splitlines() or [""])[0] or type(exc).__name__
        if isinstance(exc, StoreError) and state.db_url:
            from storage.engine import redact_secrets

            first = redact_secrets(first, state.db_url)
        return shorten(first)
    if isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed":
        # Undecodable bytes in an argument (Python keeps them as lone surrogates)
        # reached a database or a file that takes UTF-8 only.
        return "an argument is not UTF-8 text"
    return f"unexpected error: {describe_exception(exc)}"


def read_stdin(what: str) -> str:
    """All of stdin as text, or a one-line failure naming ``what`` (the option or
    argument that said ``-``) when it is not UTF-8."""
    try:
        text = sys.stdin.read()
        text.encode("utf-8")  # undecodable bytes come through as lone surrogates
    except (UnicodeDecodeError, UnicodeEncodeError):
        fail(f"{what}: stdin is not UTF-8 text")
    return text


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


# -- config, store, desk ------------------------------------------------------------
def load(*, console: bool = False) -> Config:
    """The config, or a one-line error naming the file and key. ``console`` (the console
    and ``doctor``): also check the ``[keys]`` names against Textual's; headless
    commands never import Textual."""
    from omnitui.config import ConfigError, check_key_names, load_config
    from omnitui.paths import config_path

    path = state.config_path or config_path()
    try:
        cfg = load_config(path, required=state.config_explicit)
        if console:
            check_key_names(cfg)
    except ConfigError as exc:
        fail(str(exc))
    if state.agent is not None:
        from dataclasses import replace

        cfg = replace(cfg, agent_name=state.agent)
    return cfg


def agent_option(value: str | None, option: str = "--agent") -> str | None:
    """``--agent`` (or ``$OMNITUI_AGENT``: ``option`` names which) checked as an agent's
    name; a bad one is a one-line failure."""
    if value is None:
        return None
    from omnitui.desk.agents import AgentError, clean_name

    try:
        return clean_name(value)
    except AgentError as exc:
        fail(f"{option}: {exc}")


def as_agent(s: Session, cfg: Config) -> None:
    """In team mode (the store has agents), this command must run as one of them: else
    one line and exit 1. One query; a store without agents lets anyone write."""
    from omnitui.desk.agents import AgentError, check_member

    try:
        check_member(s, cfg.agent_name)
    except AgentError as exc:
        fail(str(exc), code=1)


def as_admin(s: Session, cfg: Config, action: str) -> None:
    """In team mode, ``action`` (e.g. "customer forget") needs an admin agent: else one
    line and exit 1, before anything is asked or changed."""
    from omnitui.desk.agents import AgentError, require_admin

    try:
        require_admin(s, cfg.agent_name, action)
    except AgentError as exc:
        fail(str(exc), code=1)


def db_url(config: Config, override: str | None = None) -> str:
    """Which database to open: --db, then OMNITUI_DB, then [storage].url, then the default.
    An SQLite file in a directory that does not exist is a one-line error naming the
    option (a mistyped path never becomes a new empty store); the default's directory
    is created."""
    from omnitui.config import sqlite_dir_problem
    from omnitui.paths import default_db_url, ensure_data_dir

    url = override or state.db_url or config.storage_url
    if url:
        problem = sqlite_dir_problem(url)
        if problem:
            if override or (state.db_url and not state.db_from_env):
                fail(f"--db: {problem}")
            if state.db_url:
                fail(f"OMNITUI_DB: {problem}")
            line = f":{config.storage_url_line}" if config.storage_url_line else ""
            fail(f"{config.path}{line}: [storage].url: {problem}")
        return url
    ensure_data_dir()
    return default_db_url()


def open_engine(url: str) -> Engine:
    """Open and migrate the store, or fail with one line."""
    from storage import StoreError, open_store
    from storage.engine import redact_secrets, redact_url

    try:
        return open_store(url)
    except StoreError as exc:
        fail(redact_secrets(str(exc), url))
    except Exception as exc:  # noqa: BLE001 - a driver's surprise is still one line
        first = (str(exc).strip().splitlines() or [""])[0]
        fail(
            f"cannot open database {redact_url(url)}: {type(exc).__name__}"
            + (f": {redact_secrets(first, url)}" if first else "")
        )


def make_desk(config: Config, *, signing: bool = False, lazy: bool = False) -> Desk:
    """The helpdesk rules configured from ``[sla]`` and ``[agent]``; ``signing`` loads the
    install key that signs our Message-IDs (only sync and the console need it)."""
    from omnitui.desk import Desk
    from omnitui.desk.account_rule import AccountRule
    from omnitui.desk.message_ids import install_key
    from omnitui.desk.routing import RoutingConfigError, routing_from_config
    from omnitui.desk.sla import SLAConfigError, calendar_from_config, policies_from_config

    try:
        policies = policies_from_config(config.sla)
        calendar = calendar_from_config(config.sla, lazy=lazy)
        routing = routing_from_config(config.routing)
    except (SLAConfigError, RoutingConfigError) as exc:
        fail(f"{config.path}: {exc}")
    return Desk(
        policies=policies,
        calendar=calendar,
        routing=routing,
        agent=config.agent_name,
        key_loader=install_key if signing else None,
        own_addresses=frozenset(
            str(a.get(key)).strip().lower()
            for a in config.accounts
            for key in ("address", "username", "user_id", "from_number")
            if a.get(key)
        ),
        accounts={a.name: AccountRule(a.kind, dict(a.settings)) for a in config.accounts},
        csat=config.csat,
        assignment=config.assignment,
    )


@contextmanager
def desk_session(*, writes: bool = False) -> Iterator[tuple[Config, Desk, Session]]:
    """The config, the desk and a session on the store, for one command; the engine is
    disposed afterwards. The caller commits. ``writes``: the command changes the store,
    so in team mode it must run as an agent of the team (:func:`as_agent`)."""
    from sqlmodel import Session

    cfg = load()
    engine = open_engine(db_url(cfg))
    desk = make_desk(cfg)
    try:
        with Session(engine) as s:
            if writes:
                as_agent(s, cfg)
            yield cfg, desk, s
    finally:
        engine.dispose()


def find_conversation(s: Session, ref: str) -> Conversation:
    """The conversation ``ref`` names (merged-away references lead on), or a one-line
    failure."""
    from omnitui.desk.conversation_ops import find_by_ref

    conv = find_by_ref(s, ref)
    if conv is None:
        fail(f"no conversation {ref!r}", code=1)
    return conv


def stored_id(conv: Conversation) -> int:
    """The id of a conversation read from the store (always set there)."""
    assert conv.id is not None  # a row the session loaded has its primary key
    return conv.id


# -- knowledge base -------------------------------------------------------------------
def load_kb(cfg: Config) -> KnowledgeBase:
    """The knowledge base of ``[kb] dir``, read now; each problem is a warning line.
    Without ``[kb] dir``: a one-line failure."""
    from omnitui.desk.kb import KnowledgeBase

    if cfg.kb_dir is None:
        fail(f"no knowledge base: set [kb] dir in {cfg.path or 'the config'}")
    kb = KnowledgeBase(cfg.kb_dir)
    kb.refresh()
    for problem in kb.problems:
        say(f"omnitui: kb: {problem}", err=True)
    return kb


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

"""The command line (typer). Commands that do not open the console never import Textual."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from omnitui import __version__

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from omnitui.config import Config

app = typer.Typer(
    name="omnitui",
    help="An omnichannel customer-support console for the terminal.",
    no_args_is_help=False,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
customer_app = typer.Typer(help="Look up, merge and erase customers.", rich_markup_mode=None)
secrets_app = typer.Typer(help="Store account secrets in the OS keyring.", rich_markup_mode=None)
app.add_typer(customer_app, name="customer")
app.add_typer(secrets_app, name="secrets")


class State:
    """Options shared by every command."""

    config_path: Path | None = None
    config_explicit: bool = False
    db_url: str | None = None
    #: The URL came from ``$OMNITUI_DB``, not the command line (the demo ignores it).
    db_from_env: bool = False


state = State()


def say(text: str, *, err: bool = False) -> None:
    """Print one line of untrusted or server-supplied text, controls made visible."""
    from omnitui.sanitize import for_terminal

    print(for_terminal(text), file=sys.stderr if err else sys.stdout, flush=True)


#: An error line quoting a pasted megabyte stays readable.
MAX_ERROR_CHARS = 1000


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear line on stderr and exit non-zero."""
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 1] + "…"
    say(f"omnitui: {message}", err=True)
    raise typer.Exit(code)


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
        return cfg
    except ConfigError as exc:
        fail(str(exc))


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


def make_desk(config: Config, *, signing: bool = False, lazy: bool = False):  # noqa: ANN201
    """The helpdesk rules configured from ``[sla]`` and ``[agent]``; ``signing`` loads the
    install key that signs our Message-IDs (only sync and the console need it)."""
    from omnitui.desk import Desk
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
    )


def _version(value: bool) -> None:
    if value:
        print(f"omnitui {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="OMNITUI_CONFIG",
            help="Config file (default: XDG config dir).",
            dir_okay=False,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="OMNITUI_DB", help="Database URL; overrides [storage].url."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Open the console and poll the configured accounts in the background."""
    state.config_path = config
    state.config_explicit = config is not None
    state.db_url = db
    source = ctx.get_parameter_source("db")  # typer bundles its own click
    state.db_from_env = getattr(source, "name", "") == "ENVIRONMENT"
    if ctx.invoked_subcommand is not None:
        import gc

        gc.enable()  # off during start-up (omnitui/__main__.py); only the console waits
    else:
        cfg = load(console=True)
        engine = open_engine(db_url(cfg))
        from omnitui.ui.app import run_console

        run_console(engine, cfg, make_desk(cfg, signing=True, lazy=True), demo=False)


@app.command()
def demo(
    db: Annotated[
        str | None, typer.Option("--db", help="Seed this database instead of a temporary one.")
    ] = None,
) -> None:
    """The console on sample data from every channel; sends nothing anywhere.

    It runs only on a store it seeded itself: never on a real one (``$OMNITUI_DB`` is
    ignored; a ``--db`` naming a store with real data is refused)."""
    import tempfile

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
    cfg = _demo_config()
    desk = make_desk(cfg)
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


def _demo_config() -> Config:
    """The user's keys, agent name and display settings, but no accounts or storage:
    the demo never reaches out. A broken config does not stop the demo."""
    from dataclasses import replace

    from omnitui.config import Config, ConfigError, load_config
    from omnitui.paths import config_path

    try:
        cfg = load_config(state.config_path or config_path(), required=False)
    except ConfigError as exc:
        say(f"omnitui: ignoring the config for the demo: {exc}", err=True)
        cfg = Config.empty()
    # The demo's own answers, unless the user has a KB to try.
    kb_dir = cfg.kb_dir or Path(__file__).with_name("demo_kb")
    return replace(cfg, accounts=(), storage_url=None, kb_dir=kb_dir)


@app.command()
def sync(
    once: Annotated[bool, typer.Option("--once", help="One full round, then exit.")] = False,
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
) -> None:
    """Poll accounts and send queued replies, headless."""
    import signal

    from omnitui.sync import Poller, SyncService

    cfg = load()
    accounts = cfg.accounts
    if account is not None:
        accounts = tuple(a for a in accounts if a.name == account)
        if not accounts:
            names = ", ".join(a.name for a in cfg.accounts) or "none configured"
            fail(f"no account named {account!r} in {cfg.path} (accounts: {names})")
    engine = open_engine(db_url(cfg))
    service = SyncService(engine, make_desk(cfg, signing=True), accounts)
    service.on_progress = _print_progress
    if once:
        failed = False
        try:
            # Accounts run side by side (as the daemon's threads do), so a slow server
            # costs its own deadline, not everyone's; lines come out in config order.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=max(1, min(8, len(accounts)))) as pool:
                outcomes = list(pool.map(service.round, accounts))
            undelivered = _undelivered_replies(engine, [a.name for a in accounts])
            failed = undelivered is None or bool(undelivered)
            undelivered = undelivered or {}
            for acct, outcome in zip(accounts, outcomes, strict=True):
                if outcome.ok:
                    kept = f", {outcome.quarantined} quarantined" if outcome.quarantined else ""
                    n = undelivered.get(acct.name, 0)
                    if n:
                        kept += f", {n} repl{'y' if n == 1 else 'ies'} undelivered"
                    say(f"{acct.name}: ok, {outcome.fetched} new, {outcome.sent} sent{kept}")
                else:
                    failed = True
                    say(f"omnitui: {acct.name}: {outcome.error}", err=True)
        finally:
            service.close()
        if not accounts:
            print("no accounts configured; nothing to sync", file=sys.stderr)
        raise typer.Exit(1 if failed else 0)

    from omnitui.sync.report import DaemonReport

    # Trouble goes to stderr once per change (omnitui/sync/report.py), not every round.
    trouble = DaemonReport(engine, lambda line: say(line, err=True))

    def report(outcome) -> None:  # noqa: ANN001
        if outcome.ok and (outcome.fetched or outcome.sent or outcome.quarantined):
            kept = f", {outcome.quarantined} quarantined" if outcome.quarantined else ""
            print(
                f"{outcome.account}: {outcome.fetched} new, {outcome.sent} sent{kept}",
                flush=True,
            )
        trouble.on_round(outcome)

    poller = Poller(service, on_round=report)
    signal.signal(signal.SIGTERM, lambda *_: poller.stop())
    try:
        poller.run()
    except KeyboardInterrupt:
        poller.stop()


def _undelivered_replies(engine: Engine, accounts: list[str]) -> dict[str, int] | None:
    """Print one stderr line per failing, failed or uncertain reply of ``accounts``
    (see :mod:`omnitui.cli.outbox`); how many each account has, or ``None`` (and one
    line) when the outbox cannot be read."""
    from omnitui.cli.outbox import report_problems

    try:
        return report_problems(engine, accounts)
    except Exception as exc:  # noqa: BLE001 - the store is in trouble: one line, exit 1
        from adapters.base import describe_exception

        say(f"omnitui: cannot read the outbox: {describe_exception(exc)}", err=True)
        return None


#: Smaller syncs finish too fast to need a progress bar.
PROGRESS_MIN = 200


def _print_progress(account: str, stored: int, progress: tuple[int, int]) -> None:
    """A progress line for a long first sync (redrawn in place on a terminal)."""
    done, total = progress
    if total < PROGRESS_MIN:
        return
    bar_width = 30
    filled = int(bar_width * done / total) if total else bar_width
    line = f"{account}: [{'#' * filled}{'.' * (bar_width - filled)}] {done}/{total} fetched"
    if sys.stderr.isatty():
        print("\r" + line, end="" if done < total else "\n", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


@app.command()
def reply(
    ref: Annotated[str, typer.Argument(help="Conversation reference, e.g. C-1042.")],
    body_file: Annotated[
        str | None, typer.Option("--body-file", help="File with the reply text, or - for stdin.")
    ] = None,
    kb: Annotated[
        str | None,
        typer.Option("--kb", help="Send this knowledge-base answer, rendered for the customer."),
    ] = None,
    note: Annotated[bool, typer.Option("--note", help="A private note, not sent.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Send a --kb answer despite placeholder warnings.")
    ] = False,
) -> None:
    """Queue a reply (or add a private note); the next sync round sends it."""
    from sqlmodel import Session

    from omnitui.desk import DeskError
    from omnitui.desk.workflow import find_by_ref

    if (body_file is None) == (kb is None):
        fail("give the text with --body-file FILE (or -) or --kb SHORTCUT, not both")
    cfg = load()
    article = None
    if kb is not None:
        from omnitui.cli.conversations import _kb

        article = _kb(cfg).get(kb)
        if article is None:
            fail(f"--kb: no answer with shortcut {kb!r} (see `omnitui kb list`)", code=1)
    elif body_file == "-":
        body = sys.stdin.read()
    else:
        try:
            body = Path(body_file).read_text(encoding="utf-8")  # type: ignore[arg-type]
        except OSError as exc:
            fail(f"--body-file {body_file}: {exc.strerror or exc}")
        except UnicodeDecodeError:
            fail(f"--body-file {body_file}: not UTF-8 text")
    engine = open_engine(db_url(cfg))
    desk = make_desk(cfg)
    with Session(engine) as s:
        conv = find_by_ref(s, ref)
        if conv is None:
            fail(f"no conversation {ref!r}", code=1)
        if article is not None:
            from omnitui.cli.conversations import render_for

            body, warnings = render_for(s, desk, conv, article)
            for w in warnings:
                say(f"omnitui: warning: {w}", err=True)
            if warnings and not force:
                fail("not queued: fix the answer's placeholders, or add --force", code=1)
        try:
            if note:
                desk.note(s, conv, body)
                what = "note added to"
            else:
                item = desk.reply(s, conv, body)
                what = f"reply #{item.id} queued on {conv.channel} for"
        except DeskError as exc:
            fail(str(exc))
        s.commit()
        print(f"{what} {conv.ref}")


@app.command()
def export(
    customer: Annotated[
        str | None,
        typer.Option("--customer", help="Address: a@b.c, +1555…, or channel:address."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date/time: activity at or after.")
    ] = None,
) -> None:
    """JSON Lines on stdout, one conversation per line."""
    from sqlmodel import Session

    from omnitui.export import export_records, parse_customer_address, write_jsonl

    since_dt = None
    if since is not None:
        try:
            since_dt = datetime.fromisoformat(since)
        except ValueError:
            fail(f"--since {since!r}: expected an ISO 8601 date or date-time")
        try:  # a naive time is local, by the rules of its own date (DST)
            since_dt = (since_dt if since_dt.tzinfo else since_dt.astimezone()).astimezone(UTC)
        except (OverflowError, ValueError, OSError):  # near year 1 or 9999: all or nothing
            since_dt = (datetime.min if since_dt.year == 1 else datetime.max).replace(tzinfo=UTC)
    if customer is not None:
        try:
            parse_customer_address(customer)
        except ValueError as exc:
            fail(f"--customer: {exc}")
    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        write_jsonl(export_records(s, customer=customer, since=since_dt), sys.stdout)
    sys.stdout.flush()


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words to find (the last one as a prefix).")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
) -> None:
    """Conversations matching QUERY: reference, channel, status, subject and a snippet."""
    from sqlmodel import Session

    from omnitui.sanitize import clean_line
    from storage.search import search as run_search

    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        hits = run_search(s.connection(), query, limit=limit)
    for hit in hits:
        say(
            f"{hit.ref}\t{hit.channel}\t{hit.status}\t{clean_line(hit.subject, 60)}\t"
            f"{clean_line(hit.snippet, 120)}"
        )
    if not hits:
        say(f"no conversation matches {query!r}", err=True)
        raise typer.Exit(1)


def find_customer(s, address: str) -> int:  # noqa: ANN001 - a Session
    """The id of the customer owning ``address``, or a one-line failure."""
    from omnitui.export import parse_customer_address
    from storage import repository as repo

    try:
        channel, addr = parse_customer_address(address)
    except ValueError as exc:
        fail(str(exc))
    ident = repo.find_identity(s, channel, addr)
    if ident is None or ident.customer_id is None:
        fail(f"no customer with address {address!r}", code=1)
    return ident.customer_id


@customer_app.command("forget")
def customer_forget(
    address: Annotated[str, typer.Argument(help="a@b.c, +1555…, or channel:address.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm the erasure.")] = False,
) -> None:
    """Erase one customer and everything of theirs (GDPR/CCPA)."""
    from sqlmodel import Session

    from storage import repository as repo

    if not yes and not sys.stdin.isatty():
        fail("erasing a customer cannot be undone: add --yes to confirm")
    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        customer_id = find_customer(s, address)
        if not yes:
            from omnitui.cli.conversations import confirm_both_sides
            from omnitui.desk.merge_preview import customer_side

            side = customer_side(s, customer_id)
            assert side is not None
            action = f"erase {address} and all of theirs"
            confirm_both_sides(action, [("erased:", side.line())], False)
        counts = repo.forget_customer(s, customer_id, actor=cfg.agent_name)
        s.commit()
    print(
        f"erased customer: {counts['identities']} identities, "
        f"{counts['conversations']} conversations, {counts['messages']} messages"
    )


@customer_app.command("show")
def customer_show(
    address: Annotated[str, typer.Argument(help="a@b.c, +1555…, or channel:address.")],
) -> None:
    """A customer's identities and conversations on every channel."""
    from sqlmodel import Session

    from omnitui.sanitize import clean_line
    from storage import queries

    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        customer_id = find_customer(s, address)
        conn = s.connection()
        info = queries.customer_info(conn, customer_id)
        history = queries.customer_history(conn, customer_id)
    assert info is not None
    say(f"{clean_line(info.name)}{'  VIP' if info.vip else ''}")
    for i in info.identities:
        say(f"  {i.channel}:{clean_line(i.address)}")
    for line in info.notes.splitlines():
        say(f"  note: {clean_line(line, 200)}")
    for h in history:
        say(
            f"{h.ref}\t{h.channel}\t{h.status}\t{h.last_message_at.isoformat()}\t"
            f"{clean_line(h.subject or h.preview, 70)}"
        )


@app.command()
def doctor() -> None:
    """Check config, secrets and connectivity per account: each direction (receive,
    send, and what else a kind checks) on its own line, ``ok`` or ``FAIL``."""
    from functools import partial

    from adapters import registry
    from omnitui.secrets import SecretError, describe_source, resolve_secret

    cfg = load(console=True)
    problems = 0
    say(f"config: {cfg.path} ({'found' if cfg.path and cfg.path.exists() else 'not found'})")
    url = db_url(cfg)
    engine = open_engine(url)
    from storage.engine import redact_url

    say(f"database: {redact_url(engine.url.render_as_string(hide_password=True))} ok")
    from storage import quarantine

    with engine.connect() as conn:
        kept = quarantine.count(conn)
    if kept:
        say(
            f"quarantine: WARN {kept} item(s) could not be read or stored; "
            "see `omnitui quarantine list`"
        )
    else:
        say("quarantine: empty")
    problems += _doctor_desk(cfg)
    kinds = registry.available()
    say("adapters: " + (", ".join(f"{k} ({v})" for k, v in sorted(kinds.items())) or "none"))
    if not cfg.accounts:
        say("accounts: none configured (see config.example.toml)")
    for acct in cfg.accounts:
        line = f"{acct.name} [{acct.kind}]:"
        if acct.kind not in kinds:
            say(f"{line} FAIL no adapter installed for kind {acct.kind!r}")
            problems += 1
            continue
        module = registry.module(acct.kind)
        fields = getattr(module, "secret_fields", ("password",))
        ok = True
        for field in fields:
            try:
                resolve_secret(acct, field)
            except SecretError as exc:
                say(f"{line} FAIL {exc}")
                ok = False
            else:
                say(f"{line} secret {field} from {describe_source(acct, field)}")
        if not ok:
            problems += 1
            continue
        # ``checks``: one finding per direction (adapters/checks.py); ``check``: one line.
        checks = getattr(module, "checks", None)
        check = getattr(module, "check", None)
        if checks is None and check is None:
            say(f"{line} ok (no connectivity check for this kind)")
            continue
        secret = partial(resolve_secret, acct)
        try:
            if checks is not None:
                found = [(f.part, f.ok, f.detail) for f in checks(acct.name, acct.settings, secret)]
            else:
                found = [("", True, check(acct.name, acct.settings, secret) or "")]
        except Exception as exc:  # noqa: BLE001 - report, never crash
            say(f"{line} FAIL {exc}")
            problems += 1
            continue
        for part, works, detail in found:
            what = f"{part}: {detail}" if part else detail
            say(f"{line} {'ok' if works else 'FAIL'} {what}".rstrip())
        problems += any(not works for _, works, _ in found)
    raise typer.Exit(1 if problems else 0)


def _doctor_desk(cfg: Config) -> int:
    """Check [sla], [routing], [notifications] and [kb]; print one line each."""
    from omnitui.desk.kb import KnowledgeBase
    from omnitui.desk.sla_alerts import settings_from_config

    problems = 0
    desk = make_desk(cfg)  # exits with the config error when [sla] or [routing] is wrong
    say(f"sla: {len(desk.policies)} policies, calendar {type(desk.calendar).__name__}")
    try:
        settings_from_config(cfg.notifications)
    except ValueError as exc:
        say(f"notifications: FAIL {exc}")
        problems += 1
    ack = desk.routing.acknowledge
    if ack is not None:
        from omnitui.desk.kb import Article, KBError, placeholder_context, render

        context = placeholder_context(
            customer_name="Ana Lima", conversation_ref="C-1001", agent_name="me", channel="email"
        )
        try:
            rendered = render(
                Article(Path("ack"), "ack", "ack", body=ack.text), context, channel="email"
            )
            warnings = list(rendered.warnings)
        except KBError as exc:
            warnings = [str(exc)]
        if warnings:
            say(f"routing.acknowledge.text: FAIL {'; '.join(warnings)}")
            problems += 1
    say(f"routing: {len(desk.routing.rules)} rules" + (", acknowledgement on" if ack else ""))
    if cfg.kb_dir is not None:
        kb = KnowledgeBase(cfg.kb_dir)
        kb.refresh()
        say(f"kb: {len(kb.articles())} answers in {cfg.kb_dir}")
        for problem in kb.problems:
            say(f"kb: FAIL {problem}")
            problems += 1
    return problems


@secrets_app.command("set")
def secrets_set(
    account: Annotated[str, typer.Argument(help="Account name from the config.")],
    field: Annotated[
        str | None,
        typer.Argument(
            help="Which secret (default: the kind's only one: email password, Telegram token,"
            " Matrix and Mastodon access_token, Twilio auth_token)."
        ),
    ] = None,
) -> None:
    """Store a secret in the OS keyring (read from the terminal, or stdin when piped).
    The account, the field and the keyring are checked before the secret is asked for."""
    import getpass

    from omnitui.secrets import SecretError, check_keyring, secret_target, store_secret

    cfg = load()
    try:
        acct, field = secret_target(cfg, account, field)
        check_keyring(acct, field)
    except SecretError as exc:
        fail(str(exc))
    for how in ("command", "env"):
        if acct.get(f"{field}_{how}"):
            say(f"omnitui: note: {account} sets {field}_{how}, used before the keyring", err=True)
    if sys.stdin.isatty():
        value = getpass.getpass(f"{account} {field}: ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail("empty secret; nothing stored")
    try:
        store_secret(account, field, value)
    except SecretError as exc:
        fail(str(exc))
    say(f"stored {field} for {account} in the keyring")


class _TerminalLog(logging.Handler):
    """Python's last-resort log handler (warnings to stderr) with controls made
    visible: log lines may quote an external id or a server's words."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            say(self.format(record), err=True)
        except Exception:  # noqa: BLE001 - logging never raises
            self.handleError(record)


def main() -> None:
    """Entry point of the ``omnitui`` script. What slips past every command's own
    checks is still one line on stderr (``OMNITUI_DEBUG=1`` shows the traceback)."""
    logging.lastResort = _TerminalLog(logging.WARNING)
    from omnitui.errors import OmnituiError

    try:
        app()
    except OmnituiError as exc:
        if os.environ.get("OMNITUI_DEBUG"):
            raise
        # An expected failure a command did not catch itself: its words are meant for
        # the user (sanitised by say), one line.
        say(f"omnitui: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True)
        raise SystemExit(1) from None
    except Exception as exc:
        if os.environ.get("OMNITUI_DEBUG"):
            raise
        from adapters.base import describe_exception

        # The class and where it was raised, never its message: it may quote customer text.
        say(f"omnitui: unexpected error: {describe_exception(exc)}", err=True)
        raise SystemExit(1) from None


# The agent commands (conv, kb, customer merge/vip/note, quarantine, outbox) and init
# register themselves on `app`.
import omnitui.cli.conversations  # noqa: E402, F401
import omnitui.cli.init_command  # noqa: E402, F401
import omnitui.cli.outbox  # noqa: E402, F401
import omnitui.cli.quarantine  # noqa: E402, F401

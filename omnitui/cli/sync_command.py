"""``omnitui sync [--once] [--account NAME]``: poll accounts and send queued replies,
headless. ``--once`` exits 0 when every account succeeded and no reply of theirs is
failing, failed or uncertain; 1 otherwise, with one stderr line per problem.

Only the process that leads an account polls and sends for it
(:mod:`omnitui.sync.leases`): the long-running sync follows an account another process
leads and takes it over when that one ends; ``--once`` says who syncs such an account
and how its last round went, and counts that round as its own."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from omnitui.cli.context import db_url, fail, load, make_desk, open_engine, say

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from omnitui.config import AccountConfig, Config
    from omnitui.sync import Outcome, SyncService
    from omnitui.sync.leases import AccountLeases


def sync(
    once: Annotated[bool, typer.Option("--once", help="One full round, then exit.")] = False,
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
) -> None:
    """Poll accounts and send queued replies, headless."""
    import signal

    from omnitui.sync import Poller, SyncService
    from omnitui.sync.leases import AccountLeases

    cfg = load()
    accounts = cfg.accounts
    if account is not None:
        accounts = tuple(a for a in accounts if a.name == account)
        if not accounts:
            names = ", ".join(a.name for a in cfg.accounts) or "none configured"
            fail(f"no account named {account!r} in {cfg.path} (accounts: {names})")
    if any(a.kind == "email" for a in accounts):
        from adapters.email.parse_pool import prestart

        prestart()  # before any thread and any database connection
    engine = open_engine(db_url(cfg))
    service = SyncService(engine, make_desk(cfg, signing=True), accounts)
    service.on_progress = print_progress
    if once:
        failed = False
        leases = AccountLeases(engine, role="sync --once")
        try:
            outcomes = once_round(service, leases, accounts)
            undelivered = undelivered_replies(engine, [a.name for a in accounts])
            failed = undelivered is None or bool(undelivered)
            undelivered = undelivered or {}
            for acct, outcome in zip(accounts, outcomes, strict=True):
                if outcome.followed_by is not None:
                    line, bad = followed_line(engine, acct.name, outcome.followed_by, cfg)
                    say(f"omnitui: {line}" if bad else line, err=bad)
                    failed = failed or bad
                elif outcome.ok:
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
            leases.close()
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

    poller = Poller(service, on_round=report, leases=AccountLeases(engine, role="sync service"))
    signal.signal(signal.SIGTERM, lambda *_: poller.stop())
    # Report figures are computed beside the polling (a thread of its own, its own
    # connections), so reports and the Reports screen find them ready.
    import threading

    from omnitui.reports.warm import keep_warm

    threading.Thread(
        target=keep_warm,
        args=(engine, service.desk, cfg.sla, poller.stop_event),
        kwargs={"on_error": lambda line: say(f"omnitui: {line}", err=True)},
        daemon=True,
        name="report-figures",
    ).start()
    try:
        poller.run()
    except KeyboardInterrupt:
        poller.stop()


def once_round(
    service: SyncService, leases: AccountLeases, accounts: tuple[AccountConfig, ...]
) -> list[Outcome]:
    """One round of each account this process can lead, side by side (as the daemon's
    threads do, so a slow server costs its own deadline, not everyone's); an account
    another process leads is not polled (``followed_by``). In config order."""
    from concurrent.futures import ThreadPoolExecutor

    from omnitui.sync import Outcome
    from omnitui.sync.leases import LeaseError

    def one(account: AccountConfig) -> Outcome:
        try:
            if not leases.try_acquire(account.name):
                return Outcome(account.name, True, followed_by=leases.holder(account.name))
        except LeaseError as exc:
            return Outcome(account.name, False, error=str(exc), ran=False)
        return service.round(account, leader=leases.identity)

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(accounts)))) as pool:
        return list(pool.map(one, accounts))


def followed_line(engine: Engine, account: str, holder: str, cfg: Config) -> tuple[str, bool]:
    """``NAME: synced by HOLDER; its last round ok at 14:03`` (or ``failed at …: why``)
    and whether that round failed (or cannot be read)."""
    from omnitui.formatting import display_zone, local_time
    from omnitui.sanitize import clean_line
    from omnitui.sync.leases import last_round

    head = f"{account}: synced by {clean_line(holder, 256)}"
    try:
        last = last_round(engine, account)
    except Exception as exc:  # noqa: BLE001 - the store is in trouble: one line, exit 1
        from storage.errors import describe_store_error

        return f"{head}; its last round cannot be read: {describe_store_error(exc)}", True
    zone = display_zone(cfg.display_timezone)
    if last.failed:
        when = local_time(last.error_at, zone) if last.error_at else "an unknown time"
        return f"{head}; its last round failed at {when}: {clean_line(last.error or '', 300)}", True
    if last.ok_at is not None:
        return f"{head}; its last round ok at {local_time(last.ok_at, zone)}", False
    return f"{head}; no round of it recorded yet", False


def undelivered_replies(engine: Engine, accounts: list[str]) -> dict[str, int] | None:
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


def print_progress(account: str, stored: int, progress: tuple[int, int]) -> None:
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

"""``omnitui report``: the service measures of docs/REPORTS.md over a period, beside
the previous period of the same length — a Rich table, CSV or the JSON report record
of DESIGN.md (:mod:`omnitui.reports`) — or, with ``--digest``, yesterday's summary
mailed through an email account."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from omnitui.cli.context import db_url, fail, load, make_desk, open_engine, say

if TYPE_CHECKING:
    from omnitui.config import Config

FORMATS = ("table", "csv", "json")
#: The period when neither --since nor --until is given: the last 30 days.
DEFAULT_PERIOD = timedelta(days=30)
#: Figures computed for more conversations than this show their progress.
PROGRESS_FROM = 5000


def report(
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date/time: created at or after.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="ISO date/time: created before (default now).")
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this assignee.")] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Group: day, week, channel, agent or tag.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    digest: Annotated[
        bool, typer.Option("--digest", help="Mail yesterday's summary (needs --to).")
    ] = False,
    to: Annotated[
        list[str] | None, typer.Option("--to", help="Digest recipient (repeatable).")
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Email account the digest goes from.")
    ] = None,
) -> None:
    """Volume, response and resolution times, SLA attainment, first-contact
    resolution, handling time, CSAT and workload of the conversations created in a
    period (default: the last 30 days)."""
    from omnitui.reports import GROUPINGS
    from storage.models import CHANNELS

    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: use {', '.join(FORMATS)}")
    if by is not None and by not in GROUPINGS:
        fail(f"--by {by!r}: use {', '.join(GROUPINGS)}")
    if channel is not None and channel not in CHANNELS:
        fail(f"--channel {channel!r}: unknown channel (use {', '.join(CHANNELS)})")
    if digest or to or account:
        if not digest:
            fail("--to and --account go with --digest")
        if since is not None or until is not None or by is not None or fmt != "table":
            fail("--digest reports yesterday: leave out --since, --until, --by and --format")
        run_digest(list(to or []), account, channel=channel, agent=agent)
        return
    now = datetime.now(UTC)
    until_dt = now if until is None else parse_time("--until", until)
    since_dt = until_dt - DEFAULT_PERIOD if since is None else parse_time("--since", since)
    if until_dt <= since_dt:
        fail(f"--until {until_dt.isoformat()} is not after --since {since_dt.isoformat()}")
    run_report(since_dt, until_dt, now, channel=channel, agent=agent, by=by, fmt=fmt)


def run_report(
    since: datetime,
    until: datetime,
    now: datetime,
    *,
    channel: str | None,
    agent: str | None,
    by: str | None,
    fmt: str,
) -> None:
    """Compute over both periods, print in ``fmt``."""
    from omnitui.export import to_json_line
    from omnitui.reports.render import print_table, write_csv

    cfg = load()
    result = _compute(cfg, since, until, now, channel=channel, agent=agent, by=by)
    if fmt == "json":
        sys.stdout.write(to_json_line(result) + "\n")
    elif fmt == "csv":
        write_csv(result, sys.stdout)
    else:
        print_table(result, sys.stdout)
    sys.stdout.flush()


def run_digest(
    recipients: list[str], account_name: str | None, *, channel: str | None, agent: str | None
) -> None:
    """Compute yesterday's report (in ``[sla] timezone``) and mail it through an email
    account; one line on success, one line and exit 1 when it could not be sent."""
    from adapters.base import AdapterError, OutboundMessage
    from omnitui.reports.digest import body, mime, subject, yesterday
    from omnitui.reports.service import zone
    from omnitui.sync import build_adapter

    if not recipients:
        fail("--digest needs --to ADDRESS")
    for address in recipients:
        if not _plain_address(address):
            fail(f"--to {address!r}: not an email address like owner@example.com")
    cfg = load()
    mail = [a for a in cfg.accounts if a.kind == "email"]
    if account_name is not None:
        mail = [a for a in mail if a.name == account_name]
        if not mail:
            fail(f"--account {account_name!r}: no email account of that name in the config")
    if not mail:
        fail("no email account in the config to send the digest from (add one, or --account)")
    sender = mail[0]
    from_addr = str(sender.settings.get("address", ""))
    now = datetime.now(UTC)
    before, start, end, day = yesterday(now, zone(cfg.sla))
    result = _compute(cfg, start, end, now, channel=channel, agent=agent, by=None, before=before)
    text = body(result, day)
    try:
        adapter = build_adapter(sender)
    except AdapterError as exc:
        fail(f"digest not sent: {exc}", code=1)
    try:
        for address in recipients:
            message_id, data = mime(from_addr, address, day, text)
            adapter.send(
                OutboundMessage(
                    outbox_id=0,
                    channel="email",
                    to=address,
                    text=text,
                    subject=subject(day),
                    message_id=message_id,
                    mime=data,
                )
            )
            say(f"digest for {day} sent to {address} from {sender.name}")
    except AdapterError as exc:
        fail(f"digest not sent to {address}: {exc}", code=1)
    finally:
        adapter.close()


def _compute(
    cfg: Config,
    since: datetime,
    until: datetime,
    now: datetime,
    *,
    channel: str | None,
    agent: str | None,
    by: str | None,
    before: datetime | None = None,
) -> dict[str, Any]:
    from sqlmodel import Session

    from omnitui.reports.service import compute_report

    desk = make_desk(cfg)
    engine = open_engine(db_url(cfg))
    try:
        with Session(engine) as s:
            result = compute_report(
                s,
                since=since,
                until=until,
                now=now,
                settings=desk,
                sla=cfg.sla,
                channel=channel,
                agent=agent,
                by=by,
                progress=_progress,
                before=before,
            )
    finally:
        engine.dispose()
    if result.get("uncounted"):
        say(
            f"omnitui: {result['uncounted']} conversations changed while the report was "
            "computed and are not counted; run it again",
            err=True,
        )
    return result


def _progress(done: int, total: int) -> None:
    """Say how far the first computation of many conversations' figures is (stderr)."""
    if total >= PROGRESS_FROM:
        say(f"computing report figures (kept for next time): {done:,}/{total:,}", err=True)


def _plain_address(text: str) -> bool:
    from email.utils import parseaddr

    name, address = parseaddr(text)
    return (
        not name
        and address == text.strip()
        and "@" in address
        and not any(c in text for c in "\r\n,;<>")
        and address.rsplit("@", 1)[1].count(".") >= 1
    )


def parse_time(option: str, text: str) -> datetime:
    """An ISO 8601 date (its midnight) or date-time as aware UTC; a naive one is local
    time, as ``export --since`` reads it. Anything else is a one-line failure."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option} {text!r}: expected an ISO 8601 date or date-time, e.g. 2026-11-01")
    try:  # a naive time is local, by the rules of its own date (DST)
        return (parsed if parsed.tzinfo else parsed.astimezone()).astimezone(UTC)
    except (OverflowError, ValueError, OSError):
        fail(f"{option} {text!r}: out of range")

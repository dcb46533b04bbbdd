"""``omnitui report``: the service measures of docs/REPORTS.md over a period, beside
the previous period of the same length — a Rich table, CSV or the JSON report record
of DESIGN.md (:mod:`omnitui.reports`)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from omnitui.cli.context import db_url, fail, load, make_desk, open_engine

FORMATS = ("table", "csv", "json")
#: The period when neither --since nor --until is given: the last 30 days.
DEFAULT_PERIOD = timedelta(days=30)


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
) -> None:
    """Volume, response and resolution times, SLA attainment and first-contact
    resolution of the conversations created in a period (default: the last 30 days)."""
    from omnitui.reports import GROUPINGS
    from storage.models import CHANNELS

    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: use {', '.join(FORMATS)}")
    if by is not None and by not in GROUPINGS:
        fail(f"--by {by!r}: use {', '.join(GROUPINGS)}")
    if channel is not None and channel not in CHANNELS:
        fail(f"--channel {channel!r}: unknown channel (use {', '.join(CHANNELS)})")
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
    """Load both periods in one pass, compute, print in ``fmt``."""
    from sqlmodel import Session

    from omnitui.export import to_json_line
    from omnitui.reports.render import print_table, write_csv
    from omnitui.reports.service import compute_report

    cfg = load()
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
            )
    finally:
        engine.dispose()
    if fmt == "json":
        sys.stdout.write(to_json_line(result) + "\n")
    elif fmt == "csv":
        write_csv(result, sys.stdout)
    else:
        print_table(result, sys.stdout)
    sys.stdout.flush()


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

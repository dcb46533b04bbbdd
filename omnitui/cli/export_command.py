"""``omnitui export [--customer ADDRESS] [--since ISO]``: JSON Lines on stdout, one
conversation per line (the schema is :mod:`omnitui.export`)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from omnitui.cli.context import db_url, fail, load, open_engine


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

    from omnitui.desk.identities import parse_customer_address
    from omnitui.export import export_records, write_jsonl

    since_dt = None if since is None else parse_since(since)
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


def parse_since(since: str) -> datetime:
    """``--since`` as an aware UTC time (a naive one is local time), or a one-line
    failure."""
    try:
        since_dt = datetime.fromisoformat(since)
    except ValueError:
        fail(f"--since {since!r}: expected an ISO 8601 date or date-time")
    try:  # a naive time is local, by the rules of its own date (DST)
        return (since_dt if since_dt.tzinfo else since_dt.astimezone()).astimezone(UTC)
    except (OverflowError, ValueError, OSError):  # near year 1 or 9999: all or nothing
        return (datetime.min if since_dt.year == 1 else datetime.max).replace(tzinfo=UTC)

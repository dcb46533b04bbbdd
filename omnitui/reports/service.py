"""One call from a store to a report: what ``omnitui report``, the digest and the
Reports screen share (the screen runs it in a worker thread)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlmodel import Session

from omnitui.desk.settings import DeskSettings
from omnitui.reports.compute import previous_since, report_from_store
from omnitui.reports.fact_store import Progress, basis_of, missing, refresh

#: How many times figures of conversations that changed meanwhile are computed again.
ROUNDS = 5


def compute_report(
    source: Connection | Session,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    settings: DeskSettings,
    sla: Mapping[str, Any] | None = None,
    channel: str | None = None,
    agent: str | None = None,
    by: str | None = None,
    progress: Progress | None = None,
    before: datetime | None = None,
) -> dict[str, Any]:
    """The report record of ``[since, until)`` (with ``previous``), filtered by channel
    and assignee when given; ``sla`` is the config's ``[sla]`` table (its time zone
    says where days begin). Conversations without stored figures (new, changed, or
    computed under other settings) are computed first and kept (``progress(done,
    total)`` after each step); raises ReportStoreError when they cannot be kept.
    ``before`` starts the previous period (default: the same length before ``since``).

    A conversation that changes while its figures are computed is computed again (up
    to :data:`ROUNDS` times); one still changing after that is left out and counted in
    the record's ``uncounted``."""
    conn = source.connection() if isinstance(source, Session) else source
    table = sla or {}
    tz = zone(table)
    basis = basis_of(settings, table, tz)
    before = previous_since(since, until) if before is None else before
    ids: list[int] = []
    for _ in range(ROUNDS):
        ids = missing(conn, before=before, since=since, until=until, basis=basis)
        if not ids:
            break
        refresh(conn, ids, settings=settings, tz=tz, basis=basis, progress=progress)
    else:
        ids = missing(conn, before=before, since=since, until=until, basis=basis)
    report = report_from_store(
        conn,
        since=since,
        until=until,
        now=now,
        by=by,
        tz=tz,
        channel=channel,
        agent=agent,
        before=before,
    )
    if ids:
        report["uncounted"] = len(ids)
    return report


def zone(sla: Mapping[str, Any]) -> tzinfo:
    """Where days and weeks begin: ``[sla] timezone`` (default UTC)."""
    name = sla.get("timezone")
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else UTC
    except (ValueError, KeyError):
        return UTC

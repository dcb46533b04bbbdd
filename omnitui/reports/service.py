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
from omnitui.reports.compute import build_report, previous_since
from omnitui.reports.loader import load_records


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
) -> dict[str, Any]:
    """The report record of ``[since, until)`` (with ``previous``), filtered by channel
    and assignee when given; ``sla`` is the config's ``[sla]`` table (its time zone
    says where days begin)."""
    records = load_records(
        source, since=previous_since(since, until), until=until, channel=channel, agent=agent
    )
    return build_report(
        records, since=since, until=until, now=now, settings=settings, by=by, tz=zone(sla or {})
    )


def zone(sla: Mapping[str, Any]) -> tzinfo:
    """Where days and weeks begin: ``[sla] timezone`` (default UTC)."""
    name = sla.get("timezone")
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else UTC
    except (ValueError, KeyError):
        return UTC

"""What the Reports screen reads (in a worker thread): the report record of
``omnitui.reports.service.compute_report`` for the chosen period and filters, and the
channels and agents the filters can cycle through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from omnitui.desk.settings import DeskSettings
from omnitui.reports.service import compute_report
from storage.models import Conversation

#: The periods `p` cycles through, in days (the first is where it starts after the last).
PERIODS: tuple[int, ...] = (7, 30, 90)
#: The period the screen opens on (the CLI's default too).
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class ReportFilters:
    """The last ``days`` days, one channel or all (None), one assignee or all (None)."""

    days: int = DEFAULT_DAYS
    channel: str | None = None
    agent: str | None = None

    def next_period(self) -> ReportFilters:
        """The next period of :data:`PERIODS`."""
        later = [d for d in PERIODS if d > self.days]
        return replace(self, days=later[0] if later else PERIODS[0])

    def next_channel(self, channels: tuple[str, ...]) -> ReportFilters:
        """All channels, then each of ``channels``, then all again."""
        return replace(self, channel=_cycle(self.channel, channels))

    def next_agent(self, agents: tuple[str, ...]) -> ReportFilters:
        """All agents, then each of ``agents``, then all again."""
        return replace(self, agent=_cycle(self.agent, agents))


def _cycle(current: str | None, options: tuple[str, ...]) -> str | None:
    if current is None:
        return options[0] if options else None
    if current not in options:
        return None
    index = options.index(current) + 1
    return options[index] if index < len(options) else None


@dataclass(frozen=True)
class LoadedReport:
    """A computed report and the filter choices known when it was read."""

    filters: ReportFilters
    report: dict[str, Any]
    channels: tuple[str, ...]
    agents: tuple[str, ...]


def load_report(
    engine: Engine,
    filters: ReportFilters,
    *,
    now: datetime,
    settings: DeskSettings,
    sla: Mapping[str, Any] | None = None,
) -> LoadedReport:
    """The report of ``[now - days, now)`` with the filters (worker thread)."""
    with Session(engine) as s:
        report = compute_report(
            s,
            since=now - timedelta(days=filters.days),
            until=now,
            now=now,
            settings=settings,
            sla=sla,
            channel=filters.channel,
            agent=filters.agent,
        )
        channels = s.exec(select(Conversation.channel).distinct()).all()
        agents = s.exec(select(Conversation.assignee).distinct()).all()
    return LoadedReport(
        filters,
        report,
        tuple(sorted(c for c in channels if c)),
        tuple(sorted(a for a in agents if a)),
    )

"""Reports over hand-built conversation records: the records' facts, surveys and
handling written to an in-memory SQLite store, then the report read from it exactly
as from a real store (tests, and checks of the rules)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import create_engine, insert
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

from omnitui.desk.settings import DeskSettings
from omnitui.reports.compute import report_from_store
from omnitui.reports.fact_store import fact_row, write_facts
from omnitui.reports.records import ConvRecord
from storage.models import Conversation, Handling, Outbox, ReportFact, Survey, table_of

_TABLES = [table_of(t) for t in (Conversation, ReportFact, Survey, Handling, Outbox)]


def build_report(
    records: Iterable[ConvRecord],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    settings: DeskSettings | None = None,
    by: str | None = None,
    tz: tzinfo | None = None,
) -> dict[str, Any]:
    """The report of ``[since, until)`` from conversation records (any created before
    ``until`` may be given: the periods take theirs, the backlog the rest)."""
    return report_of_records(
        records,
        since=since,
        until=until,
        now=now,
        settings=settings or DeskSettings(),
        by=by,
        tz=tz or UTC,
    )


def report_of_records(
    records: Iterable[ConvRecord],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    settings: DeskSettings,
    by: str | None,
    tz: tzinfo,
) -> dict[str, Any]:
    """The report of ``[since, until)`` over ``records`` (those created before
    ``until``)."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        SQLModel.metadata.create_all(engine, tables=_TABLES)
        kept = [r for r in records if r.created_at < until]
        with engine.begin() as conn:
            if kept:
                conn.execute(
                    insert(table_of(Conversation)),
                    [
                        Conversation(
                            id=r.id,
                            ref=r.ref or None,
                            account=r.account,
                            channel=r.channel,
                            customer_id=0,  # no customer table: foreign keys are off
                            created_at=r.created_at,
                            tags=list(r.tags),
                        ).model_dump()
                        for r in kept
                    ],
                )
            write_facts(conn, (fact_row(r, settings, tz, "") for r in kept), checked=False)
            surveys = [
                {
                    "conversation_id": r.id,
                    "account": r.account,
                    "channel": r.channel,
                    "sent_at": s.sent_at,
                    "score": s.score,
                    "comment": s.comment,
                    "answered_at": s.answered_at,
                }
                for r in kept
                for s in r.surveys
            ]
            if surveys:
                conn.execute(insert(table_of(Survey)), surveys)
            handling = [
                {"conversation_id": r.id, "agent": agent, "started_at": r.created_at, "seconds": s}
                for r in kept
                for agent, s in r.handling
            ]
            if handling:
                conn.execute(insert(table_of(Handling)), handling)
        with engine.connect() as conn:
            return report_from_store(conn, since=since, until=until, now=now, by=by, tz=tz)
    finally:
        engine.dispose()

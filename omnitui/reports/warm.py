"""Keeping report figures ready: the sync service computes, a step at a time, the
figures a 90-day report would need, so the first report after a start, an import or a
change of the ``[sla]`` settings does not have to compute them all (see
:mod:`omnitui.reports.fact_store`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from omnitui.desk.settings import DeskSettings
from omnitui.reports.fact_store import STEP, basis_of, missing, refresh
from omnitui.reports.service import zone

log = logging.getLogger(__name__)

#: The period kept ready: a report of this many days (and the one before it).
DAYS = 90
#: Seconds between steps while there is work, and when there is none.
BUSY_SECONDS = 1.0
IDLE_SECONDS = 60.0


def warm_once(
    engine: Engine,
    settings: DeskSettings,
    sla: Mapping[str, Any],
    now: datetime,
    *,
    days: int = DAYS,
    limit: int = STEP,
) -> int:
    """Compute up to ``limit`` missing figures of a ``days``-day report ending ``now``
    (with its previous period and backlog); how many were kept."""
    tz = zone(sla)
    basis = basis_of(settings, sla, tz)
    since = now - timedelta(days=days)
    with engine.connect() as conn:
        ids = missing(
            conn, before=since - timedelta(days=days), since=since, until=now, basis=basis
        )
        if not ids:
            return 0
        return refresh(conn, ids[-limit:], settings=settings, tz=tz, basis=basis)


def keep_warm(
    engine: Engine,
    settings: DeskSettings,
    sla: Mapping[str, Any],
    stop: threading.Event,
    *,
    on_error: Callable[[str], None] | None = None,
) -> None:
    """Until ``stop`` is set: a step of :func:`warm_once` each second while figures are
    missing, then one a minute. A failure is said once (until it changes) and retried
    a minute later; it never ends the loop."""
    said = ""
    while not stop.is_set():
        try:
            done = warm_once(engine, settings, sla, datetime.now(UTC))
            said = ""
        except Exception as exc:  # noqa: BLE001 - reports must never stop the sync
            from adapters.base import describe_exception

            line = f"report figures not computed: {describe_exception(exc)}"
            if line != said and on_error is not None:
                on_error(line)
            said = line
            log.debug("keeping report figures failed", exc_info=True)
            done = 0
        stop.wait(BUSY_SECONDS if done else IDLE_SECONDS)

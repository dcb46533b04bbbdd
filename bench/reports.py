"""Reports at scale (issue 15): a 90-day report over the generated 100,000-conversation
store, on SQLite or PostgreSQL, with the realistic desk of ``bench/run.py`` (business
hours with holidays, three policies) — budget ≤ 1 s.

    .venv/bin/python bench/reports.py [--db URL | --conversations 100000] [--days 90]
                                      [--runs 5] [--json]

Figures: ``first`` — the first report after the stored figures were dropped (every
conversation of the scope computed and kept, as on the first report of a store or after
the SLA settings change, unless ``omnitui sync`` kept them ready); ``report`` — the
median of ``--runs`` reports from stored figures after one unmeasured (the everyday
case); ``report, 30 days`` and ``report --by day``; ``after
changes`` — a report after 100 conversations changed (a reply each), so their figures
are computed again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench.run import CONFIG, KB_DIR, ensure_store, machine  # noqa: E402
from omnitui.desk import Desk  # noqa: E402
from omnitui.desk.sla import calendar_from_config, policies_from_config  # noqa: E402
from omnitui.reports.service import compute_report  # noqa: E402
from storage import open_store  # noqa: E402
from storage.models import Conversation, ReportFact, table_of  # noqa: E402

BUDGET = 1.0


def desk_settings() -> tuple[Desk, dict[str, Any]]:
    """The realistic desk of bench/run.py: its ``[sla]`` table and the desk."""
    sla = tomllib.loads(CONFIG.format(kb=KB_DIR))["sla"]
    return Desk(policies=policies_from_config(sla), calendar=calendar_from_config(sla)), sla


def timed(engine: Any, desk: Desk, sla: dict[str, Any], days: int, **kw: Any) -> float:
    now = datetime.now(UTC)
    started = time.perf_counter()
    with Session(engine) as s:
        compute_report(
            s, since=now - timedelta(days=days), until=now, now=now, settings=desk, sla=sla, **kw
        )
    return time.perf_counter() - started


def touch(engine: Any, desk: Desk, count: int, days: int) -> None:
    """An agent replies in ``count`` conversations of the period."""
    since = datetime.now(UTC) - timedelta(days=days)
    with Session(engine) as s:
        ids = s.execute(
            select(table_of(Conversation).c.id)
            .where(table_of(Conversation).c.created_at >= since)
            .limit(count)
        ).scalars()
        for cid in list(ids):
            conv = s.get(Conversation, cid)
            assert conv is not None
            desk.reply(s, conv, "bench: one more reply")
        s.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="An existing store (default: a generated one).")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    url = ensure_store(args)
    engine = open_store(url)
    desk, sla = desk_settings()
    with Session(engine) as s:
        s.execute(delete(table_of(ReportFact)))
        s.commit()
    figures: dict[str, float] = {"first": timed(engine, desk, sla, args.days)}
    timed(engine, desk, sla, args.days)  # one unmeasured: the store settles after the writes
    runs = [timed(engine, desk, sla, args.days) for _ in range(args.runs)]
    figures["report"] = statistics.median(runs)
    figures["report, 30 days"] = statistics.median(
        timed(engine, desk, sla, 30) for _ in range(args.runs)
    )
    figures["report --by day"] = statistics.median(
        timed(engine, desk, sla, args.days, by="day") for _ in range(args.runs)
    )
    touch(engine, desk, 100, args.days)
    figures["after changes"] = timed(engine, desk, sla, args.days)
    engine.dispose()
    out = {
        "machine": machine(),
        "store": url.split("?")[0],
        "days": args.days,
        "runs": args.runs,
        "budget_seconds": BUDGET,
        "figures": {k: round(v, 3) for k, v in figures.items()},
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"reports: {out['store']}, {args.days} days; {out['machine']}")
    for name, value in out["figures"].items():
        mark = ""
        if name in ("report", "after changes"):
            mark = "  ok" if value <= BUDGET else f"  OVER the {BUDGET:g} s budget"
        print(f"  {name:<18}{value:>8.3f} s{mark}")


if __name__ == "__main__":
    main()

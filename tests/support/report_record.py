"""A hand-built report record with every key the Reports screen shows (docs/REPORTS.md),
for the screen's tests and snapshots; ``hostile`` puts markup into a tag, an agent's
name and a comment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

UNTIL = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _block(scale: int) -> dict[str, Any]:
    return {
        "conversations": {"created": 40 * scale, "resolved": 31 * scale, "reopened": 2},
        "messages": {"in": 120 * scale, "out": 97 * scale},
        "first_response_seconds": {"median": 2700.0 * scale, "p90": 14400.0},
        "first_response_business_seconds": {"median": 1800.0, "p90": 9000.0},
        "next_response_seconds": {"median": 3600.0, "p90": None},
        "resolution_seconds": {"median": 86400.0, "p90": 259200.0},
        "sla": {"met": 30 * scale, "breached": 4, "attainment": 0.88 + 0.01 * scale},
        "fcr": 0.62,
        "aht_seconds": 420.0 * scale,
        "csat": {"surveys": 20, "answers": 12, "score": 0.75, "response_rate": 0.6},
        "first_response_buckets": {"<1h": 14, "1-4h": 12, "4-8h": 6, "8-24h": 3, ">24h": 1},
    }


def report_record(days: int = 30, *, hostile: bool = False) -> dict[str, Any]:
    """A full record of ``days`` days up to :data:`UNTIL`."""
    since = UNTIL - timedelta(days=days)
    tag = "[red]x[/]" if hostile else "billing"
    agent = "[@click=app.quit]eve[/]" if hostile else "bob"
    comment = "[bold red]pwned[/] \x1b]52;c;Zm9v\x07" if hostile else "Quick and kind, thanks!"
    report = _block(1)
    first = date(2026, 11, 1)
    report.update(
        since=since.isoformat(),
        until=UNTIL.isoformat(),
        previous={
            "since": (since - timedelta(days=days)).isoformat(),
            "until": since.isoformat(),
            **_block(2),
        },
        by_channel={"email": _block(1), "whatsapp": {**_block(1), "csat": None}},
        created_by_day={
            (first + timedelta(days=i)).isoformat(): (i * 7) % 5 + 1 for i in range(days)
        },
        backlog={(first + timedelta(days=i)).isoformat(): 10 + i // 3 for i in range(days)},
        heatmap={
            day: [((h * (d + 3)) % 7) if 8 <= h < 19 else (1 if h == 22 else 0) for h in range(24)]
            for d, day in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
        },
        top_tags=[[tag, 9], ["refund", 5], ["shipping", 2]],
        agents={
            "alice": {
                "conversations": 25,
                "replies": 60,
                "first_response_seconds": {"median": 1800.0, "p90": 7200.0},
                "aht_seconds": 300.0,
                "csat": {"score": 0.8, "answers": 10},
            },
            agent: {
                "conversations": 15,
                "replies": 37,
                "first_response_seconds": {"median": 4000.0, "p90": None},
                "aht_seconds": None,
                "csat": {"score": None, "answers": 0},
            },
        },
    )
    report["csat"] = {
        **report["csat"],
        "comments": [
            {"score": 5, "comment": comment, "conversation": "C-12"},
            {"score": 2, "comment": "Took two days to answer.", "conversation": "C-7"},
        ],
    }
    return report

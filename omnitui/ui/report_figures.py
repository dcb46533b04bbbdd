"""The Reports screen's text parts, built from a report record (docs/REPORTS.md): the
headline figures with their change, the first-response buckets as a bar chart, the
weekday × hour heat map, top tags, channels, agents and CSAT comments. Every value the
record lacks (or has as null) reads "—".

Rich renderables only (no Textual): every cell is a ``Text``, and anything a customer or
an agent typed (tags, names, comments, channel names) goes through
``omnitui.ui.safe_text`` — never markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table
from rich.text import Text

from omnitui.reports.render import change, figure, shown
from omnitui.ui.safe_text import safe_line

#: The headline figures: (label, path in the record, kind as render.shown takes it).
HEADLINE: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("conversations created", ("conversations", "created"), "count"),
    ("resolved", ("conversations", "resolved"), "count"),
    ("reopened", ("conversations", "reopened"), "count"),
    ("messages in", ("messages", "in"), "count"),
    ("messages out", ("messages", "out"), "count"),
    ("first response median", ("first_response_seconds", "median"), "seconds"),
    ("first response p90", ("first_response_seconds", "p90"), "seconds"),
    ("  in business hours, median", ("first_response_business_seconds", "median"), "seconds"),
    ("next response median", ("next_response_seconds", "median"), "seconds"),
    ("resolution median", ("resolution_seconds", "median"), "seconds"),
    ("resolution p90", ("resolution_seconds", "p90"), "seconds"),
    ("SLA attainment", ("sla", "attainment"), "share"),
    ("  SLA met", ("sla", "met"), "count"),
    ("  SLA breached", ("sla", "breached"), "count"),
    ("first-contact resolution", ("fcr",), "share"),
    ("average handling time", ("aht_seconds",), "seconds"),
    ("CSAT (share of 4–5)", ("csat", "score"), "share"),
    ("  CSAT answers", ("csat", "answers"), "count"),
    ("  CSAT response rate", ("csat", "response_rate"), "share"),
)
#: The channel table's columns: (header, path, kind).
CHANNEL_COLUMNS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("new", ("conversations", "created"), "count"),
    ("resolved", ("conversations", "resolved"), "count"),
    ("FRT med", ("first_response_seconds", "median"), "seconds"),
    ("SLA", ("sla", "attainment"), "share"),
    ("FCR", ("fcr",), "share"),
    ("AHT", ("aht_seconds",), "seconds"),
    ("CSAT", ("csat", "score"), "share"),
)
#: The agent table's columns: (header, path, kind).
AGENT_COLUMNS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("conv", ("conversations",), "count"),
    ("replies", ("replies",), "count"),
    ("FRT med", ("first_response_seconds", "median"), "seconds"),
    ("FRT p90", ("first_response_seconds", "p90"), "seconds"),
    ("AHT", ("aht_seconds",), "seconds"),
    ("CSAT", ("csat", "score"), "share"),
    ("answers", ("csat", "answers"), "count"),
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Heat map shades, from none to the busiest quarter: readable without colour.
SHADES = ("·", "░", "▒", "▓", "█")
#: How many CSAT comments are shown (the newest).
COMMENTS_SHOWN = 10
#: Widest bar of the top-tags list.
TAG_BAR = 20
#: Widest bar of the first-response chart.
BUCKET_BAR = 40

DASH = "—"


def value_text(value: Any, kind: str) -> Text:
    """A figure as render.py shows it ("—" when absent), right-aligned."""
    try:
        return Text(shown(value, kind), justify="right")
    except (TypeError, ValueError):
        return Text(DASH, justify="right")  # a value of another shape than promised


def change_text(now: Any, before: Any, kind: str) -> Text:
    """The change from the previous period ("—" when either is absent)."""
    try:
        return Text(change(now, before, kind), justify="right")
    except (TypeError, ValueError):
        return Text(DASH, justify="right")


def _table(*headers: str) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    for i, header in enumerate(headers):
        table.add_column(Text(header), justify="left" if i == 0 else "right", no_wrap=i > 0)
    return table


def headline_table(report: Mapping[str, Any]) -> Table:
    """Each headline figure for the period, the previous one, and the change."""
    previous = report.get("previous")
    before_block = previous if isinstance(previous, dict) else {}
    table = _table("figure", "period", "previous", "change")
    for label, path, kind in HEADLINE:
        now, before = figure(dict(report), path), figure(before_block, path)
        style = "bold" if not label.startswith(" ") else ""
        table.add_row(
            Text(label, style),
            value_text(now, kind),
            value_text(before, kind),
            change_text(now, before, kind),
        )
    return table


def channel_table(report: Mapping[str, Any]) -> Table | Text:
    """One row per channel (``by_channel``)."""
    channels = report.get("by_channel")
    if not isinstance(channels, dict) or not channels:
        return Text(DASH)
    table = _table("channel", *(h for h, _, _ in CHANNEL_COLUMNS))
    for name, block in channels.items():
        block = block if isinstance(block, dict) else {}
        cells = [value_text(figure(block, path), kind) for _, path, kind in CHANNEL_COLUMNS]
        table.add_row(safe_line(str(name), 16), *cells)
    return table


def agent_table(report: Mapping[str, Any]) -> Table | Text:
    """One row per agent (``agents``), busiest first."""
    agents = report.get("agents")
    if not isinstance(agents, dict) or not agents:
        return Text(DASH)
    table = _table("agent", *(h for h, _, _ in AGENT_COLUMNS))

    def busy(item: tuple[str, Any]) -> tuple[int, str]:
        count = item[1].get("conversations") if isinstance(item[1], dict) else None
        return (-count if isinstance(count, int) else 0, str(item[0]))

    for name, block in sorted(agents.items(), key=busy):
        block = block if isinstance(block, dict) else {}
        cells = [value_text(figure(block, path), kind) for _, path, kind in AGENT_COLUMNS]
        table.add_row(safe_line(str(name), 32), *cells)
    return table


def top_tags_table(report: Mapping[str, Any]) -> Table | Text:
    """The most used tags with their counts and a bar."""
    tags = [
        (str(t[0]), t[1])
        for t in report.get("top_tags") or []
        if isinstance(t, list | tuple) and len(t) == 2 and isinstance(t[1], int)
    ]
    if not tags:
        return Text(DASH)
    most = max(n for _, n in tags) or 1
    table = _table("tag", "n", "")
    for tag, n in tags:
        bar = "█" * max(round(TAG_BAR * n / most), 1 if n else 0)
        table.add_row(safe_line(tag, 24), Text(str(n), justify="right"), Text(bar, justify="left"))
    return table


def shade(count: int, most: int) -> str:
    """The shade of one hour: · for none, then ░ ▒ ▓ █ by quarter of the busiest."""
    if count <= 0 or most <= 0:
        return SHADES[0]
    quarter = min((4 * count - 1) // most, 3)  # (0, ¼] → 0 … (¾, 1] → 3
    return SHADES[1 + quarter]


def heatmap_text(report: Mapping[str, Any]) -> Text:
    """Inbound messages by local weekday × hour, two cells per hour, with each day's
    total and a legend."""
    grid = report.get("heatmap")
    if not isinstance(grid, dict) or not grid:
        return Text(DASH)
    rows = {
        day: [v if isinstance(v, int) else 0 for v in list(grid.get(day) or [])[:24]]
        for day in WEEKDAYS
    }
    for day in rows:
        rows[day] += [0] * (24 - len(rows[day]))
    most = max((v for row in rows.values() for v in row), default=0)
    text = Text("    ")
    text.append("".join(f"{h:<6d}" for h in range(0, 24, 3)).rstrip(), "dim")
    text.append("   total\n", "dim")
    for day, row in rows.items():
        text.append(f"{day} ", "bold")
        text.append("".join(shade(v, most) * 2 for v in row))
        text.append(f" {sum(row):>6d}\n")
    text.append("· none  ░ ≤¼  ▒ ≤½  ▓ ≤¾  █ >¾", "bold")
    text.append(f" of the busiest hour ({most} messages)", "dim")
    return text


def comments_text(report: Mapping[str, Any]) -> Text:
    """The latest CSAT comments: score, conversation and the comment (customer text,
    sanitised, never markup)."""
    csat = report.get("csat")
    comments = csat.get("comments") if isinstance(csat, dict) else None
    items = [c for c in comments or [] if isinstance(c, dict)][:COMMENTS_SHOWN]
    if not items:
        return Text(DASH)
    text = Text()
    for i, item in enumerate(items):
        score = item.get("score")
        text.append(f"{score}/5 " if isinstance(score, int) else "?/5 ", "bold")
        text.append_text(safe_line(str(item.get("conversation") or DASH), 16))
        text.append("  ")
        text.append_text(safe_line(str(item.get("comment") or ""), 400))
        if i < len(items) - 1:
            text.append("\n")
    return text


def series(report: Mapping[str, Any], key: str) -> list[tuple[str, float]]:
    """A per-day figure (``created_by_day``, ``backlog``) as sorted (day, n) pairs."""
    days = report.get(key)
    if not isinstance(days, dict):
        return []
    return sorted((str(d), float(n)) for d, n in days.items() if isinstance(n, int | float))


#: First-response buckets, in their order.
BUCKETS = ("<1h", "1-4h", "4-8h", "8-24h", ">24h")


def buckets(report: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The first-response buckets in order ([] when the record has none)."""
    found = report.get("first_response_buckets")
    if not isinstance(found, dict) or not found:
        return []
    extra = [str(k) for k in found if k not in BUCKETS]
    counts = {k: v if isinstance(v := found.get(k), int) else 0 for k in (*BUCKETS, *extra)}
    return [(k, counts[k]) for k in (*BUCKETS, *extra) if k in found]


def bucket_bars(report: Mapping[str, Any], width: int = BUCKET_BAR) -> Text:
    """First responses per bucket as horizontal bars, each with its count."""
    found = buckets(report)
    if not found:
        return Text(DASH)
    most = max(n for _, n in found) or 1
    label = max(len(k) for k, _ in found)
    text = Text()
    for i, (name, n) in enumerate(found):
        text.append(f"{name:<{label}} ", "bold")
        text.append("█" * max(round(width * n / most), 1 if n else 0))
        text.append(f" {n}")
        if i < len(found) - 1:
            text.append("\n")
    return text

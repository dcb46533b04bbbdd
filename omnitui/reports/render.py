"""A report for people (a Rich table: each figure, the previous period, the change)
and for spreadsheets (CSV: one row per scope, one column per figure)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, Any

from omnitui.desk.sla import format_countdown

#: The figures shown, in order: (column name, path in a block, kind).
FIGURES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("created", ("conversations", "created"), "count"),
    ("resolved", ("conversations", "resolved"), "count"),
    ("reopened", ("conversations", "reopened"), "count"),
    ("messages_in", ("messages", "in"), "count"),
    ("messages_out", ("messages", "out"), "count"),
    ("first_response_median", ("first_response_seconds", "median"), "seconds"),
    ("first_response_p90", ("first_response_seconds", "p90"), "seconds"),
    ("first_response_business_median", ("first_response_business_seconds", "median"), "seconds"),
    ("first_response_business_p90", ("first_response_business_seconds", "p90"), "seconds"),
    ("next_response_median", ("next_response_seconds", "median"), "seconds"),
    ("next_response_p90", ("next_response_seconds", "p90"), "seconds"),
    ("next_response_business_median", ("next_response_business_seconds", "median"), "seconds"),
    ("next_response_business_p90", ("next_response_business_seconds", "p90"), "seconds"),
    ("resolution_median", ("resolution_seconds", "median"), "seconds"),
    ("resolution_p90", ("resolution_seconds", "p90"), "seconds"),
    ("resolution_business_median", ("resolution_business_seconds", "median"), "seconds"),
    ("resolution_business_p90", ("resolution_business_seconds", "p90"), "seconds"),
    ("sla_met", ("sla", "met"), "count"),
    ("sla_breached", ("sla", "breached"), "count"),
    ("sla_attainment", ("sla", "attainment"), "share"),
    ("sla_breaching_now", ("sla", "breaching_now"), "count"),
    ("sla_first_response_attainment", ("sla_by_clock", "first_response", "attainment"), "share"),
    ("sla_resolution_attainment", ("sla_by_clock", "resolution", "attainment"), "share"),
    ("fcr", ("fcr",), "share"),
    ("aht_seconds", ("aht_seconds",), "seconds"),
    ("csat", ("csat", "score"), "share"),
    ("csat_surveys", ("csat", "surveys"), "count"),
    ("csat_answers", ("csat", "answers"), "count"),
    ("csat_response_rate", ("csat", "response_rate"), "share"),
    ("frt_under_1h", ("first_response_buckets", "<1h"), "count"),
    ("frt_1_4h", ("first_response_buckets", "1-4h"), "count"),
    ("frt_4_8h", ("first_response_buckets", "4-8h"), "count"),
    ("frt_8_24h", ("first_response_buckets", "8-24h"), "count"),
    ("frt_over_24h", ("first_response_buckets", ">24h"), "count"),
)


def figure(block: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` in a report block (None if absent)."""
    value: Any = block
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def shown(value: Any, kind: str) -> str:
    """A figure for people: counts as is, seconds as ``3h05m``, shares as percent."""
    if value is None:
        return "—"
    if kind == "seconds":
        return format_countdown(value)
    if kind == "share":
        return f"{value * 100:.1f}%"
    return str(value)


def change(now: Any, before: Any, kind: str) -> str:
    """The change from the previous period: ``+3``, ``-1h05m``, ``+4.0 pt``."""
    if now is None or before is None:
        return "—"
    delta = now - before
    if kind == "share":
        return f"{delta * 100:+.1f} pt"
    if kind == "seconds":
        return ("+" if delta >= 0 else "") + format_countdown(delta)
    return f"{delta:+d}"


def csv_rows(report: dict[str, Any]) -> Iterator[list[str]]:
    """Header, then ``period`` and ``previous``, then ``channel:…`` and the groups."""
    yield ["scope", "key", *(name for name, _, _ in FIGURES)]
    scopes: list[tuple[str, str, dict[str, Any]]] = [
        ("period", f"{report['since']}/{report['until']}", report),
        (
            "previous",
            f"{report['previous']['since']}/{report['previous']['until']}",
            report["previous"],
        ),
    ]
    scopes += [("channel", k, v) for k, v in report["by_channel"].items()]
    scopes += [(str(report["by"]), k, v) for k, v in report.get("groups", {}).items()]
    for scope, key, block in scopes:
        values = [figure(block, path) for _, path, _ in FIGURES]
        yield [scope, key, *("" if v is None else str(v) for v in values)]


def write_csv(report: dict[str, Any], stream: IO[str]) -> None:
    """The report as CSV."""
    writer = csv.writer(stream, lineterminator="\n")
    for row in csv_rows(report):
        writer.writerow(row)


def print_table(report: dict[str, Any], stream: IO[str]) -> None:
    """The report as Rich tables: the period against the previous one, then the
    groups (when ``--by`` was given) and the channels."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from omnitui.sanitize import for_terminal

    # A pipe gets room for every column; a terminal its own width.
    width = None if stream.isatty() else 120
    console = Console(file=stream, highlight=False, soft_wrap=False, width=width)
    head = Table(title=f"{report['since']} → {report['until']}", title_justify="left")
    for column in ("figure", "this period", "previous", "change"):
        head.add_column(column, justify="left" if column == "figure" else "right")
    for name, path, kind in FIGURES:
        now, before = figure(report, path), figure(report["previous"], path)
        head.add_row(name, shown(now, kind), shown(before, kind), change(now, before, kind))
    console.print(head)
    sections = [("channel", report["by_channel"])]
    if "groups" in report:
        sections.insert(0, (str(report["by"]), report["groups"]))
    brief = [f for f in FIGURES if f[0] in _BRIEF]
    for title, groups in sections:
        table = Table(title=f"by {title}", title_justify="left")
        table.add_column(title)
        for name, _, _ in brief:
            table.add_column(_BRIEF[name], justify="right")
        for key, block in groups.items():
            label = Text(for_terminal(key))  # an agent's name or a tag: never markup
            table.add_row(label, *(shown(figure(block, p), k) for _, p, k in brief))
        console.print(table)
    for table in workload_tables(report):
        console.print(table)


def workload_tables(report: dict[str, Any]) -> list[Any]:
    """The per-agent table, top tags, busiest hours, backlog and latest comments."""
    from rich.table import Table
    from rich.text import Text

    from omnitui.sanitize import for_terminal

    out = []
    agents = Table(
        title="by agent (assigned conversations; AHT of their own handling)", title_justify="left"
    )
    for column in ("agent", "conversations", "replies", "FRT med", "AHT", "CSAT", "answers"):
        agents.add_column(column, justify="left" if column == "agent" else "right")
    for name, row in report.get("agents", {}).items():
        agents.add_row(
            Text(for_terminal(name)),
            str(row["conversations"]),
            str(row["replies"]),
            shown(row["first_response_seconds"]["median"], "seconds"),
            shown(row["aht_seconds"], "seconds"),
            shown(row["csat"]["score"], "share"),
            str(row["csat"]["answers"]),
        )
    out.append(agents)
    tags = Table(title="top tags", title_justify="left")
    tags.add_column("tag")
    tags.add_column("conversations", justify="right")
    for tag, n in report.get("top_tags", []):
        tags.add_row(Text(for_terminal(tag)), str(n))
    out.append(tags)
    busiest = Table(title="busiest hours (customer messages)", title_justify="left")
    busiest.add_column("day and hour")
    busiest.add_column("messages", justify="right")
    for label, n in busiest_hours(report.get("heatmap", {})):
        busiest.add_row(label, str(n))
    out.append(busiest)
    backlog = report.get("backlog", {})
    if backlog:
        days = list(backlog.items())
        summary = Table(title="backlog (not resolved at the end of the day)", title_justify="left")
        summary.add_column("day")
        summary.add_column("open", justify="right")
        step = -(-len(days) // 7)  # at most seven rows, the last day always among them
        for day, n in days[::-1][::step][::-1]:
            summary.add_row(day, shown(n, "count"))
        out.append(summary)
    comments = report.get("csat", {}).get("comments", [])
    if comments:
        said = Table(title="latest survey comments", title_justify="left")
        for column in ("conversation", "score", "comment"):
            said.add_column(column)
        for c in comments[:10]:
            said.add_row(
                Text(for_terminal(c["conversation"])),
                str(c["score"]),
                Text(for_terminal(c["comment"])[:200]),
            )
        out.append(said)
    return out


def busiest_hours(heatmap: dict[str, list[int]], top: int = 5) -> list[tuple[str, int]]:
    """The busiest weekday-hours, ``("tue 09:00", n)``, most first."""
    cells = [(n, day, hour) for day, hours in heatmap.items() for hour, n in enumerate(hours) if n]
    cells.sort(key=lambda c: (-c[0], list(heatmap).index(c[1]), c[2]))
    return [(f"{day} {hour:02d}:00", n) for n, day, hour in cells[:top]]


#: The group tables' columns: figure name -> short header.
_BRIEF = {
    "created": "new",
    "resolved": "resolved",
    "messages_in": "in",
    "messages_out": "out",
    "first_response_median": "FRT med",
    "first_response_p90": "FRT p90",
    "resolution_median": "res med",
    "sla_attainment": "SLA",
    "fcr": "FCR",
}

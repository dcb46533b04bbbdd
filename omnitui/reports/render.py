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
    ("resolution_median", ("resolution_seconds", "median"), "seconds"),
    ("resolution_p90", ("resolution_seconds", "p90"), "seconds"),
    ("resolution_business_median", ("resolution_business_seconds", "median"), "seconds"),
    ("resolution_business_p90", ("resolution_business_seconds", "p90"), "seconds"),
    ("sla_met", ("sla", "met"), "count"),
    ("sla_breached", ("sla", "breached"), "count"),
    ("sla_attainment", ("sla", "attainment"), "share"),
    ("sla_first_response_attainment", ("sla_by_clock", "first_response", "attainment"), "share"),
    ("sla_resolution_attainment", ("sla_by_clock", "resolution", "attainment"), "share"),
    ("fcr", ("fcr",), "share"),
    ("aht_seconds", ("aht_seconds",), "seconds"),
    ("csat", ("csat", "score"), "share"),
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

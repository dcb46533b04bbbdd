"""The Reports screen's text parts and filters, without Textual: "—" for what a record
lacks, the heat map's shades, the bars, the filter cycles."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from omnitui.ui import report_figures as rf
from omnitui.ui.report_source import ReportFilters
from tests.support.report_record import report_record


def _plain(renderable: object) -> str:
    console = Console(width=120, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def test_headline_shows_values_changes_and_dashes() -> None:
    text = _plain(rf.headline_table(report_record()))
    row = next(ln for ln in text.splitlines() if "conversations created" in ln).split()
    assert row[-3:] == ["40", "80", "-40"]
    sla = next(ln for ln in text.splitlines() if "SLA attainment" in ln).split()
    assert sla[-4:] == ["89.0%", "90.0%", "-1.0", "pt"]
    empty = _plain(rf.headline_table({}))
    for label, _, _ in rf.HEADLINE:
        line = next(ln for ln in empty.splitlines() if ln.strip().startswith(label.strip()))
        assert line.split()[-3:] == ["—", "—", "—"]


def test_values_of_another_shape_read_as_a_dash() -> None:
    odd = {"conversations": {"created": "many"}, "aht_seconds": "x", "previous": {}}
    text = _plain(rf.headline_table(odd))
    aht = next(ln for ln in text.splitlines() if "average handling time" in ln)
    assert aht.split()[-3:] == ["—", "—", "—"]


def test_shades_by_quarter_of_the_busiest_hour() -> None:
    assert [rf.shade(n, 8) for n in (0, 1, 2, 3, 4, 5, 6, 7, 8)] == list("·░░▒▒▓▓██")
    assert rf.shade(3, 0) == "·"


def test_heat_map_rows_totals_and_legend() -> None:
    grid = {day: [0] * 24 for day in rf.WEEKDAYS}
    grid["tue"][9] = 4
    grid["tue"][10] = 1
    text = rf.heatmap_text({"heatmap": grid}).plain.splitlines()
    assert text[0].split()[:3] == ["0", "3", "6"]
    tue = text[2]
    assert tue.startswith("tue ") and tue.split()[-1] == "5"
    cells = tue[4 : 4 + 48]
    assert cells[18:22] == "██░░" and set(cells[:18]) == {"·"}
    assert "█ >¾" in text[-1] and "(4 messages)" in text[-1]
    assert rf.heatmap_text({}).plain == "—"
    short = rf.heatmap_text({"heatmap": {"mon": [1, None, 2]}}).plain
    assert short.splitlines()[1].split()[-1] == "3"


def test_bucket_bars_in_order_with_counts() -> None:
    bars = rf.bucket_bars({"first_response_buckets": {">24h": 1, "<1h": 4, "1-4h": 2}})
    lines = bars.plain.splitlines()
    assert [ln.split()[0] for ln in lines] == ["<1h", "1-4h", ">24h"]
    assert lines[0].count("█") == rf.BUCKET_BAR and lines[1].count("█") == rf.BUCKET_BAR // 2
    assert [ln.split()[-1] for ln in lines] == ["4", "2", "1"]
    assert rf.bucket_bars({}).plain == "—"


def test_untrusted_text_is_never_markup() -> None:
    record = report_record(hostile=True)
    for part in (rf.top_tags_table, rf.agent_table, rf.comments_text):
        text = _plain(part(record))
        assert "[" in text and "\x1b" not in text
    assert "[red]x[/]" in _plain(rf.top_tags_table(record))
    assert "[@click=app.quit]eve[/]" in _plain(rf.agent_table(record))
    comments = rf.comments_text(record)
    assert isinstance(comments, Text) and "[bold red]pwned[/]" in comments.plain
    assert not comments.spans or all(s.style == "bold" for s in comments.spans)


def test_tables_without_data_are_a_dash() -> None:
    for part in (rf.channel_table, rf.agent_table, rf.top_tags_table, rf.comments_text):
        assert _plain(part({})).strip() == "—"
    assert rf.series({}, "backlog") == []
    assert rf.series({"backlog": {"2026-11-02": 3, "2026-11-01": 1}}, "backlog") == [
        ("2026-11-01", 1.0),
        ("2026-11-02", 3.0),
    ]


def test_filters_cycle() -> None:
    f = ReportFilters()
    assert [f.days, f.next_period().days, f.next_period().next_period().days] == [30, 90, 7]
    channels = ("email", "sms")
    assert f.next_channel(channels).channel == "email"
    assert f.next_channel(channels).next_channel(channels).channel == "sms"
    assert f.next_channel(channels).next_channel(channels).next_channel(channels).channel is None
    assert ReportFilters(agent="gone").next_agent(("bob",)).agent is None
    assert f.next_agent(()).agent is None

"""The Reports screen: the headline figures beside the previous period, created and
backlog per day, first-response buckets, the weekday × hour heat map, top tags,
channels, agents and the latest CSAT comments (docs/REPORTS.md, "The Reports screen").

It appears at once with "computing…"; the report is computed in a worker thread
(``omnitui.ui.report_source``) and filled in when it lands. A filter change starts a
new computation, and only the newest one's result is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static

from omnitui.keymap import key_label, specs
from omnitui.ui import report_figures as rf
from omnitui.ui.bindings import bindings
from omnitui.ui.report_source import LoadedReport, ReportFilters, load_report
from omnitui.ui.safe_text import line
from omnitui.ui.widgets.report_charts import DailyChart
from omnitui.ui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from omnitui.ui.app import OmniApp

#: Below this width the paired sections stack (charts, heat map and tags).
WIDE = 120
#: Filter changes this close together start one computation.
DEBOUNCE_SECONDS = 0.25
#: The keys shown in the bar (ids of the registry; the user's [keys] apply).
BAR_KEYS = ("reports_period", "reports_channel", "reports_agent", "reports_back")
BAR_WORDS = {
    "reports_period": "period",
    "reports_channel": "channel",
    "reports_agent": "agent",
    "reports_back": "back",
}


class ReportsScreen(Screen):
    """Service figures for a period, filtered by channel and agent."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings("reports"),
        Binding("q", "back", "Close", show=False, id="reports_close"),
    ]

    DEFAULT_CSS = """
    ReportsScreen #reports-bar { height: 1; background: $primary 30%; }
    ReportsScreen #reports-body { height: 1fr; padding: 0 1; }
    ReportsScreen #reports-state { margin-bottom: 1; }
    ReportsScreen .rp-title { text-style: bold underline; margin-top: 1; }
    ReportsScreen .rp-pair { height: auto; }
    ReportsScreen .rp-pair > Vertical { width: 1fr; height: auto; margin-right: 2; }
    ReportsScreen.-narrow .rp-pair { layout: vertical; }
    ReportsScreen.-narrow .rp-pair > Vertical { width: 100%; margin-right: 0; }
    ReportsScreen .rp-chart { height: 12; }
    ReportsScreen .rp-chart.-empty { display: none; }
    ReportsScreen .rp-note { color: $text-muted; }
    """

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        super().__init__(id="reports")
        self.filters = ReportFilters()
        self.loaded: LoadedReport | None = None
        self.channels: tuple[str, ...] = ()
        self.agents: tuple[str, ...] = ()
        self._now = now or (lambda: datetime.now(UTC))
        #: Bumped by every computation asked for: an older result is ignored.
        self._generation = 0
        self._debounce: Timer | None = None

    @property
    def omni(self) -> OmniApp:
        # The console's screens run only in OmniApp (Textual types self.app as App).
        return cast("OmniApp", self.app)

    def compose(self) -> ComposeResult:
        # Laid out once, already filled with dashes: no second layout pass on mount.
        self.set_class(self.app.size.width < WIDE, "-narrow")
        yield Static(self._bar_text(), id="reports-bar")
        with VerticalScroll(id="reports-body"):
            yield Static(Text("computing…", "italic"), id="reports-state")
            yield Static(rf.headline_table({}), id="reports-headline")
            with Horizontal(classes="rp-pair"):
                with Vertical():
                    yield Static("Conversations created and backlog per day", classes="rp-title")
                    yield Static(rf.DASH, id="reports-daily-note", classes="rp-note")
                    yield DailyChart(id="reports-daily", classes="rp-chart -empty")
                with Vertical():
                    yield Static("First response time", classes="rp-title")
                    yield Static(rf.DASH, id="reports-buckets")
            with Horizontal(classes="rp-pair"):
                with Vertical():
                    yield Static(
                        "Inbound messages by weekday and hour (local time)", classes="rp-title"
                    )
                    yield Static(rf.DASH, id="reports-heatmap")
                with Vertical():
                    yield Static("Top tags", classes="rp-title")
                    yield Static(rf.DASH, id="reports-tags")
            yield Static("By channel", classes="rp-title")
            yield Static(rf.DASH, id="reports-channels")
            yield Static("By agent", classes="rp-title")
            yield Static(rf.DASH, id="reports-agents")
            yield Static("Latest CSAT comments", classes="rp-title")
            yield Static(rf.DASH, id="reports-comments")
        yield StatusLine(id="status")

    def on_mount(self) -> None:
        self.query_one("#reports-body").focus()
        self.omni.refresh_status()
        # Drawn first, computed after: the frame never waits for the worker's start.
        self.call_after_refresh(self.compute)

    def on_resize(self) -> None:
        self.set_class(self.size.width < WIDE, "-narrow")

    def describe(self) -> str:
        """Where the agent is, for the status line."""
        return "reports"

    # -- computing ---------------------------------------------------------------
    def compute(self) -> None:
        """Compute the report for the current filters in a worker; "computing…" until
        it lands."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        self._generation += 1
        generation, filters = self._generation, self.filters
        self._update_bar()
        state = Text("computing…", "italic")
        if self.loaded is not None:
            state.append(" (below: the previous choice until it lands)", "dim")
        self._set_state(state)
        self.run_worker(
            lambda: self._compute(generation, filters),
            thread=True,
            exclusive=True,
            group="reports",
            name="report",
        )

    def _compute(self, generation: int, filters: ReportFilters) -> None:
        omni = self.omni
        try:
            loaded = load_report(
                omni.engine,
                filters,
                now=self._now(),
                settings=omni.desk,
                sla=omni.config.sla,
            )
        except Exception as exc:  # a failed report is a line on the screen, not a crash
            self.app.call_from_thread(self._failed, generation, exc)
            return
        self.app.call_from_thread(self._landed, generation, loaded)

    def _landed(self, generation: int, loaded: LoadedReport) -> None:
        if generation != self._generation:
            return  # a newer filter change is being computed
        self.loaded = loaded
        self.channels, self.agents = loaded.channels, loaded.agents
        self._fill(loaded.report)

    def _failed(self, generation: int, exc: Exception) -> None:
        if generation != self._generation:
            return
        self._set_state(Text(f"The report could not be computed: {line(str(exc), 200)}", "bold"))

    def _later(self) -> None:
        """A filter changed: compute once the keys stop coming."""
        self._update_bar()
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE_SECONDS, self.compute)

    # -- showing -----------------------------------------------------------------
    def _set_state(self, text: Text) -> None:
        self.query_one("#reports-state", Static).update(text)

    def _update_bar(self) -> None:
        self.query_one("#reports-bar", Static).update(self._bar_text())

    def _bar_text(self) -> Text:
        """The filters, then the keys that change them."""
        keymap = dict(self.omni.config.keys or {})
        f = self.filters
        bar = Text(f" {f.days} days", "bold")
        bar.append(" · ")
        bar.append(line(f.channel or "all channels", 20))
        bar.append(" · ")
        bar.append(line(f.agent or "all agents", 24))
        by_id = {a.id: a for a in specs("reports")}
        for action_id in BAR_KEYS:
            keys = keymap.get(action_id, by_id[action_id].keys)
            bar.append("  ")
            bar.append(key_label(keys).split(" / ")[0], "bold")
            bar.append(f" {BAR_WORDS[action_id]}")
        return bar

    def _fill(self, data: dict[str, Any]) -> None:
        """Show a report record."""
        self._set_state(period_line(data, self.omni.zone))
        self.query_one("#reports-headline", Static).update(rf.headline_table(data))
        created, backlog = rf.series(data, "created_by_day"), rf.series(data, "backlog")
        daily = self.query_one(DailyChart)
        daily.set_class(not (created or backlog), "-empty")
        daily.show(created, backlog)
        note = self.query_one("#reports-daily-note", Static)
        note.display = not (created or backlog)
        self.query_one("#reports-buckets", Static).update(rf.bucket_bars(data))
        self.query_one("#reports-heatmap", Static).update(rf.heatmap_text(data))
        self.query_one("#reports-tags", Static).update(rf.top_tags_table(data))
        self.query_one("#reports-channels", Static).update(rf.channel_table(data))
        self.query_one("#reports-agents", Static).update(rf.agent_table(data))
        self.query_one("#reports-comments", Static).update(rf.comments_text(data))

    # -- actions -----------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_cycle_period(self) -> None:
        self.filters = self.filters.next_period()
        self._later()

    def action_cycle_channel(self) -> None:
        self.filters = self.filters.next_channel(self.channels)
        self._later()

    def action_cycle_agent(self) -> None:
        self.filters = self.filters.next_agent(self.agents)
        self._later()

    def action_reload(self) -> None:
        self.compute()

    def action_scroll_down(self) -> None:
        self.query_one("#reports-body", VerticalScroll).scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        self.query_one("#reports-body", VerticalScroll).scroll_up(animate=False)


def period_line(report: dict[str, Any], zone: tzinfo | None) -> Text:
    """``Reports for 2026-11-01 09:30 → 2026-12-01 09:30  change against …``, in
    ``zone`` (None: the system's)."""
    text = Text("Reports", "bold")
    text.append(" for ", "dim")
    text.append(f"{_when(report.get('since'), zone)} → {_when(report.get('until'), zone)}")
    previous = report.get("previous")
    if isinstance(previous, dict):
        since, until = _when(previous.get("since"), zone), _when(previous.get("until"), zone)
        text.append("  change against ", "dim")
        text.append(f"{since} → {until}")
    return text


def _when(value: object, zone: tzinfo | None) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM`` in ``zone`` (as given when it is not one)."""
    if not isinstance(value, str):
        return rf.DASH
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return line(value, 32)
    return (when.astimezone(zone) if when.tzinfo else when).strftime("%Y-%m-%d %H:%M")

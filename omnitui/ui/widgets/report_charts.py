"""The Reports screen's line chart, drawn in the terminal with textual-plotext:
conversations created and the backlog per day. The series differ by marker and label,
never by colour alone (NO_COLOR). (The first-response bar chart is text:
``report_figures.bucket_bars``; plotext places bar labels by hash order, so they move
between runs.)"""

from __future__ import annotations

from textual_plotext import PlotextPlot

#: Markers of the line chart's series: distinct without colour.
CREATED_MARKER = "*"
BACKLOG_MARKER = "o"
#: At most this many day labels under the line chart.
MAX_DAY_LABELS = 6


def day_ticks(days: list[str], most: int = MAX_DAY_LABELS) -> tuple[list[float], list[str]]:
    """Evenly spaced x positions and their ``MM-DD`` labels (first and last included)."""
    if not days:
        return [], []
    if len(days) <= most:
        picks = list(range(len(days)))
    else:
        step = (len(days) - 1) / (most - 1)
        picks = sorted({round(i * step) for i in range(most)})
    labels = [days[i][5:] if len(days[i]) >= 10 else days[i] for i in picks]
    return [float(i) for i in picks], labels


def count_ticks(top: float, steps: int = 4) -> list[float]:
    """Whole-number y ticks from 0 to at least ``top``."""
    step = max(int(-(-max(top, 1) // steps)), 1)
    return [float(step * i) for i in range(steps + 1)]


class DailyChart(PlotextPlot):
    """Created per day (``*``) and backlog at each day's end (``o``)."""

    def show(self, created: list[tuple[str, float]], backlog: list[tuple[str, float]]) -> None:
        """Draw both series over the union of their days."""
        days = sorted({d for d, _ in created} | {d for d, _ in backlog})
        index = {d: i for i, d in enumerate(days)}
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if created:
            plt.plot(
                [index[d] for d, _ in created],
                [n for _, n in created],
                label="created",
                marker=CREATED_MARKER,
            )
        if backlog:
            plt.plot(
                [index[d] for d, _ in backlog],
                [n for _, n in backlog],
                label="backlog (open at day end)",
                marker=BACKLOG_MARKER,
            )
        ticks, labels = day_ticks(days)
        if ticks:
            plt.xticks(ticks, labels)
        top = max([n for _, n in created] + [n for _, n in backlog] + [1])
        ticks = count_ticks(top)
        plt.yticks(ticks, [f"{t:.0f}" for t in ticks])
        self.refresh()

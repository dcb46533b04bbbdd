"""80×24 works: the history pane folds away below 100 columns and the thread gets the
width; ``h`` shows or folds it and the choice holds across resizes; the inbox keeps its
SLA legend and ``? keys`` on the view bar."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.widgets.history_pane import HistoryPane
from omnitui.ui.widgets.inbox_list import InboxList
from omnitui.ui.widgets.thread_view import ThreadView
from tests.support.console_probe import make_app, screen_text, until

SMALL = (80, 24)
LARGE = (140, 40)


async def _open_first(app, pilot) -> ConversationScreen:  # noqa: ANN001
    row = app.screen.query_one(InboxList).current
    await pilot.press("enter")
    await until(
        pilot,
        lambda: (
            isinstance(app.screen, ConversationScreen)
            and app.screen.loaded is not None
            and app.screen.loaded.info.id == row.id
        ),
    )
    await pilot.pause()
    return app.screen


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "140x40"])
async def test_inbox_bar_keeps_help_and_sla_legend(
    demo_engine: Engine, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        lines = screen_text(app).splitlines()
        bar, columns, first = lines[0], lines[1], lines[2]
        assert bar.rstrip().endswith("? keys") and "inbox: active" in bar
        assert columns.rstrip().endswith("SLA FR/NR/RES") and "subject / message" in columns
        assert "!FR -" in first  # the breached first row names its clock
        if size == LARGE:
            assert "c channel · v view · o owner · d due · / search · ? keys" in bar


async def test_history_folds_below_100_columns(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause(0.3)
        screen = await _open_first(app, pilot)
        history, thread = screen.query_one(HistoryPane), screen.query_one(ThreadView)
        assert history.folded and thread.size.width >= SMALL[0] - 2
        assert "history (" not in screen_text(app)
        await pilot.press("h")
        await pilot.pause()
        assert not history.folded
        assert history.outer_size.width == 36 and thread.size.width >= 40
        assert "history (" in screen_text(app)
        await pilot.press("h")
        await pilot.pause()
        assert history.folded and thread.size.width >= SMALL[0] - 2
        # Tab into the folded pane brings it back.
        await pilot.press("tab")
        await pilot.pause()
        assert not history.folded and history.has_focus
        # Folding a focused pane hands the focus back to the thread.
        await pilot.press("h")
        await pilot.pause()
        assert history.folded and not history.has_focus and screen.focused is not None


async def test_a_fold_chosen_with_h_holds_across_resizes(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=LARGE) as pilot:
        await pilot.pause(0.3)
        screen = await _open_first(app, pilot)
        history, thread = screen.query_one(HistoryPane), screen.query_one(ThreadView)
        assert not history.folded and history.outer_size.width == 44
        # By itself: folds on a narrow terminal, back when wide again.
        await pilot.resize_terminal(*SMALL)
        await until(pilot, lambda: history.folded)
        await pilot.resize_terminal(*LARGE)
        await until(pilot, lambda: not history.folded)
        # Folded with h at full width: stays folded through resizes until h.
        await pilot.press("h")
        await pilot.pause()
        assert history.folded and thread.size.width >= LARGE[0] - 2
        await pilot.resize_terminal(*SMALL)
        await pilot.resize_terminal(*LARGE)
        await pilot.pause()
        assert history.folded
        await pilot.press("h")
        await pilot.pause()
        assert not history.folded and history.outer_size.width == 44
        # Back at what the width suggests, the pane follows the width again.
        await pilot.resize_terminal(*SMALL)
        await until(pilot, lambda: history.folded)


async def test_back_in_the_inbox_after_a_resize(demo_engine: Engine, tmp_path: Path) -> None:
    """The conversation screen is reused: resized while it was away, it still fits."""
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=LARGE) as pilot:
        await pilot.pause(0.3)
        screen = await _open_first(app, pilot)
        history = screen.query_one(HistoryPane)
        assert not history.folded
        await pilot.press("escape")
        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        bar = screen_text(app).splitlines()[0]
        assert bar.rstrip().endswith("? keys")
        screen = await _open_first(app, pilot)
        await until(pilot, lambda: history.folded)

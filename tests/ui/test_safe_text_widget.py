"""Customer text in a real widget is never markup: a ``[@click=…]`` shows as text and
clicking it does nothing."""

from __future__ import annotations

import os

from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import Static

from omnitui.ui.safe_text import safe_text


async def test_markup_shows_literally_in_a_widget() -> None:
    sample = "[@click=app.quit]click me[/] [bold]x[/] [link=https://e.example]y[/link] ["

    class Probe(App):
        def compose(self) -> ComposeResult:
            yield Static(safe_text(sample), id="probe")

    app = Probe()
    async with app.run_test(size=(100, 5)) as pilot:
        await pilot.pause()
        console = Console(width=100, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
        console.print(app.screen._compositor.render_update(full=True))  # type: ignore[attr-defined]
        assert sample in console.export_text()
        await pilot.click("#probe", offset=(2, 0))
        await pilot.pause()
        assert app.is_running  # the [@click=app.quit] text did nothing

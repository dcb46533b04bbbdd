"""Driving the console under Pilot and reading what it puts on the terminal: the app on
a store, waiting for it to settle, the screen as text, the status line and toasts, and,
cell by cell, text, colours, attributes and the WCAG contrast of each text against its
own background."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style
from sqlalchemy import Engine

from omnitui.config import load_config
from omnitui.demo import seed
from omnitui.desk import Desk
from omnitui.ui.app import OmniApp
from omnitui.ui.widgets.status_line import StatusLine
from storage import open_store

#: Borders, scrollbars and rules: drawing, not text.
DRAWING = set("─│▔▁▊▎▏▕╭╮╰╯━┃▇▂▃▅▆█▄▌▐▀")


def demo_store(tmp_path: Path) -> Engine:
    """A fresh store seeded with the demo data, its clocks counted from now."""
    engine = open_store(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    seed(engine, now=datetime.now(UTC))
    return engine


def make_app(
    engine: Engine, tmp_path: Path, config: str = "", demo: bool = True, desk: Desk | None = None
) -> OmniApp:
    """The console on ``engine`` with ``config`` as its config file (empty by default),
    in demo mode unless ``demo`` is false (demo: no poller, no account is contacted)."""
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(config, encoding="utf-8")
    return OmniApp(engine, load_config(cfg_path), desk or Desk(), demo=demo)


async def until(pilot: Any, predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the app run until ``predicate()`` holds (work done in threads lands); fails
    the test after ``timeout`` seconds of app time (rounds of 0.05 s)."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    assert predicate(), "timed out waiting for the console"


async def settle(pilot: Any, seconds: float = 0.0) -> None:
    """Let the app run ``seconds``, then wait for its background reads and writes and
    for the screen to catch up."""
    from textual.worker import WorkerCancelled

    if seconds:
        await pilot.pause(seconds)
    # An exclusive worker (the status line's read, a reload) replaced by a newer one
    # ends cancelled: its work is the newer one's, so wait for the others again.
    for _ in range(20):
        try:
            await pilot.app.workers.wait_for_complete()
            break
        except WorkerCancelled:
            await pilot.pause(0.05)
    await pilot.pause()


def status_plain(app: OmniApp) -> str:
    """The status line as plain text."""
    return str(app.screen.query_one(StatusLine).render())


def toasts(app: OmniApp) -> list[str]:
    """The messages of the notifications on screen."""
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""

    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@dataclass(frozen=True)
class Cell:
    """One run of text on one screen line, with the style the terminal receives."""

    y: int
    text: str
    style: Style

    @property
    def shown(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """(foreground, background) as the eye sees them (reverse video applied)."""
        fg, bg = self.style.color, self.style.bgcolor
        assert fg is not None and fg.triplet is not None, self
        assert bg is not None and bg.triplet is not None, self
        pair = (tuple(fg.triplet), tuple(bg.triplet))
        return (pair[1], pair[0]) if self.style.reverse else pair  # type: ignore[return-value]

    @property
    def contrast(self) -> float:
        return contrast(*self.shown)

    def standard(self) -> tuple[int | None, int | None]:
        """(foreground, background) ANSI numbers on a 16-colour terminal (TERM=xterm),
        reverse video applied: what Rich's downgrade makes of the colours."""
        fg, bg = self.style.color, self.style.bgcolor
        fgn = fg.downgrade(ColorSystem.STANDARD).number if fg else None
        bgn = bg.downgrade(ColorSystem.STANDARD).number if bg else None
        return (bgn, fgn) if self.style.reverse else (fgn, bgn)


def cells(app: OmniApp) -> list[Cell]:
    """Every run of text on the screen (after Textual's filters, e.g. ``NO_COLOR``)."""
    update = app.screen._compositor.render_full_update()  # type: ignore[attr-defined]
    out = []
    for y, line in enumerate(update.strips):
        for strip in line:
            for seg in strip:
                text = seg.text.strip()
                if text and not set(text) <= DRAWING and seg.style is not None:
                    out.append(Cell(y, text, seg.style))
    return out


def low_contrast(app: OmniApp, minimum: float = 4.5) -> list[tuple[float, Cell]]:
    """The text runs on screen below ``minimum``:1 against their background."""
    return [(round(c.contrast, 2), c) for c in cells(app) if c.contrast < minimum]


def screen_text(app: OmniApp, width: int | None = None) -> str:
    """What the terminal shows, as plain text (``width`` columns: the app's by default)."""
    console = Console(width=width or app.size.width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(app.screen._compositor.render_update(full=True))  # type: ignore[attr-defined]
    return console.export_text()

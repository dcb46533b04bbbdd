"""What the console puts on the terminal, cell by cell: text, colours, attributes, and
the WCAG contrast of each text against its own background."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style
from sqlalchemy import Engine

from omnitui.config import load_config
from omnitui.demo import seed
from omnitui.desk import Desk
from omnitui.ui.app import OmniApp
from storage import open_store

#: Borders, scrollbars and rules: drawing, not text.
DRAWING = set("─│▔▁▊▎▏▕╭╮╰╯━┃▇▂▃▅▆█▄▌▐▀")


def demo_store(tmp_path: Path) -> Engine:
    """A fresh store seeded with the demo data, its clocks counted from now."""
    engine = open_store(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    seed(engine, now=datetime.now(UTC))
    return engine


def make_app(engine: Engine, tmp_path: Path) -> OmniApp:
    """The console on ``engine`` in demo mode, with an empty config."""
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text("", encoding="utf-8")
    return OmniApp(engine, load_config(cfg_path), Desk(), demo=True)


async def until(pilot, condition, tries: int = 100) -> None:  # noqa: ANN001
    """Let the app run until ``condition()`` holds (work done in threads lands);
    fails after ``tries`` rounds, never on a clock."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition()


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


def screen_text(app: OmniApp) -> str:
    """What the terminal shows, as plain text."""
    width = app.size.width
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(app.screen._compositor.render_update(full=True))  # type: ignore[attr-defined]
    return console.export_text()

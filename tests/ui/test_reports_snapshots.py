"""The Reports screen pinned at 80×24 and 140×40, in colour and with NO_COLOR, on a
hand-built report record (every key of docs/REPORTS.md) and a frozen clock; at 80×24
also scrolled to its end (heat map, tags, channels, agents, comments).

After an intended change: ``pytest tests/ui/test_reports_snapshots.py
--snapshot-update``, then look at the SVGs in tests/ui/__snapshots__/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

import omnitui.ui.report_source as report_source
from omnitui.config import load_config
from omnitui.demo import seed
from omnitui.desk import Desk
from omnitui.ui.app import OmniApp
from storage import open_store
from tests.support.console_probe import settle
from tests.support.report_record import UNTIL, report_record

SIZES = {"80x24": (80, 24), "140x40": (140, 40)}


def _app(tmp_path: Path) -> OmniApp:
    engine = open_store(f"sqlite:///{tmp_path / 'snap.sqlite'}")
    seed(engine, now=UNTIL - timedelta(minutes=5))
    cfg = tmp_path / "config.toml"
    cfg.write_text('[agent]\nname = "alice"\n[ui]\ntimezone = "UTC"\n', encoding="utf-8")
    return OmniApp(engine, load_config(cfg), Desk(agent="alice"), demo=True)


async def _settle(pilot) -> None:  # noqa: ANN001
    for _ in range(2):
        await settle(pilot, 0.3)
    pilot.app.clear_notifications()
    await pilot.pause()


@pytest.mark.parametrize("colour", ["colour", "no-colour"])
@pytest.mark.parametrize("view", ["top", "end"])
@pytest.mark.parametrize("size", list(SIZES))
def test_reports_screen(
    snap_compare,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: str,
    view: str,
    colour: str,
) -> None:
    if colour == "no-colour":
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)

    def fixed(*_args: Any, **_kw: Any) -> dict[str, Any]:
        return report_record()

    monkeypatch.setattr(report_source, "compute_report", fixed)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await _settle(pilot)
        await pilot.press("S")
        await _settle(pilot)
        if view == "end":
            await pilot.press("end")
            await _settle(pilot)

    with time_machine.travel(UNTIL, tick=False):
        app = _app(tmp_path)
        assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)

"""Handling time in the console: opening a conversation, typing and leaving writes a
``Handling`` row for the console's agent; a blur and the minute's flush write too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select
from textual import events

from omnitui.desk import Desk
from omnitui.ui.handling_tracker import HandlingTracker
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.inbox import InboxScreen
from storage.models import Handling
from tests.support.console_probe import make_app, settle, until

SIZE = (100, 30)
#: Rows from before this are the demo's.
STARTED = datetime.now(UTC) - timedelta(seconds=1)


def _rows(engine: Engine) -> list[Handling]:
    """The rows the console wrote (the demo seeds some of its own, dated earlier)."""
    with Session(engine) as s:
        rows = s.exec(select(Handling).order_by(Handling.id)).all()
        return [r for r in rows if r.started_at >= STARTED]


async def test_open_type_leave_writes_a_row(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path, desk=Desk(agent="alice"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen))
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        opened = screen.conversation_id
        await until(pilot, lambda: app.handling.tracker.counting)
        await pilot.press("r", *"hello", "escape")
        await pilot.pause(0.2)
        assert _rows(demo_engine) == []  # nothing due yet: under a minute, still open
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, InboxScreen))
        await until(pilot, lambda: len(_rows(demo_engine)) == 1)
        assert not app.handling.tracker.counting
        row = _rows(demo_engine)[0]
        assert row.conversation_id == opened
        assert row.agent == "alice"
        assert 0 < row.seconds < 30


async def test_a_help_dialog_keeps_counting_another_screen_stops(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: app.handling.tracker.counting)
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert app.handling.tracker.counting  # a dialog over the conversation
        await pilot.press("escape", "O")
        await until(pilot, lambda: not app.handling.tracker.counting)  # the outbox
        await until(pilot, lambda: len(_rows(demo_engine)) == 1)


async def test_blur_writes_and_the_minute_flush_writes_a_running_stretch(
    demo_engine: Engine, tmp_path: Path
) -> None:
    now = [datetime.now(UTC)]
    app = make_app(demo_engine, tmp_path)
    app.handling.tracker = HandlingTracker(lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: app.handling.tracker.counting)
        now[0] += timedelta(seconds=61)
        await pilot.press("j")  # input within the idle limit
        app.flush_handling()  # what the 10-second timer does
        await until(pilot, lambda: len(_rows(demo_engine)) == 1)
        assert _rows(demo_engine)[0].seconds == 61.0
        now[0] += timedelta(seconds=9)
        app.post_message(events.AppBlur())
        await until(pilot, lambda: _rows(demo_engine)[0].seconds == 70.0)
        assert len(_rows(demo_engine)) == 1  # the same stretch, extended
        assert not app.handling.tracker.counting
        now[0] += timedelta(seconds=5)
        app.post_message(events.AppFocus())
        await pilot.pause(0.1)
        assert app.handling.tracker.counting  # the last input is 14 s old

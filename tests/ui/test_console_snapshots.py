"""What the agent sees, pinned: the inbox, a conversation (with a kept draft), the help
screen and the outbox at 80×24 and 140×40, in colour and with NO_COLOR
(pytest-textual-snapshot; the clock is frozen so countdowns are stable).

After an intended change of the screens: ``pytest tests/ui/test_console_snapshots.py
--snapshot-update``, then look at the SVGs in tests/ui/__snapshots__/ before committing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlmodel import Session, select

from omnitui.config import load_config
from omnitui.demo import seed
from omnitui.desk import Desk, drafts
from omnitui.ui.app import OmniApp
from storage import open_store
from storage.models import Conversation
from tests.support.console_probe import settle

#: A Tuesday morning, inside business hours.
FROZEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SIZES = {"80x24": (80, 24), "140x40": (140, 40)}
SCREENS = {
    "inbox": (),
    "conversation": ("enter",),
    "help": ("question_mark",),
    "outbox": ("O",),
}


def _app(tmp_path: Path) -> OmniApp:
    engine = open_store(f"sqlite:///{tmp_path / 'snap.sqlite'}")
    seed(engine, now=FROZEN - timedelta(minutes=5))
    desk = Desk(agent="alice")
    with Session(engine) as s:
        convs = s.exec(select(Conversation).order_by(Conversation.id)).all()
        # One reply the server refused, one that may have been delivered.
        for conv, state, error in (
            (convs[2], "failed", "SMTP 550: mailbox unavailable"),
            (convs[3], "uncertain", "connection lost after DATA"),
        ):
            item = desk.reply(s, conv, f"Reply on {conv.ref} that did not go out.")
            item.state, item.attempts, item.last_error = state, 4, error
        s.commit()
    top = _top_conversation(engine)
    with Session(engine) as s:
        drafts.save(s, top, "reply", "Thanks for waiting — I am checking with the", "alice")
        s.commit()
    cfg = tmp_path / "config.toml"
    cfg.write_text('[agent]\nname = "alice"\n[ui]\ntimezone = "UTC"\n', encoding="utf-8")
    config = load_config(cfg)
    return OmniApp(engine, config, desk, demo=True)


def _top_conversation(engine) -> int:  # noqa: ANN001
    from storage.queries import InboxFilter, inbox_page

    with engine.connect() as conn:
        rows = inbox_page(conn, InboxFilter(), limit=1)
    return rows[0].id


async def _settle(pilot) -> None:  # noqa: ANN001
    await settle(pilot, 0.3)
    await settle(pilot, 0.3)
    pilot.app.clear_notifications()
    await pilot.pause()


@pytest.mark.parametrize("colour", ["colour", "no-colour"])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    snap_compare,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    screen: str,
    size: str,
    colour: str,
) -> None:
    if colour == "no-colour":
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    keys = SCREENS[screen]

    async def run_before(pilot) -> None:  # noqa: ANN001
        await _settle(pilot)
        if keys:
            await pilot.press(*keys)
            await _settle(pilot)

    with time_machine.travel(FROZEN, tick=False):
        app = _app(tmp_path)
        assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)

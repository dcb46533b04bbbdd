"""Reloading a growing inbox retains nothing per reload (issue 10's soak; see
bench/console_memory.py and docs/PERFORMANCE.md): rows, workers, messages and the
inbox's own caches stay bounded however many times ctrl+r re-reads new mail."""

from __future__ import annotations

import gc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from adapters.base import InboundMessage, Sender
from omnitui.config import load_config
from omnitui.desk import Desk
from omnitui.ui.app import OmniApp
from omnitui.ui.inbox_source import PAGE
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.inbox import InboxScreen
from omnitui.ui.widgets.inbox_list import InboxList

SIZE = (140, 40)

WATCHED = ("InboxRow", "Worker", "Timer", "InboxSource", "Highlighted", "Loaded", "ThreadItem")


def new_mail(engine: Engine, n: int) -> None:
    """A new conversation from a new customer, as the sync would store it."""
    msg = InboundMessage(
        external_id=f"INBOX/1/{n}",
        channel="email",
        sender=Sender("email", f"soak{n}@example.org", f"Soak {n}"),
        sent_at=datetime.now(UTC),
        text=f"mail {n}",
        subject=f"Order #{n}: where is it",
        message_id=f"<soak.{n}@example.org>",
    )
    with Session(engine) as s:
        Desk().ingest_many(s, "mail", [msg])
        s.commit()


def census() -> Counter[str]:
    gc.collect()
    return Counter(name for o in gc.get_objects() if (name := type(o).__name__) in WATCHED)


async def test_reloads_of_a_growing_inbox_retain_nothing(
    demo_engine: Engine, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")  # no accounts: only ctrl+r reloads
    app = OmniApp(demo_engine, load_config(config), Desk())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(2.0)  # past start-up's gc.freeze(): later objects are counted

        async def reloads(first: int, count: int) -> None:
            for n in range(first, first + count):
                new_mail(demo_engine, n)
                await pilot.press("ctrl+r", "j", "k")
                if n % 5 == 0:
                    await pilot.press("enter")
                    for _ in range(50):
                        await pilot.pause(0.02)
                        if isinstance(app.screen, ConversationScreen):
                            break
                    await pilot.press("escape")
                await pilot.pause(0.02)
            await pilot.pause(0.3)
            assert isinstance(app.screen, InboxScreen)

        await reloads(0, 10)
        lst = app.screen.query_one(InboxList)
        before = census()
        await reloads(10, 40)
        after = census()

        # 40 reloads, 40 new conversations: the inbox keeps one view's pages...
        assert len(lst.source) >= 40 + 40
        assert len(lst.source._rows) <= 2 * PAGE
        assert after["InboxRow"] <= 2 * PAGE + 10
        assert len(lst._countdowns) <= SIZE[1]
        assert len(lst._styles) < 20
        # ...and no source, worker, timer, message or loaded conversation per reload.
        for name in WATCHED:
            if name == "InboxRow":
                continue  # the first page fills up to PAGE rows as the inbox grows
            assert after[name] <= before[name] + 2, (name, before[name], after[name])

"""Two agents, one conversation, in the console (Textual Pilot on the demo data): when
another agent changed a conversation after this console showed it, a quick action
applies nothing, a warning names the change, the row reloads with the cursor back on
it, and pressing again applies to what is now shown — both changes kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from omnitui.desk import Desk
from omnitui.ui.app import OmniApp
from omnitui.ui.screens.prompts import InputScreen
from omnitui.ui.widgets.inbox_list import InboxList
from storage.models import Conversation, Event
from tests.support import console_probe
from tests.support.console_probe import settle, toasts, until

SIZE = (140, 40)
SAM = Desk(agent="sam")


def make_app(engine: Engine, tmp_path: Path) -> OmniApp:
    return console_probe.make_app(
        engine, tmp_path, '[agent]\nname = "alice"\n', True, Desk(agent="alice")
    )


def inbox_list(app: OmniApp) -> InboxList:
    inbox = app.inbox
    assert inbox is not None
    return inbox.query_one(InboxList)


def conv(engine: Engine, conversation_id: int) -> Conversation:
    with Session(engine) as s:
        found = s.get(Conversation, conversation_id)
        assert found is not None
        return found


def by_sam(
    engine: Engine, conversation_id: int, fn: Callable[[Session, Conversation], Any]
) -> None:
    """Another agent's console (or `omnitui conv`) changes the conversation."""
    with Session(engine) as s:
        found = s.get(Conversation, conversation_id)
        assert found is not None
        fn(s, found)
        s.commit()


def warnings(app: OmniApp) -> list[str]:
    return [t for t in toasts(app) if "changed meanwhile" in t]


async def test_resolving_a_row_another_agent_changed_applies_nothing_then_applies_on_a_second_press(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        row = inbox_list(app).current
        assert row is not None and row.status == "open" and row.version is not None
        by_sam(demo_engine, row.id, lambda s, c: SAM.assign(s, c, "sam"))  # the row is stale

        await pilot.press("e")
        await until(pilot, lambda: warnings(app))
        said = warnings(app)[0]
        assert said.startswith(f"{row.ref} changed meanwhile: sam assigned it to sam ")
        assert said.endswith("reloaded; press again to apply yours")
        await settle(pilot)
        assert conv(demo_engine, row.id).status == "open"  # nothing of alice's applied
        now = inbox_list(app).current  # reloaded, the cursor back on it
        assert now is not None and now.id == row.id
        assert (now.assignee, now.status) == ("sam", "open")

        await pilot.press("e")
        await until(pilot, lambda: conv(demo_engine, row.id).status == "resolved")
        assert conv(demo_engine, row.id).assignee == "sam"  # both changes kept
        await settle(pilot)
        assert len(warnings(app)) == 1


async def test_two_quick_actions_in_a_row_are_no_conflict_with_each_other(
    demo_engine: Engine, tmp_path: Path
) -> None:
    """The second key comes before the first key's write even started (a slow store):
    this console's own write is not "another agent"."""
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        row = inbox_list(app).current
        assert row is not None
        writing = app._own_writes().writing
        with writing:  # both keys are read while the store is busy
            await pilot.press("p", "p")
            await pilot.pause(0.2)
            assert conv(demo_engine, row.id).status == "open"
        await settle(pilot)
        with Session(demo_engine) as s:
            kinds = s.exec(
                select(Event.detail).where(
                    Event.conversation_id == row.id, Event.kind == "conversation.status"
                )
            ).all()
        assert [d["to"] for d in kinds][-2:] == ["pending", "open"]
        assert warnings(app) == []


async def test_a_tag_dialog_opened_before_another_agent_tagged_saves_nothing_over_it(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        row = inbox_list(app).current
        assert row is not None
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, InputScreen))
        by_sam(demo_engine, row.id, lambda s, c: SAM.edit_tags(s, c, add=["billing"]))
        await pilot.press("end", *",refund", "enter")  # the dialog's tags plus one
        await until(pilot, lambda: warnings(app))
        assert "sam changed its tags" in warnings(app)[0]
        await settle(pilot)
        assert "billing" in conv(demo_engine, row.id).tags
        assert "refund" not in conv(demo_engine, row.id).tags  # sam's tags not overwritten

        await pilot.press("t")  # again: the dialog now shows sam's tags too
        await until(pilot, lambda: isinstance(app.screen, InputScreen))
        await pilot.press("end", *",refund", "enter")
        await until(pilot, lambda: "refund" in conv(demo_engine, row.id).tags)
        assert "billing" in conv(demo_engine, row.id).tags

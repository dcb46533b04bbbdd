"""The console in a team (issue 16): what another agent does elsewhere shows up without
a key being pressed, others on a conversation are shown on its inbox row and in its
header, and a reply whose draft was overtaken (a colleague replied meanwhile) is held
until the agent has seen what came. Pilot on the demo store, with a second engine
writing as another agent does from their own console."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from omnitui.desk import Desk, drafts, presence
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.prompts import ConfirmScreen
from omnitui.ui.widgets.inbox_list import InboxList
from storage import open_store
from storage.models import Conversation, Message
from tests.support import console_probe
from tests.support.console_probe import screen_text, settle, until

SIZE = (140, 40)


def _app(engine: Engine, tmp_path: Path):  # noqa: ANN202
    return console_probe.make_app(
        engine, tmp_path, '[agent]\nname = "alice"\n', True, Desk(agent="alice")
    )


def _elsewhere(engine: Engine) -> Engine:
    """Another process's view of the same store (its own connections)."""
    return open_store(str(engine.url))


def _messages(engine: Engine, cid: int) -> int:
    with Session(engine) as s:
        return s.execute(
            select(func.count()).select_from(Message).where(Message.conversation_id == cid)
        ).scalar_one()


async def test_another_agents_resolve_leaves_the_inbox_without_a_key(
    demo_engine: Engine, tmp_path: Path
) -> None:
    other = _elsewhere(demo_engine)
    app = _app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.4)
        rows = app.screen.query_one(InboxList)
        top = rows.current
        assert top is not None
        with Session(other) as s:
            conv = s.get(Conversation, top.id)
            assert conv is not None
            Desk(agent="bo").resolve(s, conv)
            s.commit()
        await until(pilot, lambda: rows.current is not None and rows.current.id != top.id, 3)
        assert rows.source.index_of(top.id) is None
    other.dispose()


async def test_others_on_a_conversation_are_shown_on_the_row_and_in_the_header(
    demo_engine: Engine, tmp_path: Path
) -> None:
    other = _elsewhere(demo_engine)
    app = _app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.4)
        top = app.screen.query_one(InboxList).current
        assert top is not None
        with Session(other) as s:
            presence.show(s, "bo", top.id, "typing")
            s.commit()
        await until(pilot, lambda: "◉ bo…" in screen_text(app), 3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), 3)
        await until(pilot, lambda: "bo is typing a reply" in screen_text(app), 3)
        # Alice's console says so too: Bo sees her on it.
        with Session(other) as s:
            assert presence.watchers(s, "bo") == {top.id: (presence.Watcher("alice", "viewing"),)}
            presence.leave(s, "bo")
            s.commit()
        await until(pilot, lambda: "bo is typing" not in screen_text(app), 3)
        await pilot.press("escape")
        await settle(pilot, 0.2)
        with Session(other) as s:
            assert presence.watchers(s, "bo") == {}  # she left it
    other.dispose()


async def test_a_reply_overtaken_by_a_colleague_waits_until_the_agent_has_seen_it(
    demo_engine: Engine, tmp_path: Path
) -> None:
    other = _elsewhere(demo_engine)
    app = _app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.4)
        top = app.screen.query_one(InboxList).current
        assert top is not None
        cid = top.id
        before = _messages(demo_engine, cid)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), 3)
        await pilot.press("r", *"Refund is on its way")
        await settle(pilot, 1.0)  # the draft is kept, with what it was written after
        # Meanwhile Bo answers from his console.
        with Session(other) as s:
            conv = s.get(Conversation, cid)
            assert conv is not None
            Desk(agent="bo").reply(s, conv, "Bo here: already refunded")
            s.commit()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 3)
        shown = screen_text(app)
        assert "1 new message since your draft began" in shown
        assert "bo replied: Bo here: already refunded" in shown
        await pilot.press("n")  # back to the draft: nothing was queued
        await settle(pilot, 0.5)
        assert _messages(demo_engine, cid) == before + 1
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        assert screen.composer.text == "Refund is on its way"
        kept = drafts.load(demo_engine, cid, "alice")
        assert kept is not None and kept.body == "Refund is on its way"
        # Now that she has seen it, sending does not ask again.
        screen.composer.focus()
        await pilot.press("ctrl+s")
        await settle(pilot, 0.6)
        assert not isinstance(app.screen, ConfirmScreen)
        assert _messages(demo_engine, cid) == before + 2
        assert drafts.load(demo_engine, cid, "alice") is None
    other.dispose()


async def test_the_agent_may_send_anyway(demo_engine: Engine, tmp_path: Path) -> None:
    other = _elsewhere(demo_engine)
    app = _app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.4)
        top = app.screen.query_one(InboxList).current
        assert top is not None
        before = _messages(demo_engine, top.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), 3)
        await pilot.press("r", *"Thanks")
        with Session(other) as s:
            conv = s.get(Conversation, top.id)
            assert conv is not None
            Desk(agent="bo").note(s, conv, "customer called too")
            s.commit()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 3)
        assert "bo added a note: customer called too" in screen_text(app)
        await pilot.press("y")
        await settle(pilot, 0.6)
        assert _messages(demo_engine, top.id) == before + 2
    other.dispose()


def _erase(engine: Engine, conversation_id: int) -> None:
    """Another console removes a conversation (as erasing a customer does)."""
    with Session(engine) as s:
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        s.delete(conv)
        s.commit()


async def test_search_results_change_in_place_when_another_agent_acts(
    demo_engine: Engine, tmp_path: Path
) -> None:
    """Alice has searched; Bo assigns a conversation found to himself and starts a
    draft, then conversations found are erased: her results show Bo on the row (not
    his draft as hers), lose the erased ones, count right, and keep her cursor on her
    conversation (or, when hers went, on the row that took its place), all without a
    key and without searching again."""
    other = _elsewhere(demo_engine)
    app = _app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.4)
        await pilot.press("slash", *"grinder", "enter")
        rows = app.screen.query_one(InboxList)
        await until(pilot, lambda: rows.source.search_ids is not None, 3)
        await settle(pilot, 0.4)
        found = list(rows.source.search_ids or [])
        assert len(found) >= 5, found
        searched = app.inbox._run_search  # type: ignore[union-attr]
        runs: list[str] = []
        app.inbox._run_search = lambda q: (runs.append(q), searched(q))  # type: ignore[union-attr]

        def current() -> int | None:
            row = rows.current
            return row.id if row is not None else None

        with Session(other) as s:
            conv = s.get(Conversation, found[0])
            assert conv is not None
            Desk(agent="bo").assign(s, conv, "bo")
            drafts.save(s, found[0], "reply", "Bo's draft", author="bo")
            s.commit()
        await until(pilot, lambda: (r := rows.source.get(0)) is not None and r.assignee == "bo", 3)
        assert rows.source.get(0).has_draft is False  # type: ignore[union-attr]  # Bo's

        # Alice is on the third row; the first is erased: she stays on hers.
        await pilot.press("j", "j")
        await settle(pilot, 0.2)
        assert current() == found[2]
        _erase(other, found[0])
        await until(pilot, lambda: len(rows.source) == len(found) - 1, 3)
        assert current() == found[2] and rows.cursor == 1

        # The row under her cursor is erased: the next one takes its place.
        _erase(other, found[2])
        await until(pilot, lambda: len(rows.source) == len(found) - 2, 3)
        assert current() == found[3]

        # The last row is erased: the count drops, the cursor stays.
        _erase(other, found[-1])
        await until(pilot, lambda: len(rows.source) == len(found) - 3, 3)
        left = [i for i in found if i not in (found[0], found[2], found[-1])]
        assert [rows.source.get(i).id for i in range(len(rows.source))] == left  # type: ignore[union-attr]
        assert current() == found[3]

        # A customer's conversations go at once, the cursor's and one above it: the
        # cursor moves to the first one after its own that is still there.
        await pilot.press("j")
        await settle(pilot, 0.2)
        assert current() == left[2]
        with Session(other) as s:
            for cid in (left[1], left[2]):
                conv = s.get(Conversation, cid)
                assert conv is not None
                s.delete(conv)
            s.commit()
        await until(pilot, lambda: len(rows.source) == len(left) - 2, 3)
        assert current() == left[3]
        assert runs == []
    other.dispose()

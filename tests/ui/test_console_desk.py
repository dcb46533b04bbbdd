"""A day of support in the console, keys only (Textual Pilot) on the demo data:
the due view, pending, snooze, priority, tags, assignment, resolve-then-next, the
knowledge-base picker, VIP, customer notes and merging."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlmodel import Session
from textual.widgets import Input

from omnitui.desk import Desk
from omnitui.ui.app import OmniApp
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.inbox import InboxScreen
from omnitui.ui.screens.kb_picker import KBPicker
from omnitui.ui.screens.prompts import ChoiceScreen, ConfirmScreen, InputScreen
from omnitui.ui.widgets.history_pane import HistoryPane
from omnitui.ui.widgets.inbox_list import InboxList
from storage.models import Conversation, Customer, Message, Outbox
from storage.queries import InboxRow
from tests.support import console_probe
from tests.support.console_probe import screen_text, settle, until

SIZE = (140, 40)
DEMO_KB = Path(__file__).parents[2] / "omnitui" / "demo_kb"
TYPO_ANSWER = """\
---
title: Answer with a misspelt placeholder
shortcut: typo
---
Hi {{ customer.fist_name }}, about {{ conversation.ref }}: it is on its way.
"""


def make_app(
    engine: Engine, tmp_path: Path, extra: str = "", demo: bool = True, kb: Path = DEMO_KB
) -> OmniApp:
    """The console for agent alice with the KB in ``kb``; ``extra`` adds config."""
    config = f'[agent]\nname = "alice"\n\n[kb]\ndir = "{kb}"\n\n{extra}'
    return console_probe.make_app(engine, tmp_path, config, demo, Desk(agent="alice"))


def inbox_list(app: OmniApp) -> InboxList:
    inbox = app.inbox
    assert inbox is not None
    return inbox.query_one(InboxList)


def rows(app: OmniApp) -> list[InboxRow]:
    lst = inbox_list(app)
    return [r for r in (lst.source.get(i) for i in range(len(lst.source))) if r is not None]


def conv(engine: Engine, conversation_id: int) -> Conversation | None:
    with Session(engine) as s:
        return s.get(Conversation, conversation_id)


def customer(engine: Engine, customer_id: int) -> Customer | None:
    with Session(engine) as s:
        return s.get(Customer, customer_id)


def conv_id(engine: Engine, **where: Any) -> int:
    """The id of the one demo conversation matching ``where`` (subject, preview: substrings)."""
    with Session(engine) as s:
        query = select(Conversation)
        for key, value in where.items():
            column = getattr(Conversation, key)
            query = query.where(
                column.contains(value) if key in ("subject", "preview") else column == value
            )
        found = s.exec(query).scalars().all()  # type: ignore[call-overload]
    assert len(found) == 1, found
    return found[0].id


def customer_id_of(engine: Engine, name: str) -> int:
    with Session(engine) as s:
        found = s.exec(select(Customer).where(Customer.name == name)).scalars().one()  # type: ignore[call-overload]
    return found.id


def aware(value: datetime | None) -> datetime:
    assert value is not None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def cursor_to(pilot: Any, app: OmniApp, predicate: Callable[[InboxRow], bool]) -> InboxRow:
    """Move the inbox cursor with ``j`` to the first row matching ``predicate``."""
    lst = inbox_list(app)
    if not any(predicate(r) for r in rows(app)):
        raise AssertionError("no such row in the inbox")
    await pilot.press("g")
    for _ in range(len(lst.source)):
        row = lst.current
        assert row is not None
        if predicate(row):
            return row
        await pilot.press("j")
    raise AssertionError("no such row in the inbox")


async def open_by_keys(pilot: Any, app: OmniApp, conversation_id: int) -> ConversationScreen:
    """Find a conversation in the inbox (the "all" view if need be) and open it with enter."""
    inbox = app.inbox
    assert inbox is not None
    while conversation_id not in [r.id for r in rows(app)]:
        assert inbox.status_view != 5, "not even in the 'all' view"
        await pilot.press("v")
    await cursor_to(pilot, app, lambda r: r.id == conversation_id)
    await pilot.press("enter")
    await until(
        pilot,
        lambda: isinstance(app.screen, ConversationScreen) and app.screen.loaded is not None,
    )
    screen = app.screen
    assert isinstance(screen, ConversationScreen) and screen.conversation_id == conversation_id
    return screen


async def type_and_enter(pilot: Any, app: OmniApp, text: str) -> None:
    await until(pilot, lambda: isinstance(app.screen, InputScreen))
    await pilot.press(*text)
    await pilot.press("enter")


async def confirm(pilot: Any, app: OmniApp) -> None:
    """Say yes to the question that shows both sides (merges)."""
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    await pilot.press("y")


def notices(app: OmniApp) -> str:
    """The notifications (toasts) currently shown, one per line."""
    return "\n".join(n.message for n in app._notifications)  # type: ignore[attr-defined]


def history_text(screen: ConversationScreen) -> str:
    history = screen.query_one(HistoryPane)
    return "\n".join(str(option.prompt) for option in history._options)


# -- the inbox --------------------------------------------------------------------------
async def test_due_view_shows_only_breached_and_due_soon(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        everything = rows(app)
        await pilot.press("d")
        await pilot.pause()
        due = rows(app)
        limit = datetime.now(UTC) + app.alerts.warn_before + timedelta(seconds=5)
        assert due and len(due) < len(everything)
        assert all(r.due is not None and aware(r.due) < limit for r in due)
        assert [aware(r.due) for r in due] == sorted(aware(r.due) for r in due)  # type: ignore[arg-type]
        assert any(aware(r.due) < datetime.now(UTC) for r in due)  # some are breached
        assert "breached / due soon" in screen_text(app)
        await pilot.press("d")
        await pilot.pause()
        assert [r.id for r in rows(app)] == [r.id for r in everything]


async def test_pending_toggles_on_the_same_row(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = inbox_list(app).current
        assert row is not None and row.status == "open"
        await pilot.press("p")
        await until(pilot, lambda: conv(demo_engine, row.id).status == "pending")  # type: ignore[union-attr]
        await settle(pilot)
        assert inbox_list(app).current.id == row.id  # type: ignore[union-attr]
        await pilot.press("p")
        await until(pilot, lambda: conv(demo_engine, row.id).status == "open")  # type: ignore[union-attr]


async def test_snooze_an_hour_leaves_the_active_view(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = inbox_list(app).current
        assert row is not None
        before = datetime.now(UTC)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("1")
        await until(pilot, lambda: conv(demo_engine, row.id).status == "snoozed")  # type: ignore[union-attr]
        after = datetime.now(UTC)
        snoozed = aware(conv(demo_engine, row.id).snoozed_until)  # type: ignore[union-attr]
        assert before + timedelta(hours=1) <= snoozed <= after + timedelta(hours=1)
        await until(pilot, lambda: row.id not in [r.id for r in rows(app)])
        assert isinstance(app.screen, InboxScreen)


async def test_snooze_custom_tomorrow(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path, '[ui]\ntimezone = "Asia/Tokyo"\n')
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = inbox_list(app).current
        assert row is not None
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("c")
        before = datetime.now(UTC)
        await type_and_enter(pilot, app, "tomorrow")
        await until(pilot, lambda: conv(demo_engine, row.id).status == "snoozed")  # type: ignore[union-attr]
        after = datetime.now(UTC)
        tokyo = ZoneInfo("Asia/Tokyo")
        expected = {
            datetime.combine(t.astimezone(tokyo).date() + timedelta(days=1), time(9), tokyo)
            for t in (before, after)
        }
        assert aware(conv(demo_engine, row.id).snoozed_until) in expected  # type: ignore[union-attr]


async def test_priority_urgent(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = await cursor_to(pilot, app, lambda r: r.priority == "normal")
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("4")
        await until(pilot, lambda: conv(demo_engine, row.id).priority == "urgent")  # type: ignore[union-attr]
        await settle(pilot)
        assert isinstance(app.screen, InboxScreen)


async def test_priority_change_keeps_the_cursor_on_the_conversation(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = await cursor_to(pilot, app, lambda r: r.priority == "normal" and r.due is not None)
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("4")
        await until(pilot, lambda: conv(demo_engine, row.id).priority == "urgent")  # type: ignore[union-attr]
        await settle(pilot)  # the write, then the inbox reload it asks for
        await pilot.pause(0.1)
        current = inbox_list(app).current
        assert current is not None and current.priority == "urgent"  # the row was re-read
        assert current.id == row.id


async def test_tags_typed_comma_separated(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = await cursor_to(pilot, app, lambda r: not conv(demo_engine, r.id).tags)  # type: ignore[union-attr]
        await pilot.press("t")
        await type_and_enter(pilot, app, "billing, vip-followup")
        await until(
            pilot,
            lambda: conv(demo_engine, row.id).tags == ["billing", "vip-followup"],  # type: ignore[union-attr]
        )


async def test_assign_to_the_default_agent(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = await cursor_to(pilot, app, lambda r: r.assignee is None)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, InputScreen))
        await pilot.press("enter")
        await until(pilot, lambda: conv(demo_engine, row.id).assignee == "alice")  # type: ignore[union-attr]


async def test_resolve_moves_to_the_next_row(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lst = inbox_list(app)
        await pilot.press("j")
        first, second = lst.current, lst.source.get(2)
        assert first is not None and second is not None
        await pilot.press("e")
        assert lst.current is not None and lst.current.id == second.id
        await until(pilot, lambda: conv(demo_engine, first.id).status == "resolved")  # type: ignore[union-attr]
        await settle(pilot)
        await until(pilot, lambda: first.id not in [r.id for r in rows(app)])
        assert lst.current is not None and lst.current.id == second.id


async def test_merge_from_the_inbox(demo_engine: Engine, tmp_path: Path) -> None:
    source = conv_id(demo_engine, subject="Return an unopened milk frother")
    target = conv_id(demo_engine, preview="Hola! Can I change my delivery slot")
    target_ref = conv(demo_engine, target).ref  # type: ignore[union-attr]
    with Session(demo_engine) as s:
        moved = set(
            s.exec(select(Message.id).where(Message.conversation_id == source)).scalars()  # type: ignore[call-overload]
        )
    assert moved
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await cursor_to(pilot, app, lambda r: r.id == source)
        await pilot.press("m")
        await type_and_enter(pilot, app, target_ref.lower())
        await confirm(pilot, app)
        await until(pilot, lambda: conv(demo_engine, source) is None)
        with Session(demo_engine) as s:
            now_in = set(
                s.exec(select(Message.conversation_id).where(Message.id.in_(moved))).scalars()  # type: ignore[union-attr, attr-defined, call-overload]
            )
        assert now_in == {target}
        await settle(pilot)
        await until(pilot, lambda: source not in [r.id for r in rows(app)])


# -- a conversation and the knowledge base ---------------------------------------------
async def test_kb_answer_from_the_composer(demo_engine: Engine, tmp_path: Path) -> None:
    target = conv_id(demo_engine, subject="cracked carafe")
    ref = conv(demo_engine, target).ref  # type: ignore[union-attr]
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_by_keys(pilot, app, target)
        await pilot.press("r")
        await until(pilot, lambda: screen.composer.display and screen.composer.has_focus)
        await pilot.press("/")
        await until(pilot, lambda: isinstance(app.screen, KBPicker) and app.screen.results)
        picker = app.screen
        assert isinstance(picker, KBPicker)
        assert "suggested for the customer's last message" in screen_text(app)
        assert picker.results and len(picker.results) <= 5
        assert screen.composer.text == ""  # the "/" opened the picker, it was not typed
        await pilot.press(*"refund")
        await until(pilot, lambda: picker.results and picker.results[0].shortcut == "refund")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen and bool(screen.composer.text))
        text = screen.composer.text
        assert text.startswith("Hi Priya,")
        assert ref in text and "[?" not in text and "{{" not in text
        assert "⚠" not in str(screen.composer.border_subtitle)
        await pilot.press("ctrl+s")

        def queued() -> Outbox | None:
            with Session(demo_engine) as s:
                return (
                    s.exec(select(Outbox).where(Outbox.conversation_id == target))
                    .scalars()  # type: ignore[call-overload]
                    .first()
                )

        await until(pilot, queued)
        assert queued().body == text  # type: ignore[union-attr]


async def test_i_opens_the_kb_picker(demo_engine: Engine, tmp_path: Path) -> None:
    target = conv_id(demo_engine, subject="cracked carafe")
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_by_keys(pilot, app, target)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, KBPicker) and app.screen.results)
        await pilot.press("escape")  # cancel: nothing inserted
        await until(pilot, lambda: app.screen is screen)
        assert screen.composer.text == ""
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, KBPicker))
        picker = app.screen
        assert isinstance(picker, KBPicker)
        await pilot.press(*"shipping")
        await until(pilot, lambda: picker.results and picker.results[0].shortcut == "shipping")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen and bool(screen.composer.text))
        assert screen.composer.display and screen.composer.has_focus
        assert screen.composer.text.startswith("Hi Priya,")
        assert "Orders ship within 1 business day" in screen.composer.text
        await pilot.press("ctrl+o")  # in the composer: its own key for the picker
        await until(pilot, lambda: isinstance(app.screen, KBPicker))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)


async def test_kb_answer_with_an_unknown_placeholder_warns(
    demo_engine: Engine, tmp_path: Path
) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(DEMO_KB, kb)
    (kb / "typo.md").write_text(TYPO_ANSWER, encoding="utf-8")
    target = conv_id(demo_engine, subject="cracked carafe")
    app = make_app(demo_engine, tmp_path, kb=kb)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_by_keys(pilot, app, target)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, KBPicker))
        picker = app.screen
        await pilot.press(*"typo")
        await until(pilot, lambda: picker.results and picker.results[0].shortcut == "typo")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen and bool(screen.composer.text))
        await pilot.pause()
        assert "[? customer.fist_name" in screen.composer.text
        subtitle = str(screen.composer.border_subtitle)
        assert "⚠" in subtitle and "fist_name" in subtitle
        assert screen.composer.has_class("warning")


# -- the customer -------------------------------------------------------------------------
async def test_vip_toggle(demo_engine: Engine, tmp_path: Path) -> None:
    target = conv_id(demo_engine, preview="machine is leaking")
    tom = customer_id_of(demo_engine, "Tom Becker")
    assert customer(demo_engine, tom).vip is False  # type: ignore[union-attr]
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_by_keys(pilot, app, target)
        await pilot.press("V")
        await until(pilot, lambda: customer(demo_engine, tom).vip is True)  # type: ignore[union-attr]
        await until(pilot, lambda: "★ VIP" in history_text(screen))
        await pilot.press("V")
        await until(pilot, lambda: customer(demo_engine, tom).vip is False)  # type: ignore[union-attr]
        await until(pilot, lambda: "★ VIP" not in history_text(screen))


async def test_customer_notes_show_in_the_history_pane(demo_engine: Engine, tmp_path: Path) -> None:
    target = conv_id(demo_engine, preview="machine is leaking")
    tom = customer_id_of(demo_engine, "Tom Becker")
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_by_keys(pilot, app, target)
        await pilot.press("N")
        await type_and_enter(pilot, app, "Prefers phone calls after 5pm")
        await until(
            pilot,
            lambda: customer(demo_engine, tom).notes == "Prefers phone calls after 5pm",  # type: ignore[union-attr]
        )
        await until(pilot, lambda: "Prefers phone calls after 5pm" in history_text(screen))
        assert "Prefers phone calls after 5pm" in screen_text(app)


async def test_merge_into_another_conversation(demo_engine: Engine, tmp_path: Path) -> None:
    source = conv_id(demo_engine, preview="did you see my email about the carafe")
    target = conv_id(demo_engine, subject="cracked carafe")
    target_ref = conv(demo_engine, target).ref  # type: ignore[union-attr]
    with Session(demo_engine) as s:
        moved = set(
            s.exec(select(Message.id).where(Message.conversation_id == source)).scalars()  # type: ignore[call-overload]
        )
    assert moved
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_by_keys(pilot, app, source)
        await pilot.press("m")
        await type_and_enter(pilot, app, target_ref)
        await confirm(pilot, app)
        await until(pilot, lambda: conv(demo_engine, source) is None)
        with Session(demo_engine) as s:
            where = {
                m.conversation_id
                for m in s.exec(select(Message).where(Message.id.in_(moved))).scalars()  # type: ignore[union-attr, attr-defined, call-overload]
            }
        assert where == {target}
        # The screen follows the conversation that stayed, with the moved messages.
        await until(pilot, lambda: screen.loaded is not None and screen.loaded.info.id == target)
        await until(pilot, lambda: {i.id for i in screen.loaded.items} >= moved)  # type: ignore[union-attr]
        assert app.screen is screen


async def test_merge_another_customer_by_address(demo_engine: Engine, tmp_path: Path) -> None:
    target = conv_id(demo_engine, preview="machine is leaking")
    tom = customer_id_of(demo_engine, "Tom Becker")
    sofia = customer_id_of(demo_engine, "Sofía García")
    with Session(demo_engine) as s:
        hers = set(
            s.exec(select(Conversation.id).where(Conversation.customer_id == sofia)).scalars()  # type: ignore[call-overload]
        )
    assert hers
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_by_keys(pilot, app, target)
        await pilot.press("M")
        await type_and_enter(pilot, app, "sofia.garcia@example.es")
        await confirm(pilot, app)
        await until(pilot, lambda: customer(demo_engine, sofia) is None)
        with Session(demo_engine) as s:
            owners = {
                c.customer_id
                for c in s.exec(select(Conversation).where(Conversation.id.in_(hers))).scalars()  # type: ignore[union-attr, attr-defined, call-overload]
            }
        assert owners == {tom}
        history = screen.query_one(HistoryPane)
        await until(pilot, lambda: {f"c{c}" for c in hers} <= {o.id for o in history._options})


# -- what cannot be done is said, not crashed on -----------------------------------------
async def test_merge_into_an_unknown_ref_is_an_error(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = inbox_list(app).current
        assert row is not None
        await pilot.press("m")
        await type_and_enter(pilot, app, "C-999999")
        await settle(pilot)
        # The dialog comes back with the reason and the reference as typed.
        await until(
            pilot,
            lambda: isinstance(app.screen, InputScreen) and "C-999999" in app.screen.error,
        )
        assert app.screen.query_one(Input).value == "C-999999"  # type: ignore[union-attr]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, InboxScreen))
        assert conv(demo_engine, row.id) is not None


async def test_snoozing_a_resolved_conversation_is_an_error_not_a_crash(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("v", "v", "v", "v")  # the resolved view
        row = inbox_list(app).current
        assert row is not None and row.status == "resolved"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("1")
        await settle(pilot)
        await until(pilot, lambda: "reopen it first" in notices(app))
        assert app.is_running
        assert conv(demo_engine, row.id).status == "resolved"  # type: ignore[union-attr]


async def test_snoozing_into_the_past_is_an_error_not_a_crash(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = inbox_list(app).current
        assert row is not None and row.status == "open"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("c")
        await type_and_enter(pilot, app, "2020-01-01")
        await settle(pilot)
        # Said in the dialog, which keeps the text for fixing.
        error = app.screen.query_one("#prompt-error")
        await until(pilot, lambda: "in the past" in str(error.render()))
        assert app.screen.query_one(Input).value == "2020-01-01"  # type: ignore[union-attr]
        assert app.is_running
        assert conv(demo_engine, row.id).status == "open"  # type: ignore[union-attr]


# -- the composer with more than one answer ------------------------------------------------
async def pick(pilot: Any, app: OmniApp, screen: ConversationScreen, shortcut: str) -> None:
    """ctrl+o in the open composer, search ``shortcut``, enter."""
    await pilot.press("ctrl+o")
    await until(pilot, lambda: isinstance(app.screen, KBPicker))
    picker = app.screen
    assert isinstance(picker, KBPicker)
    await pilot.press(*shortcut)
    await until(pilot, lambda: picker.results and picker.results[0].shortcut == shortcut)
    await pilot.press("enter")
    await until(pilot, lambda: app.screen is screen and screen.composer.has_focus)
    await pilot.pause()


async def two_answers(demo_engine: Engine, tmp_path: Path, pilot: Any, app: OmniApp) -> str:
    """Insert the typo answer, then the shipping answer; returns the composer text."""
    target = conv_id(demo_engine, subject="cracked carafe")
    screen = await open_by_keys(pilot, app, target)
    await pilot.press("r")
    await until(pilot, lambda: screen.composer.has_focus)
    await pick(pilot, app, screen, "typo")
    assert "⚠" in str(screen.composer.border_subtitle)
    await pick(pilot, app, screen, "shipping")
    return screen.composer.text


def typo_kb(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    shutil.copytree(DEMO_KB, kb)
    (kb / "typo.md").write_text(TYPO_ANSWER, encoding="utf-8")
    return kb


async def test_kb_picker_offers_only_answers_for_the_channel(
    demo_engine: Engine, tmp_path: Path
) -> None:
    email = conv_id(demo_engine, subject="cracked carafe")
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await open_by_keys(pilot, app, email)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, KBPicker) and app.screen.results)
        picker = app.screen
        assert isinstance(picker, KBPicker)
        await pilot.press(*"thank")
        await until(pilot, lambda: "answers matching" in screen_text(app))
        await settle(pilot)
        assert "thanks" not in [a.shortcut for a in picker.results]  # sms and chat only


async def test_a_second_answer_goes_on_its_own_lines(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path, kb=typo_kb(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = await two_answers(demo_engine, tmp_path, pilot, app)
        first = "Hi [? customer.fist_name], about"
        second = "Hi Priya,\n\nOrders ship within 1 business day."
        assert first in text and second in text
        lines = text.splitlines()
        assert any(line.startswith(first) for line in lines)
        assert any(line.startswith("Hi Priya,") for line in lines)
        assert text.index(first) < text.index(second)  # the draft stays first


async def test_the_warning_stays_while_the_marker_is_in_the_text(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path, kb=typo_kb(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = await two_answers(demo_engine, tmp_path, pilot, app)
        assert "[? customer.fist_name" in text
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        subtitle = str(screen.composer.border_subtitle)
        assert "⚠" in subtitle and "fist_name" in subtitle

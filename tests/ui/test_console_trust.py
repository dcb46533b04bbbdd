"""The console never loses a draft, never runs a command the agent did not mean, and
lets quick actions be taken back (issue 12, items 2–5 and 11): Textual Pilot on the
demo data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from omnitui.desk import Desk, drafts
from omnitui.ui.app import OmniApp
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.inbox import InboxScreen
from omnitui.ui.screens.prompts import ChoiceScreen, ConfirmScreen, InputScreen
from omnitui.ui.screens.review import ConfirmQuit
from omnitui.ui.widgets.composer import Composer
from omnitui.ui.widgets.inbox_list import InboxList
from storage.models import Conversation, Draft, Event, Message, Outbox
from tests.support import console_probe
from tests.support.console_probe import settle

SIZE = (140, 40)


def make_app(engine: Engine, tmp_path: Path, demo: bool = True) -> OmniApp:
    """The console for agent alice."""
    config = '[agent]\nname = "alice"\n'
    return console_probe.make_app(engine, tmp_path, config, demo, Desk(agent="alice"))


def current_row(app: OmniApp):  # noqa: ANN201
    row = app.screen.query_one(InboxList).current
    assert row is not None
    return row


def conversation(engine: Engine, conversation_id: int) -> Conversation:
    with Session(engine) as s:
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        s.expunge(conv)
        return conv


@asynccontextmanager
async def console(
    engine: Engine, tmp_path: Path, demo: bool = True
) -> AsyncIterator[tuple[OmniApp, Any]]:
    """The console at 140×40 on ``engine``, settled after start-up: (app, pilot)."""
    app = make_app(engine, tmp_path, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.4)
        yield app, pilot


# -- item 2: drafts live in the store -------------------------------------------------
async def test_draft_survives_esc_resolve_and_restart(demo_engine: Engine, tmp_path: Path) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        row = current_row(app)
        await pilot.press("r")
        await settle(pilot, 0.4)
        await pilot.press(*"half a reply")
        await pilot.press("escape")  # leave the composer
        await settle(pilot, 1.0)
        assert drafts.load(demo_engine, row.id, "alice").body == "half a reply"
        assert isinstance(app.screen, ConversationScreen)
        assert app.screen.composer.display  # the draft stays in view
        await pilot.press("e")  # resolve: the draft is not thrown away
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).status == "resolved"
        assert drafts.load(demo_engine, row.id, "alice").body == "half a reply"

    # A new console (a restart, or after a crash) shows it again.
    async with console(demo_engine, tmp_path) as (app, pilot):
        app.open_conversation(row.id)
        await settle(pilot, 0.4)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        assert screen.composer.display and screen.composer.text == "half a reply"
        await pilot.press("r")
        await pilot.press(*" and the rest")
        await pilot.press("ctrl+s")
        await settle(pilot, 0.4)
    with Session(demo_engine) as s:
        assert s.get(Draft, (row.id, "alice")) is None  # sent: the draft went with the send
        sent = s.exec(select(Outbox).where(Outbox.conversation_id == row.id)).scalars().all()
        assert any(o.body == "half a reply and the rest" for o in sent)


async def test_draft_is_saved_while_typing(demo_engine: Engine, tmp_path: Path) -> None:
    """A crash a second after the last key loses nothing: no Esc or quit needed."""
    async with console(demo_engine, tmp_path) as (app, pilot):
        row = current_row(app)
        await pilot.press("n")
        await settle(pilot, 0.4)
        await pilot.press(*"a private thought")
        await settle(pilot, 1.2)
        saved = drafts.load(demo_engine, row.id, "alice")
        assert saved is not None and saved.body == "a private thought" and saved.mode == "note"


async def test_quit_lists_unsent_drafts_and_asks(demo_engine: Engine, tmp_path: Path) -> None:
    with Session(demo_engine) as s:
        first = s.exec(select(Conversation).order_by(Conversation.id)).scalars().first()
        drafts.save(s, first.id, "reply", "kept from yesterday", "alice")
        s.commit()
        ref = first.ref
    async with console(demo_engine, tmp_path) as (app, pilot):
        await pilot.press("q")
        await settle(pilot, 0.4)
        assert isinstance(app.screen, ConfirmQuit)
        assert app.screen.count == 1 and app.screen.items[0].ref == ref
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running
        await pilot.press("q")
        await settle(pilot, 0.4)
        await pilot.press("y")
        await pilot.pause()
        assert not app.is_running
    assert drafts.load(demo_engine, first.id, "alice") is not None  # quitting never drops it


async def test_quit_with_no_draft_quits_at_once(demo_engine: Engine, tmp_path: Path) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        await pilot.press("q")
        await settle(pilot, 0.4)
        assert not app.is_running


async def test_quit_saves_text_typed_a_moment_ago(demo_engine: Engine, tmp_path: Path) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        row = current_row(app)
        await pilot.press("r")
        await settle(pilot, 0.4)
        await pilot.press(*"typed just now", "escape", "q")  # no time for the timer
        await settle(pilot, 0.4)
        assert isinstance(app.screen, ConfirmQuit)
    assert drafts.load(demo_engine, row.id, "alice").body == "typed just now"


# -- item 3: Tab in the composer --------------------------------------------------------
async def test_tab_in_the_composer_never_turns_letters_into_commands(
    demo_engine: Engine, tmp_path: Path
) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        row = current_row(app)
        await pilot.press("r")
        await settle(pilot, 0.4)
        await pilot.press(*"hello", "tab", *"every")
        await settle(pilot, 0.4)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        assert isinstance(app.focused, Composer)
        assert screen.composer.text.replace(" ", "") == "helloevery"  # Tab indented
        assert conversation(demo_engine, row.id).status != "resolved"
        assert "typing a reply" in screen.describe()
        await pilot.press("escape")
        await pilot.pause()
        assert "keys are commands" in screen.describe()
        assert "not typing" in str(screen.composer.border_subtitle)


# -- item 4: keys that arrive together belong to the dialog ----------------------------
async def test_keys_arriving_with_the_tags_key_go_to_the_dialog(
    demo_engine: Engine, tmp_path: Path
) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        row = current_row(app)
        before = conversation(demo_engine, row.id)
        await pilot.press("t", "e")  # one packet: tags, then "e"
        await settle(pilot, 0.4)
        assert isinstance(app.screen, InputScreen)
        assert app.screen.query_one("#prompt-input").value.endswith("e")
        assert [type(s).__name__ for s in app.screen_stack][-2:] == ["InboxScreen", "InputScreen"]
        await pilot.press("escape")
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).status == before.status  # not resolved


async def test_tags_then_assign_do_not_stack(demo_engine: Engine, tmp_path: Path) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        await pilot.press("t", "a")
        await settle(pilot, 0.4)
        names = [type(s).__name__ for s in app.screen_stack]
        assert names[-2:] == ["InboxScreen", "InputScreen"] and names.count("InputScreen") == 1
        assert "Tags" in app.screen.title_text


async def test_keys_typed_after_r_land_in_the_composer(demo_engine: Engine, tmp_path: Path) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        row = current_row(app)
        status = conversation(demo_engine, row.id).status
        await pilot.press("r", *"hello there")  # "e" would resolve, "o" filter…
        await settle(pilot, 0.4)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        assert screen.composer.text == "hello there"
        assert conversation(demo_engine, row.id).status == status


# -- item 5: undo and confirmation -------------------------------------------------------
async def test_undo_resolve_snooze_tags_assign(demo_engine: Engine, tmp_path: Path) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        row = current_row(app)
        before = conversation(demo_engine, row.id)
        await pilot.press("e")
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).status == "resolved"
        await pilot.press("u")
        await settle(pilot, 0.4)
        after = conversation(demo_engine, row.id)
        assert after.status == before.status
        assert after.resolution_due == before.resolution_due
        assert any("Undone: resolve" in str(n.message) for n in app._notifications)

        lst = app.screen.query_one(InboxList)
        lst.move_to(lst.source.index_of(row.id))
        await pilot.press("s", "1")  # snooze an hour
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).status == "snoozed"
        await pilot.press("u")
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).status == before.status
        assert conversation(demo_engine, row.id).snoozed_until is None

        app.open_conversation(row.id)
        await settle(pilot, 0.4)
        await pilot.press("t")
        await settle(pilot, 0.4)
        await pilot.press("ctrl+u", *"billing, vip, customer-x", "enter")
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).tags == ["billing", "vip", "customer-x"]
        await pilot.press("a")
        await settle(pilot, 0.4)
        await pilot.press("ctrl+u", *"bob", "enter")
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).assignee == "bob"
        await pilot.press("u")  # the assignment
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).assignee == before.assignee
        await pilot.press("u")  # the tags
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).tags == list(before.tags)
    with Session(demo_engine) as s:
        undone = (
            s.exec(
                select(Event).where(
                    Event.conversation_id == row.id, Event.kind == "conversation.undone"
                )
            )
            .scalars()
            .all()
        )
    assert [e.detail["action"] for e in undone] == [
        "resolve",
        "snooze",
        "assignment",
        "tag change",
    ]


async def test_undo_refuses_when_the_conversation_changed_since(
    demo_engine: Engine, tmp_path: Path
) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        row = current_row(app)
        await pilot.press("e")
        await settle(pilot, 0.4)
        with Session(demo_engine) as s:  # another agent (or the customer) reopened it
            conv = s.get(Conversation, row.id)
            app.desk.set_status(s, conv, "open")
            app.desk.set_status(s, conv, "pending")
            s.commit()
        await pilot.press("u")
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).status == "pending"
        assert any("changed since" in str(n.message) for n in app._notifications)


async def test_merge_shows_both_sides_and_asks(demo_engine: Engine, tmp_path: Path) -> None:
    with Session(demo_engine) as s:
        convs = s.exec(select(Conversation).order_by(Conversation.id)).scalars().all()
        source, target = convs[0], convs[1]
        source_id, target_ref, target_id = source.id, target.ref, target.id
    async with console(demo_engine, tmp_path) as (app, pilot):
        app.open_conversation(source_id)
        await settle(pilot, 0.4)
        await pilot.press("m")
        await settle(pilot, 0.4)
        assert isinstance(app.screen, InputScreen)
        number = target_ref.removeprefix("C-")
        await pilot.press(*number, "enter")  # "1061" means C-1061
        await settle(pilot, 0.4)
        assert isinstance(app.screen, ConfirmScreen)
        body = app.screen.body.plain
        assert "merged away:" in body and "stays:" in body and target_ref in body
        await pilot.press("n")
        await settle(pilot, 0.4)
        assert conversation(demo_engine, source_id).id == source_id  # still there
        await pilot.press("m")
        await settle(pilot, 0.4)
        await pilot.press(*target_ref, "enter")
        await settle(pilot, 0.4)
        await pilot.press("y")
        await settle(pilot, 0.4)
    with Session(demo_engine) as s:
        assert s.get(Conversation, source_id) is None
        assert s.get(Conversation, target_id) is not None


async def test_merge_into_an_unknown_ref_keeps_what_was_typed(
    demo_engine: Engine, tmp_path: Path
) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        await pilot.press("m")
        await settle(pilot, 0.4)
        await pilot.press(*"C-99999", "enter")
        await settle(pilot, 0.4)
        assert isinstance(app.screen, InputScreen)
        assert app.screen.query_one("#prompt-input").value == "C-99999"
        assert "no conversation" in app.screen.error


async def test_bad_snooze_time_keeps_the_dialog_and_the_text(
    demo_engine: Engine, tmp_path: Path
) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("c")
        await settle(pilot, 0.4)
        await pilot.press(*"next blursday", "enter")
        await settle(pilot, 0.4)
        assert isinstance(app.screen, InputScreen)
        assert app.screen.query_one("#prompt-input").value == "next blursday"
        assert app.screen.query_one("#prompt-error").display


async def test_tags_split_on_commas_only(demo_engine: Engine, tmp_path: Path) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        row = current_row(app)
        await pilot.press("t")
        await settle(pilot, 0.4)
        await pilot.press("ctrl+u", *"needs reply", "enter")  # one tag with a space
        await settle(pilot, 0.4)
        assert isinstance(app.screen, InputScreen)  # refused, text kept
        assert "not a tag" in str(app.screen.query_one("#prompt-error").render())
        await pilot.press("ctrl+u", *"needs-reply, refund", "enter")
        await settle(pilot, 0.4)
        assert conversation(demo_engine, row.id).tags == ["needs-reply", "refund"]


async def test_customer_merge_shows_both_customers(demo_engine: Engine, tmp_path: Path) -> None:
    from storage.models import Identity

    with Session(demo_engine) as s:
        convs = s.exec(select(Conversation).order_by(Conversation.id)).scalars().all()
        here = convs[0]
        other = next(c for c in convs if c.customer_id != here.customer_id)
        ident = (
            s.exec(select(Identity).where(Identity.customer_id == other.customer_id))
            .scalars()
            .first()
        )
        here_id, other_customer, address = here.id, other.customer_id, ident.address
        prefix = "" if ident.channel in ("email", "sms") else f"{ident.channel}:"
    async with console(demo_engine, tmp_path) as (app, pilot):
        app.open_conversation(here_id)
        await settle(pilot, 0.4)
        await pilot.press("M")
        await settle(pilot, 0.4)
        await pilot.press(*f"{prefix}{address}", "enter")
        await settle(pilot, 0.4)
        assert isinstance(app.screen, ConfirmScreen)
        assert "merged in:" in app.screen.body.plain and address in app.screen.body.plain
        await pilot.press("escape")
        await settle(pilot, 0.4)
    with Session(demo_engine) as s:
        from storage.models import Customer

        assert s.get(Customer, other_customer) is not None  # nothing merged


# -- item 11: taking a failed reply back restores the first-response clock -----------
def test_withdrawing_the_only_reply_restores_the_first_response_clock(
    demo_engine: Engine,
) -> None:
    desk = Desk(agent="alice")
    with Session(demo_engine) as s:
        conv = (
            s.exec(
                select(Conversation).where(
                    Conversation.first_responded_at.is_(None),  # type: ignore[union-attr]
                    Conversation.first_response_due.is_not(None),  # type: ignore[union-attr]
                )
            )
            .scalars()
            .first()
        )
        assert conv is not None
        due = conv.first_response_due
        item = desk.reply(s, conv, "a reply that will fail")
        s.commit()
        assert conv.first_responded_at is not None
        item.state, item.attempts = "failed", 4
        s.commit()
        assert desk.withdraw_failed(s, conv) == "a reply that will fail"
        s.commit()
        assert conv.first_responded_at is None
        assert conv.first_response_due == due
        left = s.exec(select(Message).where(Message.conversation_id == conv.id)).scalars().all()
        assert all(m.text != "a reply that will fail" for m in left)


async def test_editor_review_names_the_conversation_and_recipient(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stat
    import sys

    from omnitui.ui.screens.review import ReviewScreen

    editor = tmp_path / "fake-editor"
    editor.write_text(f"#!{sys.executable}\nimport sys\nopen(sys.argv[1], 'a').write('Hi!\\n')\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("VISUAL", str(editor))
    async with console(demo_engine, tmp_path) as (app, pilot):
        row = current_row(app)
        await pilot.press("R")
        await settle(pilot, 0.8)
        assert isinstance(app.screen, ReviewScreen)
        title = app.screen.title_text
        assert row.ref in title and "Reply to" in title and " to " in title
        await pilot.press("k")  # keep as the draft
        await settle(pilot, 0.4)
    assert drafts.load(demo_engine, row.id, "alice").body == "Hi!\n"


async def test_palette_offers_omnitui_actions_only(demo_engine: Engine, tmp_path: Path) -> None:
    async with console(demo_engine, tmp_path) as (app, pilot):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Resolve, then next" in titles and "Suspend (fg to come back)" in titles
        assert not any(t in ("Theme", "Screenshot", "Maximize", "Keys") for t in titles)


async def test_first_run_says_what_to_do(demo_engine: Engine, tmp_path: Path) -> None:
    async with console(demo_engine, tmp_path, demo=False) as (app, pilot):
        assert isinstance(app.screen, InboxScreen)
        assert any("omnitui init" in str(n.message) for n in app._notifications)

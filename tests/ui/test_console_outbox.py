"""The outbox in the console (Textual Pilot): undelivered replies listed with their
state in words, retry / cancel / edit changing the store and the screen, the status
line's warning per account, and ctrl+t on a failing reply."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk, drafts
from omnitui.desk.outbox import OutboxCounts
from omnitui.ui.app import OmniApp
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.help import help_table
from omnitui.ui.screens.inbox import InboxScreen
from omnitui.ui.screens.outbox import OutboxScreen, counts_words
from omnitui.ui.screens.prompts import ChoiceScreen
from omnitui.ui.widgets.status_line import StatusLine
from storage import open_store
from storage import repository as repo
from storage.models import Conversation, Event, Message, Outbox
from tests.support import console_probe
from tests.support.console_probe import screen_text, settle, status_plain, toasts, until

SIZE = (160, 40)
ACCOUNT = """
[[accounts]]
name = "support-mail"
kind = "email"
imap_host = "127.0.0.1"
username = "support@example.com"
address = "support@example.com"
password_env = "OMNITUI_TEST_UNUSED"
"""
HOSTILE = "[bold]x[/bold] [@click=app.quit]clickme[/] \x1b]0;TITLE\x07 \u202eevil"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")


def conversation(engine: Engine, n: int, name: str, address: str, account: str) -> int:
    with Session(engine) as s:
        msg = Desk().ingest(
            s,
            account,
            InboundMessage(
                external_id=f"m{n}",
                channel="email",
                sender=Sender("email", address, name),
                sent_at=datetime.now(UTC) - timedelta(hours=1),
                subject=f"Question {n}",
                text=f"Where is order {n}?",
            ),
        )
        s.commit()
        assert msg is not None and msg.conversation_id is not None
        return msg.conversation_id


def reply(engine: Engine, conv_id: int, text: str, state: str = "queued") -> int:
    """A reply queued by the desk, then put in ``state`` as a sync round leaves it."""
    desk = Desk(agent="alice")
    with Session(engine) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        item = desk.reply(s, conv, text)
        s.flush()
        if state == "failing":
            desk.mark_failed(
                s, item, "connection refused", retry_at=datetime.now(UTC) + timedelta(minutes=5)
            )
        elif state == "failed":
            desk.mark_failed(s, item, "554 5.7.1 rejected as spam", retry_at=None)
        elif state == "uncertain":
            desk.mark_failed(
                s, item, "may have been delivered: timed out", retry_at=None, state="uncertain"
            )
        elif state in ("sending", "sent"):
            item.state = state
        s.commit()
        assert item.id is not None
        return item.id


def outbox_row(engine: Engine, item_id: int) -> Outbox | None:
    with Session(engine) as s:
        return s.get(Outbox, item_id)


def out_texts(engine: Engine, conv_id: int) -> list[str]:
    with Session(engine) as s:
        return [
            m.text
            for m in s.exec(
                select(Message).where(
                    Message.conversation_id == conv_id, Message.direction == "out"
                )
            )
        ]


def make_app(engine: Engine, tmp_path: Path, extra: str = ACCOUNT) -> OmniApp:
    """The console for agent alice with ``extra`` config (by default one email account).
    Demo: no poller, so no account is contacted (replies queued before start stay put)."""
    config = f'[agent]\nname = "alice"\n{extra}'
    return console_probe.make_app(engine, tmp_path, config, demo=True, desk=Desk(agent="alice"))


async def open_outbox(app: OmniApp, pilot: Any, rows: int) -> OutboxScreen:
    await pilot.pause()
    await pilot.press("O")
    await until(pilot, lambda: isinstance(app.screen, OutboxScreen))
    screen = app.screen
    assert isinstance(screen, OutboxScreen)
    await until(pilot, lambda: screen.shown_counts is not None and len(screen.rows) == rows)
    return screen


async def select_reply(pilot: Any, screen: OutboxScreen, item_id: int) -> None:
    for _ in range(len(screen.rows)):
        if screen.current is not None and screen.current.item.id == item_id:
            return
        await pilot.press("j")
    assert screen.current is not None and screen.current.item.id == item_id


def test_counts_in_words() -> None:
    assert counts_words(OutboxCounts()) == "empty"
    assert counts_words(OutboxCounts(queued=1)) == "1 reply: 1 queued"
    assert (
        counts_words(OutboxCounts(queued=3, failing=2, uncertain=1))
        == "6 replies: 3 queued · 2 failing · 1 uncertain"
    )


async def test_every_state_is_listed_in_words_with_its_recipient_and_text(
    engine: Engine, tmp_path: Path
) -> None:
    ada = conversation(engine, 1, "Ada Lovelace", "ada@example.com", "support-mail")
    bob = conversation(engine, 2, "Bob Stone", "bob@example.com", "support-mail")
    ids = {
        "queued": reply(engine, ada, "Not tried yet"),
        "sending": reply(engine, ada, "On the wire", "sending"),
        "failing": reply(engine, bob, "Tracking number follows", "failing"),
        "failed": reply(engine, bob, "Refund issued", "failed"),
        "uncertain": reply(engine, ada, HOSTILE, "uncertain"),
    }
    reply(engine, bob, "Delivered long ago", "sent")  # not listed
    app = make_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_outbox(app, pilot, rows=5)
        assert [r.item.state for r in screen.rows] == [
            "queued",
            "sending",
            "failing",
            "failed",
            "uncertain",
        ]
        shown = screen_text(app)
        lines = shown.splitlines()
        for state, item_id in ids.items():
            [line] = [ln for ln in lines if ln.strip().startswith(f"{item_id} ")]
            assert f" {state} " in line, line  # the word, not only a colour
        failing = next(ln for ln in lines if ln.strip().startswith(f"{ids['failing']} "))
        assert "Bob Stone <bob@example.com>" in failing
        assert "support-mail" in failing and "×1" in failing and "connection refused" in failing
        assert "5 replies: 1 queued · 1 sending · 1 failing · 1 failed · 1 uncertain" in shown
        # The selected reply's details and text below the list; hostile text is inert.
        await select_reply(pilot, screen, ids["uncertain"])
        await pilot.pause()
        shown = screen_text(app)
        assert "UNCERTAIN" in shown and "may have been delivered" in shown
        assert "[bold]x[/bold] [@click=app.quit]clickme[/]" in shown
        assert "\x1b" not in shown and "\u202e" not in shown and "TITLE" not in shown
        assert app.is_running
        # The help screen lists the outbox's keys.
        from rich.console import Console as _Console

        console = _Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
        console.print(help_table({}))
        helped = console.export_text()
        assert "Outbox" in helped and "outbox_retry" in helped and "outbox_edit" in helped
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, InboxScreen))


async def test_retry_queues_now_and_an_uncertain_one_asks_first(
    engine: Engine, tmp_path: Path
) -> None:
    conv = conversation(engine, 1, "Ada", "ada@example.com", "support-mail")
    failed = reply(engine, conv, "Refund issued", "failed")
    unsure = reply(engine, conv, "Maybe delivered", "uncertain")
    app = make_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_outbox(app, pilot, rows=2)
        await select_reply(pilot, screen, failed)
        before = datetime.now(UTC)
        await pilot.press("r")
        await until(pilot, lambda: outbox_row(engine, failed).state == "queued")  # type: ignore[union-attr]
        row = outbox_row(engine, failed)
        assert row is not None and row.attempts == 1
        assert row.next_attempt_at is not None
        assert row.next_attempt_at.replace(tzinfo=UTC) >= before - timedelta(seconds=1)
        await until(pilot, lambda: screen.rows[0].item.state == "failing")  # queued again
        assert any(f"Reply #{failed} queued again" in t for t in toasts(app))

        await select_reply(pilot, screen, unsure)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        dialog = app.screen
        assert isinstance(dialog, ChoiceScreen)
        assert (
            dialog.title_text == f"Reply #{unsure} on C-1001 may have been delivered; send again?"
        )
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen)
        await settle(pilot)
        assert outbox_row(engine, unsure).state == "uncertain"  # type: ignore[union-attr]
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("y")
        await until(pilot, lambda: outbox_row(engine, unsure).state == "queued")  # type: ignore[union-attr]
        with Session(engine) as s:
            kinds = [e.kind for e in s.exec(select(Event).order_by(col(Event.id)))]
        assert kinds.count("outbox.retried") == 2


async def test_cancel_asks_shows_what_and_removes_it_from_outbox_and_thread(
    engine: Engine, tmp_path: Path
) -> None:
    conv = conversation(engine, 1, "Ada Lovelace", "ada@example.com", "support-mail")
    keep = reply(engine, conv, "Keep this one", "failing")
    drop = reply(engine, conv, "Wrong customer, do not send", "failed")
    app = make_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_outbox(app, pilot, rows=2)
        await select_reply(pilot, screen, drop)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        dialog = app.screen
        assert isinstance(dialog, ChoiceScreen)
        assert dialog.title_text == (
            f"Cancel reply #{drop} (failed) on C-1001 to Ada Lovelace <ada@example.com>?"
        )
        assert "“Wrong customer, do not send”" in dialog.choices[0][2]
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen)
        await settle(pilot)
        assert outbox_row(engine, drop) is not None
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("y")
        await until(pilot, lambda: outbox_row(engine, drop) is None)
        await until(pilot, lambda: [r.item.id for r in screen.rows] == [keep])
        assert out_texts(engine, conv) == ["Keep this one"]
        assert any(f"Reply #{drop} cancelled." in t for t in toasts(app))


async def test_edit_takes_the_reply_back_into_the_composer(engine: Engine, tmp_path: Path) -> None:
    conv = conversation(engine, 1, "Ada", "ada@example.com", "support-mail")
    other = conversation(engine, 2, "Bob", "bob@example.com", "support-mail")
    item = reply(engine, conv, "Typo in thsi reply", "failing")
    second = reply(engine, other, "Second typo herre", "failed")
    app = make_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        # From the inbox: the conversation opens with the text in its composer.
        screen = await open_outbox(app, pilot, rows=2)
        await select_reply(pilot, screen, item)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen))
        conv_screen = app.screen
        assert isinstance(conv_screen, ConversationScreen)
        await until(pilot, lambda: conv_screen.composer.text == "Typo in thsi reply")
        assert conv_screen.conversation_id == conv and conv_screen.composer.display
        assert outbox_row(engine, item) is None
        assert out_texts(engine, conv) == []
        with Session(engine) as s:  # no reply left: the first-response clock runs again
            taken = s.get(Conversation, conv)
            assert taken is not None and taken.first_responded_at is None
            assert taken.first_response_due is not None
        await until(
            pilot,
            lambda: (
                conv_screen.loaded is not None
                and all(i.direction != "out" for i in conv_screen.loaded.items)
            ),
        )
        # The text is this conversation's draft now: editing another reply keeps it
        # in the store and opens the other conversation.
        await pilot.press("escape")  # stop typing; the draft stays
        await pilot.press("O")
        await until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        outbox = app.screen
        assert isinstance(outbox, OutboxScreen)
        await until(pilot, lambda: [r.item.id for r in outbox.rows] == [second])
        await pilot.press("e")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, ConversationScreen)
                and app.screen.conversation_id == other
                and app.screen.composer.text == "Second typo herre"
            ),
        )
        kept = drafts.load(engine, conv, "alice")
        assert kept is not None and kept.body == "Typo in thsi reply"
        assert outbox_row(engine, second) is None
        assert [type(s).__name__ for s in app.screen_stack[-2:]] == [
            "InboxScreen",
            "ConversationScreen",
        ]
        with Session(engine) as s:
            kinds = [e.kind for e in s.exec(select(Event))]
        assert kinds.count("outbox.withdrawn") == 2


async def test_enter_opens_the_conversation(engine: Engine, tmp_path: Path) -> None:
    conv = conversation(engine, 1, "Ada", "ada@example.com", "support-mail")
    reply(engine, conv, "Refund issued", "failed")
    app = make_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_outbox(app, pilot, rows=1)
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, ConversationScreen) and app.screen.conversation_id == conv
            ),
        )


async def test_status_line_warns_per_account_and_forgets_removed_accounts(
    engine: Engine, tmp_path: Path
) -> None:
    conv = conversation(engine, 1, "Ada", "ada@example.com", "support-mail")
    gone = conversation(engine, 2, "Bob", "bob@example.com", "old-mail")
    reply(engine, conv, "One", "failing")
    reply(engine, conv, "Two", "failed")
    reply(engine, conv, "Three")
    reply(engine, gone, "From an account since removed", "failed")
    with Session(engine) as s:
        now = datetime.now(UTC)
        repo.set_account_state(s, "support-mail", kind="email", last_ok_at=now)
        repo.set_account_state(s, "old-mail", kind="email", last_ok_at=now)
        s.commit()
    app = make_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "undelivered" in status_plain(app))
        line = status_plain(app)
        assert "support-mail: ⚠ 2 undelivered" in line
        assert "old-mail" not in line  # removed from the config
        assert "outbox 1 queued · 1 failing · 2 failed" in line
        assert "O outbox" in line
        # The warning is bold, not dim: readable without colour.
        text = app.screen.query_one(StatusLine).render()
        start = text.plain.index("support-mail: ⚠")  # type: ignore[union-attr]
        styles = [s for s in text.spans if s.start <= start < s.end]  # type: ignore[union-attr]
        assert any("bold" in str(s.style) for s in styles)
        assert not any("dim" in str(s.style) for s in styles)

        # The outbox screen reloads when a sync round changes the counts.
        screen = await open_outbox(app, pilot, rows=4)
        with Session(engine) as s:
            item = s.exec(select(Outbox).where(Outbox.body == "Three")).one()
            Desk().mark_failed(s, item, "451 try again later", retry_at=now + timedelta(hours=1))
            s.commit()
        app.refresh_status()  # what every sync round and the 5-second timer do
        await until(pilot, lambda: "support-mail: ⚠ 3 undelivered" in status_plain(app))
        await until(pilot, lambda: [r.item.state for r in screen.rows].count("failing") == 2)


async def test_ctrl_t_retries_a_failing_reply_now(engine: Engine, tmp_path: Path) -> None:
    conv = conversation(engine, 1, "Ada", "ada@example.com", "support-mail")
    calm = conversation(engine, 2, "Bob", "bob@example.com", "support-mail")
    item = reply(engine, conv, "Tracking number follows", "failing")
    due = outbox_row(engine, item).next_attempt_at  # type: ignore[union-attr]
    assert due is not None and due.replace(tzinfo=UTC) > datetime.now(UTC)
    app = make_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_conversation(calm)
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen))
        await pilot.press("ctrl+t")
        await until(pilot, lambda: any("no failed replies" in t for t in toasts(app)))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, InboxScreen))
        app.open_conversation(conv)
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, ConversationScreen) and app.screen.conversation_id == conv
            ),
        )
        before = datetime.now(UTC)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: any("Retrying 1 reply now." in t for t in toasts(app)))
        row = outbox_row(engine, item)
        assert row is not None and row.state == "queued" and row.next_attempt_at is not None
        assert row.next_attempt_at.replace(tzinfo=UTC) <= datetime.now(UTC)
        assert row.next_attempt_at.replace(tzinfo=UTC) >= before - timedelta(seconds=1)

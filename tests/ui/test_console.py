"""The console driven by keys (Textual Pilot) on the demo data."""

from __future__ import annotations

import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from omnitui.desk import Desk
from omnitui.ui.app import OmniApp
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.help import HelpScreen
from omnitui.ui.screens.inbox import InboxScreen
from omnitui.ui.screens.review import ConfirmQuit, ReviewScreen
from omnitui.ui.widgets.history_pane import HistoryPane
from omnitui.ui.widgets.inbox_list import InboxList
from storage import open_store, queries
from storage.models import Conversation, Draft, Outbox
from tests.support.console_probe import make_app, screen_text, until

SIZE = (140, 40)


def inbox_list(app: OmniApp) -> InboxList:
    return app.screen.query_one(InboxList)


async def test_move_open_history_back(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, InboxScreen)
        lst = inbox_list(app)
        assert len(lst.source) >= 40
        await pilot.press("j", "j", "down")
        assert lst.cursor == 3
        await pilot.press("k")
        assert lst.cursor == 2
        await pilot.press("G")
        assert lst.cursor == len(lst.source) - 1
        await pilot.press("g")
        assert lst.cursor == 0
        first = lst.current
        assert first is not None
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConversationScreen)
        screen = app.screen
        assert screen.loaded is not None and screen.loaded.info.id == first.id
        history = screen.query_one(HistoryPane)
        ids = [o.id for o in history._options]
        assert f"c{first.id}" in ids
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, InboxScreen)


async def test_history_pane_opens_another_channel(demo_engine: Engine, tmp_path: Path) -> None:
    # A customer with conversations on two channels.
    with demo_engine.connect() as conn:
        rows = conn.execute(
            select(Conversation.customer_id, Conversation.id, Conversation.channel).order_by(
                Conversation.id
            )
        ).all()
    by_customer: dict[int, list[tuple[int, str]]] = {}
    for cust, conv, channel in rows:
        by_customer.setdefault(cust, []).append((conv, channel))
    cust, convs = next((c, v) for c, v in by_customer.items() if len({ch for _, ch in v}) >= 2)
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_conversation(convs[0][0])
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), 5)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        history = screen.query_one(HistoryPane)
        wanted = {f"c{c}" for c, _ in convs}

        def listed() -> set[str]:
            return {o.id for o in history._options if o.id and o.id.startswith("c")}

        # The history is read by a worker: wait for it (a loaded machine takes its time).
        await until(pilot, lambda: wanted <= listed(), 5)
        await pilot.press("tab")
        assert history.has_focus
        target = next(c for c, ch in convs if ch != convs[0][1])
        history.highlighted = [o.id for o in history._options].index(f"c{target}")
        await pilot.press("enter")
        await until(pilot, lambda: screen.loaded is not None and screen.loaded.info.id == target, 5)


async def test_search_shows_matching_conversations(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        await pilot.press(*"grinder")
        await pilot.press("enter")
        await pilot.pause(0.5)
        lst = inbox_list(app)
        assert 0 < len(lst.source) < 60
        row = lst.current
        assert row is not None
        with demo_engine.connect() as conn:
            items = queries.thread(conn, row.id)
            info = queries.conversation_info(conn, row.id)
        haystack = " ".join([info.subject, info.customer.name] + [i.text for i in items]).lower()  # type: ignore[union-attr]
        assert "grinder" in haystack
        await pilot.press("escape")
        await pilot.pause()
        assert len(lst.source) >= 40


async def test_reply_goes_through_outbox_and_shows_sent(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = inbox_list(app).current
        assert row is not None
        await pilot.press("r")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConversationScreen)
        await pilot.press(*"Thanks, sending a new one today")
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        with Session(demo_engine) as s:
            item = (
                s.exec(
                    select(Outbox)
                    .where(Outbox.conversation_id == row.id)
                    .order_by(Outbox.id.desc())
                )
                .scalars()
                .first()
            )  # type: ignore[attr-defined]
            assert item is not None and item.body == "Thanks, sending a new one today"
        for _ in range(30):  # the demo's local outbox "sends" after a moment
            await pilot.pause(0.1)
            with Session(demo_engine) as s:
                state = s.get(Outbox, item.id).state  # type: ignore[union-attr]
            if state == "sent":
                break
        assert state == "sent"
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        out = [i for i in screen.loaded.items if i.direction == "out"]  # type: ignore[union-attr]
        assert out[-1].text == "Thanks, sending a new one today"
        assert out[-1].delivery == "sent"


async def test_note_is_private(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = inbox_list(app).current
        assert row is not None
        with demo_engine.connect() as conn:
            before = conn.execute(select(Outbox.id)).all()
        await pilot.press("n")
        await pilot.pause(0.3)
        await pilot.press(*"customer called twice")
        await pilot.press("ctrl+s")
        await pilot.pause(0.5)
        with demo_engine.connect() as conn:
            items = queries.thread(conn, row.id)
            after = conn.execute(select(Outbox.id)).all()
        assert items[-1].direction == "note" and items[-1].text == "customer called twice"
        assert before == after  # nothing queued to send


async def test_resolve_from_inbox(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = inbox_list(app).current
        assert row is not None
        await pilot.press("e")
        await pilot.pause(0.5)
        with Session(demo_engine) as s:
            assert s.get(Conversation, row.id).status == "resolved"  # type: ignore[union-attr]
        assert all(
            inbox_list(app).source.get(i).id != row.id  # type: ignore[union-attr]
            for i in range(len(inbox_list(app).source))
        )


async def test_filters_by_channel_and_status(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path, '[agent]\nname = "me"\n')  # the demo's agent
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c")  # email
        lst = inbox_list(app)
        rows = [lst.source.get(i) for i in range(len(lst.source))]
        assert rows and {r.channel for r in rows} == {"email"}  # type: ignore[union-attr]
        await pilot.press("escape")
        await pilot.press("v", "v", "v", "v")  # resolved
        rows = [lst.source.get(i) for i in range(len(lst.source))]
        assert rows and {r.status for r in rows} == {"resolved"}  # type: ignore[union-attr]
        await pilot.press("escape", "o")  # mine
        rows = [lst.source.get(i) for i in range(len(lst.source))]
        assert rows and {r.assignee for r in rows} == {"me"}  # type: ignore[union-attr]
        await pilot.press("o")  # unassigned
        rows = [lst.source.get(i) for i in range(len(lst.source))]
        assert rows and {r.assignee for r in rows} == {None}  # type: ignore[union-attr]


async def test_help_lists_every_action(demo_engine: Engine, tmp_path: Path) -> None:
    from omnitui.keymap import ACTIONS

    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        from rich.console import Console

        from omnitui.ui.screens.help import help_table

        table = help_table(app.screen.keymap)

        console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
        console.print(table)
        text = console.export_text()
        for spec in ACTIONS:
            assert spec.id in text
        await pilot.press("escape")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


async def test_keymap_from_config_rebinds(demo_engine: Engine, tmp_path: Path) -> None:
    app = make_app(demo_engine, tmp_path, '[keys]\ncursor_down = "ctrl+n"\n')
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+n", "ctrl+n")
        assert inbox_list(app).cursor == 2


async def test_quit_asks_only_when_a_draft_would_be_lost(
    demo_engine: Engine, tmp_path: Path
) -> None:
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause(0.3)
        await pilot.press(*"half a reply")
        await pilot.press("escape")  # close composer, keep draft
        await pilot.press("q")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmQuit)
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running
    # The draft is kept in the store; once it is gone, q quits at once.
    with Session(demo_engine) as s:
        for draft in s.exec(select(Draft)).scalars():
            s.delete(draft)
        s.commit()
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause(0.3)
        assert not app.is_running


async def test_reply_in_editor_with_review(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = tmp_path / "fake-editor"
    editor.write_text(
        f"#!{sys.executable}\nimport sys\n"
        "open(sys.argv[1], 'a').write('Written in my editor.\\n')\n"
    )
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("VISUAL", str(editor))
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = inbox_list(app).current
        assert row is not None
        await pilot.press("R")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("e")  # edit again: the editor appends once more
        await pilot.pause(0.3)
        assert isinstance(app.screen, ReviewScreen)
        assert app.screen.body.count("Written in my editor.") == 2
        await pilot.press("y")
        await pilot.pause(0.5)
        with Session(demo_engine) as s:
            item = (
                s.exec(
                    select(Outbox)
                    .where(Outbox.conversation_id == row.id)
                    .order_by(Outbox.id.desc())
                )
                .scalars()
                .first()
            )  # type: ignore[attr-defined]
        assert item is not None and item.body.count("Written in my editor.") == 2


async def test_hostile_customer_text_stays_text(tmp_path: Path) -> None:
    from adapters.base import InboundMessage, Sender

    engine = open_store(f"sqlite:///{tmp_path / 'h.sqlite'}")
    desk = Desk()
    with Session(engine) as s:
        desk.ingest(
            s,
            "mail",
            InboundMessage(
                external_id="1",
                channel="email",
                sender=Sender("email", "evil@example.com", "[bold]Mallory[/] \x1b]0;pwned\x07"),
                sent_at=datetime.now(UTC),
                subject="[@click=app.quit]click me[/] \x1b[2J",
                text="[link=https://evil.example]x[/link] \x1b]52;c;ZXZpbA==\x07 \u202etxt.exe [",
            ),
        )
        s.commit()
    app = make_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "[@click=app.quit]click me[/]" in text
        assert "[bold]Mallory[/]" in text
        await pilot.press("enter")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "[link=https://evil.example]x[/link]" in text
        assert "\x1b" not in text and "\u202e" not in text
        assert app.is_running


async def test_command_palette_runs_actions_by_name(demo_engine: Engine, tmp_path: Path) -> None:
    from textual.command import CommandPalette

    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = inbox_list(app).current
        assert row is not None
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Resolve")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.5)
        with Session(demo_engine) as s:
            assert s.get(Conversation, row.id).status == "resolved"  # type: ignore[union-attr]


async def test_save_attachment_into_a_directory(demo_engine: Engine, tmp_path: Path) -> None:
    import hashlib

    from storage.models import Attachment, Message

    with Session(demo_engine) as s:
        att = (
            s.exec(
                select(Attachment).where(Attachment.filename.like("../../etc/passwd%"))  # type: ignore[attr-defined]
            )
            .scalars()
            .one()
        )
        msg = s.get(Message, att.message_id)
        conv_id, content = msg.conversation_id, att.content  # type: ignore[union-attr]
    target = tmp_path / "downloads"
    target.mkdir()
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_conversation(conv_id)  # type: ignore[arg-type]
        await pilot.pause(0.3)
        for _ in range(2):  # the second save must not overwrite the first
            await pilot.press("A")
            await pilot.pause(0.2)
            await pilot.press("enter")  # pick the attachment
            directory = app.screen.query_one("#directory")
            directory.value = str(target)  # type: ignore[attr-defined]
            await pilot.press("enter")
            await pilot.pause(0.5)
    saved = sorted(p.name for p in target.iterdir())
    assert saved == ["passwdgpj (1).exe", "passwdgpj.exe"]
    for name in saved:
        path = target / name
        assert path.parent == target and "/" not in name and "\u202e" not in name
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(content).digest()  # type: ignore[arg-type]
        assert path.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "etc").exists()


async def test_failed_reply_can_be_taken_back_and_edited(
    demo_engine: Engine, tmp_path: Path
) -> None:
    from omnitui.desk import Desk as _Desk

    with Session(demo_engine) as s:
        conv = (
            s.exec(
                select(Conversation).where(Conversation.status == "open").order_by(Conversation.id)
            )
            .scalars()
            .first()
        )
        item = _Desk().reply(s, conv, "Typo in thsi reply")  # type: ignore[arg-type]
        item.state, item.attempts, item.last_error = "failed", 1, "550 mailbox unavailable"
        s.commit()
        conv_id, outbox_id = conv.id, item.id  # type: ignore[union-attr]
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_conversation(conv_id)  # type: ignore[arg-type]
        await pilot.pause(0.3)
        await pilot.press("E")
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        assert screen.composer.display and screen.composer.text == "Typo in thsi reply"
        assert all(i.text != "Typo in thsi reply" for i in screen.loaded.items)  # type: ignore[union-attr]
        with Session(demo_engine) as s:
            assert s.get(Outbox, outbox_id) is None


async def test_sms_composer_shows_segment_count(demo_engine: Engine, tmp_path: Path) -> None:
    with Session(demo_engine) as s:
        conv_id = (
            s.exec(
                select(Conversation.id)
                .where(Conversation.channel == "sms")
                .order_by(Conversation.id)
            )
            .scalars()
            .first()
        )
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_conversation(conv_id, compose="reply")  # type: ignore[arg-type]
        await pilot.pause(0.4)
        composer = app.screen.composer  # type: ignore[attr-defined]
        composer.text = "x" * 161
        await pilot.pause()
        assert str(composer.border_subtitle).startswith("2 SMS segments (GSM-7)")
        composer.text = "こんにちは"
        await pilot.pause()
        assert str(composer.border_subtitle).startswith("1 SMS segment (UCS-2)")

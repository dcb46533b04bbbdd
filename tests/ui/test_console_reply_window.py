"""The console shows a conversation's reply window (header and composer), refuses
free text outside it while keeping the draft, and sends an approved template instead
(issue 14): Textual Pilot on the demo data, one SMS account given a toy window rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from omnitui.desk import Desk, drafts
from omnitui.desk.account_rule import AccountRule
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.prompts import ChoiceScreen, InputScreen
from omnitui.ui.widgets.thread_view import ThreadView
from storage.models import Attachment, Conversation, Message, Outbox
from tests.support import console_probe
from tests.support.console_probe import settle, until
from tests.support.window_spec import KIND, plug_window_kind

SIZE = (140, 40)


@pytest.fixture(autouse=True)
def toy_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    plug_window_kind(monkeypatch)


def closed_sms_conversation(engine: Engine) -> tuple[int, str]:
    """An SMS conversation whose customer last wrote two days ago: (id, account)."""
    with Session(engine) as s:
        conv = s.exec(select(Conversation).where(Conversation.channel == "sms")).scalars().first()
        assert conv is not None and conv.id is not None
        customer_wrote(s, conv.id, datetime.now(UTC) - timedelta(days=2))
        return conv.id, conv.account


def customer_wrote(s: Session, conversation_id: int, at: datetime) -> None:
    """The customer's messages in the conversation, dated as if last written at ``at``
    (the window counts from the recipient's own last message)."""
    for msg in s.exec(
        select(Message).where(Message.conversation_id == conversation_id, Message.direction == "in")
    ).scalars():
        msg.sent_at = at
        s.add(msg)
    conv = s.get(Conversation, conversation_id)
    assert conv is not None
    conv.last_inbound_at = at
    s.add(conv)
    s.commit()


def header_text(app: object) -> str:
    screen = app.screen  # type: ignore[attr-defined]
    return str(screen.query_one(ThreadView).query_one("#thread-header").render())


async def test_closed_window_refuses_text_keeps_the_draft_and_sends_a_template(
    demo_engine: Engine, tmp_path: Path
) -> None:
    cid, account = closed_sms_conversation(demo_engine)
    rule = AccountRule(KIND, {"templates": {"order_update": "HX01", "welcome_back": "HX02"}})
    desk = Desk(agent="alice", accounts={account: rule})
    app = console_probe.make_app(demo_engine, tmp_path, '[agent]\nname = "alice"\n', True, desk)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.4)
        app.open_conversation(cid)
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen) and app.screen.loaded)
        await settle(pilot)
        assert "Reply window: the 24-hour window closed: templates only" in header_text(app)

        await pilot.press("r")
        await settle(pilot, 0.3)
        composer = app.screen.composer
        assert "templates only" in composer.border_title
        await pilot.press(*"see you soon")
        await pilot.press("ctrl+s")
        await settle(pilot, 0.5)
        with Session(demo_engine) as s:
            queued = s.exec(select(Outbox).where(Outbox.conversation_id == cid)).scalars().all()
        assert [o for o in queued if o.body == "see you soon"] == []
        assert drafts.load(demo_engine, cid, "alice").body == "see you soon"  # nothing lost

        if app.screen.composer.has_focus:
            await pilot.press("escape")  # keys are commands again
            await settle(pilot, 0.3)
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("1")  # order_update (sorted by name)
        await until(pilot, lambda: isinstance(app.screen, InputScreen))
        await pilot.press(*"1=A-77, 2=Friday", "enter")
        await settle(pilot, 0.5)
    with Session(demo_engine) as s:
        items = s.exec(select(Outbox).where(Outbox.conversation_id == cid)).scalars().all()
    sent = [o for o in items if o.send_options.get("template") == "HX01"]
    assert len(sent) == 1
    assert sent[0].send_options["variables"] == {"1": "A-77", "2": "Friday"}


async def test_a_file_attached_in_the_composer_goes_with_the_reply(
    demo_engine: Engine, tmp_path: Path
) -> None:
    cid, account = closed_sms_conversation(demo_engine)
    with Session(demo_engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None
        customer_wrote(s, cid, datetime.now(UTC) - timedelta(minutes=5))  # window open
    manual = tmp_path / "manual.pdf"
    manual.write_bytes(b"%PDF-1.7 kettle manual")
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x00" * 2000)
    desk = Desk(agent="alice", accounts={account: AccountRule(KIND, {"max_file_bytes": 1000})})
    app = console_probe.make_app(demo_engine, tmp_path, '[agent]\nname = "alice"\n', True, desk)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.4)
        app.open_conversation(cid)
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen) and app.screen.loaded)
        await pilot.press("r")
        await settle(pilot, 0.3)
        await pilot.press(*"the manual, as promised")
        # Too big for the channel: refused with the sizes, text and file kept.
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, InputScreen))
        await pilot.press(*str(big), "enter")
        await settle(pilot, 0.2)
        assert "1 file: big.bin" in app.screen.composer.border_title
        await pilot.press("ctrl+s")
        await settle(pilot, 0.5)
        composer = app.screen.composer
        assert composer.text == "the manual, as promised" and composer.files == [str(big)]
        # Remove it, attach the manual instead (a path that is not a file is refused).
        await pilot.press("r")
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, InputScreen))
        await pilot.press("enter")  # empty: remove the attached files
        await settle(pilot, 0.2)
        assert app.screen.composer.files == []
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, InputScreen))
        await pilot.press(*str(tmp_path / "nope.pdf"), "enter")
        await settle(pilot, 0.2)
        assert isinstance(app.screen, InputScreen)  # kept open with the error
        await pilot.press(*["backspace"] * len("nope.pdf"), *"manual.pdf", "enter")
        await settle(pilot, 0.2)
        await pilot.press("ctrl+s")
        await settle(pilot, 0.5)
    with Session(demo_engine) as s:
        items = s.exec(select(Outbox).where(Outbox.conversation_id == cid)).scalars().all()
        sent = [o for o in items if o.body == "the manual, as promised"]
        assert len(sent) == 1
        files = (
            s.exec(select(Attachment).where(Attachment.message_id == sent[0].sent_message_id))
            .scalars()
            .all()
        )
    assert [(f.filename, f.content) for f in files] == [("manual.pdf", manual.read_bytes())]

"""The quarantine in the console (Textual Pilot): the count on the status line, the
screen listing items with hostile content shown as inert text, retry and drop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.segment import Segment
from sqlalchemy import Engine
from sqlmodel import Session, select
from textual.geometry import Region

from omnitui.ui.quarantine_source import RAW_LIMIT, load_raw
from omnitui.ui.screens.inbox import InboxScreen
from omnitui.ui.screens.prompts import ChoiceScreen
from omnitui.ui.screens.quarantine import QuarantineScreen, column_widths, outcome_message
from omnitui.ui.widgets.status_line import status_text
from storage import open_store, quarantine
from storage.models import Message
from tests.support.console_probe import make_app, screen_text, settle, status_plain, until

HOSTILE = "[bold]x[/bold] [@click=app.quit]clickme[/] \x1b]0;TITLE\x07 \x9b31mred \u202eevil"
EMAIL_ACCOUNT = """
[[accounts]]
name = "support-mail"
kind = "email"
imap_host = "127.0.0.1"
username = "support@example.com"
address = "support@example.com"
password_env = "OMNITUI_TEST_UNUSED"
"""
VALID_MAIL = (
    b"From: Ada Customer <ada@example.com>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: My parcel is late\r\n"
    b"Message-ID: <parcel-1@example.com>\r\n"
    b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Where is my parcel?\r\n"
)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")


def keep(engine: Engine, **fields: Any) -> int:
    values: dict[str, Any] = {
        "account": "support-mail",
        "external_id": "uid:1/7",
        "raw": b"not a mail",
        "error": "ValueError in email/parse.py:12 (parse_message)",
        "raw_type": "message/rfc822",
        "kind": "email",
        "folder": "INBOX",
        **fields,
    }
    with Session(engine) as s:
        row = quarantine.put(s, **values)
        s.commit()
        assert row.id is not None
        return row.id


def kept_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [i.id for i in quarantine.listing(conn)]


def segments(widget: Any) -> list[Segment]:
    region = Region(0, 0, widget.size.width, widget.size.height)
    return [seg for strip in widget.render_lines(region) for seg in strip]


def test_status_text_counts_the_quarantine_in_words() -> None:
    text = status_text(where="inbox", accounts=[], queued=0, problems=0, demo=False, quarantined=3)
    assert "quarantine 3" in text.plain
    assert text.plain.index("quarantine 3") < text.plain.index("outbox")
    empty = status_text(where="inbox", accounts=[], queued=0, problems=0, demo=False)
    assert "quarantine" not in empty.plain


def test_column_widths_fit_the_terminal() -> None:
    for width in (80, 140):
        widths = column_widths(width)
        assert sum(widths.values()) + 2 * len(widths) + 2 <= width


def test_raw_preview_is_cut_and_sanitised(engine: Engine) -> None:
    big = ("\x1b[2J" + "x" * 100 + "\n").encode() * 400
    item = keep(engine, raw=big)
    preview = load_raw(engine, item)
    assert preview is not None
    assert preview.size == len(big) and preview.shown == RAW_LIMIT and preview.truncated
    assert "\x1b" not in preview.text and "x" * 100 in preview.text
    assert load_raw(engine, item + 1) is None


def test_outcome_messages_are_plain() -> None:
    from omnitui.sync.quarantine_retry import RetryOutcome

    msg, severity = outcome_message([RetryOutcome(4, "a", "[bold]", "failed", "\x1b[31mBad")])
    assert severity == "error" and "\x1b" not in msg and "Kept" in msg
    msg, _ = outcome_message(
        [RetryOutcome(1, "a", "x", "stored", "1 message(s)"), RetryOutcome(2, "a", "y", "failed")]
    )
    assert msg == "Retried: 1 stored, 1 still failing (kept)."


async def test_status_line_shows_the_count_then_not(engine: Engine, tmp_path: Path) -> None:
    first = keep(engine, external_id="uid:1/1")
    keep(engine, external_id="uid:1/2")
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "quarantine 2" in status_plain(app))
        with Session(engine) as s:  # e.g. `omnitui quarantine drop` in another shell
            quarantine.drop(s, first)
            s.commit()
        app.refresh_status()  # what the 5-second timer and every sync round do
        await until(pilot, lambda: "quarantine 1" in status_plain(app))
        with Session(engine) as s:
            for item_id in kept_ids(engine):
                quarantine.drop(s, item_id)
            s.commit()
        app.refresh_status()
        await until(pilot, lambda: "quarantine" not in status_plain(app))
        assert "outbox 0" in status_plain(app)


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
async def test_hostile_item_is_listed_as_inert_text(
    engine: Engine, tmp_path: Path, size: tuple[int, int]
) -> None:
    raw = ("Subject: " + HOSTILE + "\r\n\r\nbody " + HOSTILE).encode()
    item = keep(engine, external_id=HOSTILE, raw=raw, account="acct[red]x[/red]")
    app = make_app(engine, tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("Q")
        await until(pilot, lambda: isinstance(app.screen, QuarantineScreen))
        screen = app.screen
        assert isinstance(screen, QuarantineScreen)
        await until(pilot, lambda: screen.current is not None)
        await until(pilot, lambda: "body" in screen_text(app, size[0]))
        shown = screen_text(app, size[0])
        assert app.is_running  # [@click=app.quit] did not run
        assert "[bold]x[/bold]" in shown  # literal, not bold
        assert "[@click=app.quit]clickme[/]" in shown
        assert "acct[red]x[/red]" in shown
        for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert bad not in shown
        assert "TITLE" not in shown  # the OSC's payload went with it
        assert "evil" in shown and "red" in shown
        # Nothing shown carries a click action or a style the content asked for.
        for selector in ("#quarantine-list", "#quarantine-meta", "#quarantine-raw"):
            for segment in segments(screen.query_one(selector)):
                meta = segment.style.meta if segment.style else {}
                assert "@click" not in meta, (selector, segment)
                if "clickme" in segment.text or "evil" in segment.text:
                    assert segment.style is None or not segment.style.bold
        assert screen.current is not None and screen.current.id == item
        assert "quarantine 1" in status_plain(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, InboxScreen))
        assert app.is_running


async def test_retry_stores_a_valid_mail_and_removes_the_row(
    engine: Engine, tmp_path: Path
) -> None:
    bad = keep(engine, external_id="uid:1/1", raw=b"\xff\xfe not a mail at all")
    good = keep(engine, external_id="uid:1/2", raw=VALID_MAIL)
    app = make_app(engine, tmp_path, EMAIL_ACCOUNT)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("Q")
        await until(pilot, lambda: isinstance(app.screen, QuarantineScreen))
        screen = app.screen
        assert isinstance(screen, QuarantineScreen)
        await until(pilot, lambda: screen.shown_total == 2)
        await pilot.press("j")
        assert screen.current is not None and screen.current.id == good
        await pilot.press("r")
        await until(pilot, lambda: kept_ids(engine) == [bad])
        await until(pilot, lambda: [i.id for i in screen.items] == [bad])
        with Session(engine) as s:
            (msg,) = s.exec(select(Message)).all()
            assert msg.text.startswith("Where is my parcel?")
        await until(pilot, lambda: "quarantine 1" in status_plain(app))
        await pilot.pause(0.2)
        toasts = [n.message for n in app._notifications]  # type: ignore[attr-defined]
        assert any(f"Item {good} stored" in t for t in toasts)
        assert app.inbox is not None and len(app.inbox.list.source) == 1
        await pilot.press("escape")  # the inbox's status line is already current
        await pilot.pause(0.1)
        assert isinstance(app.screen, InboxScreen)
        assert "quarantine 1" in status_plain(app)


async def test_drop_asks_then_removes(engine: Engine, tmp_path: Path) -> None:
    first = keep(engine, external_id="uid:1/1")
    second = keep(engine, external_id="uid:1/2")
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("Q")
        await until(pilot, lambda: isinstance(app.screen, QuarantineScreen))
        screen = app.screen
        assert isinstance(screen, QuarantineScreen)
        await until(pilot, lambda: screen.shown_total == 2)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("n")  # no: nothing happens
        await until(pilot, lambda: app.screen is screen)
        await settle(pilot)
        assert kept_ids(engine) == [first, second]
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("y")
        await until(pilot, lambda: kept_ids(engine) == [second])
        await until(pilot, lambda: [i.id for i in screen.items] == [second])
        assert screen.current is not None and screen.current.id == second
        await until(pilot, lambda: "quarantine 1" in status_plain(app))


async def test_key_is_rebindable_and_in_the_palette(engine: Engine, tmp_path: Path) -> None:
    keep(engine)
    app = make_app(engine, tmp_path, '[keys]\nquarantine = "f6"\n')
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("Q")
        await pilot.pause()
        assert isinstance(app.screen, InboxScreen)
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(app.screen, QuarantineScreen))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any(t.startswith("Quarantine") for t in titles)
        assert "Retry every item" in titles

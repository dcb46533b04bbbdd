"""Urgency reads by text and weight, not colour alone: with colours, under NO_COLOR and
on a 16-colour terminal; every text on screen keeps 4.5:1 contrast (WCAG) against its
background. Also: which SLA clock is shown, the customer's words in snippets, the draft
mark, the help header and a phone call's SMS reply route."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from sqlalchemy import Engine, select
from sqlmodel import Session
from textual.filter import NoColor

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk, clocks
from omnitui.formatting import sla_cell
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.help import HelpScreen, help_table
from omnitui.ui.widgets.inbox_list import InboxList
from omnitui.ui.widgets.thread_view import conversation_header
from storage import queries
from storage import repository as repo
from storage.models import Conversation, Draft, Outbox
from storage.queries import InboxFilter
from tests.support.console_probe import (
    cells,
    low_contrast,
    make_app,
    screen_text,
    until,
)

SIZE = (140, 40)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _rows(app) -> list:  # noqa: ANN001 - an OmniApp
    lst = app.screen.query_one(InboxList)
    return [lst.source.get(i) for i in range(len(lst.source))]


async def _open(app, pilot, conversation_id: int) -> ConversationScreen:  # noqa: ANN001
    app.open_conversation(conversation_id)
    await until(
        pilot,
        lambda: (
            isinstance(app.screen, ConversationScreen)
            and app.screen.loaded is not None
            and app.screen.loaded.info.id == conversation_id
        ),
    )
    screen = app.screen
    assert isinstance(screen, ConversationScreen) and screen.loaded is not None
    return screen


def _sla_cells(app) -> list:  # noqa: ANN001
    return [c for c in cells(app) if c.text.startswith(("!FR", "!NR", "!RES", "▲"))]


# -- urgency without colour ----------------------------------------------------


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
async def test_every_text_on_screen_keeps_contrast(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_color: bool
) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert app.no_color is no_color
        # The inbox with the cursor on a breached row, then on a due-soon one.
        assert low_contrast(app) == []
        rows = _rows(app)
        soon = next(i for i, r in enumerate(rows) if r.due and r.due > datetime.now(UTC))
        app.screen.query_one(InboxList).move_to(soon)
        await pilot.pause()
        assert low_contrast(app) == []
        # A breached, urgent conversation with its history pane focused.
        urgent = next(r for r in rows if r.priority == "urgent")
        await _open(app, pilot, urgent.id)
        assert low_contrast(app) == []
        await pilot.press("tab")
        await pilot.pause()
        assert low_contrast(app) == []
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert low_contrast(app) == []


async def test_breached_and_due_soon_read_by_text_and_weight(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "SLA FR/NR/RES" in text  # the legend is in the column title
        sla = _sla_cells(app)
        breached = [c for c in sla if c.text.startswith("!")]
        soon = [c for c in sla if c.text.startswith("▲")]
        assert breached and soon
        for cell in breached:
            assert "-" in cell.text and cell.style.bold and cell.style.reverse
            assert cell.contrast >= 4.5
        for cell in soon:
            assert cell.style.bold and not cell.style.reverse
            assert cell.contrast >= 4.5
        # Priority marks are glyphs, as readable as the rest.
        marks = [c for c in cells(app) if c.text in ("!!", "!")]
        assert {c.text for c in marks} == {"!!", "!"}
        assert all(c.contrast >= 4.5 and c.style.bold for c in marks)
        # With no colour at all (an ANSI theme under NO_COLOR): only attributes remain,
        # and they still tell breached from due soon from the rest.
        for cell in breached:
            (plain,) = NoColor().apply([cell_segment(cell)], None)  # type: ignore[arg-type]
            assert plain.style.bold and plain.style.reverse
        # The conversation header says it in words.
        row = next(r for r in _rows(app) if r.due and r.due < datetime.now(UTC))
        await _open(app, pilot, row.id)
        header = screen_text(app)
        assert "BREACHED" in header and "first response was due" in header


def cell_segment(cell):  # noqa: ANN001, ANN201
    from rich.segment import Segment

    return Segment(cell.text, cell.style)


async def test_sixteen_colours_keep_their_meaning(demo_engine: Engine, tmp_path: Path) -> None:
    """On TERM=xterm Rich downgrades every colour to the 16 ANSI ones: breached stays
    white on red, due soon black on yellow, and no other text turns red or yellow."""
    red, yellow = {1, 9}, {3, 11}
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        sla = _sla_cells(app)
        for cell in sla:
            fg, bg = cell.standard()
            if cell.text.startswith("!"):
                assert bg in red and fg in (7, 15), cell
            else:
                assert bg in yellow and fg == 0, cell
        marks = {c.text: c.standard()[0] for c in cells(app) if c.text in ("!!", "!")}
        assert marks and set(marks.values()) <= red
        channels = [c for c in cells(app) if c.text in ("email", "sms", "phone", "telegram")]
        assert channels and not any(c.standard()[0] in red | yellow for c in channels)


# -- which clock ---------------------------------------------------------------


def _conv(s: Session, n: int, **fields: object) -> Conversation:
    ident = repo.get_or_create_identity(s, "email", f"c{n}@example.com", f"C {n}")
    conv = repo.create_conversation(
        s,
        account="mail",
        channel="email",
        customer_id=ident.customer_id,
        subject=f"s{n}",
        created_at=NOW,
    )
    for key, value in fields.items():
        setattr(conv, key, value)
    clocks.refresh_urgency(conv)
    return conv


H = timedelta(hours=1)
CASES = {
    "first response": ({"first_response_due": NOW + H, "resolution_due": NOW + 72 * H}, "FR"),
    "next response": (
        {
            "first_response_due": NOW - H,
            "first_responded_at": NOW - 2 * H,
            "next_response_due": NOW + 2 * H,
            "resolution_due": NOW + 72 * H,
        },
        "NR",
    ),
    "resolution first": (
        {"first_response_due": NOW + 5 * H, "resolution_due": NOW + 3 * H},
        "RES",
    ),
    "pending stops next response": (
        {
            "status": "pending",
            "first_response_due": NOW + 2 * H,
            "next_response_due": NOW + H,
        },
        "FR",
    ),
    "breached first response": (
        {"first_response_due": NOW - 3 * H, "next_response_due": NOW + H},
        "FR",
    ),
}


def test_inbox_and_header_name_the_running_clock(engine: Engine) -> None:
    with Session(engine) as s:
        ids = {
            name: _conv(s, n, **fields).id for n, (name, (fields, _)) in enumerate(CASES.items())
        }
        s.commit()
    with engine.connect() as conn:
        rows = {r.id: r for r in queries.inbox_page(conn, InboxFilter(statuses=()))}
        for name, (_, short) in CASES.items():
            row = rows[ids[name]]
            info = queries.conversation_info(conn, ids[name])
            assert info is not None
            assert row.clock == info.clock, name  # SQL and Python agree
            cell, _ = sla_cell(row.due, row.clock, NOW)
            assert cell.lstrip("!▲").startswith(short + " "), (name, cell)
            long_name = {"FR": "first response", "NR": "next response", "RES": "resolution"}
            assert long_name[short] in conversation_header(info, NOW).plain, name
    header = conversation_header(info, NOW).plain  # the breached one
    assert "BREACHED" in header and "first response was due 3h00m ago" in header


# -- snippets ------------------------------------------------------------------


def test_snippets_are_the_customers_last_words(engine: Engine) -> None:
    desk = Desk()
    with Session(engine) as s:
        msg = desk.ingest(
            s,
            "tg",
            InboundMessage(
                external_id="tg:1",
                channel="telegram",
                sender=Sender("telegram", "5001", "Mei"),
                sent_at=NOW,
                text="\n  my grinder squeaks\nsince Monday",
                thread_key="5001",
            ),
        )
        assert msg is not None
        conv = s.get(Conversation, msg.conversation_id)
        assert conv is not None
        desk.reply(s, conv, "Have you tried descaling it?", at=NOW + H)
        s.commit()
        conv_id, customer_id = conv.id, conv.customer_id
        assert "descaling" in conv.preview  # the stored summary is our reply…
    with engine.connect() as conn:
        (row,) = queries.inbox_page(conn, InboxFilter())
        (by_id,) = queries.inbox_rows_by_id(conn, [conv_id])
        (item,) = queries.customer_history(conn, customer_id)  # type: ignore[arg-type]
    # …but the inbox and the history show what the customer wrote.
    assert row.title == by_id.title == "my grinder squeaks"
    assert item.preview == "my grinder squeaks"


# -- draft mark ----------------------------------------------------------------


def test_a_draft_marks_its_row(engine: Engine) -> None:
    with Session(engine) as s:
        a, b, c = (_conv(s, n, first_response_due=NOW + n * H) for n in range(1, 4))
        s.add(Draft(conversation_id=a.id, mode="reply", body="Dear Ana,", author="me"))
        s.add(Draft(conversation_id=b.id, mode="note", body="", author="me"))
        s.commit()
        ids = (a.id, b.id, c.id)
    with engine.connect() as conn:
        rows = {r.id: r.has_draft for r in queries.inbox_page(conn, InboxFilter())}
        # The several-statuses query (UNION ALL) and the single-status one agree.
        one = {r.id: r.has_draft for r in queries.inbox_page(conn, InboxFilter(("open",)))}
    assert rows == one == {ids[0]: True, ids[1]: False, ids[2]: False}


def test_the_draft_mark_is_the_viewing_agents_own(engine: Engine) -> None:
    """In a team, Bo's draft is shown to Ana as presence ("bo is typing"), never as her
    own ``✎``: her inbox, search results and both query shapes mark only hers."""
    with Session(engine) as s:
        a, b = (_conv(s, n, first_response_due=NOW + n * H) for n in range(1, 3))
        s.add(Draft(conversation_id=a.id, mode="reply", body="Ana's", author="ana"))
        s.add(Draft(conversation_id=b.id, mode="reply", body="Bo's", author="bo"))
        s.commit()
        ids = (a.id, b.id)
    with engine.connect() as conn:
        for flt in (InboxFilter(drafts_of="ana"), InboxFilter(("open",), drafts_of="ana")):
            marks = {r.id: r.has_draft for r in queries.inbox_page(conn, flt)}
            assert marks == {ids[0]: True, ids[1]: False}
        found = queries.inbox_rows_by_id(conn, list(ids), drafts_of="bo")
        assert [r.has_draft for r in found] == [False, True]
        anyone = queries.inbox_rows_by_id(conn, list(ids))
        assert [r.has_draft for r in anyone] == [True, True]


async def test_draft_mark_shows_in_the_inbox(demo_engine: Engine, tmp_path: Path) -> None:
    with Session(demo_engine) as s:
        conv = s.scalars(
            select(Conversation).where(Conversation.status == "open").order_by(Conversation.id)
        ).first()
        assert conv is not None
        s.add(Draft(conversation_id=conv.id, mode="reply", body="Thanks, Tom —", author="me"))
        s.commit()
        title = conv.subject
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        lines = [ln for ln in screen_text(app).splitlines() if "✎ draft" in ln]
        assert len(lines) == 1 and (title or "") in lines[0]


# -- column titles and the owner column ------------------------------------------------


async def _titles_over_columns(pilot, app) -> tuple[list[str], str]:  # noqa: ANN001
    """The screen's lines and the column titles' line, once an open row is drawn;
    asserts the status title starts where that row's status does."""
    await until(pilot, lambda: " open " in screen_text(app), 5)
    shown = screen_text(app).splitlines()
    header = next(ln for ln in shown if "subject / message" in ln)
    row = next(ln for ln in shown if " open " in ln)
    assert cell_len(header[: header.index("status")]) == cell_len(row[: row.index("open")])
    return shown, header


@pytest.mark.parametrize("size", [(80, 24), (119, 30), (120, 30), (140, 40)])
async def test_column_titles_stand_over_their_columns_and_wide_rows_name_the_owner(
    demo_engine: Engine, tmp_path: Path, size: tuple[int, int]
) -> None:
    """Each title starts where its column starts while the list scrolls, and from 120
    columns an owner column names who a conversation is assigned to."""
    with Session(demo_engine) as s:
        conv = s.scalars(
            select(Conversation).where(Conversation.status == "open").order_by(Conversation.id)
        ).first()
        assert conv is not None
        conv.assignee = "dana"
        s.add(conv)
        s.commit()
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=size) as pilot:
        shown, header = await _titles_over_columns(pilot, app)
        wide = size[0] >= 120
        assert ("owner" in header) == wide
        assert any("dana" in ln for ln in shown) == wide


async def test_column_titles_stand_over_their_columns_when_the_list_does_not_scroll(
    engine: Engine, tmp_path: Path
) -> None:
    """Two conversations: no scrollbar, and the titles still stand over their columns."""
    with Session(engine) as s:
        for n in range(1, 3):
            _conv(s, n, first_response_due=NOW + n * H)
        s.commit()
    app = make_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        _shown, header = await _titles_over_columns(pilot, app)
        assert "owner" in header


# -- help header, phone route --------------------------------------------------


async def test_help_shows_keys_table_name_literally(demo_engine: Engine, tmp_path: Path) -> None:
    out = io.StringIO()
    Console(width=120, file=out).print(help_table({}))
    assert "id (for [keys])" in out.getvalue()
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert "id (for [keys])" in screen_text(app)


async def test_a_phone_call_says_the_reply_goes_by_sms(demo_engine: Engine, tmp_path: Path) -> None:
    from omnitui.sync import outbound_for

    with Session(demo_engine) as s:
        conv = s.scalars(select(Conversation).where(Conversation.channel == "phone")).first()
        assert conv is not None
        item = Desk().reply(s, conv, "Calling you back by text.")
        s.flush()
        sent = outbound_for(s, s.get(Outbox, item.id))  # type: ignore[arg-type]
        s.rollback()
        conv_id = conv.id
    app = make_app(demo_engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        await _open(app, pilot, conv_id)  # type: ignore[arg-type]
        # The header is painted on the next refresh after the thread loads.
        await until(pilot, lambda: "replies go by SMS" in screen_text(app))
        text = screen_text(app)
    # The number the header names is the one Twilio's SMS goes to.
    assert f"replies go by SMS to {sent.to}" in text


def test_header_text_is_never_markup() -> None:
    info = queries.ConversationInfo(
        id=1,
        ref="C-1001",
        account="mail",
        channel="email",
        subject="[bold]hi[/bold]",
        status="open",
        priority="urgent",
        assignee=None,
        tags=(),
        created_at=NOW,
        first_response_due=NOW + 2 * H,
        first_responded_at=None,
        next_response_due=None,
        resolution_due=None,
        resolved_at=None,
        snoozed_until=None,
        due=NOW + 2 * H,
        customer=queries.CustomerInfo(1, "[red]x[/red]", False, "", ()),
    )
    header = conversation_header(info, NOW)
    assert isinstance(header, Text)
    assert "[bold]hi[/bold]" in header.plain and "[red]x[/red]" in header.plain
    assert "!! urgent" in header.plain and "first response due in 2h00m" in header.plain

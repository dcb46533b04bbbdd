"""The unified inbox: a line-rendered virtual list (like Toolong's LogLines).

Only the visible lines are rendered, each from a cached row of
:class:`~omnitui.ui.inbox_source.InboxSource`; 100 000 conversations cost the
same as 100. The countdown column is refreshed by one app timer, and only the
lines whose countdown text changed are redrawn.

Nothing here relies on colour alone: ``●`` unread, ``!!``/``!`` urgent/high priority,
``★`` VIP, ``✎ draft`` an unsent draft, ``◉ sam`` another agent viewing it (``◉ sam…``
typing a reply), and the SLA cell names its clock (``FR`` first
response, ``NR`` next response, ``RES`` resolution) with ``!`` and reverse video when
breached and ``▲`` in bold when due within 15 minutes. Below :data:`NARROW` columns
the customer column shrinks so the subject keeps room; from :data:`WIDE` columns on an
owner column names the assignee.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from omnitui.formatting import MARK, PRIORITY, PRIORITY_MARK, VIP, sla_cell
from omnitui.ui.bindings import bindings
from omnitui.ui.inbox_source import InboxSource
from omnitui.ui.safe_text import line
from storage.queries import InboxRow

#: ``messenger`` and ``instagram`` fit.
CHANNEL_W = 9
CUSTOMER_W = 20
#: The customer column below :data:`NARROW` columns.
CUSTOMER_NARROW_W = 15
NARROW = 100
STATUS_W = 8
#: The assignee column, shown on rows of :data:`WIDE` cells or more (a terminal of 120
#: columns less the scrollbar's gutter): a team sees who owns what.
OWNER_W = 10
WIDE = 118
#: ``!RES -12d04h`` fits, and the title with its legend.
DUE_W = 13
#: The SLA column's title, with its legend.
DUE_TITLE = "SLA FR/NR/RES"

#: Explicit colours: on a 16-colour terminal none of them turns red or yellow (the
#: urgency colours), and each stays over 4.5:1 on the dark theme, in colour and grey.
CHANNEL_STYLES = {
    "email": "#5fd7ff",
    "telegram": "#8787ff",
    "matrix": "#87ff87",
    "mastodon": "#d787ff",
    "sms": "#d7d7af",
    "phone": "#ffaf87",
    "whatsapp": "#87d7af",
    "messenger": "#87d7ff",
    "instagram": "#d7afff",
    "wechat": "#afd787",
}
STATUS_STYLES = {"open": "", "pending": "italic", "snoozed": "italic", "resolved": "italic"}


def _fit(text: str, width: int) -> str:
    """Cut or pad ``text`` to exactly ``width`` cells (CJK-aware), with an ellipsis."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


def _widths(width: int) -> tuple[int, int, int]:
    """(customer, subject, owner) column widths for a line of ``width`` cells; the
    owner column is 0 (not shown) below :data:`WIDE`."""
    customer = CUSTOMER_W if width >= NARROW else CUSTOMER_NARROW_W
    owner = OWNER_W + 1 if width >= WIDE else 0
    fixed = 2 + 2 + CHANNEL_W + 1 + customer + 1 + 1 + STATUS_W + 1 + owner + DUE_W
    return customer, max(width - fixed, 8), owner


def _plain(style: Style) -> Style:
    """``style`` without its colours (text on the cursor row keeps the row's colours,
    so it keeps their contrast)."""
    return Style(bold=style.bold, italic=style.italic, underline=style.underline)


MOVEMENT = {"cursor_down", "cursor_up", "top", "bottom", "page_down", "page_up"}


class InboxList(ScrollView, can_focus=True):
    """Conversations in urgency order; ``cursor`` is the highlighted index."""

    # Movement keys bind here, so they win over ScrollView's own arrow/page bindings.
    BINDINGS = [b for b in bindings("inbox") if b.id in MOVEMENT]

    COMPONENT_CLASSES = {"inbox-list--cursor", "inbox-list--unread"}

    DEFAULT_CSS = """
    InboxList { height: 1fr; overflow-x: hidden; scrollbar-gutter: stable; }
    InboxList > .inbox-list--cursor { background: $primary 40%; }
    InboxList:focus > .inbox-list--cursor { background: $primary 60%; }
    InboxList > .inbox-list--unread { text-style: bold; }
    """

    class Opened(Message):
        """Enter or a second click on a row."""

        def __init__(self, row: InboxRow) -> None:
            super().__init__()
            self.row = row

    class Highlighted(Message):
        """The cursor moved to a row."""

        def __init__(self, row: InboxRow | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, source: InboxSource, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.cursor = 0
        self._countdowns: dict[int, str] = {}
        self._styles: dict[str, Style] = {}
        #: Other agents on a conversation, by id (omnitui.desk.presence.Watcher tuples).
        self.watchers: dict[int, tuple[Any, ...]] = {}

    # -- data ----------------------------------------------------------------
    def reload(self, *, keep: InboxRow | None = None) -> None:
        """Re-read the source (after new mail, a filter change or an action)."""
        self.source.invalidate()
        count = len(self.source)
        self.virtual_size = Size(self.size.width, count)
        if keep is not None:
            self.cursor = self.source.position_of(keep)
        self.cursor = max(0, min(self.cursor, count - 1))
        self._countdowns.clear()
        self.scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self.current))

    @property
    def current(self) -> InboxRow | None:
        """The highlighted row."""
        return self.source.get(self.cursor) if len(self.source) else None

    # -- movement ------------------------------------------------------------
    def move_to(self, index: int) -> None:
        """Put the cursor on ``index`` (clamped) and keep it visible."""
        count = len(self.source)
        if count == 0:
            return
        index = max(0, min(index, count - 1))
        if index == self.cursor:
            return
        old = self.cursor
        self.cursor = index
        self.refresh_line(old)
        self.refresh_line(index)
        self.scroll_to_cursor()
        self.post_message(self.Highlighted(self.current))

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_top(self) -> None:
        self.move_to(0)

    def action_bottom(self) -> None:
        self.move_to(len(self.source) - 1)

    def action_page_down(self) -> None:
        self.page(1)

    def action_page_up(self) -> None:
        self.page(-1)

    def scroll_to_cursor(self) -> None:
        """Scroll just enough to show the cursor row."""
        height = max(self.scrollable_content_region.height, 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def page(self, direction: int) -> None:
        """Move a screenful."""
        height = max(self.scrollable_content_region.height - 1, 1)
        self.move_to(self.cursor + direction * height)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self.source))

    async def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_offset.y) + event.y
        if index >= len(self.source):
            return
        if index == self.cursor or event.chain >= 2:
            row = self.current
            if row is not None:
                self.post_message(self.Opened(row))
        else:
            self.move_to(index)

    # -- countdowns ----------------------------------------------------------
    def tick(self, now: datetime | None = None) -> int:
        """Redraw the visible lines whose countdown text changed; returns how many."""
        now = now or datetime.now(UTC)
        top = int(self.scroll_offset.y)
        changed = 0
        for y in range(top, top + self.scrollable_content_region.height):
            row = self.source.cached(y)
            if row is None or row.due is None:
                continue
            text, _ = sla_cell(row.due, row.clock, now)
            if self._countdowns.get(y) != text:
                self._countdowns[y] = text
                self.refresh_line(y)
                changed += 1
        return changed

    # -- rendering -----------------------------------------------------------
    def _style(self, spec: str) -> Style:
        style = self._styles.get(spec)
        if style is None:
            style = self._styles[spec] = Style.parse(spec) if spec else Style()
        return style

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        row = self.source.get(index)
        if row is None:
            if index == 0 and len(self.source) == 0:
                return Strip(
                    [
                        Segment(
                            _fit("  Nothing here. Esc clears filters.", width),
                            base + self._style("dim"),
                        )
                    ]
                )
            return Strip.blank(width, base)
        cursor = index == self.cursor
        if cursor:
            base = base + self.get_component_rich_style("inbox-list--cursor")
            if self.app.no_color and self.app.native_ansi_color:
                base = base + Style(reverse=True)  # no colours at all: the row stands out
        return Strip(self._segments(row, width, base, index, cursor)).crop(0, width)

    def _segments(
        self, row: InboxRow, width: int, base: Style, index: int, cursor: bool = False
    ) -> list[Segment]:
        now = datetime.now(UTC)
        due_text, due_style = sla_cell(row.due, row.clock, now)
        self._countdowns[index] = due_text
        unread = self.get_component_rich_style("inbox-list--unread") if row.unread else Style()
        paint = _plain if cursor else (lambda style: style)
        customer_w, title_w, owner_w = _widths(width)
        customer = ("★ " if row.vip else "") + line(row.customer_name)
        draft = ""
        if row.has_draft:
            draft = "✎ draft " if title_w >= 40 else "✎ "
        others = self.watchers.get(row.id)
        if others:
            first = others[0]
            wide = title_w >= 30
            mark = ("◉ " if wide else "◉") + line(first.agent, 12 if wide else 6)
            mark += "…" if first.state == "typing" else ""
            mark += f"+{len(others) - 1}" if len(others) > 1 else ""
            draft += mark + " "
        title = line(row.title, title_w + 1)
        segments = [
            Segment("● " if row.unread else "  ", base + paint(MARK)),
            Segment(PRIORITY_MARK.get(row.priority, "").ljust(2), base + paint(PRIORITY)),
            Segment(
                _fit(row.channel, CHANNEL_W) + " ",
                base + paint(self._style(CHANNEL_STYLES.get(row.channel, ""))),
            ),
            Segment(
                _fit(customer, customer_w) + " ",
                base + unread + (paint(VIP) if row.vip else Style()),
            ),
        ]
        if draft:
            segments.append(Segment(draft, base + paint(MARK)))
        segments += [
            Segment(_fit(title, title_w - len(draft)) + " ", base + unread),
            Segment(
                _fit(row.status, STATUS_W) + " ",
                base + self._style(STATUS_STYLES.get(row.status, "")),
            ),
        ]
        if owner_w:
            segments.append(Segment(_fit(line(row.assignee or ""), OWNER_W) + " ", base))
        if cell_len(due_text) > DUE_W:
            due_text = _fit(due_text, DUE_W)
        segments += [
            Segment(" " * (DUE_W - cell_len(due_text)), base),
            Segment(due_text, base + due_style),
        ]
        return segments


def header_line(width: int) -> str:
    """Column titles aligned with rows ``width`` cells wide (the list's width less its
    scrollbar's gutter, which is always kept); the SLA title carries the clock legend
    (first response, next response, resolution)."""
    customer_w, title_w, owner_w = _widths(width)
    return (
        "    "
        + _fit("channel", CHANNEL_W)
        + " "
        + _fit("customer", customer_w)
        + " "
        + _fit("subject / message", title_w)
        + " "
        + _fit("status", STATUS_W)
        + " "
        + (_fit("owner", OWNER_W) + " " if owner_w else "")
        + DUE_TITLE[:DUE_W].rjust(DUE_W)
    )

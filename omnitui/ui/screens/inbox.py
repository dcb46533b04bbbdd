"""The unified inbox screen: filters, search, the virtual list and the status line."""

from __future__ import annotations

import builtins
import time
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from omnitui.ui.bindings import bindings
from omnitui.ui.inbox_source import InboxSource
from omnitui.ui.widgets.inbox_list import InboxList, header_line
from omnitui.ui.widgets.status_line import StatusLine
from storage.models import CHANNELS
from storage.queries import ACTIVE_STATUSES, InboxFilter

if TYPE_CHECKING:
    from omnitui.ui.app import OmniApp

STATUS_VIEWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("active", ACTIVE_STATUSES),
    ("open", ("open",)),
    ("pending", ("pending",)),
    ("snoozed", ("snoozed",)),
    ("resolved", ("resolved",)),
    ("all", ()),
)
CHANNEL_VIEWS: tuple[str | None, ...] = (None, *CHANNELS)


class InboxScreen(Screen):
    """Every conversation from every channel, most urgent first."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings("inbox"))

    DEFAULT_CSS = """
    InboxScreen #view-bar { height: 1; background: $primary 30%; }
    InboxScreen #columns { height: 1; color: $text-muted; }
    InboxScreen #search { display: none; height: 3; }
    InboxScreen #search.visible { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(id="inbox")
        self.status_view = 0
        self.channel_view = 0
        self.owner_view = 0  # 0 all, 1 mine, 2 unassigned
        self.due_view = False
        self.query_text = ""
        self._search_timer: Timer | None = None

    @property
    def omni(self) -> OmniApp:
        # The console's screens run only in OmniApp (Textual types self.app as App).
        return cast("OmniApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(id="view-bar")
        yield Input(placeholder="search subject, messages, customer names…", id="search")
        yield Static(id="columns")
        yield InboxList(InboxSource(self.omni.engine, self._filter()), id="inbox-list")
        yield StatusLine(id="status")

    def on_mount(self) -> None:
        self.list.reload()
        self.list.focus()
        self._update_bar()

    @property
    def list(self) -> InboxList:
        return self.query_one(InboxList)

    def on_resize(self) -> None:
        rows = self.size.width - self.list.styles.scrollbar_size_vertical
        self.query_one("#columns", Static).update(Text(header_line(rows)))
        if self.is_mounted:
            self._update_bar(status=False)

    # -- filters -------------------------------------------------------------
    def _filter(self) -> InboxFilter:
        owner = (None, self.omni.config.agent_name, "")[self.owner_view]
        channel = CHANNEL_VIEWS[self.channel_view]
        due_before = None
        if self.due_view:
            due_before = int(time.time() + self.omni.alerts.warn_before.total_seconds())
        return InboxFilter(
            statuses=STATUS_VIEWS[self.status_view][1] if not self.due_view else (),
            channels=(channel,) if channel else (),
            assignee=owner,
            due_before=due_before,
            drafts_of=self.omni.desk.agent,
        )

    def describe(self) -> str:
        """Where the agent is, for the status line."""
        if self.query_text:
            return f"search “{self.query_text}”"
        parts = ["breached / due soon" if self.due_view else STATUS_VIEWS[self.status_view][0]]
        channel = CHANNEL_VIEWS[self.channel_view]
        parts.append(channel or "all channels")
        parts.append(("anyone's", "mine", "unassigned")[self.owner_view])
        return "inbox: " + " · ".join(parts)

    def _update_bar(self, *, status: bool = True) -> None:
        """The view bar: where the agent is, the count, and as many key hints as fit;
        ``? keys`` always stays (the hints before it go first, from the right)."""
        bar = Text(no_wrap=True, overflow="ellipsis")
        bar.append(" omnitui ", "bold reverse")
        bar.append(f"  {self.describe()}", "bold")
        bar.append(f"  ({len(self.list.source)})")
        hints = ["c channel", "v view", "o owner", "d due", "/ search"]
        width = self.size.width or self.app.size.width
        while hints and bar.cell_len + len("   " + " · ".join([*hints, "? keys"])) > width:
            hints.pop()
        tail = "   " + " · ".join([*hints, "? keys"])
        if bar.cell_len + len(tail) > width:
            bar.truncate(max(width - len(tail), 10), overflow="ellipsis")
        bar.append(tail)
        self.query_one("#view-bar", Static).update(bar)
        if status:
            self.omni.refresh_status()

    def _apply_filter(self) -> None:
        self.query_text = ""
        self.list.source.set_filter(self._filter())
        self.list.cursor = 0
        self.list.reload()
        self._update_bar()

    def action_filter_channel(self) -> None:
        self.channel_view = (self.channel_view + 1) % len(CHANNEL_VIEWS)
        self._apply_filter()

    def action_filter_status(self) -> None:
        self.status_view = (self.status_view + 1) % len(STATUS_VIEWS)
        self._apply_filter()

    def action_filter_mine(self) -> None:
        self.owner_view = (self.owner_view + 1) % 3
        self._apply_filter()

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_class("visible") or self.query_text:
            search.value = ""
            search.remove_class("visible")
            self._apply_filter()
            self.list.focus()
            return
        if self.status_view or self.channel_view or self.owner_view or self.due_view:
            self.status_view = self.channel_view = self.owner_view = 0
            self.due_view = False
            self._apply_filter()

    # -- movement ------------------------------------------------------------
    def action_cursor_down(self) -> None:
        self.list.move_to(self.list.cursor + 1)

    def action_cursor_up(self) -> None:
        self.list.move_to(self.list.cursor - 1)

    def action_top(self) -> None:
        self.list.move_to(0)

    def action_bottom(self) -> None:
        self.list.move_to(len(self.list.source) - 1)

    def action_page_down(self) -> None:
        self.list.page(1)

    def action_page_up(self) -> None:
        self.list.page(-1)

    def action_refresh(self) -> None:
        self.reload_rows()
        self.omni.poll_now()

    def reload_rows(self) -> None:
        """Re-read after new mail or an action, keeping the cursor's conversation."""
        if self.query_text:
            self._run_search(self.query_text)
            return
        self.list.reload(keep=self.list.current)
        self._update_bar()

    def refresh_found(self) -> None:
        """Re-read the rows a search found, for live updates: their status, assignee
        and marks change in place; which conversations match is not searched again
        (Enter does). One deleted since leaves the results first, so the cursor stays on
        its conversation, or, if that one went, on the row that moved into its place."""
        source, cursor = self.list.source, self.list.cursor
        before = list(source.search_ids or [])
        source.prune_search()
        now = source.search_ids or []
        left = set(now)
        # Its own conversation, else the first one after it that is still there.
        target = next((i for i in before[cursor:] if i in left), now[-1] if now else None)
        self.list.reload()
        if target is not None:
            self.list.move_to(now.index(target))
        self._update_bar()

    # -- opening and acting --------------------------------------------------
    def _current_id(self) -> int | None:
        row = self.list.current
        return row.id if row else None

    def action_open(self) -> None:
        conv_id = self._current_id()
        if conv_id is not None:
            self.omni.open_conversation(conv_id)

    @on(InboxList.Opened)
    def _opened(self, event: InboxList.Opened) -> None:
        self.omni.open_conversation(event.row.id)

    def action_reply(self) -> None:
        conv_id = self._current_id()
        if conv_id is not None:
            self.omni.open_conversation(conv_id, compose="reply")

    def action_note(self) -> None:
        conv_id = self._current_id()
        if conv_id is not None:
            self.omni.open_conversation(conv_id, compose="note")

    def action_reply_editor(self) -> None:
        conv_id = self._current_id()
        if conv_id is not None:
            # Through the conversation: $EDITOR starts from its kept draft, and the
            # review names the recipient.
            self.omni.open_conversation(conv_id, compose="editor")

    def action_undo(self) -> None:
        self.omni.undo_last()

    def action_resolve(self) -> None:
        row = self.list.current
        if row is None:
            return
        self.omni.resolve(row.id, draft_kept=bool(getattr(row, "has_draft", False)))
        self.list.source.update_cached(row, status="resolved")
        self.list.refresh()
        self.list.move_to(self.list.cursor + 1)

    def _act(self, name: str) -> None:
        conv_id = self._current_id()
        if conv_id is not None:
            getattr(self.omni, name)(conv_id)

    def action_snooze(self) -> None:
        self._act("ask_snooze")

    def action_pending(self) -> None:
        self._act("toggle_pending")

    def action_priority(self) -> None:
        self._act("ask_priority")

    def action_tags(self) -> None:
        self._act("ask_tags")

    def action_assign(self) -> None:
        self._act("ask_assign")

    def action_merge(self) -> None:
        self._act("ask_merge")

    def action_due_view(self) -> None:
        """Breached and due-soon conversations only, most urgent first (d again: back)."""
        self.due_view = not self.due_view
        self._apply_filter()

    # -- search --------------------------------------------------------------
    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.add_class("visible")
        search.focus()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        value = event.value
        self._search_timer = self.set_timer(0.15, lambda: self._run_search(value))

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._run_search(event.value)
        self.list.focus()

    def _run_search(self, value: str) -> None:
        value = value.strip()
        if not value:
            self._apply_filter()
            return
        self._search_worker(value)

    @work(thread=True, exclusive=True, group="search")
    def _search_worker(self, value: str) -> None:
        from storage.search import search

        with self.omni.engine.connect() as conn:
            hits = search(conn, value, limit=500)
        ids = [hit.conversation_id for hit in hits]
        self.app.call_from_thread(self._show_results, value, ids)

    def _show_results(self, value: str, ids: builtins.list[int]) -> None:  # ``list``: the property
        self.query_text = value
        self.list.source.set_search(ids)
        self.list.cursor = 0
        self.list.reload()
        self._update_bar()

"""One conversation: the thread, the customer's history on every channel, the composer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from omnitui.ui.actions import bindings
from omnitui.ui.widgets.composer import Composer
from omnitui.ui.widgets.history_pane import HistoryPane
from omnitui.ui.widgets.status_line import StatusLine
from omnitui.ui.widgets.thread_view import ThreadView
from storage import queries

if TYPE_CHECKING:
    from omnitui.ui.app import OmniApp


@dataclass(frozen=True)
class Loaded:
    """Everything the screen shows, read in a worker thread."""

    info: queries.ConversationInfo
    items: list[queries.ThreadItem]
    history: list[queries.HistoryItem]


def load_conversation(engine, conversation_id: int) -> Loaded | None:  # noqa: ANN001
    """Read a conversation, its thread and its customer's history."""
    with engine.connect() as conn:
        info = queries.conversation_info(conn, conversation_id)
        if info is None:
            return None
        items = queries.thread(conn, conversation_id)
        history = queries.customer_history(conn, info.customer.id)
    return Loaded(info, items, history)


class ConversationScreen(Screen):
    """The thread beside the customer history pane."""

    BINDINGS = bindings("conversation")

    DEFAULT_CSS = """
    ConversationScreen #composer { display: none; }
    ConversationScreen #main { height: 1fr; }
    """

    def __init__(
        self, conversation_id: int, compose: str | None = None, loaded: Loaded | None = None
    ) -> None:
        super().__init__()
        self.conversation_id = conversation_id
        self.loaded: Loaded | None = None
        self._compose_mode = compose
        self._preloaded = loaded

    @property
    def omni(self) -> OmniApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical():
                yield ThreadView(id="thread")
                yield Composer(id="composer")
            yield HistoryPane(id="history")
        yield StatusLine(id="status")

    def on_mount(self) -> None:
        self.query_one(ThreadView).focus()
        if self._preloaded is not None:
            loaded, self._preloaded = self._preloaded, None
            self._show(self.conversation_id, loaded)
        else:
            self.reload()

    def show_conversation(
        self, conversation_id: int, compose: str | None, loaded: Loaded | None
    ) -> None:
        """Reuse this (installed) screen for another conversation: composing a screen
        costs more than filling one (docs/PERFORMANCE.md)."""
        self.composer.text = ""
        self.composer.warnings = []
        self.composer.display = False
        self.conversation_id = conversation_id
        self.loaded = None
        self._compose_mode = compose
        self.query_one(HistoryPane).highlighted = None
        thread = self.query_one(ThreadView)
        thread.focus()
        if loaded is not None:
            self._show(conversation_id, loaded)
        else:
            self.reload()

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    def describe(self) -> str:
        """Where the agent is, for the status line."""
        if self.loaded is None:
            return "conversation"
        return f"{self.loaded.info.ref} · {self.loaded.info.channel}"

    # -- loading -------------------------------------------------------------
    def reload(self) -> None:
        """Read the conversation again (after an action or new mail)."""
        self._load(self.conversation_id)

    @work(thread=True, exclusive=True, group="conversation")
    def _load(self, conversation_id: int) -> None:
        loaded = load_conversation(self.omni.engine, conversation_id)
        self.app.call_from_thread(self._show, conversation_id, loaded)

    def _show(self, conversation_id: int, loaded: Loaded | None) -> None:
        if conversation_id != self.conversation_id:
            return  # a load overtaken by another (history pick, merge)
        if loaded is None:
            self.notify("That conversation no longer exists.", severity="error", markup=False)
            self.app.pop_screen()
            return
        first = self.loaded is None or self.loaded.info.id != conversation_id
        self.conversation_id = conversation_id
        self.loaded = loaded
        zone = self.omni.zone
        self.query_one(ThreadView).show(loaded.info, loaded.items, zone)
        self.query_one(HistoryPane).show(
            loaded.info.customer, loaded.history, conversation_id, zone
        )
        self.omni.refresh_status()
        if first and loaded.info.unread:
            self.omni.mark_read(conversation_id)
        if self._compose_mode:
            mode, self._compose_mode = self._compose_mode, None
            self.composer.open(mode, loaded.info.channel)

    def open_other(self, conversation_id: int, *, force: bool = False) -> None:
        """Show another conversation (picked in the history pane, or the one this
        conversation was merged into)."""
        if self.composer.has_draft and not force:
            self.notify("Send or clear the draft first.", severity="warning")
            return
        self.composer.display = False
        self.conversation_id = conversation_id
        self._load(conversation_id)

    @on(HistoryPane.OpenConversation)
    def _history_open(self, event: HistoryPane.OpenConversation) -> None:
        if event.conversation_id != self.conversation_id:
            self.open_other(event.conversation_id)

    # -- actions -------------------------------------------------------------
    def action_back(self) -> None:
        if self.composer.display and self.composer.has_focus:
            self.composer.display = False
            self.query_one(ThreadView).focus()
            return
        self.app.pop_screen()

    def action_scroll_down(self) -> None:
        self.query_one(ThreadView).scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        self.query_one(ThreadView).scroll_up(animate=False)

    def action_scroll_top(self) -> None:
        self.query_one(ThreadView).scroll_home(animate=False)

    def action_scroll_bottom(self) -> None:
        self.query_one(ThreadView).scroll_end(animate=False)

    def action_next_pane(self) -> None:
        history = self.query_one(HistoryPane)
        if history.has_focus:
            self.query_one(ThreadView).focus()
        else:
            history.focus()

    def action_history_open(self) -> None:
        history = self.query_one(HistoryPane)
        if history.has_focus and history.highlighted is not None:
            history.action_select()

    def action_reply(self) -> None:
        if self.loaded is not None:
            self.composer.open("reply", self.loaded.info.channel)

    def action_note(self) -> None:
        if self.loaded is not None:
            self.composer.open("note", self.loaded.info.channel)

    def action_reply_editor(self) -> None:
        draft = self.composer.text if self.composer.display else ""
        self.omni.compose_in_editor(self.conversation_id, "reply", draft)

    def action_resolve(self) -> None:
        self.omni.resolve(self.conversation_id)
        self.app.pop_screen()
        self.omni.inbox_next()

    def action_snooze(self) -> None:
        self.omni.ask_snooze(self.conversation_id)

    def action_pending(self) -> None:
        self.omni.toggle_pending(self.conversation_id)

    def action_priority(self) -> None:
        self.omni.ask_priority(self.conversation_id)

    def action_tags(self) -> None:
        self.omni.ask_tags(self.conversation_id)

    def action_assign(self) -> None:
        self.omni.ask_assign(self.conversation_id)

    def action_merge(self) -> None:
        self.omni.ask_merge(self.conversation_id)

    def action_vip(self) -> None:
        self.omni.toggle_vip(self.conversation_id)

    def action_customer_notes(self) -> None:
        self.omni.ask_customer_notes(self.conversation_id)

    def action_customer_merge(self) -> None:
        self.omni.ask_customer_merge(self.conversation_id)

    def action_kb_picker(self) -> None:
        """Pick a knowledge-base answer; it is rendered for this customer into the
        composer."""
        if self.loaded is None:
            return
        self.omni.pick_answer(self.conversation_id, self.loaded)

    def insert_answer(self, text: str, warnings: list[str]) -> None:
        """Put a rendered answer into the composer (replacing an empty draft)."""
        if not self.composer.display:
            self.composer.open("reply", self.loaded.info.channel if self.loaded else "")
        if self.composer.text.strip():
            # A second answer goes after the draft, on its own paragraph.
            self.composer.text = self.composer.text.rstrip("\n") + "\n\n" + text
        else:
            self.composer.text = text
        self.composer.warnings = [*self.composer.warnings, *warnings]
        self.composer.move_cursor(self.composer.document.end)
        self.composer.focus()

    @on(Composer.PickerRequested)
    def _composer_picker(self) -> None:
        self.action_kb_picker()

    def action_retry_send(self) -> None:
        self.omni.retry_failed(self.conversation_id)

    def action_edit_failed(self) -> None:
        self.omni.edit_failed(self.conversation_id)

    def edit_draft(self, text: str) -> None:
        """Open the composer on a withdrawn reply."""
        if self.loaded is not None:
            self.composer.open("reply", self.loaded.info.channel)
            self.composer.text = text

    def action_save_attachment(self) -> None:
        from omnitui.ui.screens.save_attachments import SaveAttachments, default_directory

        if self.loaded is None:
            return
        attachments = [a for item in self.loaded.items for a in item.attachments]
        if not attachments:
            self.notify("No attachments in this conversation.", markup=False)
            return

        def chosen(choice: tuple[int, Path] | None) -> None:
            if choice is not None:
                self.omni.save_attachment(*choice)

        self.app.push_screen(SaveAttachments(attachments, default_directory()), chosen)

    @on(Composer.Submitted)
    def _submitted(self, event: Composer.Submitted) -> None:
        if not event.text.strip():
            self.notify("Nothing to send.", severity="warning")
            return
        self.omni.submit(self.conversation_id, event.mode, event.text)
        self.composer.text = ""
        self.composer.display = False
        self.query_one(ThreadView).focus()

    @on(Composer.EditorRequested)
    def _to_editor(self, event: Composer.EditorRequested) -> None:
        self.composer.text = ""
        self.composer.display = False
        self.omni.compose_in_editor(self.conversation_id, event.mode, event.text)

    @on(Composer.Closed)
    def _closed(self) -> None:
        self.composer.display = False
        self.query_one(ThreadView).focus()

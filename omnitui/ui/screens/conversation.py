"""One conversation: the thread, the customer's history on every channel, the composer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import TextArea

from omnitui.desk import presence
from omnitui.desk.drafts import DraftText
from omnitui.ui.bindings import bindings
from omnitui.ui.safe_text import line
from omnitui.ui.screens.prompts import InputScreen
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
    #: The draft kept in the store, if any.
    draft: DraftText | None = None
    #: The address a reply goes to now (None: the customer has none on the channel).
    recipient: str | None = None
    #: What the platform lets the agent send now, in words ('' when no rule applies).
    window: str = ""
    #: The account's approved templates (names).
    templates: tuple[str, ...] = ()


def load_conversation(engine, conversation_id: int, desk=None) -> Loaded | None:  # noqa: ANN001
    """Read a conversation, its thread, its customer's history, its draft, where a
    reply would go and (with ``desk``) its reply window and templates."""
    from sqlmodel import Session

    from omnitui.desk import drafts
    from omnitui.desk.reply_windows import describe
    from omnitui.sync import reply_recipient
    from storage.models import Conversation

    with engine.connect() as conn:
        info = queries.conversation_info(conn, conversation_id)
        if info is None:
            return None
        items = queries.thread(conn, conversation_id)
        history = queries.customer_history(conn, info.customer.id)
    with Session(engine) as s:
        conv = s.get(Conversation, conversation_id)
        recipient = reply_recipient(s, conv) if conv is not None else None
        window, templates = "", ()
        if conv is not None and desk is not None:
            rule = desk.reply_window(s, conv)
            templates = tuple(sorted(desk.templates(conv)))
            window = describe(rule)
            if templates and rule.state in ("template_only", "open"):
                window += (" · " if window else "") + "T sends a template"
    draft = drafts.load(engine, conversation_id, desk.agent) if desk is not None else None
    return Loaded(info, items, history, draft, recipient, window, templates)


class ConversationScreen(Screen):
    """The thread beside the customer history pane."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings("conversation"))

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
        self._save_timer: Timer | None = None
        #: The newest message on screen when the draft in the composer began: a reply
        #: is checked against what came after it (omnitui.ui.team_view).
        self.seen_upto: int | None = None

    @property
    def omni(self) -> OmniApp:
        # The console's screens run only in OmniApp (Textual types self.app as App).
        return cast("OmniApp", self.app)

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
        self.flush_draft()
        self.composer.conversation_id = None
        self.composer.text = ""
        self.composer.warnings = []
        self.composer.files = []
        self.composer.display = False
        self.conversation_id = conversation_id
        self.loaded = None
        self.seen_upto = None
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
        """Where the agent is and where keys go, for the status line."""
        if self.loaded is None:
            return "conversation"
        where = f"{self.loaded.info.ref} · {self.loaded.info.channel}"
        if self.composer.display and self.composer.has_focus:
            return f"{where} · typing a {self.composer.mode} (esc: keys are commands)"
        if self.composer.display:
            return f"{where} · keys are commands (r: back to the draft)"
        return where

    # -- loading -------------------------------------------------------------
    def reload(self) -> None:
        """Read the conversation again (after an action or new mail)."""
        self._load(self.conversation_id)

    @work(thread=True, exclusive=True, group="conversation")
    def _load(self, conversation_id: int) -> None:
        loaded = load_conversation(self.omni.engine, conversation_id, self.omni.desk)
        self.app.call_from_thread(self._show, conversation_id, loaded)

    def _show(self, conversation_id: int, loaded: Loaded | None) -> None:
        if conversation_id != self.conversation_id:
            return  # a load overtaken by another (history pick, merge)
        if loaded is None:
            self.notify("That conversation no longer exists.", severity="error", markup=False)
            self.omni.show_presence(None)
            self.app.pop_screen()
            return
        first = self.loaded is None or self.loaded.info.id != conversation_id
        self.conversation_id = conversation_id
        self.loaded = loaded
        self.composer.window = loaded.window
        zone = self.omni.zone
        self.query_one(ThreadView).show(loaded.info, loaded.items, zone, loaded.window)
        self.query_one(HistoryPane).show(
            loaded.info.customer, loaded.history, conversation_id, zone
        )
        self.omni.refresh_status()
        self.omni.handling_view_changed()
        if first:
            self.omni.show_presence(conversation_id)
            self.show_watchers(self.omni.watchers.get(conversation_id, ()))
        if first and loaded.info.unread:
            self.omni.mark_read(conversation_id)
        if first:
            self._restore_draft(loaded)
        if self._compose_mode:
            mode, self._compose_mode = self._compose_mode, None
            if mode == "editor":
                self.call_after_refresh(self.action_reply_editor)
            else:
                self._open_composer(mode)
        self.omni.release_keys()

    def _restore_draft(self, loaded: Loaded) -> None:
        """Show the draft kept in the store (typing resumes with r or n)."""
        draft = loaded.draft
        cid = loaded.info.id
        if draft is None or self.composer.conversation_id == cid:
            return
        self.omni.drafts.remember(cid, draft.mode, draft.body)
        self.seen_upto = draft.base_message_id
        self.composer.conversation_id = cid
        self.composer.show_draft(draft.mode, self._reply_target(), draft.body, loaded.info.channel)

    def _reply_target(self) -> str:
        """Where a reply goes, for the composer's title: channel and address."""
        if self.loaded is None:
            return ""
        channel = self.loaded.info.channel
        by = "SMS" if channel in ("sms", "phone") else channel
        to = self.loaded.recipient
        return f"{by} to {to}" if to else f"{by} (the customer has no {channel} address!)"

    def newest_seen(self) -> int | None:
        """The newest message of the conversation on screen."""
        if self.loaded is None or not self.loaded.items:
            return None
        return max(item.id for item in self.loaded.items)

    def show_watchers(self, watchers: tuple[presence.Watcher, ...]) -> None:
        """Who else has this conversation open, in the header."""
        named = tuple(presence.Watcher(line(w.agent, 32), w.state) for w in watchers)
        self.query_one(ThreadView).show_watchers(presence.describe(named))

    def _open_composer(self, mode: str) -> None:
        if self.loaded is None:
            return
        if not self.composer.text.strip():
            self.seen_upto = self.newest_seen()
        self.composer.conversation_id = self.loaded.info.id
        self.composer.open(mode, self._reply_target(), self.loaded.info.channel)

    # -- the draft in the store ------------------------------------------------
    @on(TextArea.Changed, "#composer")
    def _draft_changed(self) -> None:
        cid = self.composer.conversation_id
        if cid is not None and self.composer.text.strip():
            if self.seen_upto is None:
                self.seen_upto = self.newest_seen()
            self.omni.show_presence(cid, "typing")
        if self._save_timer is None:
            self._save_timer = self.set_timer(0.7, self.flush_draft)

    def flush_draft(self) -> None:
        """Save the composer's text as the draft now, if it changed (in a worker)."""
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        cid = self.composer.conversation_id
        if cid is None:
            return
        mode, body = self.composer.mode, self.composer.text
        saver = self.omni.drafts
        if not saver.changed(cid, mode, body):
            return
        had = cid in saver.known
        saver.remember(cid, mode, body)
        mark = had != (cid in saver.known)  # a draft appeared or went
        self.omni.save_draft(cid, mode, body, saver.ticket(cid), mark=mark, base=self.seen_upto)

    def draft_state(self) -> tuple[int, str, str] | None:
        """The composer's unsaved text, for a save that must happen now (quitting)."""
        cid = self.composer.conversation_id
        if cid is None or not self.omni.drafts.changed(cid, self.composer.mode, self.composer.text):
            return None
        return cid, self.composer.mode, self.composer.text

    def open_other(self, conversation_id: int) -> None:
        """Show another conversation (picked in the history pane, or the one this
        conversation was merged into)."""
        self.flush_draft()
        self.composer.conversation_id = None
        self.composer.text = ""
        self.composer.display = False
        self.conversation_id = conversation_id
        self.seen_upto = None
        self._load(conversation_id)

    @on(HistoryPane.OpenConversation)
    def _history_open(self, event: HistoryPane.OpenConversation) -> None:
        if event.conversation_id != self.conversation_id:
            self.open_other(event.conversation_id)

    # -- actions -------------------------------------------------------------
    def action_back(self) -> None:
        if self.composer.display and self.composer.has_focus:
            self._close_composer()
            return
        self.flush_draft()
        self.omni.show_presence(None)
        self.app.pop_screen()

    def _close_composer(self) -> None:
        """Esc: the composer hides when empty; a draft stays in view (and in the store)
        and keys are commands again."""
        self.flush_draft()
        if not self.composer.has_draft:
            self.composer.display = False
        self.omni.show_presence(self.conversation_id)
        self.query_one(ThreadView).focus()
        self.omni.refresh_status()

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

    def action_toggle_history(self) -> None:
        """Fold the history pane away or bring it back (it folds by itself on a
        narrow terminal)."""
        self.query_one(HistoryPane).toggle_fold()

    def action_history_open(self) -> None:
        history = self.query_one(HistoryPane)
        if history.has_focus and history.highlighted is not None:
            history.action_select()

    def action_reply(self) -> None:
        self._open_composer("reply")

    def action_note(self) -> None:
        self._open_composer("note")

    def action_template(self) -> None:
        if self.loaded is not None:
            self.omni.ask_template(self.conversation_id, self.loaded.templates)

    def action_reply_editor(self) -> None:
        self.flush_draft()
        draft = self.composer.text if self.composer.display else ""
        self.omni.compose_in_editor(
            self.conversation_id, "reply", draft, self.review_title("reply")
        )

    def review_title(self, mode: str) -> str:
        """The $EDITOR review's title: what, to whom, on which conversation."""
        if self.loaded is None:
            return "Reply — review"
        info = self.loaded.info
        if mode == "note":
            return f"Private note on {info.ref} (never sent) — review"
        name = info.customer.name or "the customer"
        return f"Reply to {name} by {self._reply_target()} on {info.ref} — review"

    def action_resolve(self) -> None:
        self.flush_draft()
        self.omni.resolve(self.conversation_id, draft_kept=self.composer.has_draft)
        self.omni.show_presence(None)
        self.app.pop_screen()
        self.omni.inbox_next()

    def action_undo(self) -> None:
        self.omni.undo_last()

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
        if not self.composer.display or not self.composer.has_focus:
            self._open_composer(self.composer.mode if self.composer.has_draft else "reply")
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

    def edit_draft(self, text: str, mode: str = "reply") -> None:
        """Open the composer on a withdrawn reply (after any draft already there)."""
        if self.loaded is not None:
            self._open_composer(mode)
            current = self.composer.text.strip("\n")
            self.composer.text = f"{current}\n\n{text}" if current.strip() else text
            self.composer.move_cursor(self.composer.document.end)

    def keep_text(self, conversation_id: int, mode: str, text: str) -> None:
        """Text came back from $EDITOR: it is the draft now (shown, saved)."""
        if conversation_id != self.conversation_id or self.loaded is None:
            return
        self.composer.conversation_id = conversation_id
        self.composer.show_draft(mode, self._reply_target(), text, self.loaded.info.channel)
        self.flush_draft()

    def clear_text(self, conversation_id: int) -> None:
        """The draft was sent or thrown away."""
        if conversation_id != self.conversation_id:
            return
        self.composer.text = ""
        self.composer.display = False
        self.flush_draft()
        self.query_one(ThreadView).focus()

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
        if not event.text.strip() and not event.files:
            self.notify("Nothing to send.", severity="warning")
            return
        cid = self.conversation_id
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        self.omni.drafts.remember(cid, event.mode, "")  # dropped by the send itself
        self.omni.submit(cid, event.mode, event.text, event.files, seen=self.seen_upto)
        self.take_text_for_send(cid)

    def take_text_for_send(self, conversation_id: int) -> None:
        """The composer's text is on its way: empty and hide the composer."""
        if conversation_id != self.conversation_id:
            return
        self.seen_upto = None
        self.composer.set_files([])
        self.composer.text = ""
        self.composer.display = False
        self.omni.show_presence(conversation_id)
        self.query_one(ThreadView).focus()

    def restore_after_failure(
        self, conversation_id: int, mode: str, text: str, files: tuple[str, ...] = ()
    ) -> None:
        """The reply could not be queued: its text and files are back in the composer."""
        loaded = self.loaded
        if (
            conversation_id == self.conversation_id
            and loaded is not None
            and not self.composer.has_draft
        ):
            self.composer.conversation_id = conversation_id
            self.composer.files = list(files)
            self.composer.show_draft(mode, self._reply_target(), text, loaded.info.channel)
            self.omni.drafts.remember(conversation_id, mode, text)

    @on(Composer.AttachRequested)
    def _attach_file(self, _event: Composer.AttachRequested) -> None:
        composer = self.composer

        def problem(text: str) -> str | None:
            path = text.strip()
            if path and not Path(path).expanduser().is_file():
                return f"{path}: not a file"
            return None

        def chosen(text: str | None) -> None:
            if text is None:
                return
            path = text.strip()
            composer.set_files([*composer.files, path] if path else [])
            composer.focus()

        self.app.push_screen(
            InputScreen(
                "Attach a file",
                hint="its path (~ works); empty removes the attached files",
                check=problem,
            ),
            chosen,
        )

    @on(Composer.EditorRequested)
    def _to_editor(self, event: Composer.EditorRequested) -> None:
        self.flush_draft()
        self.query_one(ThreadView).focus()
        self.omni.compose_in_editor(
            self.conversation_id, event.mode, event.text, self.review_title(event.mode)
        )

    @on(Composer.Closed)
    def _composer_closed(self) -> None:  # not ``_closed``: Textual's MessagePump flag
        self._close_composer()

    def on_screen_resume(self) -> None:
        self.omni.handling_view_changed()
        if self.loaded is not None:
            typing = self.composer.display and bool(self.composer.text.strip())
            self.omni.show_presence(self.conversation_id, "typing" if typing else "viewing")

    def on_screen_suspend(self) -> None:
        self.omni.handling_view_changed()

    def on_descendant_focus(self) -> None:
        self.omni.refresh_status()

    def on_descendant_blur(self) -> None:
        self.omni.refresh_status()

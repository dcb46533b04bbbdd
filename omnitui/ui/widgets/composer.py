"""The composer: a short reply or private note typed in place; ctrl+s queues it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual.binding import BindingType
from textual.message import Message
from textual.widgets import TextArea

from omnitui.ui.bindings import bindings

#: How a rendered answer shows a placeholder it could not fill (see omnitui.desk.kb.templates).
UNKNOWN_MARK = "[?"


class Composer(TextArea):
    """A plain-text editor for a reply (``mode="reply"``) or a note (``"note"``)."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings("composer"))

    DEFAULT_CSS = """
    Composer { height: 8; border: round $accent; }
    Composer.note { border: round $warning; }
    Composer.warning { border: round $error; }
    """

    class Submitted(Message):
        """The agent pressed send (``files``: paths attached to a reply)."""

        def __init__(self, mode: str, text: str, files: tuple[str, ...] = ()) -> None:
            super().__init__()
            self.mode = mode
            self.text = text
            self.files = files

    class EditorRequested(Message):
        """Continue this draft in $EDITOR."""

        def __init__(self, mode: str, text: str) -> None:
            super().__init__()
            self.mode = mode
            self.text = text

    class Closed(Message):
        """Escape: hide the composer, keeping the draft."""

    class PickerRequested(Message):
        """``/`` in an empty composer, or ctrl+o: pick a knowledge-base answer."""

    class AttachRequested(Message):
        """ctrl+f: attach a file to the reply (asks for its path)."""

    HINT = "ctrl+s send · ctrl+f file · ctrl+e $EDITOR · esc leave (draft kept)"

    def __init__(self, **kwargs: Any) -> None:
        # Tab indents: it never moves focus, so letters typed next stay text and can
        # never fire a command (issue: Tab, then "e", resolved the conversation).
        super().__init__(
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="indent",
            **kwargs,
        )
        self.mode = "reply"
        self.channel = ""
        self.target = ""
        #: The conversation this text belongs to (its draft in the store).
        self.conversation_id: int | None = None
        #: Placeholder warnings of an inserted answer, shown until the text is fixed.
        self.warnings: list[str] = []
        #: Paths of the files attached to the reply (kept while the console runs).
        self.files: list[str] = []
        #: What the platform lets the agent send now, in words ('' without a rule).
        self.window = ""

    def open(self, mode: str, target: str, channel: str = "") -> None:
        """Show for a reply or a note, and type into it."""
        self._set_mode(mode, target, channel)
        self.display = True
        self.focus()

    def show_draft(self, mode: str, target: str, text: str, channel: str = "") -> None:
        """Show a kept draft without typing into it (r or n continues)."""
        self._set_mode(mode, target, channel)
        self.text = text
        self.move_cursor(self.document.end)
        self.display = True
        self._update_hint()

    def _set_mode(self, mode: str, target: str, channel: str) -> None:
        self.mode = mode
        self.target = target
        self.channel = channel
        self.set_class(mode == "note", "note")
        self._title()
        self._update_hint()

    def _title(self) -> None:
        if self.mode == "note":
            self.border_title = "private note (never sent)"
            return
        title = f"reply by {self.target}"
        if self.files:
            names = ", ".join(Path(f).name for f in self.files)
            title += f" · {len(self.files)} file{'s' if len(self.files) != 1 else ''}: {names}"
        if self.window:
            title += f" · {self.window}"
        self.border_title = title

    def set_files(self, files: list[str]) -> None:
        """Attach these paths to the reply (shown in the title)."""
        self.files = list(files)
        self._title()

    def on_focus(self) -> None:
        self._update_hint(focused=True)

    def on_blur(self) -> None:
        self._update_hint(focused=False)

    def _update_hint(self, focused: bool | None = None) -> None:
        if not (self.has_focus if focused is None else focused):
            key = "n" if self.mode == "note" else "r"
            self.border_subtitle = f"draft kept · not typing: {key} continues"
            self.remove_class("warning")
            return
        hint = self.HINT
        if self.mode == "reply" and not self.text:
            hint = f"/ answer · {hint}"
        if self.warnings and UNKNOWN_MARK in self.text:
            hint = f"⚠ {'; '.join(self.warnings)} · {hint}"
            self.add_class("warning")
        else:
            self.warnings = []
            self.remove_class("warning")
        if self.mode == "reply" and self.channel in ("sms", "phone") and self.text:
            from adapters.twilio import sms_segments

            segments, encoding = sms_segments(self.text)
            hint = f"{segments} SMS segment{'s' if segments != 1 else ''} ({encoding}) · {hint}"
        self.border_subtitle = hint

    def on_text_area_changed(self) -> None:
        self._update_hint()

    @property
    def has_draft(self) -> bool:
        """Whether there is text (or an attached file) that would be lost."""
        return bool(self.text.strip() or self.files)

    def action_send(self) -> None:
        files = tuple(self.files) if self.mode == "reply" else ()
        self.post_message(self.Submitted(self.mode, self.text, files))

    def action_attach(self) -> None:
        if self.mode == "note":
            self.app.notify("Notes are never sent: attach files to a reply.", markup=False)
            return
        self.post_message(self.AttachRequested())

    def action_composer_editor(self) -> None:
        self.post_message(self.EditorRequested(self.mode, self.text))

    def action_close(self) -> None:
        self.post_message(self.Closed())

    def action_kb_picker(self) -> None:
        self.post_message(self.PickerRequested())

    async def _on_key(self, event) -> None:  # noqa: ANN001 - a textual Key event
        if event.character == "/" and not self.text and self.mode == "reply":
            event.prevent_default()
            event.stop()
            self.post_message(self.PickerRequested())
            return
        await super()._on_key(event)

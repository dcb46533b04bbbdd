"""The composer: a short reply or private note typed in place; ctrl+s queues it."""

from __future__ import annotations

from textual.message import Message
from textual.widgets import TextArea

from omnitui.ui.actions import bindings


class Composer(TextArea):
    """A plain-text editor for a reply (``mode="reply"``) or a note (``"note"``)."""

    BINDINGS = bindings("composer")

    DEFAULT_CSS = """
    Composer { height: 8; border: round $accent; }
    Composer.note { border: round $warning; }
    """

    class Submitted(Message):
        """The agent pressed send."""

        def __init__(self, mode: str, text: str) -> None:
            super().__init__()
            self.mode = mode
            self.text = text

    class EditorRequested(Message):
        """Continue this draft in $EDITOR."""

        def __init__(self, mode: str, text: str) -> None:
            super().__init__()
            self.mode = mode
            self.text = text

    class Closed(Message):
        """Escape: hide the composer, keeping the draft."""

    HINT = "ctrl+s send · ctrl+e $EDITOR · esc close"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, **kwargs)  # type: ignore[arg-type]
        self.mode = "reply"
        self.channel = ""

    def open(self, mode: str, channel: str) -> None:
        """Show for a reply or a note."""
        self.mode = mode
        self.channel = channel
        self.set_class(mode == "note", "note")
        self.border_title = "private note (never sent)" if mode == "note" else f"reply on {channel}"
        self._update_hint()
        self.display = True
        self.focus()

    def _update_hint(self) -> None:
        hint = self.HINT
        if self.mode == "reply" and self.channel == "sms" and self.text:
            from adapters.twilio import sms_segments

            segments, encoding = sms_segments(self.text)
            hint = f"{segments} SMS segment{'s' if segments != 1 else ''} ({encoding}) · {hint}"
        self.border_subtitle = hint

    def on_text_area_changed(self) -> None:
        self._update_hint()

    @property
    def has_draft(self) -> bool:
        """Whether there is text that would be lost."""
        return bool(self.text.strip())

    def action_send(self) -> None:
        self.post_message(self.Submitted(self.mode, self.text))

    def action_composer_editor(self) -> None:
        self.post_message(self.EditorRequested(self.mode, self.text))

    def action_close(self) -> None:
        self.post_message(self.Closed())

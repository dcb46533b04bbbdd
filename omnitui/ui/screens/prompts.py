"""Small keyboard-first dialogs: pick one of a few choices by its key, or type a line."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 64; height: auto; max-height: 80%; border: round $accent;
    background: $surface; padding: 0 1; }}
{name} .hint {{ color: $text-muted; }}
"""


class ChoiceScreen(ModalScreen[str | None]):
    """A title and a few choices, each picked by one key; esc cancels."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ChoiceScreen")
    BINDINGS = [Binding("escape,q", "pick('')", "Cancel", id="choice_cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str, str]]) -> None:
        """``choices``: (key, value, label) triples."""
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, "bold"))
            for key, _value, label in self.choices:
                line = Text()
                line.append(f" {key} ", "bold reverse")
                line.append(f"  {label}")
                yield Static(line)
            yield Static(Text("esc cancel", "dim"), classes="hint")

    def on_key(self, event) -> None:  # noqa: ANN001 - a textual Key event
        for key, value, _label in self.choices:
            if event.character == key:
                event.stop()
                self.dismiss(value)
                return

    def action_pick(self, value: str) -> None:
        self.dismiss(value or None)


class InputScreen(ModalScreen[str | None]):
    """A title, a hint and one line of input; enter accepts, esc cancels."""

    DEFAULT_CSS = DIALOG_CSS.format(name="InputScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="input_cancel")]

    def __init__(
        self, title: str, *, value: str = "", hint: str = "", placeholder: str = ""
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.hint = hint
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, "bold"))
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            if self.hint:
                yield Static(Text(self.hint, "dim"), classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)

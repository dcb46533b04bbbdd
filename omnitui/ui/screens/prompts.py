"""Small keyboard-first dialogs: pick one of a few choices by its key, type a line, or
confirm with both sides shown. Each takes the keys the app held while it was on its
way (``OmniApp.release_keys``), so keys typed together never reach the screen below."""

from __future__ import annotations

from collections.abc import Callable

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
{name} .error {{ color: $text-error; text-style: bold; }}
"""


def _release_held_keys(screen: ModalScreen) -> None:
    release = getattr(screen.app, "release_keys", None)
    if release is not None:
        screen.call_after_refresh(release)


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

    def on_mount(self) -> None:
        _release_held_keys(self)

    def on_key(self, event) -> None:  # noqa: ANN001 - a textual Key event
        for key, value, _label in self.choices:
            if event.character == key:
                event.stop()
                self.dismiss(value)
                return

    def action_pick(self, value: str) -> None:
        self.dismiss(value or None)


class InputScreen(ModalScreen[str | None]):
    """A title, a hint and one line of input; enter accepts, esc cancels. A ``check``
    that returns an error keeps the dialog open with the text as typed; so does
    opening it again with ``error`` after a later failure."""

    DEFAULT_CSS = DIALOG_CSS.format(name="InputScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="input_cancel")]

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        hint: str = "",
        placeholder: str = "",
        error: str = "",
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.hint = hint
        self.placeholder = placeholder
        self.error = error
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, "bold"))
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static(Text(self.error), classes="error", id="prompt-error")
            if self.hint:
                yield Static(Text(self.hint), classes="hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-error", Static).display = bool(self.error)
        self.query_one(Input).focus()
        _release_held_keys(self)

    def show_error(self, message: str) -> None:
        """Say what is wrong; the typed text stays for fixing."""
        error = self.query_one("#prompt-error", Static)
        error.update(Text(f"⚠ {message}"))
        error.display = True

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.check is not None:
            problem = self.check(event.value)
            if problem:
                self.show_error(problem)
                return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A question with what it affects shown in full; y does it, n or esc does not."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmScreen").replace("width: 64", "width: 76")
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm_yes"),
        Binding("n,escape,q", "answer(False)", "No", id="confirm_no"),
    ]

    def __init__(self, title: str, body: Text, yes: str = "yes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, "bold"))
            yield Static(self.body)
            yield Static(Text(f"y {self.yes} · n / esc cancel", "bold"), classes="hint")

    def on_mount(self) -> None:
        _release_held_keys(self)

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

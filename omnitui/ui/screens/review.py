"""Review after $EDITOR (as in mutt/aerc): y send, e edit again, q discard."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from omnitui.sanitize import clean


class ReviewScreen(ModalScreen[str]):
    """Shows the draft; dismisses with ``"send"``, ``"edit"`` or ``"discard"``."""

    BINDINGS = [
        Binding("y", "choose('send')", "Send", id="review_send"),
        Binding("e", "choose('edit')", "Edit again", id="review_edit"),
        Binding("q,escape", "choose('discard')", "Discard", id="review_discard"),
    ]

    DEFAULT_CSS = """
    ReviewScreen { align: center middle; }
    ReviewScreen > VerticalScroll { width: 90%; height: 80%; border: round $accent;
        background: $surface; padding: 0 1; }
    ReviewScreen #review-keys { dock: bottom; height: 1; }
    """

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(self.title_text, "bold"))
            yield Static(Text(clean(self.body)))
        yield Static(Text(" y send · e edit · q discard ", "bold reverse"), id="review-keys")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class ConfirmQuit(ModalScreen[bool]):
    """Asked only when quitting would lose a draft."""

    BINDINGS = [
        Binding("y", "answer(True)", "Quit", id="quit_yes"),
        Binding("n,escape,q", "answer(False)", "Stay", id="quit_no"),
    ]

    DEFAULT_CSS = """
    ConfirmQuit { align: center middle; }
    ConfirmQuit > Static { width: 50; border: round $warning; background: $surface;
        padding: 1 2; }
    """

    def compose(self) -> ComposeResult:
        yield Static(Text("A draft would be lost. Quit anyway?  y / n"))

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

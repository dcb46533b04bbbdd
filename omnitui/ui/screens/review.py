"""Review after $EDITOR (as in mutt/aerc): y send, e edit again, k keep as the draft,
d discard; and the question before quitting with unsent drafts."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from omnitui.sanitize import clean


class ReviewScreen(ModalScreen[str]):
    """Shows the draft; dismisses with ``"send"``, ``"edit"``, ``"keep"`` or
    ``"discard"``. Escape and q keep the draft: throwing text away takes its own key."""

    BINDINGS = [
        Binding("y", "choose('send')", "Send", id="review_send"),
        Binding("e", "choose('edit')", "Edit again", id="review_edit"),
        Binding("k,q,escape", "choose('keep')", "Keep as draft", id="review_keep"),
        Binding("d", "choose('discard')", "Discard", id="review_discard"),
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
        yield Static(
            Text(" y send · e edit · k keep as draft · d discard ", "bold reverse"),
            id="review-keys",
        )

    def on_mount(self) -> None:
        release = getattr(self.app, "release_keys", None)
        if release is not None:
            self.call_after_refresh(release)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class ConfirmQuit(ModalScreen[bool]):
    """Asked while drafts are unsent: which ones, and that they are kept."""

    BINDINGS = [
        Binding("y", "answer(True)", "Quit", id="quit_yes"),
        Binding("n,escape,q", "answer(False)", "Stay", id="quit_no"),
    ]

    DEFAULT_CSS = """
    ConfirmQuit { align: center middle; }
    ConfirmQuit > Static { width: 60; max-width: 100%; border: round $warning;
        background: $surface; padding: 1 2; }
    """

    def __init__(self, count: int = 1, items: list | None = None) -> None:
        super().__init__()
        self.count = count
        self.items = items or []

    def compose(self) -> ComposeResult:
        text = Text()
        plural = "s" if self.count != 1 else ""
        text.append(f"{self.count} unsent draft{plural}", "bold")
        shown = ", ".join(f"{d.ref} ({d.mode})" for d in self.items[:6])
        if shown:
            more = f" and {self.count - 6} more" if self.count > 6 else ""
            text.append(f": {shown}{more}")
        kept = "They are" if self.count != 1 else "It is"
        text.append(f".\n{kept} kept and will be here next time, but not sent.\n\n")
        text.append("Quit anyway?  y quit · n stay", "bold")
        yield Static(text)

    def on_mount(self) -> None:
        release = getattr(self.app, "release_keys", None)
        if release is not None:
            self.call_after_refresh(release)

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

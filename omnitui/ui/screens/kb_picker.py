"""The knowledge-base picker: suggestions for the customer's last message before a
key is typed, fuzzy search as you type, a preview rendered for this customer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from omnitui.sanitize import clean, clean_line

if TYPE_CHECKING:
    from omnitui.desk.kb import Article, KnowledgeBase, Rendered


class KBPicker(ModalScreen[str | None]):
    """Dismisses with the chosen answer's shortcut, or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="kb_cancel"),
        Binding("down,ctrl+n", "down", "Next", show=False, id="kb_down"),
        Binding("up,ctrl+p", "up", "Previous", show=False, id="kb_up"),
    ]

    DEFAULT_CSS = """
    KBPicker { align: center middle; }
    KBPicker > Vertical { width: 90%; height: 85%; border: round $accent; background: $surface; }
    KBPicker OptionList { height: 1fr; border: none; }
    KBPicker #kb-preview { height: 1fr; border-top: solid $primary 50%; padding: 0 1;
        overflow-y: auto; }
    KBPicker #kb-title { padding: 0 1; }
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        channel: str,
        last_message: str,
        preview: Callable[[Article], Rendered],
    ) -> None:
        super().__init__()
        self.kb = kb
        self.channel = channel
        self.last_message = last_message
        self.preview = preview
        self.results: list[Article] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="kb-title")
            yield Input(placeholder="search answers: title, shortcut or words…", id="kb-query")
            yield OptionList(id="kb-results")
            yield Static(id="kb-preview")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._lookup("")

    @on(Input.Changed, "#kb-query")
    def _changed(self, event: Input.Changed) -> None:
        self._lookup(event.value)

    @work(thread=True, exclusive=True, group="kb-search")
    def _lookup(self, query: str) -> None:
        if query.strip():
            hits = self.kb.search(query, channel=self.channel, limit=30)
            title = f"answers matching “{clean_line(query, 40)}”"
        else:
            hits = self.kb.suggest(self.last_message, channel=self.channel, limit=5)
            title = "suggested for the customer's last message"
            if not hits:
                hits = self.kb.search("", channel=self.channel, limit=30)
                title = "all answers"
        self.app.call_from_thread(self._show, hits, title)

    def _show(self, hits: list[Article], title: str) -> None:
        self.results = hits
        self.query_one("#kb-title", Static).update(
            Text(f"{title} ({len(hits)}) · enter insert · esc cancel", "bold")
        )
        options = self.query_one(OptionList)
        options.clear_options()
        for a in hits:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f"{clean_line(a.shortcut, 20):<20} ", "bold cyan")
            line.append(clean_line(a.title, 70))
            if a.tags:
                line.append("  " + " ".join(f"#{clean_line(t, 20)}" for t in a.tags), "dim")
            options.add_option(Option(line, id=a.shortcut))
        if hits:
            options.highlighted = 0
            self._preview(hits[0])
        else:
            self.query_one("#kb-preview", Static).update(Text("no answer", "dim"))

    def _preview(self, article: Article) -> None:
        try:
            rendered = self.preview(article)
        except Exception as exc:  # noqa: BLE001 - a broken answer shows its error
            self.query_one("#kb-preview", Static).update(Text(str(exc), "red"))
            return
        body = Text(clean(rendered.text))
        if rendered.warnings:
            body = Text("⚠ " + "; ".join(rendered.warnings) + "\n\n", "bold red") + body
        self.query_one("#kb-preview", Static).update(body)

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        for a in self.results:
            if a.shortcut == event.option.id:
                self._preview(a)
                break

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    @on(Input.Submitted, "#kb-query")
    def _submitted(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None and self.results:
            self.dismiss(self.results[options.highlighted].shortcut)

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)

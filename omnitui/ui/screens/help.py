"""The help screen: every key of every scope, as currently bound (keymap applied)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from omnitui.keymap import ACTIONS, key_label

SCOPE_TITLES = {
    "app": "Anywhere",
    "inbox": "Inbox",
    "conversation": "Conversation",
    "quarantine": "Quarantine",
    "outbox": "Outbox",
    "reports": "Reports",
    "composer": "Composer",
}


def help_table(keymap: Mapping[str, str]) -> Table:
    """A table of scope, keys, id and description for every action.

    Every cell is a ``Text``: a plain string would be read as Rich markup, and
    ``[keys]`` would vanish as a tag."""
    table = Table(show_header=True, header_style="bold", expand=True, box=None)
    table.add_column(Text("keys"), no_wrap=True, style="bold #5fd7ff")
    table.add_column(Text("does"))
    table.add_column(Text("id (for [keys])"), no_wrap=True)
    for scope, title in SCOPE_TITLES.items():
        table.add_row(Text(title, "bold underline"), Text(""), Text(""))
        for spec in ACTIONS:
            if spec.scope != scope:
                continue
            keys = keymap.get(spec.id, spec.keys)
            table.add_row(Text(key_label(keys)), Text(spec.description), Text(spec.id))
        table.add_row(Text(""), Text(""), Text(""))
    return table


class HelpScreen(ModalScreen[None]):
    """Lists every key; Esc, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close help", id="help_close"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 100%; height: 90%;
        border: round $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(
                Text("omnitui keys — rebind any with a [keys] table in the config", "bold")
            )
            yield Static(help_table(self.keymap), id="help-table")

    def action_dismiss(self) -> None:  # type: ignore[override]  # Textual's is async, with result
        self.dismiss(None)

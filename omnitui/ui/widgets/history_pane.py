"""The customer history pane: every conversation of this customer on every channel.

It folds away by itself when the terminal is narrower than :data:`NARROW` columns, so
the thread gets the width (80×24 works); ``h`` (``ConversationScreen``) calls
:meth:`HistoryPane.toggle_fold` to show or hide it. A choice made with ``h`` holds
across resizes until ``h`` brings the pane back to what the width suggests; shown on a
narrow terminal the pane takes 45% of the width. Tab into a folded pane shows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from omnitui.formatting import short_time
from omnitui.ui.safe_text import line
from storage.queries import CustomerInfo, HistoryItem

#: Below this terminal width the pane folds away unless the agent asked for it.
NARROW = 100


def history_prompt(item: HistoryItem, zone: tzinfo | None, current: bool) -> Text:
    """Two lines: date, channel, status, reference and message count; then the subject
    or (without one) the customer's last message."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("▶ " if current else "  ", "bold")
    text.append(short_time(item.last_message_at, zone, datetime.now(UTC)))
    text.append(f"  {item.channel}", "#5fd7ff")
    text.append(f"  {item.status}", "bold" if item.status == "open" else "italic")
    text.append(f"  {item.ref}  ✉{item.message_count}\n")
    text.append("  " + (line(item.subject or item.preview, 38) or "(no text)"))
    return text


def customer_card(info: CustomerInfo) -> Text:
    """Name, VIP flag, identities and notes."""
    text = Text()
    text.append(line(info.name), "bold")
    if info.vip:
        text.append("  ★ VIP", "bold #ffd75f")
    for ident in info.identities:
        text.append(f"\n  {ident.channel}: ")
        text.append(line(ident.address))
    if info.notes:
        text.append("\n  " + line(info.notes, 200), "italic")
    return text


class HistoryPane(OptionList):
    """Past and present conversations of the customer, newest first; Enter opens one."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="history_down"),
        Binding("k", "cursor_up", "Up", show=False, id="history_up"),
    ]

    DEFAULT_CSS = """
    HistoryPane { width: 44; border-left: solid $primary 50%; height: 1fr;
        text-wrap: nowrap; text-overflow: ellipsis; }
    HistoryPane.-narrow { width: 45%; }
    /* The card and the list title are disabled options, not faded text; the cursor
       is a darker blue than Textual's, so every text on it keeps 4.5:1. */
    HistoryPane > .option-list--option-disabled { color: $foreground; }
    HistoryPane:focus > .option-list--option-highlighted {
        color: $foreground; background: $primary 50%; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The agent's ``h`` choice: True shown, False folded, None by the width.
        self.choice: bool | None = None

    @property
    def folded(self) -> bool:
        """Whether the pane is hidden."""
        return not self.display

    def on_mount(self) -> None:
        self.screen.screen_layout_refresh_signal.subscribe(self, self._on_layout)
        self.fit_width()

    def _on_layout(self, _screen: object) -> None:
        self.fit_width()

    def fit_width(self, width: int | None = None) -> None:
        """Fold or show the pane for a terminal ``width`` (default: the app's)."""
        width = self.app.size.width if width is None else width
        narrow = width < NARROW
        self.set_class(narrow, "-narrow")
        shown = not narrow if self.choice is None else self.choice
        if shown == self.display:
            return
        if not shown and self.has_focus:
            self.screen.focus_previous()
        self.display = shown

    def toggle_fold(self) -> None:
        """Show a folded pane or fold a shown one (key ``h``). Back at what the width
        suggests, the pane follows the width again."""
        shown = self.folded
        self.choice = None if shown == (self.app.size.width >= NARROW) else shown
        self.fit_width()

    def on_focus(self, _event: events.Focus) -> None:
        if self.folded:
            self.choice = True  # Tab into a folded pane: the agent wants to see it
            self.fit_width()

    class OpenConversation(Message):
        """The agent picked a conversation in the history."""

        def __init__(self, conversation_id: int) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    def show(
        self, info: CustomerInfo, items: list[HistoryItem], current_id: int, zone: tzinfo | None
    ) -> None:
        """Fill the pane for one customer."""
        self.clear_options()
        self.add_option(Option(customer_card(info), id="card", disabled=True))
        self.add_option(Option(Text(f"history ({len(items)})", "bold underline"), disabled=True))
        for item in items:
            self.add_option(
                Option(
                    history_prompt(item, zone, item.conversation_id == current_id),
                    id=f"c{item.conversation_id}",
                )
            )
        for n, item in enumerate(items):
            if item.conversation_id == current_id:
                self.highlighted = n + 2
                break

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        option_id = event.option.id or ""
        if option_id.startswith("c"):
            self.post_message(self.OpenConversation(int(option_id[1:])))

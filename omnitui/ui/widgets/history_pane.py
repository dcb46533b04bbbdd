"""The customer history pane: every conversation of this customer on every channel."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from omnitui.sanitize import clean_line
from omnitui.ui.formatting import short_time
from storage.queries import CustomerInfo, HistoryItem


def history_prompt(item: HistoryItem, zone: tzinfo | None, current: bool) -> Text:
    """Two lines: date, channel, status, reference and message count; then the subject
    or first line."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("▶ " if current else "  ", "bold")
    text.append(short_time(item.last_message_at, zone, datetime.now(UTC)), "dim")
    text.append(f"  {item.channel}", "cyan")
    text.append(f"  {item.status}", "bold" if item.status == "open" else "dim")
    text.append(f"  {item.ref}  ✉{item.message_count}\n", "dim")
    text.append("  " + (clean_line(item.subject or item.preview, 38) or "(no text)"))
    return text


def customer_card(info: CustomerInfo) -> Text:
    """Name, VIP flag, identities and notes."""
    text = Text()
    text.append(clean_line(info.name), "bold")
    if info.vip:
        text.append("  ★ VIP", "bold yellow")
    for ident in info.identities:
        text.append(f"\n  {ident.channel}: ", "dim")
        text.append(clean_line(ident.address))
    if info.notes:
        text.append("\n  " + clean_line(info.notes, 200), "italic")
    return text


class HistoryPane(OptionList):
    """Past and present conversations of the customer, newest first; Enter opens one."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="history_down"),
        Binding("k", "cursor_up", "Up", show=False, id="history_up"),
    ]

    DEFAULT_CSS = """
    HistoryPane { width: 44; border-left: solid $primary 50%; height: 1fr; }
    """

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

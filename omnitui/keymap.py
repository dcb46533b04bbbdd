"""Every console action in one registry; key bindings (``omnitui.ui.bindings``), the
help screen, the command palette and the user's ``[keys]`` table are all built from it.
Textual-free, so the config loader can check ``[keys]`` without loading the UI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionSpec:
    """One action: a stable id (the key of ``[keys]``), default keys, the action it runs,
    where it applies, and what it does."""

    id: str
    keys: str
    action: str
    scope: str  # "app", "inbox", "conversation", "quarantine", "outbox", "reports", "composer"
    description: str
    show: bool = True


ACTIONS: tuple[ActionSpec, ...] = (
    # Anywhere
    ActionSpec("help", "question_mark,f1", "app.help", "app", "Show every key"),
    ActionSpec("palette", "ctrl+p,ctrl+k", "app.command_palette", "app", "Command palette"),
    ActionSpec("quit", "q", "app.request_quit", "app", "Quit (lists unsent drafts first)"),
    ActionSpec(
        "quarantine", "Q", "app.quarantine", "app", "Quarantine: items that could not be stored"
    ),
    ActionSpec("outbox", "O", "app.outbox", "app", "Outbox: replies not yet delivered"),
    ActionSpec("reports", "S", "app.reports", "app", "Reports: volume, response times, SLA, CSAT"),
    ActionSpec("suspend", "ctrl+z", "app.suspend_process", "app", "Suspend (fg to come back)"),
    # Inbox
    ActionSpec("cursor_down", "j,down", "cursor_down", "inbox", "Next conversation", False),
    ActionSpec("cursor_up", "k,up", "cursor_up", "inbox", "Previous conversation", False),
    ActionSpec("top", "g,home", "top", "inbox", "First conversation", False),
    ActionSpec("bottom", "G,end", "bottom", "inbox", "Last conversation", False),
    ActionSpec("page_down", "pagedown,ctrl+d", "page_down", "inbox", "Page down", False),
    ActionSpec("page_up", "pageup,ctrl+u", "page_up", "inbox", "Page up", False),
    ActionSpec("open", "enter", "open", "inbox", "Open conversation"),
    ActionSpec("search", "slash", "search", "inbox", "Search all messages"),
    ActionSpec("back", "escape", "back", "inbox", "Clear search and filters", False),
    ActionSpec("filter_channel", "c", "filter_channel", "inbox", "Cycle channel filter"),
    ActionSpec("filter_status", "v", "filter_status", "inbox", "Cycle status view"),
    ActionSpec("filter_mine", "o", "filter_mine", "inbox", "Cycle mine / unassigned / all"),
    ActionSpec("refresh", "ctrl+r", "refresh", "inbox", "Reload and poll now", False),
    ActionSpec("reply", "r", "reply", "inbox", "Reply"),
    ActionSpec("reply_editor", "R,ctrl+e", "reply_editor", "inbox", "Reply in $EDITOR"),
    ActionSpec("note", "n", "note", "inbox", "Private note"),
    ActionSpec("resolve", "e", "resolve", "inbox", "Resolve, then next"),
    ActionSpec("snooze", "s", "snooze", "inbox", "Snooze (1h, tomorrow, next week, until reply)"),
    ActionSpec("pending", "p", "pending", "inbox", "Pending ⇄ open (waiting on the customer)"),
    ActionSpec("priority", "P", "priority", "inbox", "Set priority"),
    ActionSpec("tags", "t", "tags", "inbox", "Edit tags"),
    ActionSpec("assign", "a", "assign", "inbox", "Assign to an agent"),
    ActionSpec("merge", "m", "merge", "inbox", "Merge into another conversation"),
    ActionSpec("due_view", "d", "due_view", "inbox", "Breached / due soon view"),
    ActionSpec("undo", "u", "undo", "inbox", "Undo the last resolve, snooze, tag or assign"),
    # Conversation
    ActionSpec("conv_back", "escape", "back", "conversation", "Back to the inbox"),
    ActionSpec("conv_down", "j,down", "scroll_down", "conversation", "Scroll down", False),
    ActionSpec("conv_up", "k,up", "scroll_up", "conversation", "Scroll up", False),
    ActionSpec("conv_top", "g,home", "scroll_top", "conversation", "Thread top", False),
    ActionSpec("conv_bottom", "G,end", "scroll_bottom", "conversation", "Thread end", False),
    ActionSpec("conv_reply", "r", "reply", "conversation", "Reply"),
    ActionSpec("conv_reply_editor", "R,ctrl+e", "reply_editor", "conversation", "Reply in $EDITOR"),
    ActionSpec("conv_note", "n", "note", "conversation", "Private note"),
    ActionSpec(
        "conv_template",
        "T",
        "template",
        "conversation",
        "Send an approved template (WhatsApp after 24 hours)",
    ),
    ActionSpec("conv_resolve", "e", "resolve", "conversation", "Resolve, then next"),
    ActionSpec("conv_snooze", "s", "snooze", "conversation", "Snooze"),
    ActionSpec("conv_pending", "p", "pending", "conversation", "Pending ⇄ open"),
    ActionSpec("conv_priority", "P", "priority", "conversation", "Set priority"),
    ActionSpec("conv_tags", "t", "tags", "conversation", "Edit tags"),
    ActionSpec("conv_assign", "a", "assign", "conversation", "Assign to an agent"),
    ActionSpec("conv_merge", "m", "merge", "conversation", "Merge into another conversation"),
    ActionSpec("kb", "i", "kb_picker", "conversation", "Insert a knowledge-base answer"),
    ActionSpec("vip", "V", "vip", "conversation", "Customer VIP on / off"),
    ActionSpec("customer_notes", "N", "customer_notes", "conversation", "Customer notes"),
    ActionSpec(
        "customer_merge",
        "M",
        "customer_merge",
        "conversation",
        "Merge another customer into this one",
    ),
    ActionSpec(
        "conv_undo", "u", "undo", "conversation", "Undo the last resolve, snooze, tag or assign"
    ),
    ActionSpec("next_pane", "tab", "next_pane", "conversation", "Thread / history pane", False),
    ActionSpec(
        "history_toggle", "h", "toggle_history", "conversation", "Show / hide the history pane"
    ),
    ActionSpec(
        "history_open",
        "enter",
        "history_open",
        "conversation",
        "Open the conversation picked in history",
        False,
    ),
    ActionSpec("retry_send", "ctrl+t", "retry_send", "conversation", "Retry failed replies"),
    ActionSpec(
        "edit_failed", "E", "edit_failed", "conversation", "Take back a failed reply and edit it"
    ),
    ActionSpec(
        "save_attachment",
        "A",
        "save_attachment",
        "conversation",
        "Save an attachment to a directory",
    ),
    # Quarantine
    ActionSpec("quarantine_back", "escape", "back", "quarantine", "Back"),
    ActionSpec("quarantine_down", "j", "cursor_down", "quarantine", "Next item", False),
    ActionSpec("quarantine_up", "k", "cursor_up", "quarantine", "Previous item", False),
    ActionSpec(
        "quarantine_retry", "r", "retry", "quarantine", "Retry: read the item again from its raw"
    ),
    ActionSpec("quarantine_retry_all", "R", "retry_all", "quarantine", "Retry every item"),
    ActionSpec(
        "quarantine_drop", "d,delete", "drop", "quarantine", "Drop the item for good (asks first)"
    ),
    ActionSpec("quarantine_reload", "ctrl+r", "reload", "quarantine", "Reload the list", False),
    # Outbox
    ActionSpec("outbox_back", "escape", "back", "outbox", "Back"),
    ActionSpec("outbox_down", "j", "cursor_down", "outbox", "Next reply", False),
    ActionSpec("outbox_up", "k", "cursor_up", "outbox", "Previous reply", False),
    ActionSpec("outbox_retry", "r", "retry", "outbox", "Retry now (asks first if uncertain)"),
    ActionSpec("outbox_cancel", "c", "cancel", "outbox", "Cancel the reply (asks first)"),
    ActionSpec("outbox_edit", "e", "edit", "outbox", "Take the reply back and edit it"),
    ActionSpec("outbox_open", "enter", "open", "outbox", "Open its conversation"),
    ActionSpec("outbox_reload", "ctrl+r", "reload", "outbox", "Reload the list", False),
    # Reports
    ActionSpec("reports_back", "escape", "back", "reports", "Back (q too)"),
    ActionSpec("reports_period", "p", "cycle_period", "reports", "Period: last 7, 30 or 90 days"),
    ActionSpec("reports_channel", "c", "cycle_channel", "reports", "Channel: all, then each"),
    ActionSpec("reports_agent", "a", "cycle_agent", "reports", "Agent: all, then each assignee"),
    ActionSpec("reports_reload", "ctrl+r", "reload", "reports", "Compute again"),
    ActionSpec("reports_down", "j", "scroll_down", "reports", "Scroll down", False),
    ActionSpec("reports_up", "k", "scroll_up", "reports", "Scroll up", False),
    # Composer
    ActionSpec("send", "ctrl+s", "send", "composer", "Send (queue) the reply or note"),
    ActionSpec("composer_editor", "ctrl+e", "composer_editor", "composer", "Continue in $EDITOR"),
    ActionSpec(
        "composer_kb", "ctrl+o", "kb_picker", "composer", "Knowledge-base answer (or / first)"
    ),
    ActionSpec(
        "composer_attach", "ctrl+f", "attach", "composer", "Attach a file (its path; empty: none)"
    ),
    ActionSpec("composer_close", "escape", "close", "composer", "Close (keeps the draft)"),
)


def specs(scope: str) -> list[ActionSpec]:
    """The actions of one scope."""
    return [a for a in ACTIONS if a.scope == scope]


KEY_LABELS = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "pagedown": "PgDn",
    "pageup": "PgUp",
}


def key_label(keys: str) -> str:
    """``"j,down"`` → ``"j / down"`` with friendly names."""
    return " / ".join(KEY_LABELS.get(k, k) for k in keys.split(","))

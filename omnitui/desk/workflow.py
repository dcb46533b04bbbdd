"""Deprecated: the old function-style names of the conversation workflow.

Kept importable only until the last callers (tests, the CLI) use the :class:`Desk`
methods (``desk.snooze(s, conv, until)`` for ``snooze(desk, s, conv, until)``…). The
rules live in :mod:`omnitui.desk.lifecycle` and :mod:`omnitui.desk.conversation_ops`.
"""

from __future__ import annotations

from omnitui.desk.conversation_ops import (
    assign,
    clean_tags,
    edit_tags,
    find_by_ref,
    merge_conversations,
    recount,
    set_priority,
    split_message,
)
from omnitui.desk.lifecycle import WAKE_TIME, change_status, parse_snooze, snooze, wake_due
from omnitui.desk.settings import WorkflowError
from storage.models import PAUSED_STATUSES as PAUSED

__all__ = [
    "PAUSED",
    "WAKE_TIME",
    "WorkflowError",
    "assign",
    "change_status",
    "clean_tags",
    "edit_tags",
    "find_by_ref",
    "merge_conversations",
    "parse_snooze",
    "recount",
    "set_priority",
    "snooze",
    "split_message",
    "wake_due",
]

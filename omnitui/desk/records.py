"""Plain records the ingest plan decides over: a conversation's fields, a sender and
an unanswered survey.

No session and no ORM: :func:`ConvRecord.of` copies a stored conversation,
:meth:`ConvRecord.changes` says which fields a plan changed, so the write phase
applies exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from storage.models import NO_DUE
from storage.types import epoch

#: The conversation columns a plan may change (all but id, ref, account, channel,
#: customer, thread key and subject, which a conversation keeps).
MUTABLE = (
    "preview",
    "status",
    "priority",
    "assignee",
    "tags",
    "unread",
    "message_count",
    "created_at",
    "last_message_at",
    "last_inbound_at",
    "first_response_due",
    "first_responded_at",
    "next_response_due",
    "resolution_due",
    "resolved_at",
    "snoozed_until",
    "paused_at",
    "acknowledged_at",
    "urgency_due",
    "recency",
)


@dataclass
class ConvRecord:
    """A conversation as a plan reads and changes it. ``key`` identifies it within the
    plan: the stored id, or a negative number for one the batch creates (``id`` None)."""

    key: int
    id: int | None
    ref: str | None
    account: str
    channel: str
    customer_id: int
    thread_key: str | None
    subject: str
    created_at: datetime
    preview: str = ""
    status: str = "open"
    priority: str = "normal"
    assignee: str | None = None
    tags: list[str] = field(default_factory=list)
    unread: bool = True
    message_count: int = 0
    last_message_at: datetime | None = None
    last_inbound_at: datetime | None = None
    first_response_due: datetime | None = None
    first_responded_at: datetime | None = None
    next_response_due: datetime | None = None
    resolution_due: datetime | None = None
    resolved_at: datetime | None = None
    snoozed_until: datetime | None = None
    paused_at: datetime | None = None
    acknowledged_at: datetime | None = None
    urgency_due: int = NO_DUE
    recency: int = 0

    def __post_init__(self) -> None:
        if self.last_message_at is None:
            self.last_message_at = self.created_at
            self.recency = -epoch(self.created_at)

    @property
    def new(self) -> bool:
        """Whether the batch creates this conversation."""
        return self.id is None

    @classmethod
    def of(cls, row: Any) -> ConvRecord:
        """A copy of a stored conversation's fields."""
        names = [f.name for f in fields(cls) if f.name != "key"]
        values = {n: getattr(row, n) for n in names}
        values["tags"] = list(values["tags"] or [])
        return cls(key=row.id, **values)

    def changes(self, row: Any) -> dict[str, Any]:
        """The mutable fields whose value differs from ``row``'s."""
        return {n: getattr(self, n) for n in MUTABLE if getattr(row, n) != getattr(self, n)}


@dataclass(frozen=True)
class SenderRecord:
    """Who sent one message of the batch: their identity and customer."""

    identity_id: int
    customer_id: int
    display_name: str = ""


@dataclass(frozen=True)
class SurveyRecord:
    """A delivered survey still waiting for its answer (see omnitui.desk.surveys)."""

    id: int
    conversation_id: int
    customer_id: int
    channel: str
    sent_at: datetime

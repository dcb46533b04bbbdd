"""The plain records a report is computed from: one per conversation, with its
messages, status changes, handling time and surveys (built by
:mod:`omnitui.reports.loader`, or by hand in tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message: ``in`` (customer), ``out`` (to the customer) or ``note``;
    ``author`` tells the acknowledgement auto-reply from an agent's reply;
    ``survey_answer`` marks a customer's answer to a satisfaction survey."""

    direction: str
    sent_at: datetime
    author: str | None = None
    survey_answer: bool = False


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A status change from the event log (``conversation.status``, or a status put
    back by ``conversation.undone``)."""

    at: datetime
    from_status: str | None
    to_status: str


@dataclass(frozen=True, slots=True)
class SurveyRecord:
    """A satisfaction survey sent after a resolution: its answer's score (1–5) and
    comment once the customer answered."""

    sent_at: datetime
    score: int | None = None
    comment: str = ""
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConvRecord:
    """A conversation as reports see it: its facts, SLA fields, messages (in time
    order) and status changes (in time order)."""

    id: int
    channel: str
    created_at: datetime
    status: str = "open"
    account: str = ""
    priority: str = "normal"
    tags: tuple[str, ...] = ()
    assignee: str | None = None
    vip: bool = False
    resolved_at: datetime | None = None
    paused_at: datetime | None = None
    first_responded_at: datetime | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    messages: tuple[MessageRecord, ...] = field(default=())
    changes: tuple[StatusChange, ...] = field(default=())
    ref: str = ""
    #: Handling time: seconds each agent actively had it open in the console.
    handling: tuple[tuple[str, float], ...] = field(default=())
    surveys: tuple[SurveyRecord, ...] = field(default=())

"""The words of the outbox, without the store: which states there are, how a reply's
state is shown (``failing`` is a retried ``queued``), one undelivered reply as a record
and as one line. Light to import: the command line's start-up reads these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from omnitui.sanitize import clean_line

#: The states the outbox lists and ``omnitui outbox --state`` takes.
STATES = ("queued", "sending", "failing", "failed", "uncertain")
#: Undelivered replies that need the agent (``sync --once`` exits 1 while any exist).
PROBLEM_STATES = ("failing", "failed", "uncertain")


@dataclass(frozen=True)
class Pending:
    """One undelivered reply."""

    id: int
    conversation_id: int | None
    ref: str
    account: str
    channel: str
    state: str  # one of STATES
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    body: str
    created_at: datetime

    @property
    def stored_state(self) -> str:
        """The state in the table (``failing`` is stored as ``queued``)."""
        return "queued" if self.state == "failing" else self.state


def shown_state(state: str, attempts: int) -> str:
    """The state shown: a retried ``queued`` reply is ``failing``."""
    return "failing" if state == "queued" and attempts > 0 else state


def aware(value: datetime | None) -> datetime | None:
    """A stored time with its (UTC) zone."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local_time(value: datetime | None, fmt: str = "%H:%M") -> str:
    """A stored (UTC) time in the local zone, or ``-``."""
    when = aware(value)
    return when.astimezone().strftime(fmt) if when is not None else "-"


def problem_line(p: Pending) -> str:
    """``reply #ID on C-1001 failed: …`` (or ``is uncertain``/``is failing (…)``)."""
    error = clean_line(p.last_error or "no error recorded", 300)
    if p.state == "failed":
        what = "failed"
    elif p.state == "uncertain":
        what = "is uncertain"
    else:
        what = f"is failing (attempt {p.attempts}, retry at {local_time(p.next_attempt_at)})"
    return f"reply #{p.id} on {clean_line(p.ref, 40)} {what}: {error}"

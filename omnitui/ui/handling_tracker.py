"""Handling time, counted: how long the agent actively has a conversation open.

Time counts while a conversation is open in the conversation view, the terminal has
focus (a terminal that never reports focus counts as focused) and the last key or mouse
input was at most :data:`IDLE_SECONDS` ago — up to that input plus the idle limit, never
beyond. Pure (an injectable clock, no Textual, no store): the app feeds it events and
writes what :meth:`HandlingTracker.flush` returns with ``omnitui.desk.handling``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: Input older than this no longer counts as handling.
IDLE_SECONDS = 120.0
#: A running stretch is flushed at least this often (what a crash can lose).
FLUSH_SECONDS = 60.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Stretch:
    """Time on one conversation: from ``started_at``, ``seconds`` long so far. A stretch
    flushed while it runs comes again, longer, with the same start."""

    conversation_id: int
    started_at: datetime
    seconds: float


class HandlingTracker:
    """Turns open/leave, focus/blur and input events into stretches of handling time."""

    def __init__(
        self,
        clock: Callable[[], datetime] = _utc_now,
        *,
        idle_seconds: float = IDLE_SECONDS,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.clock = clock
        self.idle = timedelta(seconds=idle_seconds)
        self.flush_every = timedelta(seconds=flush_seconds)
        self.conversation_id: int | None = None
        self.focused = True
        self._last_input: datetime | None = None
        #: Start of the stretch counting now (None: not counting).
        self._start: datetime | None = None
        #: Stretches that ended and are not flushed yet.
        self._ended: list[Stretch] = []
        self._flushed_at = clock()

    # -- events -----------------------------------------------------------------
    def open(self, conversation_id: int | None) -> None:
        """The conversation view now shows ``conversation_id`` (None: no conversation).
        Opening one is the agent's doing, so it counts as input."""
        now = self._settle()
        if conversation_id == self.conversation_id:
            return
        self._end(now)
        self.conversation_id = conversation_id
        if conversation_id is not None:
            self.input()

    def leave(self) -> None:
        """No conversation is in view any more."""
        self.open(None)

    def input(self) -> None:
        """A key or mouse event."""
        now = self._settle()
        self._last_input = now
        if self._start is None and self.conversation_id is not None and self.focused:
            self._start = now

    def focus(self) -> None:
        """The terminal got focus: time counts again if the last input is recent."""
        now = self._settle()
        self.focused = True
        if self._start is None and self.conversation_id is not None and self._recent(now):
            self._start = now

    def blur(self) -> None:
        """The terminal lost focus: the running stretch ends."""
        now = self._settle()
        self._end(now)
        self.focused = False

    # -- output -----------------------------------------------------------------
    @property
    def counting(self) -> bool:
        """Whether handling time is being counted right now."""
        self._settle()
        return self._start is not None

    def due(self) -> bool:
        """Whether a flush is due: a stretch ended, or the last flush is
        :data:`FLUSH_SECONDS` old while one runs."""
        now = self._settle()
        return bool(self._ended) or (
            self._start is not None and now - self._flushed_at >= self.flush_every
        )

    def flush(self) -> list[Stretch]:
        """The ended stretches and the running one so far (it keeps running, under the
        same start, and comes again at the next flush)."""
        now = self._settle()
        out, self._ended = self._ended, []
        if self._start is not None and now > self._start:
            out.append(Stretch(self._cid(), self._start, (now - self._start).total_seconds()))
        self._flushed_at = now
        return out

    # -- inside -----------------------------------------------------------------
    def _recent(self, now: datetime) -> bool:
        return self._last_input is not None and now - self._last_input <= self.idle

    def _settle(self) -> datetime:
        """The clock's time, after ending a stretch whose input went idle (it ends at
        the last input plus the idle limit)."""
        now = self.clock()
        if self._start is not None and not self._recent(now):
            assert self._last_input is not None
            self._end(max(self._start, self._last_input + self.idle))
        return now

    def _end(self, at: datetime) -> None:
        if self._start is not None and at > self._start:
            seconds = (at - self._start).total_seconds()
            self._ended.append(Stretch(self._cid(), self._start, seconds))
        self._start = None

    def _cid(self) -> int:
        assert self.conversation_id is not None  # a stretch runs only on a conversation
        return self.conversation_id

"""Saving the composer's text as the conversation's draft, off the UI thread, in order:
an older save never lands after a newer one, nor after the send that used the draft."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine

from omnitui.desk import drafts

T = TypeVar("T")


class DraftSaver:
    """Hands out a ticket per save request and writes only the newest per conversation."""

    def __init__(self, engine: Engine, author: str) -> None:
        self.engine = engine
        self.author = author
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._newest: dict[int, int] = {}
        #: What the store holds (as far as this console knows): (mode, body) per id.
        self.known: dict[int, tuple[str, str]] = {}

    def ticket(self, conversation_id: int) -> int:
        """A number newer than every earlier request for this conversation."""
        number = next(self._numbers)
        self._newest[conversation_id] = number
        return number

    def changed(self, conversation_id: int, mode: str, body: str) -> bool:
        """Whether ``(mode, body)`` differs from what was last saved or loaded."""
        before = self.known.get(conversation_id)
        if before is None:
            return bool(body.strip())
        return before != (mode, body)

    def remember(self, conversation_id: int, mode: str, body: str) -> None:
        """The store holds this text now (it was loaded, or a save was requested)."""
        if body.strip():
            self.known[conversation_id] = (mode, body)
        else:
            self.known.pop(conversation_id, None)

    def save(
        self, conversation_id: int, mode: str, body: str, number: int, base: int | None = None
    ) -> bool:
        """Write the draft unless a newer request came meanwhile (worker thread).
        ``base``: the newest message the agent had seen when the draft began."""
        with self._lock:
            if self._newest.get(conversation_id, 0) > number:
                return False
            return drafts.save_now(self.engine, conversation_id, mode, body, self.author, base)

    def exclusively(self, conversation_id: int, fn: Callable[[], T]) -> T:
        """Run ``fn`` (e.g. queue the reply and drop the draft in one transaction) with
        every earlier save request of the conversation superseded."""
        with self._lock:
            self.ticket(conversation_id)
            self.known.pop(conversation_id, None)
            return fn()

"""The console's handling-time writer: takes the tracker's stretches on the UI thread
and saves them in worker threads, one write at a time (``omnitui.desk.handling``).
A write that fails (a locked or lost store) keeps its stretches for the next one."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from omnitui.desk.handling import record_handling
from omnitui.ui.handling_tracker import HandlingTracker, Stretch
from storage.errors import StoreError


class HandlingRecorder:
    """The tracker of one console and where its stretches go."""

    def __init__(self, engine: Engine, agent: str, tracker: HandlingTracker | None = None) -> None:
        self.engine = engine
        self.agent = agent
        self.tracker = tracker or HandlingTracker()
        self._unsaved: list[Stretch] = []
        self._lock = threading.Lock()

    def take(self, *, force: bool = False) -> list[Stretch]:
        """What is to be written now (UI thread): nothing until a flush is due, unless
        ``force``; earlier stretches a failed write kept come first."""
        if not force and not self._unsaved and not self.tracker.due():
            return []
        out, self._unsaved = [*self._unsaved, *self.tracker.flush()], []
        return out

    def keep(self, stretches: list[Stretch]) -> None:
        """A write failed: its stretches go with the next one (UI thread)."""
        self._unsaved = [*stretches, *self._unsaved]

    def save(self, stretches: list[Stretch]) -> bool:
        """Write stretches in one transaction (worker thread); False if the store
        refused."""
        if not stretches:
            return True
        with self._lock:
            try:
                with Session(self.engine) as s:
                    for st in stretches:
                        cid, start = st.conversation_id, st.started_at
                        record_handling(s, cid, self.agent, start, st.seconds)
                    s.commit()
            except (SQLAlchemyError, StoreError):
                return False
        return True

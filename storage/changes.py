"""Hearing about changes other processes made to the store (live updates).

:class:`ChangeFeed` waits for the announcements of :mod:`storage.live_triggers`:

- PostgreSQL: ``LISTEN`` on a connection of its own; the notifications name the kind of
  change and the conversation, so no table is read to learn of them. A dropped
  connection is opened again, and what may have been missed is reported as
  "everything".
- SQLite: ``PRAGMA data_version`` on a connection of its own (it moves when another
  connection commits; reading it touches only the file header), then the
  ``change_log`` rows past the last one seen.

One feed serves one thread; :meth:`ChangeFeed.wait` blocks at most ``timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from storage.live_triggers import channel

#: SQLite: how often the file header is looked at.
SQLITE_POLL_SECONDS = 0.2
#: More changes than this in one read: reload everything instead of row by row.
MANY = 500


@dataclass(frozen=True)
class Changes:
    """What changed since the last wait: conversation ids by kind, or ``everything``
    (the feed may have missed some: after a reconnect, or far behind)."""

    ids: frozenset[int] = frozenset()
    kinds: frozenset[str] = frozenset()
    everything: bool = False
    by_kind: dict[str, frozenset[int]] = field(default_factory=dict, compare=False)

    def merged(self, other: Changes) -> Changes:
        """Both sets of changes as one."""
        by_kind = {
            k: self.by_kind.get(k, frozenset()) | other.by_kind.get(k, frozenset())
            for k in self.kinds | other.kinds
        }
        return Changes(
            self.ids | other.ids,
            self.kinds | other.kinds,
            self.everything or other.everything,
            by_kind,
        )


def _changes(pairs: list[tuple[str, int]]) -> Changes:
    by_kind: dict[str, set[int]] = {}
    for kind, ref in pairs:
        by_kind.setdefault(kind, set()).add(ref)
    return Changes(
        frozenset(ref for _, ref in pairs),
        frozenset(by_kind),
        False,
        {k: frozenset(v) for k, v in by_kind.items()},
    )


EVERYTHING = Changes(everything=True)


class ChangeFeed:
    """Waits for changes to the store made by anyone (this process included)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._conn: Any = None
        self._last_seq = 0
        self._version: int | None = None
        self._stop = threading.Event()
        self._busy = threading.Lock()
        self._lost = False
        #: An in-memory SQLite store has no other connections to hear from.
        self.enabled = self._postgres or (engine.url.database or ":memory:") != ":memory:"

    # -- life ------------------------------------------------------------------
    def _open(self) -> None:
        raw = self.engine.raw_connection()
        conn: Any = raw.dbapi_connection
        raw.detach()  # ours alone: never handed back to the pool with a LISTEN on it
        if self._postgres:
            conn.autocommit = True
            schema = conn.execute(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = 'conversation'::regclass"
            ).fetchone()[0]
            name = channel(schema).replace('"', '""')
            conn.execute(f'LISTEN "{name}"')
        else:
            self._version = conn.execute("PRAGMA data_version").fetchone()[0]
            row = conn.execute("SELECT max(seq) FROM change_log").fetchone()
            self._last_seq = row[0] or 0
            conn.commit()
        self._conn = conn

    def close(self) -> None:
        """Stop waiting and let go of the connection: now when no :meth:`wait` runs,
        else by the waiting thread as its wait ends (a connection is never closed
        under a thread still using it)."""
        self._stop.set()
        if self._busy.acquire(blocking=False):
            try:
                self._close_quietly()
            finally:
                self._busy.release()

    # -- waiting ---------------------------------------------------------------
    def wait(self, timeout: float) -> Changes | None:
        """The changes that arrive within ``timeout`` seconds (None: nothing did).
        Never raises for a lost connection: it is opened again on a later call and
        :data:`EVERYTHING` is reported then."""
        if not self.enabled:
            self._stop.wait(timeout)
            return None
        with self._busy:
            try:
                return None if self._stop.is_set() else self._wait(timeout)
            finally:
                if self._stop.is_set():
                    self._close_quietly()

    def _wait(self, timeout: float) -> Changes | None:
        try:
            if self._conn is None:
                self._open()
                if self._lost:
                    self._lost = False
                    return EVERYTHING
            if self._postgres:
                return self._wait_postgres(timeout)
            return self._wait_sqlite(timeout)
        except Exception:  # noqa: BLE001 - any failure: drop the connection, retry later
            self._drop()
            self._stop.wait(min(timeout, 1.0))
            return None

    def _drop(self) -> None:
        self._lost = True
        self._close_quietly()

    def _close_quietly(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # it may be broken already
                conn.close()

    def _wait_postgres(self, timeout: float) -> Changes | None:
        pairs: list[tuple[str, int]] = []

        def take(wait: float, most: int) -> None:
            for note in self._conn.notifies(timeout=wait, stop_after=most):
                kind, _, ref = note.payload.partition(":")
                if ref.isdigit():
                    pairs.append((kind, int(ref)))

        take(timeout, 1)
        if not pairs:
            return None
        take(0.05, MANY)  # what arrives together (one commit's notifications)
        return EVERYTHING if len(pairs) >= MANY else _changes(pairs)

    def _wait_sqlite(self, timeout: float) -> Changes | None:
        deadline = time.monotonic() + timeout
        conn = self._conn
        while True:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._version = version
                return self._read_log(conn)
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.wait(min(SQLITE_POLL_SECONDS, left)):
                return None

    def _read_log(self, conn: Any) -> Changes | None:
        rows = conn.execute(
            "SELECT seq, conversation_id, kind FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?",
            (self._last_seq, MANY + 1),
        ).fetchall()
        conn.commit()  # end the read transaction: later commits become visible
        if not rows:
            return None
        gap = rows[0][0] != self._last_seq + 1 and self._last_seq > 0
        self._last_seq = rows[-1][0]
        if len(rows) > MANY or gap:
            if len(rows) > MANY:
                self._last_seq = conn.execute("SELECT max(seq) FROM change_log").fetchone()[0]
                conn.commit()
            return EVERYTHING
        return _changes([(kind, ref) for _, ref, kind in rows])

"""An overall deadline for each network operation over one connection.

A socket timeout only bounds each ``recv``: a server that trickles a byte every 20 s
never trips it and holds the account's thread forever. :class:`Deadline` keeps a
duplicate of the connection's socket (made before any TLS wrapping, so STARTTLS and
TLS handshakes are covered too) and, when an operation runs past its deadline, shuts
the connection down from a timer thread: the blocked read returns at once, and the
operation ends with :class:`TooSlow` — one line naming the deadline, retryable.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from adapters.base import AdapterError


class TooSlow(AdapterError):
    """An operation did not finish within its overall deadline (retryable)."""


class Deadline:
    """Watches one connection; :meth:`limit` bounds one operation at a time."""

    def __init__(self, server: str) -> None:
        #: Who is slow, for the error line: ``IMAP server``, ``SMTP server``.
        self.server = server
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._armed = 0
        self._fired = 0

    def watch(self, sock: socket.socket) -> None:
        """Watch ``sock`` (a duplicate is kept: wrapping ``sock`` for TLS detaches it,
        but a shutdown of the duplicate still ends the connection)."""
        with self._lock:
            old, self._sock = self._sock, sock.dup()
        if old is not None:
            old.close()

    def release(self) -> None:
        """Stop watching and close the duplicate (the connection is done with)."""
        with self._lock:
            old, self._sock = self._sock, None
            self._armed += 1  # any timer still pending fires into nothing
        if old is not None:
            with contextlib.suppress(OSError):
                old.close()

    @property
    def expired(self) -> bool:
        """Whether an operation overran and the connection was shut down."""
        return self._fired > 0

    def _expire(self, generation: int) -> None:
        with self._lock:
            if generation != self._armed or self._sock is None:
                return  # that operation ended meanwhile
            self._fired = generation
            sock = self._sock
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def limit(self, seconds: float, what: str, *, strict: bool = True) -> Iterator[None]:
        """Run the body within ``seconds``; past them the connection is shut down and
        the body ends with :class:`TooSlow` naming ``what`` — also when it returned
        (``strict``: a read cut short by the shutdown may look like a whole answer)."""
        with self._lock:
            self._armed += 1
            generation = self._armed
        timer = threading.Timer(seconds, self._expire, args=(generation,))
        timer.daemon = True
        timer.start()
        try:
            yield
        except Exception:
            if self._fired == generation:
                raise self.too_slow(seconds, what) from None
            raise
        else:
            if strict and self._fired == generation:  # what it read may be cut short
                raise self.too_slow(seconds, what)
        finally:
            timer.cancel()
            with self._lock:
                if self._armed == generation:
                    self._armed += 1  # a timer firing now finds a newer generation

    def too_slow(self, seconds: float, what: str) -> TooSlow:
        """The error of an operation that overran."""
        return TooSlow(f"{self.server} too slow: {what} not done within {seconds:g} s")

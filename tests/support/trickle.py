"""Servers on loopback that answer, but one byte at a time: every read the client makes
finishes well inside its socket timeout, and yet the answer never ends.

- :class:`TrickleServer`: sends a greeting (e.g. a valid IMAP ``* OK``), then, whatever
  the client says, one byte of a never-ending line per ``interval``.
- :class:`TrickleProxy`: forwards to a real server until the client sends ``pattern``
  (e.g. ``BODY.PEEK[]``); from then on, the server's bytes reach the client one per
  ``interval`` (``trickling = False`` turns it back into a plain proxy).
- :class:`TrickleSmtp`: an SMTP server that trickles its greeting, or reads a whole
  message and then trickles the ``250`` that would accept it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: SMTP modes: trickle the ``220`` greeting; trickle the answer after the final dot;
#: answer everything at once.
GREETING = "greeting"
AFTER_DOT = "after-dot"
OK = "ok"


class _Listener:
    """A loopback listener that runs ``session`` for each connection in a thread."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self.stopped = threading.Event()
        #: Connections accepted so far.
        self.connections = 0
        #: Bytes trickled so far (all connections).
        self.trickled = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True, name="trickle").start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.session(conn)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def session(self, conn: socket.socket) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def trickle(self, conn: socket.socket, data: bytes, interval: float) -> None:
        """Send ``data`` one byte per ``interval`` (until stopped or the client leaves)."""
        for byte in data:
            if self.stopped.wait(interval):
                return
            conn.sendall(bytes([byte]))
            with self._lock:
                self.trickled += 1

    def close(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class TrickleServer(_Listener):
    """Greets at once, then trickles one never-ending line."""

    def __init__(self, greeting: bytes = b"* OK IMAP4rev1 ready\r\n", interval: float = 1.0):
        self.greeting = greeting
        self.interval = interval
        super().__init__()

    def session(self, conn: socket.socket) -> None:
        conn.sendall(self.greeting)
        conn.settimeout(0.2)
        with contextlib.suppress(OSError):
            conn.recv(65536)  # whatever the client says first (LOGIN, EHLO…)
        self.trickle(conn, b"* " + b"x" * 100_000, self.interval)


class TrickleProxy(_Listener):
    """Forwards to ``upstream_port``; after the client sends ``pattern``, the server's
    bytes are passed on one per ``interval`` while ``trickling`` is set."""

    def __init__(self, upstream_port: int, pattern: bytes, interval: float = 1.0) -> None:
        self.upstream_port = upstream_port
        self.pattern = pattern
        self.interval = interval
        self.trickling = True
        super().__init__()

    def session(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
        seen = threading.Event()

        def up() -> None:
            tail = b""
            try:
                while data := conn.recv(65536):
                    if self.pattern in tail + data:
                        seen.set()
                    tail = (tail + data)[-len(self.pattern) :]
                    upstream.sendall(data)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=up, daemon=True).start()
        try:
            while data := upstream.recv(65536):
                if seen.is_set() and self.trickling:
                    self.trickle(conn, data, self.interval)
                else:
                    conn.sendall(data)
        finally:
            with contextlib.suppress(OSError):
                upstream.close()


@dataclass
class TrickleSmtp:
    """An SMTP server whose greeting, or whose answer after the final dot, trickles."""

    mode: str = AFTER_DOT
    interval: float = 1.0
    #: Messages read to their final dot.
    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class _Smtp(_Listener):
            def session(self, conn: socket.socket) -> None:
                server._session(self, conn)

        self._listener = _Smtp()
        self.port = self._listener.port

    @property
    def connections(self) -> int:
        return self._listener.connections

    def close(self) -> None:
        self._listener.close()

    def _session(self, listener: _Listener, conn: socket.socket) -> None:
        mode = self.mode
        if mode == GREETING:
            listener.trickle(conn, b"220-" + b"x" * 100_000, self.interval)
            return
        conn.sendall(b"220 trickle.test ESMTP\r\n")
        reader = conn.makefile("rb")
        while line := reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"EHLO":
                conn.sendall(b"250-trickle.test\r\n250 8BITMIME\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 Bye\r\n")
                return
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                lines = []
                while (body := reader.readline()) and body != b".\r\n":
                    lines.append(body)
                self.received.append(b"".join(lines))
                if mode == AFTER_DOT:
                    listener.trickle(conn, b"250 " + b"x" * 100_000, self.interval)
                    return
                conn.sendall(b"250 2.0.0 Ok: queued\r\n")
            else:
                conn.sendall(b"250 OK\r\n")


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``check()`` until true or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")

"""A loopback TCP proxy for fault injection: it forwards bytes between clients and one
upstream server until a test tells it to break.

Breaks it can make: cut every connection now; cut once N bytes have passed in one
direction; cut when a byte pattern goes by (before or after forwarding it); refuse new
connections for a while (the listening socket is closed, so clients get a real
"connection refused") — the way a server restart or a dropped network looks to a client.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

#: Bytes travelling from the client to the server ("up") or back ("down").
UP = "up"
DOWN = "down"


@dataclass
class _Trigger:
    """One armed break; fires once, then disarms."""

    direction: str
    after_bytes: int | None = None
    pattern: bytes | None = None
    forward_pattern: bool = True
    refuse_seconds: float = 0.0
    passed: int = 0


class _Link:
    """One proxied connection: the client's socket and ours to the server."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.tails = {UP: b"", DOWN: b""}
        self.closed = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class TcpProxy:
    """Listens on a free loopback port and forwards to ``upstream_host:upstream_port``."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.RLock()
        self._links: list[_Link] = []
        self._trigger: _Trigger | None = None
        self._listener: socket.socket | None = None
        self._stopped = False
        self._reopen_timer: threading.Timer | None = None
        #: Set whenever an armed trigger fired (the connections were cut).
        self.fired = threading.Event()
        #: Connections accepted, and bytes forwarded per direction, since start.
        self.accepted = 0
        self.forwarded = {UP: 0, DOWN: 0}
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self._listen()

    # -- control -------------------------------------------------------------
    def cut(self, *, refuse_seconds: float = 0.0) -> None:
        """Close every open connection at once (and refuse new ones for a while)."""
        with self._lock:
            links, self._links = self._links, []
            if refuse_seconds > 0:
                self.refuse(refuse_seconds)
        for link in links:
            link.close()

    def refuse(self, seconds: float | None = None) -> None:
        """Stop listening: new connections are refused (for ``seconds``, or until
        :meth:`accept`)."""
        with self._lock:
            if self._listener is not None:
                with contextlib.suppress(OSError):
                    self._listener.close()
                self._listener = None
            if self._reopen_timer is not None:
                self._reopen_timer.cancel()
                self._reopen_timer = None
            if seconds is not None:
                self._reopen_timer = threading.Timer(seconds, self.accept)
                self._reopen_timer.daemon = True
                self._reopen_timer.start()

    def accept(self) -> None:
        """Listen again after :meth:`refuse`."""
        with self._lock:
            if self._reopen_timer is not None:
                self._reopen_timer.cancel()
                self._reopen_timer = None
            if self._listener is None and not self._stopped:
                self._listen()

    @property
    def refusing(self) -> bool:
        with self._lock:
            return self._listener is None

    def cut_after(self, nbytes: int, *, direction: str = DOWN, refuse_seconds: float = 0.0) -> None:
        """Arm: once ``nbytes`` more bytes have passed in ``direction`` (over all
        connections), forward exactly up to there and cut everything."""
        with self._lock:
            self.fired.clear()
            self._trigger = _Trigger(direction, after_bytes=nbytes, refuse_seconds=refuse_seconds)

    def cut_on(
        self,
        pattern: bytes,
        *,
        direction: str = UP,
        forward: bool = True,
        refuse_seconds: float = 0.0,
    ) -> None:
        """Arm: when ``pattern`` goes by in ``direction``, cut everything — after
        forwarding the bytes up to the pattern's end (``forward``) or before the
        pattern reaches the other side."""
        with self._lock:
            self.fired.clear()
            for link in self._links:
                link.tails = {UP: b"", DOWN: b""}
            self._trigger = _Trigger(
                direction, pattern=pattern, forward_pattern=forward, refuse_seconds=refuse_seconds
            )

    def disarm(self) -> None:
        with self._lock:
            self._trigger = None

    def heal(self) -> None:
        """Forward faithfully again: no trigger armed, listening."""
        self.disarm()
        self.accept()

    def close(self) -> None:
        """Stop for good and close everything."""
        with self._lock:
            self._stopped = True
            self._trigger = None
        self.refuse(None)
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.05)
        listener.listen(64)
        self._listener = listener
        threading.Thread(
            target=self._accept_loop, args=(listener,), daemon=True, name="proxy-accept"
        ).start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by refuse() or close()
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, upstream)
            with self._lock:
                if self._listener is not listener:  # refused meanwhile
                    link.close()
                    return
                self._links.append(link)
                self.accepted += 1
            for src, dst, direction in ((client, upstream, UP), (upstream, client, DOWN)):
                threading.Thread(
                    target=self._pump,
                    args=(link, src, dst, direction),
                    daemon=True,
                    name=f"proxy-{direction}",
                ).start()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                send, cut, refuse = self._inspect(link, data, direction)
                if send:
                    dst.sendall(send)
                    with self._lock:
                        self.forwarded[direction] += len(send)
                if cut:
                    self.fired.set()
                    self.cut(refuse_seconds=refuse)
                    return
        except OSError:
            pass
        link.close()
        with self._lock, contextlib.suppress(ValueError):
            self._links.remove(link)

    def _inspect(self, link: _Link, data: bytes, direction: str) -> tuple[bytes, bool, float]:
        """What of ``data`` to forward, and whether to cut after it."""
        with self._lock:
            trigger = self._trigger
            if trigger is None or trigger.direction != direction:
                return data, False, 0.0
            if trigger.after_bytes is not None:
                room = trigger.after_bytes - trigger.passed
                if len(data) < room:
                    trigger.passed += len(data)
                    return data, False, 0.0
                self._trigger = None
                return data[:room], True, trigger.refuse_seconds
            assert trigger.pattern is not None
            seen = link.tails[direction] + data
            at = seen.find(trigger.pattern)
            if at < 0:
                keep = len(trigger.pattern) - 1
                link.tails[direction] = seen[len(seen) - keep :] if keep else b""
                return data, False, 0.0
            self._trigger = None
            offset = len(link.tails[direction])  # where ``data`` starts within ``seen``
            end = at + len(trigger.pattern) if trigger.forward_pattern else at
            return data[: max(end - offset, 0)], True, trigger.refuse_seconds

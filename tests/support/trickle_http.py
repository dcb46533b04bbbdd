"""A real HTTP server on a loopback port that answers the way hostile or broken servers
do: a byte at a time (in the body or in the headers themselves), an endless body, or
exact raw bytes (a gzip bomb). Tests use it to see deadlines and size limits hold on a
real socket, where httpx's per-read timeouts alone would wait forever."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

#: One piece of an answer: bytes to send after a pause (seconds).
Piece = tuple[bytes, float]
Answer = Callable[[bytes], Iterable[Piece]]


@dataclass
class SlowServer:
    """What the server saw: the request heads, bytes sent, clients that hung up."""

    url: str
    requests: list[bytes] = field(default_factory=list)
    sent: int = 0
    hung_up: threading.Event = field(default_factory=threading.Event)
    first_request: threading.Event = field(default_factory=threading.Event)


def trickle_body(interval: float = 1.0, *, length: int = 100_000) -> Answer:
    """Complete headers (JSON, ``Content-Length``), then one space every ``interval``."""

    def answer(_request: bytes) -> Iterator[Piece]:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
        yield head.encode(), 0.0
        for _ in range(length):
            yield b" ", interval

    return answer


def trickle_headers(interval: float = 1.0) -> Answer:
    """The status line and headers themselves, one byte every ``interval``."""

    def answer(_request: bytes) -> Iterator[Piece]:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Pad: " + b"a" * 5000
        for n in range(len(head)):
            yield head[n : n + 1], interval

    return answer


def flood(chunk: int = 64 * 1024) -> Answer:
    """Headers without a length, then data as fast as the client takes it, forever."""

    def answer(_request: bytes) -> Iterator[Piece]:
        yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n", 0
        yield b'{"ok": true, "result": [', 0.0
        block = b'"' + b"x" * (chunk - 3) + b'",'
        while True:
            yield block, 0.0

    return answer


def raw(head: str, body: bytes) -> Answer:
    """Exactly ``head`` (status line and headers, without the blank line) and ``body``."""

    def answer(_request: bytes) -> Iterator[Piece]:
        yield head.rstrip("\r\n").encode() + b"\r\n\r\n" + body, 0.0

    return answer


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return data
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(rest) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        rest += piece
    return head


@contextmanager
def serve(answer: Answer) -> Iterator[SlowServer]:
    """Run a server answering every request with ``answer(request_head)``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    server = SlowServer(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()
    lock = threading.Lock()

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                while not stop.is_set():
                    head = _read_request(conn)
                    if not head:
                        return
                    with lock:
                        server.requests.append(head)
                    server.first_request.set()
                    for piece, pause in answer(head):
                        if stop.wait(pause):
                            return
                        conn.sendall(piece)
                        with lock:
                            server.sent += len(piece)
            except OSError:  # the client gave up: what the tests wait for
                server.hung_up.set()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True, name="trickle-http")
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        with suppress(OSError):
            listener.close()
        thread.join(5)

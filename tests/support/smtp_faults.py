"""A tiny SMTP server on loopback that can die at a chosen point of a session.

Raw sockets on purpose: a library server answers for us, and the point here is to
*not* answer — drop the connection when DATA is asked for, halfway through the
message, or after the message's final dot but before the ``250`` that says it was
accepted.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

#: Answer everything, accept every message.
OK = "ok"
#: Drop the connection when the client sends ``DATA`` (no ``354``).
DROP_AT_DATA = "drop-at-data"
#: Read part of the message, then reset the connection (the client is still sending).
DROP_MID_DATA = "drop-mid-data"
#: Read the whole message (final dot included), then drop without a reply.
DROP_AFTER_DOT = "drop-after-dot"


@dataclass
class FaultySmtp:
    """The server; ``mode`` may change between sessions."""

    mode: str = OK
    #: Bytes of DATA read before a ``DROP_MID_DATA`` reset.
    mid_data_bytes: int = 64 * 1024
    #: Messages read to their final dot (whatever was answered).
    received: list[bytes] = field(default_factory=list)
    #: Messages answered with ``250``: delivered as far as the client can know.
    accepted: list[bytes] = field(default_factory=list)
    #: Sessions that reached ``DATA``.
    data_commands: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listener = socket.socket()
        # A small receive window: a big message cannot vanish into kernel buffers
        # before the server decides to drop it.
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True, name="faulty-smtp")
        self._thread.start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        reader = conn.makefile("rb")
        try:
            conn.sendall(b"220 faulty.test ESMTP\r\n")
            while True:
                line = reader.readline()
                if not line:
                    return
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-faulty.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    conn.sendall(b"250 OK\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 Bye\r\n")
                    return
                elif verb == b"DATA":
                    with self._lock:
                        self.data_commands += 1
                        mode = self.mode
                    if mode == DROP_AT_DATA:
                        return
                    conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    message = self._read_message(reader, mode)
                    if message is None:
                        _reset(conn)
                        return
                    with self._lock:
                        self.received.append(message)
                    if mode == DROP_AFTER_DOT:
                        return
                    with self._lock:
                        self.accepted.append(message)
                    conn.sendall(b"250 2.0.0 Ok: queued as F4U17\r\n")
                else:
                    conn.sendall(b"502 5.5.2 Command not recognised\r\n")
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                reader.close()
            with contextlib.suppress(OSError):
                conn.close()

    def _read_message(self, reader, mode: str) -> bytes | None:  # noqa: ANN001 - a file
        lines: list[bytes] = []
        size = 0
        while True:
            line = reader.readline()
            if not line:
                return None
            if line == b".\r\n":
                return b"".join(lines)
            lines.append(line[1:] if line.startswith(b"..") else line)
            size += len(line)
            if mode == DROP_MID_DATA and size >= self.mid_data_bytes:
                return None


def _reset(conn: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), as a crashed server's kernel would."""
    import struct

    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

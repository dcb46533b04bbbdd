"""Drive the console in a real pseudo-terminal, as a person's terminal would: send
keys, and time the moment the screen shows what was asked for.

Every chunk of the child's output is kept with its arrival time; a measurement is the
arrival of the chunk that carried the text asked for (Textual writes a styled run of
text contiguously, between escape sequences).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path


class Console:
    """One ``omnitui`` process on a pty of ``cols`` × ``rows``."""

    def __init__(
        self, argv: list[str], *, cols: int = 150, rows: int = 42, env: dict | None = None
    ) -> None:
        self.cols, self.rows = cols, rows
        self.raw = bytearray()
        self.lock = threading.Condition()
        self.bytes_total = 0
        self.last_chunk_at = 0.0
        #: (arrival time, output length after that chunk)
        self.chunks: list[tuple[float, int]] = []
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        full_env.pop("TMUX", None)
        full_env.update(env or {})
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                break
            if not data:
                break
            now = time.perf_counter()
            with self.lock:
                self.bytes_total += len(data)
                self.last_chunk_at = now
                self.raw += data
                self.chunks.append((now, len(self.raw)))
                self.lock.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def mark(self) -> int:
        """A position in the output: later waits look only after it."""
        with self.lock:
            return len(self.raw)

    def send(self, keys: str | bytes) -> float:
        """Type ``keys``; returns the time they were written."""
        data = keys.encode() if isinstance(keys, str) else keys
        at = time.perf_counter()
        os.write(self.master, data)
        return at

    def wait_for(self, *texts: str, since: int = 0, timeout: float = 30.0) -> float:
        """The arrival time of the chunk after which every one of ``texts`` has been
        written (after position ``since``)."""
        wanted = [t.encode() for t in texts]
        deadline = time.perf_counter() + timeout
        with self.lock:
            while True:
                ends = [self.raw.find(w, since) for w in wanted]
                if all(e >= 0 for e in ends):
                    end = max(e + len(w) for e, w in zip(ends, wanted, strict=True))
                    return next(at for at, upto in self.chunks if upto >= end)
                left = deadline - time.perf_counter()
                if left <= 0:
                    tail = bytes(self.raw[-400:]).decode(errors="replace")
                    raise TimeoutError(f"never saw {texts!r}; last output: {tail!r}")
                self.lock.wait(left)

    def settle(self, quiet: float = 0.08, timeout: float = 10.0) -> float:
        """Wait until no output came for ``quiet`` seconds; returns the last arrival."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                last = self.last_chunk_at
            if time.perf_counter() - last >= quiet:
                return last
            time.sleep(quiet / 4)
        return self.last_chunk_at

    def redraw_after(self, keys: str | bytes, quiet: float = 0.05) -> float:
        """Seconds from a keypress to the end of the redraw it causes."""
        self.settle(quiet)
        with self.lock:
            before = len(self.chunks)
        sent = self.send(keys)
        deadline = sent + 5.0
        while time.perf_counter() < deadline:
            with self.lock:
                if len(self.chunks) > before:
                    break
            time.sleep(0.001)
        end = self.settle(quiet)
        return end - sent

    def bytes_between(self, start: float, end: float) -> int:
        """Bytes the program wrote to the terminal between two instants."""
        with self.lock:
            before = [upto for at, upto in self.chunks if at < start]
            until = [upto for at, upto in self.chunks if at < end]
        return (until[-1] if until else 0) - (before[-1] if before else 0)

    def close(self) -> None:
        """Quit the program (or kill it)."""
        try:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(OSError):
            os.close(self.master)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory now and at its peak, in MB (from /proc)."""
    now = peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            now = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return now, peak

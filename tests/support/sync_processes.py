"""Long-running ``omnitui`` processes for the tests: their output read line by line in
threads and waited on, and their end (SIGTERM, or SIGKILL as a crash)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

#: Generous: a bound on a hang, not a timing assertion.
WAIT = 90.0


class Lines:
    """Every line a stream gives, read in a thread, waited on by predicate."""

    def __init__(self, stream) -> None:  # noqa: ANN001 - a text pipe
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:  # noqa: ANN001
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = WAIT) -> str:
        """The first line ``predicate`` accepts, waiting for it up to ``timeout``."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(predicate(line) for line in self.lines), timeout=timeout
            )
            assert found, f"no line {what} in: {self.lines}"
            return next(line for line in self.lines if predicate(line))

    def finish(self) -> list[str]:
        """Every line, once the stream ended."""
        self._thread.join(timeout=WAIT)
        return list(self.lines)


class Process:
    """``python -m MODULE ARGS…`` running in the background, its output in lines."""

    def __init__(self, module: str, *args: str, env: dict[str, str], cwd: Path | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.pid = self.proc.pid
        self.out = Lines(self.proc.stdout)
        self.err = Lines(self.proc.stderr)

    def kill(self) -> None:
        """End it as a crash would (SIGKILL)."""
        self.proc.kill()
        self.proc.wait(timeout=WAIT)

    def stop(self) -> int:
        """End it as a service manager would (SIGTERM), killed if it hangs; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.out.finish()
        self.err.finish()
        return self.proc.returncode


def stop_all(processes: Sequence[Process]) -> None:
    """Stop every process still running (in a test's ``finally``)."""
    for process in processes:
        if process.proc.poll() is None:
            process.stop()

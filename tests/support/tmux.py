"""tmux for tests that drive a real terminal: where it is, skipping without it
(a failure under CI=true, where .ci/run installs it), and ending a server only once
the programs it ran have exited."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")


def need_tmux() -> None:
    """Skip the test when tmux is missing (fail it under CI=true)."""
    if TMUX is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI requires tmux (.ci/run installs it)")
        pytest.skip("tmux is not installed")


def end_server(sock: str, timeout: float = 15.0) -> None:
    """Kill the tmux server on ``sock`` and wait until every program its panes ran
    has exited (killed outright after ``timeout``). A console still closing keeps
    its database connections open; a test's teardown must not race them."""
    if TMUX is None:
        return
    panes = subprocess.run(
        [TMUX, "-S", sock, "list-panes", "-a", "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    pids = _with_descendants({int(p) for p in panes if p.isdigit()})
    subprocess.run([TMUX, "-S", sock, "kill-server"], capture_output=True, timeout=30)
    deadline = time.monotonic() + timeout
    while (alive := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _with_descendants(roots: set[int]) -> set[int]:
    """``roots`` and every process below them, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has exited: its connections are closed)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"

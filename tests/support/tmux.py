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

import pytest

from tests.support.processes import alive, with_descendants

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
    pids = with_descendants({int(p) for p in panes if p.isdigit()})
    subprocess.run([TMUX, "-S", sock, "kill-server"], capture_output=True, timeout=30)
    deadline = time.monotonic() + timeout
    while (running := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

"""Big polls are parsed on every core (adapters/email/parse_pool.py): ``omnitui sync``
forks its parse workers before it starts any thread, and those workers never outlive
it, never print a traceback on Ctrl-C, and parse exactly as the sync would alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.email.parse_pool import cores
from tests.support.processes import alive

ROOT = Path(__file__).resolve().parents[2]
PROBE = [sys.executable, "-m", "tests.support.parse_pool_probe"]

needs_two_cores = pytest.mark.skipif(
    cores() < 2, reason="the parse pool runs only on two or more cores"
)


def probe(mode: str) -> dict:
    done = subprocess.run(
        [*PROBE, mode], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True
    )
    return json.loads(done.stdout)


def holding() -> tuple[subprocess.Popen[str], list[int]]:
    """A probe holding its started pool, in a process group of its own."""
    proc = subprocess.Popen(
        [*PROBE, "hold"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    shown = json.loads(proc.stdout.readline())
    assert shown["pool"] and len(shown["workers"]) == cores(), shown
    return proc, shown["workers"]


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


@needs_two_cores
def test_a_pool_started_first_parses_a_big_poll_from_a_thread_as_one_core_would() -> None:
    shown = probe("compare")
    assert shown["pool"] and shown["workers"] and shown["same"], shown


def test_a_process_already_running_threads_never_forks() -> None:
    assert probe("threaded") == {"pool": False}


@needs_two_cores
def test_the_workers_end_when_the_sync_is_killed_outright() -> None:
    proc, workers = holding()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    try:
        assert gone_within(workers, 5), "parse workers outlived their sync"
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@needs_two_cores
def test_ctrl_c_ends_the_sync_and_its_workers_without_a_traceback() -> None:
    proc, workers = holding()
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends the foreground group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert gone_within(workers, 5)

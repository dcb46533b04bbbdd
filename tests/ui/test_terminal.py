"""The demo in a real terminal (tmux): it starts, shows rows, opens one, quits."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.support.tmux import TMUX, end_server, need_tmux


def capture(sock: str) -> str:
    return subprocess.run(
        [TMUX, "-S", sock, "capture-pane", "-p", "-t", "demo"],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout


def wait_for(sock: str, needle: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(sock)
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared; screen was:\n{screen}")


def test_demo_runs_in_a_real_terminal(tmp_path: Path) -> None:
    need_tmux()
    sock = str(tmp_path / "tmux.sock")
    # pytest imports readline, which exports COLUMNS=80 LINES=24 to every child: the app
    # would believe them rather than the 120×32 pane (and fold the history pane).
    env_cmd = (
        "env -u COLUMNS -u LINES "
        f"XDG_CONFIG_HOME={tmp_path}/c XDG_DATA_HOME={tmp_path}/d TERM=xterm-256color "
        f"{sys.executable} -m omnitui demo"
    )
    subprocess.run(
        [
            TMUX,
            "-S",
            sock,
            "new-session",
            "-d",
            "-s",
            "demo",
            "-x",
            "120",
            "-y",
            "32",  # type: ignore[list-item]
            env_cmd,
        ],
        check=True,
        cwd=Path(__file__).parents[2],
        timeout=30,
    )
    try:
        screen = wait_for(sock, "DEMO")
        assert "inbox" in screen and "SLA" in screen
        for channel in ("email",):
            assert channel in screen
        subprocess.run(
            [TMUX, "-S", sock, "send-keys", "-t", "demo", "j", "Enter"],  # type: ignore[list-item]
            check=True,
            timeout=30,
        )
        screen = wait_for(sock, "history (")
        assert "C-1" in screen
        subprocess.run(
            [TMUX, "-S", sock, "send-keys", "-t", "demo", "Escape"],  # type: ignore[list-item]
            check=True,
            timeout=30,
        )
        wait_for(sock, "c channel")
        time.sleep(0.5)  # let the terminal's escape-sequence timeout pass before "q"
        subprocess.run([TMUX, "-S", sock, "send-keys", "-t", "demo", "q"], check=True, timeout=30)  # type: ignore[list-item]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            alive = (
                subprocess.run(
                    [TMUX, "-S", sock, "has-session", "-t", "demo"],  # type: ignore[list-item]
                    capture_output=True,
                    timeout=30,
                ).returncode
                == 0
            )
            if not alive:
                break
            time.sleep(0.2)
        assert not alive, "q did not quit the demo"
    finally:
        end_server(sock)

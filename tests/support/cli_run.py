"""Run the ``omnitui`` command as a user would: a subprocess of this Python."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

#: ``omnitui ARGS…`` bound to one config file and store; ``stdin=`` feeds it text.
Omnitui = Callable[..., subprocess.CompletedProcess[str]]


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``omnitui ARGS…`` with extra environment, stdin and working directory."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "omnitui", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        cwd=cwd,
        timeout=120,
    )


def command(config: Path, db: str, env: dict[str, str] | None = None) -> Omnitui:
    """``omnitui --config CONFIG --db DB ARGS…`` as a function of ARGS (and ``stdin``)."""

    def omnitui(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run("--config", str(config), "--db", db, *args, env=env, stdin=stdin)

    return omnitui

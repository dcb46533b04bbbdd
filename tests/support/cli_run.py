"""Run the ``omnitui`` command as a user would: a subprocess of this Python (or, for
tests of many commands, the same entry point in this process)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def in_process(config: Path, db: str, env: dict[str, str] | None = None) -> Omnitui:
    """The same as :func:`command`, in this process: the same entry point
    (``omnitui.cli.main``) with the arguments, environment and stdin a subprocess would
    get, its stdout, stderr and exit code returned alike. For tests that run dozens of
    commands, where a process each costs seconds of imports; every store the command
    opened is closed when it returns, and no parse workers are forked from the tests."""

    def omnitui(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_in_process("--config", str(config), "--db", db, *args, env=env, stdin=stdin)

    return omnitui


def run_in_process(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``omnitui ARGS…`` through ``omnitui.cli.main`` in this process."""
    import contextlib
    import gc
    import io

    import storage
    from adapters.email import parse_pool
    from omnitui.cli import main

    opened: list[Any] = []
    real_open = storage.open_store
    real_prestart = parse_pool.prestart

    def open_store(*a: Any, **k: Any) -> Any:
        engine = real_open(*a, **k)
        opened.append(engine)
        return engine

    out, err = io.StringIO(), io.StringIO()
    saved_env = dict(os.environ)
    saved_argv, saved_stdin = sys.argv, sys.stdin
    gc_was_on = gc.isenabled()
    code = 0
    try:
        os.environ.update(env or {})
        sys.argv = ["omnitui", *args]
        sys.stdin = io.StringIO(stdin or "")
        storage.open_store = open_store  # type: ignore[assignment]
        # A command's parse workers are forks of its process: here, of the test run.
        parse_pool.prestart = lambda: False  # type: ignore[assignment]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        storage.open_store = real_open  # type: ignore[assignment]
        parse_pool.prestart = real_prestart  # type: ignore[assignment]
        for engine in opened:
            engine.dispose()
        sys.argv, sys.stdin = saved_argv, saved_stdin
        os.environ.clear()
        os.environ.update(saved_env)
        if not gc_was_on:
            gc.disable()
    return subprocess.CompletedProcess(["omnitui", *args], code, out.getvalue(), err.getvalue())

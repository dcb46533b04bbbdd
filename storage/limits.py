"""What every backend can store, and how values are made to fit.

Column sizes are the smallest any backend enforces (PostgreSQL checks VARCHAR lengths
and integer ranges; SQLite does not, so the same data must be clamped for both).
Identifiers are clamped deterministically (a prefix plus a hash of the whole), so two
different long ids stay different and the same id always clamps the same way: a reply
quoting a 2,000-character Message-ID still threads.
"""

from __future__ import annotations

import hashlib

#: Column limits (characters), from storage.models.
EXTERNAL_ID = 512
MESSAGE_ID = 998
ADDRESS = 320
THREAD_KEY = 512
SOURCE = 1024
REMOTE_REF = 2048
SUBJECT = 998
#: Largest value of an INTEGER column on every backend (PostgreSQL ``integer``).
MAX_INT = 2**31 - 1
#: UTF-8 bytes a PostgreSQL b-tree index entry safely holds (the page limit is ~2.7 kB).
_INDEX_BYTES = 2000


def clamp_id(value: str, limit: int) -> str:
    """``value`` if it fits ``limit`` characters (and an index entry), else a prefix
    of it followed by ``#`` and the SHA-256 of the whole."""
    if len(value) <= limit and len(value.encode("utf-8", "surrogatepass")) <= _INDEX_BYTES:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    keep = min(limit, _INDEX_BYTES // 4) - len(digest) - 1
    return f"{value[:keep]}#{digest}"


def clamp_text(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters (with an ellipsis when cut)."""
    return value if len(value) <= limit else value[: limit - 1] + "…"

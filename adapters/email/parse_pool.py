"""Parse many messages on every core (parsing is the CPU-bound part of a big sync)."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from adapters.email.parse import ParsedMail, parse_message

#: Below this many messages a pool costs more than it saves.
POOL_THRESHOLD = 200
_pool: ProcessPoolExecutor | None = None


def _executor() -> ProcessPoolExecutor | None:
    """A pool of forked workers, only while this process runs no other thread: forking
    a threaded process (the console) is unsafe, and spawning workers costs more than
    the parsing it saves."""
    global _pool
    workers = os.cpu_count() or 1
    if workers < 2 or (_pool is None and threading.active_count() > 1):
        return None
    if _pool is None:
        context = multiprocessing.get_context("fork")
        _pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
    return _pool


def parse_all(raws: Sequence[bytes], *, contents: bool = True) -> list[ParsedMail]:
    """:func:`parse_message` for each raw message, in order; in parallel when worth it.
    ``contents=False``: attachments come back without their bytes."""
    global _pool
    parse = partial(parse_message, contents=contents)
    if len(raws) >= POOL_THRESHOLD:
        pool = _executor()
        if pool is not None:
            try:
                return list(pool.map(parse, raws, chunksize=50))
            except (BrokenProcessPool, OSError):
                _pool = None  # fall back to parsing here
    return [parse(raw) for raw in raws]

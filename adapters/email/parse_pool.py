"""Parse many messages on every core (parsing is the CPU-bound part of a big sync)."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from adapters.email.parse import ParsedMail, parse_message

#: Below this many messages a pool costs more than it saves.
POOL_THRESHOLD = 200
_pool: ProcessPoolExecutor | None = None


def cores() -> int:
    """The cores this process may run on (``taskset``'s or a cpuset's limit; a CPU
    quota such as ``docker --cpus`` is not seen)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _executor() -> ProcessPoolExecutor | None:
    """A pool of forked workers, only while this process runs no other thread: forking
    a threaded process (the console) is unsafe, and spawning workers costs more than
    the parsing it saves. Its workers are forked at once, with Ctrl-C held back, so
    none is born able to take it (and print a traceback) before its initializer
    ignores it; this process gets it when the mask is restored."""
    global _pool
    workers = cores()
    if workers < 2 or (_pool is None and threading.active_count() > 1):
        return None
    if _pool is None:
        context = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_worker_start,
            initargs=(os.getpid(),),
        )
        masked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pool.submit(int).result()  # forks every worker now (the "fork" start method)
        except (BrokenProcessPool, OSError):
            pool.shutdown(wait=False, cancel_futures=True)
            return None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, masked)
        _pool = pool
        atexit.register(pool.shutdown, wait=False, cancel_futures=True)
    return _pool


def _worker_start(parent: int) -> None:
    """In each worker: Ctrl-C is the parent's to handle (the worker would print a
    traceback), and the worker ends as soon as its parent is gone, even killed with
    SIGKILL, rather than lingering as an orphan."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # ignored from now on

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def prestart() -> bool:
    """Fork the parse workers now, while this process still runs one thread, so a
    command that starts threads later (the sync's side-by-side rounds and its
    fetch-ahead) still parses big polls on every core. Whether the pool runs."""
    return _executor() is not None


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

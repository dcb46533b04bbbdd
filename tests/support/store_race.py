"""Concurrent first starts on one new store, many times: the start-up race, for the
storage test and ``bench/concurrent_start.py``.

Every iteration names a store that does not exist yet (SQLite: a file in a directory
that does not exist either; PostgreSQL: a new schema) and makes ``processes`` worker
processes with ``threads`` threads each open it at the same moment
(``storage.open_store``: the engine, the directory and file, the WAL switch and the
creation of the schema). An iteration fails when any opener raises or the store does
not end at the head revision with exactly one ``alembic_version`` row. The workers stay
alive across iterations (the import cost is paid once), and every wait is bounded.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

#: Seconds one opener may take before its iteration counts as hung.
WAIT_S = 60.0


@dataclass
class Summary:
    """How a race went."""

    backend: str
    iterations: int
    processes: int
    threads: int
    failed_iterations: int = 0
    #: Failed iterations by error (first line, paths replaced by <file>/<url>).
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failure_rate(self) -> float:
        return self.failed_iterations / self.iterations if self.iterations else 0.0


def _open_once(url: str) -> str | None:
    """Open the store at ``url``; None, or the error's first line."""
    from storage import open_store

    try:
        engine = open_store(url)
    except BaseException as exc:  # noqa: BLE001 - counted by the caller
        text = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return text.replace(url, "<url>").replace(url.removeprefix("sqlite:///"), "<file>")[:200]
    engine.dispose()
    return None


def _worker(threads: int, wait: float, barrier: Any, jobs: Any, results: Any) -> None:
    """One process: for each URL, ``threads`` threads wait on the barrier shared by
    every process, then open the store; the errors (or None) go back in one list."""
    import storage.migrate  # noqa: F401 - imports warm before the first start
    import storage.models  # noqa: F401

    while True:
        url = jobs.get(timeout=wait * 10)
        if url is None:
            return
        out: list[str | None] = []

        def start(url: str = url, out: list[str | None] = out) -> None:
            try:
                barrier.wait(timeout=wait)
            except threading.BrokenBarrierError:
                out.append("barrier broken (another opener hung or died)")
                return
            out.append(_open_once(url))

        pool = [threading.Thread(target=start, daemon=True) for _ in range(threads)]
        for thread in pool:
            thread.start()
        deadline = time.monotonic() + 2 * wait
        for thread in pool:
            thread.join(timeout=max(deadline - time.monotonic(), 0.1))
            if thread.is_alive():
                out.append("opener hung")
        results.put(out)


def check_store(url: str) -> str | None:
    """None when the store is at head with one version row; else what is wrong."""
    from sqlalchemy import text

    from storage import migrate
    from storage.engine import make_engine

    engine = make_engine(url)
    try:
        if migrate.current_revision(engine) != migrate.HEAD:
            return "store not at head after the starts"
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar()
        return None if rows == 1 else f"alembic_version has {rows} rows"
    finally:
        engine.dispose()


@contextmanager
def _new_store(root: Path, i: int, pg: str | None) -> Iterator[str]:
    """The URL of a store that does not exist yet; removed afterwards."""
    if not pg:
        try:
            yield f"sqlite:///{root / f'run{i}' / 'store' / 'omnitui.sqlite'}"
        finally:
            shutil.rmtree(root / f"run{i}", ignore_errors=True)
        return
    from sqlalchemy import create_engine, text

    schema = f"race_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in pg else "?"
        yield f"{pg}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def race(
    iterations: int,
    processes: int,
    threads: int,
    *,
    pg: str | None = None,
    wait: float = WAIT_S,
) -> Summary:
    """Race ``processes`` x ``threads`` openers on a new store ``iterations`` times.

    A hung or dead worker ends the race at once (counted as a failed iteration)."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes * threads, timeout=wait)
    jobs = ctx.Queue()
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(threads, wait, barrier, jobs, results), daemon=True)
        for _ in range(processes)
    ]
    for proc in workers:
        proc.start()
    summary = Summary("postgresql" if pg else "sqlite", iterations, processes, threads)
    errors: collections.Counter[str] = collections.Counter()
    root = Path(tempfile.mkdtemp(prefix="omnitui-race-"))
    started = time.perf_counter()
    try:
        for i in range(iterations):
            with _new_store(root, i, pg) as url:
                for _ in workers:
                    jobs.put(url)
                found: list[str] = []
                hung = False
                for _ in workers:
                    try:
                        found += [e for e in results.get(timeout=3 * wait + 30) if e]
                    except queue.Empty:
                        found.append("worker process hung or died")
                        hung = True
                        break
                if not found:
                    problem = check_store(url)
                    if problem:
                        found.append(problem)
            if found:
                summary.failed_iterations += 1
                errors.update(set(found))
            if hung:
                summary.iterations = i + 1
                break
            if barrier.broken:
                barrier.reset()
    finally:
        for _ in workers:
            jobs.put(None)
        for proc in workers:
            proc.join(timeout=wait)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=wait)
        shutil.rmtree(root, ignore_errors=True)
    summary.errors = dict(errors.most_common())
    summary.seconds = round(time.perf_counter() - started, 1)
    return summary

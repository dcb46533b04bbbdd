"""Engines for SQLite (WAL, foreign keys, busy timeout, user-only files) and PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from storage.errors import StoreError

BUSY_TIMEOUT_MS = 10_000
#: Seconds PostgreSQL connections may take to connect, unless the URL's
#: ``connect_timeout`` (or ``PGCONNECT_TIMEOUT``) says otherwise.
PG_CONNECT_TIMEOUT_S = 10
#: The first 16 bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of an SQLite file."""
    return f"sqlite:///{path}"


def _prepare_sqlite_file(database: str) -> None:
    """Create the file's directory 0700 and the file 0600 before SQLite opens it.

    An existing file is made 0600 only when it is an SQLite database (or empty): any
    other file at that path (``--db sqlite:////etc/passwd``) is refused with a
    :class:`StoreError` and left exactly as it was.
    """
    path = Path(database).expanduser()
    parent = path.parent
    if not parent.exists():
        parent.mkdir(parents=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        # Non-blocking, so that a FIFO at the path is refused rather than waited on.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            mode = os.fstat(fd).st_mode
            ours = stat.S_ISREG(mode) and os.read(fd, len(SQLITE_HEADER)) in (b"", SQLITE_HEADER)
            if not ours:
                raise StoreError(
                    f"{path} is not an SQLite database (file is not a database); left unchanged"
                )
            if stat.S_IMODE(mode) != 0o600:
                os.chmod(fd if os.chmod in os.supports_fd else path, 0o600)
        finally:
            os.close(fd)
    else:
        os.close(fd)


def _on_sqlite_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """Build an engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://…``).

    Raises :class:`StoreError` with a one-line reason for a URL that cannot work.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"database URL {url!r} is not a valid URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        memory = database in ("", ":memory:")
        if not memory:
            try:
                _prepare_sqlite_file(database)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise StoreError(f"cannot use database file {database}: {reason}") from None
        extra: dict[str, Any] = {"poolclass": StaticPool} if memory else {}
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            **extra,
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query and "PGCONNECT_TIMEOUT" not in os.environ:
            # Without it an unreachable server (dropped packets) hangs start-up for minutes.
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        try:
            # Bulk inserts with RETURNING in pages of 100 rows: psycopg parses each
            # statement in Python, and 1,000-row pages cost twice as much (bench/generate.py).
            return create_engine(
                parsed,
                pool_pre_ping=True,
                connect_args=connect_args,
                insertmanyvalues_page_size=100,
            )
        except Exception as exc:  # noqa: BLE001 - driver import or URL errors
            raise StoreError(f"cannot use database URL {url!r}: {exc}") from None
    raise StoreError(
        f"database URL {url!r}: unsupported backend {backend!r} "
        "(use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
    )


def is_sqlite(engine: Engine) -> bool:
    """Whether ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"

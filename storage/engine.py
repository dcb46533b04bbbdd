"""Engines for SQLite (WAL, foreign keys, busy timeout, user-only files) and PostgreSQL."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from storage import cjk
from storage.errors import StoreError

BUSY_TIMEOUT_MS = 10_000
#: Seconds PostgreSQL connections may take to connect, unless the URL's
#: ``connect_timeout`` (or ``PGCONNECT_TIMEOUT``) says otherwise.
PG_CONNECT_TIMEOUT_S = 10
#: The first 16 bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"
#: The smallest SQLite database that is not empty: one page of the smallest size.
MIN_SQLITE_SIZE = 512


#: ``scheme://user:PASSWORD@`` (up to the last ``@``: an unencoded ``@`` in a password
#: must not leave its tail behind) and ``password=`` / ``sslpassword=`` query values.
_URL_PASSWORD = re.compile(r"^([\w+.-]+://[^:/@]*:).*@", re.DOTALL)
_QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)[^&#\s]*", re.IGNORECASE)
HIDDEN = "***"


def redact_url(url: str) -> str:
    """``url`` fit for a message or a log: its password and any ``password=`` query
    parameter replaced by ``***``; works on URLs that do not parse too."""
    url = _URL_PASSWORD.sub(lambda m: m.group(1) + HIDDEN + "@", url, count=1)
    return _QUERY_PASSWORD.sub(lambda m: m.group(1) + HIDDEN, url)


def redact_secrets(text: str, url: str) -> str:
    """``text`` (a message about ``url``) without ``url``'s passwords, in whatever form
    (as written, percent-decoded) a driver or a library may have quoted them."""
    secrets: set[str] = set()
    userinfo = _URL_PASSWORD.match(url)
    if userinfo:
        secrets.add(url[userinfo.end(1) : userinfo.end() - 1])
    secrets.update(m.group(0)[len(m.group(1)) :] for m in _QUERY_PASSWORD.finditer(url))
    forms = secrets | {unquote(x) for x in secrets} | {unquote_plus(x) for x in secrets}
    for secret in sorted(forms, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, HIDDEN)
        elif secret:  # a short one only as a whole word: "pw" must not garble "pwd"
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", HIDDEN, text)
    return text


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of an SQLite file."""
    return f"sqlite:///{path}"


#: Held while a file is created or checked, so that no thread of this process has the
#: file open in SQLite while our own descriptor of it is closed (see below).
_PREPARING = threading.Lock()


def _prepare_sqlite_file(database: str) -> None:
    """Create the file's directory 0700 and the file 0600 before SQLite opens it.

    An existing file is made 0600 only when it is an SQLite database (or empty): any
    other file at that path (``--db sqlite:////etc/passwd``) is refused with a
    :class:`StoreError` and left exactly as it was.

    Safe when threads and processes start on a new store together: the directory may
    appear between a check and ``mkdir``; and an existing file is read through SQLite
    itself, never a descriptor of our own, because closing any descriptor of a file
    drops every POSIX lock the *process* holds on it, SQLite's included, and doing that
    while another engine of the process uses the store corrupts it ("disk I/O error",
    "database disk image is malformed"). SQLite defers such closes itself.
    """
    path = Path(database).expanduser()
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    with _PREPARING:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            pass
        else:
            os.close(fd)  # a new file: no connection of ours can have it open yet
            return
        found = os.stat(path)  # no open(): a FIFO is refused rather than waited on
        if not (stat.S_ISREG(found.st_mode) and _is_sqlite(path, found.st_size)):
            raise StoreError(
                f"{path} is not an SQLite database (file is not a database); left unchanged"
            )
        if stat.S_IMODE(found.st_mode) != 0o600:
            os.chmod(path, 0o600)


def _is_sqlite(path: Path, size: int) -> bool:
    """Whether the file is empty or an SQLite database, asked of SQLite read-only."""
    if size == 0:
        return True
    if size < MIN_SQLITE_SIZE:
        return False  # SQLite would take a few bytes for an empty database and overwrite them
    # immutable: no locks, no -wal/-shm created (they would copy a loose file mode).
    uri = f"file:{quote(str(path))}?mode=ro&immutable=1"
    probe = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        probe.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        # Anything but "not a database" (locked, a WAL it may not open read-only…) is
        # for the engine to report when it connects.
        return getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_NOTADB
    finally:
        probe.close()
    return True


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _use_wal(cur: sqlite3.Cursor) -> None:
    """Switch the database to WAL (a no-op once it is), waiting out other switchers.

    On a new file, ``PRAGMA journal_mode=WAL`` reads the header in a read transaction,
    then upgrades it to a write transaction to set the format bytes. SQLite never calls
    the busy handler for such an upgrade (two connections doing it could deadlock), so
    when another connection is switching the same new file at that moment it fails at
    once with "database is locked", ``busy_timeout`` notwithstanding. Retried here until
    the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.001
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _on_sqlite_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # The full-text triggers index text through it (storage/cjk.py).
    dbapi_conn.create_function(cjk.FUNCTION, 1, cjk.spaced, deterministic=True)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _use_wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """Build an engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://…``).

    Raises :class:`StoreError` with a one-line reason for a URL that cannot work.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        reason = redact_secrets(str(exc).splitlines()[0] if str(exc) else "", url)
        raise StoreError(
            f"database URL {redact_url(url)!r} is not a valid URL"
            + (f": {reason}" if reason else "")
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.query:
            # SQLite would drop most of them in silence (``?mode=ro`` alone opens the
            # file writable; with ``uri=true`` it names another file), and the driver
            # options are omnitui's own (timeout, threads).
            names = ", ".join(repr(k) for k in sorted(parsed.query))
            raise StoreError(
                f"database URL {redact_url(url)!r}: an SQLite URL takes no query "
                f"arguments (got {names}); name the file only"
            )
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
            # No hstore column anywhere: without the native hstore adapter, the first
            # connection does not look the type up (one catalog query fewer at start).
            return create_engine(
                parsed,
                pool_pre_ping=True,
                connect_args=connect_args,
                insertmanyvalues_page_size=100,
                use_native_hstore=False,
            )
        except Exception as exc:  # noqa: BLE001 - driver import or URL errors
            reason = redact_secrets(str(exc), url)
            raise StoreError(f"cannot use database URL {redact_url(url)!r}: {reason}") from None
    raise StoreError(
        f"database URL {redact_url(url)!r}: unsupported backend {backend!r} "
        "(use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
    )


def is_sqlite(engine: Engine) -> bool:
    """Whether ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"

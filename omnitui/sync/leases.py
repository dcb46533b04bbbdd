"""Per-account leadership: of every process on one store, one polls and sends for an
account at a time (docs/TEAM.md, "The sync service").

PostgreSQL: a session-level advisory lock per account, keyed on the store's schema and
the account's name, taken on one connection of our own kept open while we lead. The
server drops it when the process dies or that connection breaks; a broken connection
is found before the next round, and then every lease of this holder counts as lost.
SQLite: ``flock`` on one file per account beside the database (``<db>.lock.d/``),
held open; the kernel drops it when the process dies. An in-memory store belongs to
one process: its leases are always granted. Within one process an account has one
holder too (two services in one process, as in tests).

A holder records itself in ``account_state.leader`` (``host pid N (role)``) with
``leader_seen_at``, so the others can say who syncs an account.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import itertools
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import create_engine, text, update
from sqlalchemy.pool import NullPool
from sqlmodel import Session, col

from omnitui.errors import OmnituiError
from omnitui.leader_names import describe_holder
from omnitui.sanitize import clean_line
from storage import repository as repo
from storage.errors import describe_store_error
from storage.models import AccountState
from storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

log = logging.getLogger("omnitui.sync")

#: Seconds between attempts to take an account somebody else leads: a console takes
#: over within a few seconds of the sync service's end.
LEASE_RETRY_SECONDS = 3.0
#: libpq keepalives on the lease connection: a holder whose machine vanished loses its
#: locks within about half a minute, not after the kernel's two hours.
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5}
PG_KEEPALIVE_COUNT = 3
PG_CONNECT_TIMEOUT_S = 10


class LeaseError(OmnituiError):
    """A lease could not even be asked for (lock directory, database connection)."""


class _Backend(Protocol):
    def store_id(self) -> str: ...
    def lock(self, account: str, holder: str) -> bool: ...
    def alive(self, account: str) -> bool: ...
    def unlock(self, account: str) -> None: ...
    def holder(self, account: str) -> str | None: ...
    def close(self) -> None: ...


#: (store, account) → the token of the AccountLeases holding it in this process.
_CLAIMED: dict[tuple[str, str], int] = {}
_CLAIMED_LOCK = threading.Lock()
_TOKENS = itertools.count(1)


def _claim(key: tuple[str, str], token: int) -> bool:
    with _CLAIMED_LOCK:
        return _CLAIMED.setdefault(key, token) == token


def _unclaim(key: tuple[str, str], token: int) -> None:
    with _CLAIMED_LOCK:
        if _CLAIMED.get(key) == token:
            del _CLAIMED[key]


class AccountLeases:
    """The accounts this process leads on one store. Thread-safe: each account's
    poller thread asks for its own account."""

    def __init__(self, engine: Engine, *, role: str = "sync service") -> None:
        self.engine = engine
        #: How others see us: ``host pid N (role)``.
        self.identity = describe_holder(role)
        self._backend = _backend_for(engine)
        self._held: set[str] = set()
        self._lock = threading.RLock()
        self._token = next(_TOKENS)

    def try_acquire(self, account: str) -> bool:
        """Lead ``account`` if nobody else does (True), or say we already do. A lease
        found lost (its connection broke) is asked for again. Raises
        :class:`LeaseError` when the lease cannot be asked for at all."""
        with self._lock:
            if account in self._held:
                if self._backend.alive(account):
                    return True
                self._forget(account)
                log.warning("%s: the account's lease was lost; asking for it again", account)
            key = (self._backend.store_id(), account)
            if not _claim(key, self._token):
                return False
            try:
                got = self._backend.lock(account, self.identity)
            except BaseException:
                _unclaim(key, self._token)
                raise
            if not got:
                _unclaim(key, self._token)
                return False
            self._held.add(account)
        self.touch(account)
        return True

    def touch(self, account: str) -> None:
        """Record us as ``account``'s leader, seen now (best effort: a round records
        it too)."""
        try:
            with Session(self.engine) as s:
                repo.set_account_state(s, account, leader=self.identity, leader_seen_at=utcnow())
                s.commit()
        except Exception as exc:  # noqa: BLE001 - the store is in trouble; the round says so
            log.info("%s: could not record the leader (%s)", account, describe_store_error(exc))

    def release(self, account: str) -> None:
        """Stop leading ``account`` (nothing when we did not)."""
        with self._lock:
            if account not in self._held:
                return
            self._clear_record(account)
            self._forget(account)

    def held(self) -> frozenset[str]:
        """The accounts we lead (as last checked)."""
        with self._lock:
            return frozenset(self._held)

    def holder(self, account: str) -> str:
        """Who leads ``account``: ``host pid N (role)`` as the leader recorded it."""
        with self._lock:
            if account in self._held:
                return self.identity
        try:
            found = self._backend.holder(account)
        except Exception:  # noqa: BLE001 - a name is a courtesy
            found = None
        if not found:
            found = recorded_leader(self.engine, account)
        return found or "another process"

    def close(self) -> None:
        """Release every lease and the lease connection."""
        with self._lock:
            for account in sorted(self._held):
                self._clear_record(account)
                self._forget(account)
            self._backend.close()

    def _forget(self, account: str) -> None:
        self._held.discard(account)
        try:
            self._backend.unlock(account)
        finally:
            _unclaim((self._backend.store_id(), account), self._token)

    def _clear_record(self, account: str) -> None:
        try:
            with Session(self.engine) as s:
                s.execute(
                    update(AccountState)
                    .where(
                        col(AccountState.account) == account,
                        col(AccountState.leader) == self.identity,
                    )
                    .values(leader=None)
                )
                s.commit()
        except Exception:  # noqa: BLE001 - a stale name is replaced by the next leader
            log.debug("%s: could not clear the leader", account, exc_info=True)


@dataclass(frozen=True)
class LastRound:
    """An account's last round as ``account_state`` has it (whoever ran it)."""

    leader: str | None = None
    ok_at: datetime | None = None
    error: str | None = None
    error_at: datetime | None = None

    @property
    def failed(self) -> bool:
        """Whether the last round failed."""
        return bool(self.error) and (
            self.ok_at is None or (self.error_at is not None and self.error_at >= self.ok_at)
        )


def last_round(engine: Engine, account: str) -> LastRound:
    """How ``account``'s last round went (an empty record when none is known)."""
    with Session(engine) as s:
        row = s.get(AccountState, account)
        if row is None:
            return LastRound()
        return LastRound(row.leader, row.last_ok_at, row.last_error, row.last_error_at)


def recorded_leader(engine: Engine, account: str) -> str | None:
    """``account_state.leader`` of ``account`` (None when unknown or unreadable)."""
    try:
        return last_round(engine, account).leader
    except Exception:  # noqa: BLE001 - a name is a courtesy
        return None


def _backend_for(engine: Engine) -> _Backend:
    if engine.dialect.name == "postgresql":
        return _PgLocks(engine)
    database = engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return _Granted(f"memory:{id(engine)}")
    return _FileLocks(Path(database).expanduser().resolve())


class _Granted:
    """In-memory SQLite: the store is this process's own."""

    def __init__(self, store: str) -> None:
        self._store = store

    def store_id(self) -> str:
        return self._store

    def lock(self, account: str, holder: str) -> bool:
        return True

    def alive(self, account: str) -> bool:
        return True

    def unlock(self, account: str) -> None:
        return None

    def holder(self, account: str) -> str | None:
        return None

    def close(self) -> None:
        return None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def lock_file_name(account: str) -> str:
    """A file name for ``account``'s lock: the name itself when it is safe, else a
    cleaned form with a hash of the real one."""
    safe = _UNSAFE.sub("_", account)[:64]
    if safe == account and not account.startswith("."):
        return f"{account}.lock"
    digest = hashlib.sha256(account.encode()).hexdigest()[:12]
    return f"{safe.lstrip('.')}-{digest}.lock"


class _FileLocks:
    """SQLite: ``flock`` on ``<db>.lock.d/<account>.lock``, held open while leading."""

    def __init__(self, database: Path) -> None:
        self.directory = database.with_name(database.name + ".lock.d")
        self._files: dict[str, int] = {}

    def store_id(self) -> str:
        return f"sqlite:{self.directory}"

    def _path(self, account: str) -> Path:
        return self.directory / lock_file_name(account)

    def lock(self, account: str, holder: str) -> bool:
        path = self._path(account)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise LeaseError(f"cannot open the lock file {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise LeaseError(f"cannot lock {path}: {exc.strerror or exc}") from None
        if not self._same_file(fd, path):
            os.close(fd)  # replaced meanwhile: ask again next time
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, (holder + "\n").encode(), 0)
        self._files[account] = fd
        return True

    @staticmethod
    def _same_file(fd: int, path: Path) -> bool:
        """Whether ``fd`` is still the file at ``path`` (not deleted or replaced: a lock
        on a file others cannot find leads nothing)."""
        try:
            now = os.stat(path, follow_symlinks=False)
        except OSError:
            return False
        mine = os.fstat(fd)
        return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)

    def alive(self, account: str) -> bool:
        fd = self._files.get(account)
        return fd is not None and self._same_file(fd, self._path(account))

    def unlock(self, account: str) -> None:
        fd = self._files.pop(account, None)
        if fd is not None:
            # The file stays: removing it would let a process that opened it already
            # lock a file nobody else finds.
            os.ftruncate(fd, 0)
            os.close(fd)

    def holder(self, account: str) -> str | None:
        try:
            with open(self._path(account), encoding="utf-8", errors="replace") as f:
                return clean_line(f.read(300), 256) or None
        except OSError:
            return None

    def close(self) -> None:
        for account in list(self._files):
            self.unlock(account)


def lease_key(database: str, schema: str, account: str) -> int:
    """The advisory-lock key of ``account`` in one store: a stable signed 64-bit hash of
    the database, the schema of the store's tables and the account's name."""
    raw = "\0".join(("omnitui lease", database, schema, account)).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big", signed=True)


class _PgLocks:
    """PostgreSQL: session-level advisory locks on one dedicated connection."""

    def __init__(self, engine: Engine) -> None:
        self._main = engine
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._where: tuple[str, str] | None = None
        self._held: set[str] = set()

    def _place(self) -> tuple[str, str]:
        """(database, schema of the store's tables), read once."""
        if self._where is None:
            try:
                with self._main.connect() as conn:
                    row = conn.execute(
                        text(
                            "SELECT current_database(), COALESCE("
                            "(SELECT n.nspname FROM pg_class c JOIN pg_namespace n "
                            "ON n.oid = c.relnamespace "
                            "WHERE c.oid = to_regclass('account_state')), current_schema())"
                        )
                    ).one()
            except Exception as exc:  # noqa: BLE001 - one line, no password
                raise LeaseError(f"store unavailable: {describe_store_error(exc)}") from None
            self._where = (str(row[0]), str(row[1]))
        return self._where

    def store_id(self) -> str:
        database, schema = self._place()
        url = self._main.url
        return f"pg:{url.host}:{url.port}/{database}/{schema}"

    def key(self, account: str) -> int:
        """The advisory-lock key of ``account``."""
        return lease_key(*self._place(), account)

    def _connection(self) -> Connection:
        if self._conn is None:
            query = self._main.url.query
            args: dict[str, Any] = {k: v for k, v in PG_KEEPALIVES.items() if k not in query}
            if "keepalives_count" not in query:
                args["keepalives_count"] = PG_KEEPALIVE_COUNT
            if "connect_timeout" not in query and "PGCONNECT_TIMEOUT" not in os.environ:
                args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
            self._engine = create_engine(self._main.url, poolclass=NullPool, connect_args=args)
            try:
                conn = self._engine.connect()
                self._conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            except Exception as exc:  # noqa: BLE001 - one line, no password
                self._drop()
                raise LeaseError(f"store unavailable: {describe_store_error(exc)}") from None
        return self._conn

    def lock(self, account: str, holder: str) -> bool:
        conn = self._connection()
        try:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key(account)}
            ).scalar()
        except Exception as exc:  # noqa: BLE001 - the connection broke: all leases gone
            self._drop()
            raise LeaseError(f"store unavailable: {describe_store_error(exc)}") from None
        if got:
            self._held.add(account)
        return bool(got)

    def alive(self, account: str) -> bool:
        if account not in self._held or self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - the connection broke: all leases gone
            log.warning("the lease connection broke; every lease it held is lost")
            self._drop()
            return False
        return True

    def unlock(self, account: str) -> None:
        if account not in self._held:
            return
        self._held.discard(account)
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key(account)})
        except Exception:  # noqa: BLE001 - a broken connection holds nothing
            self._drop()

    def holder(self, account: str) -> str | None:
        return None  # the server knows a backend, not a process: account_state says

    def _drop(self) -> None:
        """Close the connection (the server drops its locks with it)."""
        self._held.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001 - already gone
                log.debug("closing the lease connection failed", exc_info=True)
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    def close(self) -> None:
        self._drop()

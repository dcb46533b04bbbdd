"""Errors the store raises for the caller to show as one clear line, and how the
sync tells a store in trouble from an item the store refuses."""

from __future__ import annotations

import re


class StoreError(Exception):
    """The database URL is unusable, or the store cannot be opened or migrated."""


#: PostgreSQL SQLSTATE classes that an item causes (not the server's health): data
#: exceptions (22…), integrity violations (23…), program limits such as an oversized
#: index entry (54…).
_ITEM_SQLSTATES = ("22", "23", "54")


def is_conflict(exc: BaseException) -> bool:
    """Whether a write lost a race: a row with a version column (``conversation``) was
    changed by another writer between this transaction's read and its write (SQLAlchemy's
    ``StaleDataError``). Nothing was written; the same work on a fresh read may succeed
    at once."""
    from sqlalchemy.orm.exc import StaleDataError

    return isinstance(exc, StaleDataError)


def is_transient(exc: BaseException) -> bool:
    """Whether a failure is the store's state (disk full, locked, read-only, connection lost,
    server restarting) or a lost race (:func:`is_conflict`: an agent changed a
    conversation between the step's read and its write) rather than the item being
    written: the step should be rolled back and run again as it is, not its items
    quarantined."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if is_conflict(exc) or isinstance(exc, InterfaceError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = str(getattr(exc.orig, "sqlstate", "") or "")
        if state == "25006":  # a read-only server (standby, maintenance), not the item
            return True
        if state[:2] in _ITEM_SQLSTATES:
            return False
        return isinstance(exc, OperationalError)
    import sqlite3

    return isinstance(exc, sqlite3.OperationalError | sqlite3.InterfaceError)


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def describe_store_error(exc: BaseException) -> str:
    """A one-line description of a database failure without the data it concerned:
    the driver's error class and the first line of its message with quoted values
    removed; never the SQL, its parameters, or PostgreSQL's DETAIL lines (which quote
    the rows, i.e. other customers' text)."""
    from sqlalchemy.exc import DBAPIError, StatementError

    if is_conflict(exc):
        return "a conversation changed meanwhile (another agent); nothing was written"
    if not isinstance(exc, DBAPIError | StatementError) or exc.orig is None:
        return type(exc).__name__  # not the driver's words: they may quote the data
    orig: BaseException = exc.orig
    first = (str(orig).strip().splitlines() or [""])[0]
    first = _QUOTED.sub("…", first)[:200]
    name = type(orig).__name__
    return f"{name}: {first}" if first else name

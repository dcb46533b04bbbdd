"""The store: SQLModel tables, engines, migrations, queries and full-text search.

Imports neither ``omnitui`` nor ``adapters``, nor Textual or Rich.
"""

from __future__ import annotations

from sqlalchemy import Engine

from storage.engine import make_engine
from storage.errors import StoreError

__all__ = ["StoreError", "open_store"]


def open_store(url: str) -> Engine:
    """Open (creating and migrating as needed) the store at ``url``.

    Raises :class:`StoreError` when it cannot; the engine is then already disposed.
    """
    from storage.migrate import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()  # release the pool's connections (and SQLite's file handles)
        raise
    return engine

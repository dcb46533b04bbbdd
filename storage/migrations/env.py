"""Alembic environment: runs on the connection handed over by :mod:`storage.migrate`.

``storage.migrate`` passes an open connection in ``config.attributes["connection"]``,
already inside the transaction (and, on SQLite, with foreign keys off). For a developer's
``alembic revision --autogenerate``, ``sqlalchemy.url`` may be set instead.

Writing a revision: types are rendered plainly (``sa.DateTime()``, ``sa.String()``, by
``storage.migrate.render_item``); import no app code; use ``op.batch_alter_table``. A
batch operation that rebuilds ``message``, ``conversation`` or ``customer`` drops their
FTS triggers: recreate them in the same revision (and in ``storage/fts.py``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401 - registers the tables
from storage.engine import make_engine
from storage.migrate import include_name, render_item

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Run the migrations on the given connection, or on ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


run()

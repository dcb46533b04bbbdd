"""Database fixtures: every storage test runs on SQLite, and on PostgreSQL when
``OMNITUI_TEST_PG_URL`` is set (required under ``CI=true``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session

from storage import open_store
from tests.email_fixtures import imap_server, smtp_server  # noqa: F401 - shared fixtures

PG_ENV = "OMNITUI_TEST_PG_URL"


def pg_url_or_skip() -> str:
    """The PostgreSQL URL for tests; skip (locally) or fail (CI) without one."""
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires PostgreSQL: set {PG_ENV}")
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    """A URL of an empty database: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'omnitui.sqlite'}"
        return
    base = pg_url_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            # A connection the test leaked must fail the teardown, not hang it.
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated store."""
    eng = open_store(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the migrated store."""
    with Session(engine) as s:
        yield s


@pytest.fixture(scope="session")
def homeserver():  # noqa: ANN201 - tests.synapse.Synapse
    """A real Synapse for the whole test session."""
    import tempfile
    from pathlib import Path

    from tests import synapse

    synapse.need_synapse()
    server = synapse.start(Path(tempfile.mkdtemp(prefix="omnitui-synapse-")))
    yield server
    synapse.cleanup(server)

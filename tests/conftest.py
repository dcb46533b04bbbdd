"""Fixtures shared by every folder: the database. Every storage test runs on SQLite,
and on PostgreSQL when ``OMNITUI_TEST_PG_URL`` is set (required under ``CI=true``).

Layout: ``unit/`` pure logic, ``integration/`` real servers and the command line,
``ui/`` the console; servers, fakes and probes in ``support/``, never in a test
module (``unit/test_test_layout.py`` keeps it so)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from storage import open_store

PG_ENV = "OMNITUI_TEST_PG_URL"


def pytest_configure(config: pytest.Config) -> None:
    """Compile the project's modules once, before any worker starts: many tests run
    ``omnitui`` as a subprocess, and where ``PYTHONDONTWRITEBYTECODE`` is set each of
    them would otherwise compile every module again (an installed copy has its
    bytecode; ``__pycache__`` is ignored by git)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    compile_project()


def compile_project() -> None:
    """Bytecode for ``omnitui``, ``storage`` and ``adapters`` (only what is stale)."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for package in ("omnitui", "storage", "adapters"):
        compileall.compile_dir(root / package, quiet=1)


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
        _drop_schema(admin, schema)
        admin.dispose()


def _drop_schema(admin: Engine, schema: str) -> None:
    """Drop a test's schema. A connection the test leaked fails the teardown rather
    than hanging it; a program of the test's that is still closing may be picked as
    the victim of a deadlock with the drop, or the drop may be: then it is tried again."""
    for attempt in range(3):
        try:
            with admin.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '20s'"))
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            return
        except OperationalError as exc:
            if attempt == 2 or "deadlock detected" not in str(exc):
                raise
            time.sleep(1)


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

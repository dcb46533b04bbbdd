"""Engines and opening the store: what an SQLite path may point at, PostgreSQL connect
timeouts, and the engine being released when opening fails."""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

import storage
from storage import StoreError, migrate, open_store
from storage import engine as engine_module
from storage.engine import SQLITE_HEADER, make_engine

# -- what an SQLite path may point at ---------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"root:x:0:0:root:/root:/bin/bash\n",
        b"S",  # shorter than the header
        b"SQLite format 2\x00" + b"\x00" * 100,  # almost the header
        b"\x00" * 4096,
    ],
)
def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "passwd"
    path.write_bytes(content)
    os.chmod(path, 0o644)
    before = path.stat()
    for opener in (make_engine, open_store):
        with pytest.raises(StoreError) as info:
            opener(f"sqlite:///{path}")
        message = str(info.value)
        assert f"{path} is not an SQLite database" in message and "\n" not in message
    after = path.stat()
    assert path.read_bytes() == content
    assert stat.S_IMODE(after.st_mode) == 0o644
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]  # no -wal or -shm


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path, 0o644)
    with pytest.raises(StoreError, match="is not an SQLite database"):
        make_engine(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_an_empty_file_becomes_a_private_store(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    path.touch()
    os.chmod(path, 0o644)
    engine = open_store(f"sqlite:///{path}")
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert migrate.current_revision(engine) == migrate.HEAD
        assert path.read_bytes()[: len(SQLITE_HEADER)] == SQLITE_HEADER
    finally:
        engine.dispose()


def test_a_new_file_and_its_directories_are_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.sqlite"
    make_engine(f"sqlite:///{path}").dispose()
    assert path.read_bytes() == b""  # created empty, for SQLite to fill
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_existing_store_is_tightened_but_kept(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    open_store(f"sqlite:///{path}").dispose()
    data = path.read_bytes()
    os.chmod(path, 0o664)
    make_engine(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == data


# -- PostgreSQL connect timeout ---------------------------------------------------------


class _Stop(Exception):
    """Raised instead of connecting, once the connect arguments are seen."""


def connect_params(engine: Engine) -> dict[str, Any]:
    """The keyword arguments the engine passes to the driver's connect()."""
    seen: dict[str, Any] = {}

    @event.listens_for(engine, "do_connect")
    def capture(_dialect, _rec, _cargs, cparams) -> None:  # noqa: ANN001
        seen.update(cparams)
        raise _Stop

    with pytest.raises(_Stop):
        engine.connect()
    engine.dispose()
    return seen


def test_postgres_engines_get_a_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    params = connect_params(make_engine("postgresql+psycopg://u@127.0.0.1/db"))
    assert params["connect_timeout"] == engine_module.PG_CONNECT_TIMEOUT_S == 10
    plain = connect_params(make_engine("postgresql://u@127.0.0.1/db"))
    assert plain["connect_timeout"] == 10


def test_a_connect_timeout_given_by_the_user_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    url = "postgresql+psycopg://u@127.0.0.1/db?connect_timeout=3"
    assert str(connect_params(make_engine(url))["connect_timeout"]) == "3"
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "4")  # libpq reads it when no argument says
    assert "connect_timeout" not in connect_params(make_engine("postgresql://u@127.0.0.1/db"))


@pytest.fixture
def free_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A local port that accepts TCP connections but never says anything."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def test_a_closed_postgres_port_is_one_clear_error_at_once(
    free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    start = time.monotonic()
    with pytest.raises(StoreError) as info:
        open_store(f"postgresql+psycopg://nobody@127.0.0.1:{free_port}/none")
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "cannot open database" in message and f"127.0.0.1:{free_port}" in message
    assert "\n" not in message


def test_a_silent_postgres_server_times_out(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default timeout is what ends the wait (shortened here: libpq's minimum is 2 s)."""
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    monkeypatch.setattr(engine_module, "PG_CONNECT_TIMEOUT_S", 2)
    start = time.monotonic()
    with pytest.raises(StoreError) as info:
        open_store(f"postgresql+psycopg://nobody@127.0.0.1:{silent_server}/none")
    elapsed = time.monotonic() - start
    assert 1.5 < elapsed < 10
    message = str(info.value)
    assert "cannot open database" in message and "timeout" in message.lower()
    assert "\n" not in message


# -- the engine is released when opening fails -------------------------------------------


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[Engine]:
    """Every engine open_store makes, with the connections checked into its pool."""
    engines: list[Engine] = []
    real = storage.make_engine

    def record(url: str) -> Engine:
        engine = real(url)
        engines.append(engine)
        return engine

    monkeypatch.setattr(storage, "make_engine", record)
    return engines


def pooled(engine: Engine) -> int:
    return engine.pool.checkedin()  # type: ignore[attr-defined]


def test_a_failed_upgrade_disposes_the_engine(
    db_url: str, made: list[Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    failure = RuntimeError("disk on fire")

    def upgrade_then_fail(engine: Engine) -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert pooled(engine) == 1  # a connection waits in the pool...
        raise failure

    monkeypatch.setattr(migrate, "upgrade", upgrade_then_fail)
    with pytest.raises(RuntimeError) as info:
        open_store(db_url)
    assert info.value is failure  # re-raised as it was
    (engine,) = made
    assert pooled(engine) == 0  # ...and was closed by dispose()


def test_a_refused_store_disposes_the_engine(db_url: str, made: list[Engine]) -> None:
    foreign = make_engine(db_url)
    with foreign.begin() as conn:
        conn.execute(text("CREATE TABLE customer (id INTEGER PRIMARY KEY, crm_code TEXT)"))
    foreign.dispose()
    with pytest.raises(StoreError, match="not an omnitui store"):
        open_store(db_url)
    (engine,) = made
    assert pooled(engine) == 0

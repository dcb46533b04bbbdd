"""Opening a store never weakens the locks of engines already using it.

POSIX record locks belong to the process: closing *any* descriptor of a file drops all
of them, SQLite's included. An engine that read the file's header through a descriptor
of its own, while another engine of the same process was writing, silently released
that writer's lock; a second process could then write at the same time, and the store
ended "malformed" (the concurrent first-start race of issue 10).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import text

from storage import open_store
from storage.engine import make_engine


def open_and_close_elsewhere(path: Path) -> None:
    """Another process opens the store and closes it again. The last connection to
    close checkpoints the WAL and deletes it; SQLite knows it is the last one when it
    gets an exclusive lock on the database file, which every open connection's shared
    lock prevents."""
    script = (
        "import sqlite3\n"
        f"conn = sqlite3.connect({str(path)!r}, timeout=0)\n"
        "conn.execute('SELECT count(*) FROM alembic_version').fetchone()\n"
        "conn.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_opening_the_store_again_keeps_the_locks_of_engines_using_it(tmp_path: Path) -> None:
    path = tmp_path / "store" / "omnitui.sqlite"
    wal = path.with_name(path.name + "-wal")
    url = f"sqlite:///{path}"
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            conn.execute(text("CREATE TABLE probe (n INTEGER)"))
            conn.execute(text("INSERT INTO probe VALUES (1)"))
            conn.commit()
            assert wal.exists() and wal.stat().st_size > 0
            open_and_close_elsewhere(path)
            assert wal.exists()  # we are still connected: not the other's to remove
            for _ in range(3):  # other parts of the program open the store meanwhile
                make_engine(url).dispose()
                open_store(url).dispose()
            open_and_close_elsewhere(path)
            assert wal.exists(), "another process took us for gone and removed the WAL"
            conn.execute(text("INSERT INTO probe VALUES (2)"))
            conn.commit()
            assert conn.execute(text("SELECT sum(n) FROM probe")).scalar() == 3
    finally:
        engine.dispose()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert check.execute("SELECT sum(n) FROM probe").fetchone() == (3,)
    check.close()


def test_a_database_that_is_not_ours_is_still_refused_without_opening_it_for_write(
    tmp_path: Path,
) -> None:
    # The header is asked of SQLite read-only: a foreign SQLite file is a database
    # (the schema check refuses it later), a short or foreign file is not.
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE crm (id INTEGER PRIMARY KEY)")
    conn.close()
    before = foreign.read_bytes()
    make_engine(f"sqlite:///{foreign}").dispose()
    assert foreign.read_bytes() == before


def test_switching_a_new_store_to_wal_waits_for_a_writer_instead_of_failing(
    tmp_path: Path,
) -> None:
    # PRAGMA journal_mode=WAL on a new file upgrades a read transaction to a write one,
    # and SQLite never calls the busy handler for that: while another connection writes
    # the file, it fails at once with "database is locked" unless retried.
    path = tmp_path / "store" / "omnitui.sqlite"
    url = f"sqlite:///{path}"
    engine = make_engine(url)  # creates the empty file
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE early (n INTEGER)")
    released = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    released.start()
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        released.join(timeout=30)
        other.close()
        engine.dispose()


def test_checking_an_existing_store_creates_no_file_with_a_loose_mode(tmp_path: Path) -> None:
    # The header is asked of SQLite read-only and immutable: no -wal or -shm appears
    # before the store's own mode is tightened (they would copy the loose one).
    path = tmp_path / "store.sqlite"
    open_store(f"sqlite:///{path}").dispose()
    path.chmod(0o664)
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["store.sqlite"]
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM alembic_version"))
            modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
        assert modes and set(modes.values()) == {0o600}, modes
    finally:
        engine.dispose()

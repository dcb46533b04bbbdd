"""Fault injection with real parts: a full disk (SQLite's page limit, and a real full
tmpfs), a store locked past the busy timeout, PostgreSQL going away mid-sync (a proxy
cutting its connections, a backend terminated, the server turning read-only), IMAP cut
mid-FETCH, an SMTP server dying around DATA, two syncs at once, one bad mail among good
ones.

Each case asserts the same three things afterwards: nothing is lost or doubled; the
account shows a clear state (one line, says what is wrong, quotes no message content);
and the next round recovers on its own. The breaks come from tests/support/tcp_proxy.py (a
loopback proxy that cuts after N bytes or at a byte pattern, and refuses connections
for a while) and tests/support/smtp_faults.py (an SMTP server that dies at a chosen point).
"""

from __future__ import annotations

import contextlib
import email
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import imapclient
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from adapters.base import InboundMessage
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage import open_store
from storage.models import (
    Message,
    Outbox,
    RawMessage,
)
from tests.support.cli_run import run
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import ADDRESS
from tests.support.fake_adapter import FakeAdapter, FakeChannel, chat_message
from tests.support.fault_checks import (
    SECRET,
    account,
    assert_clear,
    assert_each_once,
    assert_whole_mails,
    cursor_state,
    deliver,
    inbound,
    mail,
    mail_service,
    outbox,
    quarantined,
    queue_reply,
    state_of,
)
from tests.support.smtp_faults import DROP_AFTER_DOT, DROP_AT_DATA, DROP_MID_DATA, OK, FaultySmtp
from tests.support.tcp_proxy import DOWN, UP, TcpProxy

# -- helpers -------------------------------------------------------------------


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def sqlite_path(engine: Engine) -> str:
    database = engine.url.database
    assert database
    return database


def cli_setup(
    tmp_path: Path, imap: Dovecot, smtp_port: int, *, batch: int = 500
) -> tuple[Path, dict[str, str]]:
    """A config file for the account (secret from the environment) and the environment
    the ``omnitui`` command runs in."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[[accounts]]\n"
        'name = "support-mail"\nkind = "email"\npoll_seconds = 1\n'
        f'imap_host = "127.0.0.1"\nimap_port = {imap.port}\nimap_security = "plain"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsmtp_security = "plain"\n'
        f'username = "{USER}"\naddress = "{ADDRESS}"\npassword_env = "MAIL_PW"\n'
        f"batch = {batch}\n"
    )
    env = {
        **os.environ,
        "MAIL_PW": PASSWORD,
        "OMNITUI_INSTALL_KEY": "k" * 64,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    return cfg, env


# -- 1. disk full --------------------------------------------------------------


def big_chat(n: int) -> InboundMessage:
    """The n-th chat message, a few KB of text."""
    return replace(chat_message(n), text=f"{SECRET} " + f"chat line {n} " * 300)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'store' / 'omnitui.sqlite'}")
    yield engine
    engine.dispose()


def page_count(engine: Engine) -> int:
    with contextlib.closing(sqlite3.connect(sqlite_path(engine))) as conn:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])


@pytest.mark.parametrize("channel", ["email", "chat"])
def test_disk_full_mid_sync_fails_the_round_and_the_next_one_stores_everything_once(
    sqlite_engine: Engine, channel: str, request: pytest.FixtureRequest
) -> None:
    engine = sqlite_engine
    limit: dict[str, int | None] = {"pages": None}

    # Every session checks out a connection: the page limit applies to it from then on
    # (SQLite's max_page_count is per connection, and pooled connections live on).
    @event.listens_for(engine, "checkout")
    def _cap(dbapi_conn, _record, _proxy) -> None:  # noqa: ANN001
        dbapi_conn.execute(f"PRAGMA max_page_count={limit['pages'] or 1073741823}")

    if channel == "email":
        imap = request.getfixturevalue("imap_server")
        deliver(imap, *(mail(n, size=4000) for n in range(30)))
        acct = account(imap, batch=10)
        svc = mail_service(engine, acct)
        expected = {f"<q{n}@example.com>" for n in range(30)}
    else:
        chat = FakeChannel([big_chat(n) for n in range(30)], step=10)
        acct = account()
        svc = SyncService(engine, Desk(), (acct,), adapter_builder=lambda a: FakeAdapter(chat))
        expected = set()

    def fill_up(name: str, stored: int, progress: tuple[int, int]) -> None:
        if limit["pages"] is None:  # after the first step committed: the disk is full
            limit["pages"] = page_count(engine)

    svc.on_progress = fill_up
    failed = svc.round(acct)
    assert not failed.ok
    assert_clear(failed.error, "store unavailable", "full")
    assert limit["pages"] is not None
    # The first step (10 items) is kept with its cursor; nothing after it, not even half.
    if channel == "email":
        assert_whole_mails(engine, 10)
    assert len(inbound(engine)) == 10
    assert quarantined(engine) == []  # the disk's fault, not the items'
    state = state_of(engine, acct.name)
    assert_clear(state.last_error, "store unavailable", "full")
    assert state.retry_after is not None
    if channel == "email":
        assert cursor_state(engine, acct.name)["INBOX"]["last_uid"] == 10
    else:
        assert cursor_state(engine, acct.name)["updates"] == {"offset": 10}

    limit["pages"] = 0  # room again
    outcome = svc.round(acct)
    svc.close()
    assert outcome.ok and outcome.fetched == 20, outcome
    assert state_of(engine, acct.name).last_error is None
    if channel == "email":
        assert_each_once(engine, expected)
    else:
        ids = [m.external_id for m in inbound(engine)]
        assert sorted(ids) == sorted(f"5001:{n}" for n in range(30))
    assert quarantined(engine) == []


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 16 MiB tmpfs of our own (root only; skipped where mounting is not allowed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where = Path(tempfile.mkdtemp(prefix="omnitui-small-disk-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)
        with contextlib.suppress(OSError):
            where.rmdir()


def fill_disk(where: Path) -> Path:
    """Write a file until the filesystem says it is full."""
    filler = where / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(chunk)
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 512)
    return filler


def test_a_really_full_filesystem_mid_sync_fails_the_round_and_recovers(
    small_disk: Path, imap_server: Dovecot
) -> None:
    engine = open_store(f"sqlite:///{small_disk / 'store' / 'omnitui.sqlite'}")
    deliver(imap_server, *(mail(n, size=8000) for n in range(30)))
    acct = account(imap_server, batch=10)
    svc = mail_service(engine, acct)
    fillers: list[Path] = []

    def fill_up(name: str, stored: int, progress: tuple[int, int]) -> None:
        if not fillers:
            fillers.append(fill_disk(small_disk))

    svc.on_progress = fill_up
    try:
        failed = svc.round(acct)
        assert not failed.ok
        assert_clear(failed.error, "store unavailable", "full")
        # Not even the account's state fits on a full disk: the round's outcome (the
        # console's status, ``sync``'s stderr line) is where it shows.
        assert state_of(engine, acct.name).last_error is None
        assert_whole_mails(engine, 10)
        assert quarantined(engine) == []
        assert cursor_state(engine, acct.name)["INBOX"]["last_uid"] == 10
        fillers[0].unlink()  # room again
        outcome = svc.round(acct)
        assert outcome.ok and outcome.fetched == 20, outcome
        assert_each_once(engine, {f"<q{n}@example.com>" for n in range(30)})
        assert quarantined(engine) == []
        state = state_of(engine, acct.name)
        assert state.last_error is None and not state.polling and state.last_ok_at is not None
    finally:
        svc.close()
        engine.dispose()


# -- 2. store locked longer than the busy timeout -------------------------------


@pytest.mark.parametrize("when", ["before-the-round", "mid-sync"])
def test_a_store_locked_past_the_busy_timeout_fails_the_round_and_the_next_one_catches_up(
    imap_server: Dovecot,
    smtp_server,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
) -> None:
    import storage.engine

    monkeypatch.setattr(storage.engine, "BUSY_TIMEOUT_MS", 300)
    recorder, smtp_port = smtp_server
    engine = open_store(f"sqlite:///{tmp_path / 'store' / 'omnitui.sqlite'}")
    acct = account(imap_server, smtp_port, batch=10)
    svc = mail_service(engine, acct)
    deliver(imap_server, mail(0))
    assert svc.round(acct).ok
    reply_id = queue_reply(engine, "Queued before the lock")
    deliver(imap_server, *(mail(n) for n in range(1, 21)))

    with other_writer(engine) as lock:
        if when == "before-the-round":
            lock()
        else:
            svc.on_progress = lambda *_: lock()  # once the first step has committed
        started = time.monotonic()
        failed = svc.round(acct)
        assert time.monotonic() - started < 15  # gave up after the busy timeout
    svc.on_progress = None
    assert not failed.ok
    assert_clear(failed.error, "store unavailable", "database is locked")
    assert quarantined(engine) == []  # the lock's fault, not the mails'
    kept = 1 if when == "before-the-round" else 11
    assert_whole_mails(engine, kept)
    assert cursor_state(engine, acct.name)["INBOX"]["last_uid"] == kept
    assert recorder.received == []  # nothing went out while the store could not record it
    (item,) = outbox(engine)
    assert item.state == "queued" and item.attempts == 0

    outcome = svc.round(acct)
    assert outcome.ok and outcome.fetched == 21 - kept and outcome.sent == 1, outcome
    assert svc.round(acct).sent == 0
    svc.close()
    assert_each_once(engine, {f"<q{n}@example.com>" for n in range(21)})
    assert len(recorder.received) == 1
    (item,) = outbox(engine)
    assert item.id == reply_id and item.state == "sent"
    state = state_of(engine, acct.name)
    assert state.last_error is None and not state.polling
    engine.dispose()


@contextlib.contextmanager
def other_writer(engine: Engine) -> Iterator[Callable[[], None]]:
    """Another process's connection: calling the yielded function takes the write lock
    (BEGIN IMMEDIATE) and holds it until the block ends."""
    locker = sqlite3.connect(
        sqlite_path(engine), timeout=0, isolation_level=None, check_same_thread=False
    )

    def lock() -> None:
        if not locker.in_transaction:
            locker.execute("BEGIN IMMEDIATE")

    try:
        yield lock
    finally:
        if locker.in_transaction:
            locker.execute("ROLLBACK")
        locker.close()


def test_a_store_locked_after_smtp_accepted_a_reply_never_sends_it_twice(
    imap_server: Dovecot,
    smtp_server,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reply went out, then the store could not record it: it stays ``sending``, is
    never claimed again, and once stale it is confirmed from the Sent folder."""
    import storage.engine
    from omnitui import sync

    monkeypatch.setattr(storage.engine, "BUSY_TIMEOUT_MS", 300)
    recorder, smtp_port = smtp_server
    engine = open_store(f"sqlite:///{tmp_path / 'store' / 'omnitui.sqlite'}")
    acct = account(imap_server, smtp_port)
    svc = mail_service(engine, acct)
    deliver(imap_server, mail(0))
    assert svc.round(acct).ok
    reply_id = queue_reply(engine, "Went out, then the store froze")
    adapter = svc.adapter(acct)
    real_send = adapter.send
    with other_writer(engine) as lock:

        def send_then_lock(message):  # noqa: ANN001, ANN202
            result = real_send(message)
            lock()
            return result

        adapter.send = send_then_lock  # type: ignore[method-assign]
        failed = svc.round(acct)
    adapter.send = real_send  # type: ignore[method-assign]
    assert not failed.ok
    assert_clear(failed.error, "sending")
    assert len(recorder.received) == 1
    (item,) = outbox(engine)
    assert item.state == "sending"  # its fate is unknown to the store

    assert svc.round(acct).ok  # another process might be sending it: left alone
    (item,) = outbox(engine)
    assert item.state == "sending" and len(recorder.received) == 1

    monkeypatch.setattr(sync, "STALE_SENDING", timedelta(0))  # five minutes later
    assert svc.round(acct).ok
    svc.close()
    (item,) = outbox(engine)
    assert item.id == reply_id and item.state == "sent"  # found in Sent, not resent
    assert len(recorder.received) == 1
    engine.dispose()


def test_a_store_locked_while_sending_reads_as_store_unavailable(
    imap_server: Dovecot,
    smtp_server,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import storage.engine

    monkeypatch.setattr(storage.engine, "BUSY_TIMEOUT_MS", 300)
    recorder, smtp_port = smtp_server
    engine = open_store(f"sqlite:///{tmp_path / 'store' / 'omnitui.sqlite'}")
    acct = account(imap_server, smtp_port)
    svc = mail_service(engine, acct)
    deliver(imap_server, mail(0))
    assert svc.round(acct).ok
    queue_reply(engine, "Queued before the lock")
    real_reconcile = svc.reconcile
    with other_writer(engine) as lock:

        def reconcile_then_lock(acct_, adapter) -> None:  # noqa: ANN001
            real_reconcile(acct_, adapter)
            lock()  # the poll half is done; the claim meets the lock

        svc.reconcile = reconcile_then_lock  # type: ignore[method-assign]
        failed = svc.round(acct)
    svc.close()
    engine.dispose()
    assert recorder.received == []
    assert failed.error == "sending: store unavailable: OperationalError: database is locked"


# -- 3. PostgreSQL restarted mid-sync -----------------------------------------


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("trigger", "forward", "down_for"),
    [
        pytest.param(b"INSERT INTO", False, 1.5, id="mid-transaction-then-down"),
        pytest.param(b"COMMIT\x00", True, 0.0, id="commit-sent-answer-lost"),
    ],
)
def test_postgresql_going_away_mid_sync_loses_and_doubles_nothing(
    db_url: str,
    imap_server: Dovecot,
    smtp_server,  # noqa: ANN001
    trigger: bytes,
    forward: bool,
    down_for: float,
) -> None:
    recorder, smtp_port = smtp_server
    url = make_url(db_url)
    proxy = TcpProxy(url.port or 5432, url.host or "127.0.0.1")
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = open_store(via_proxy)
    acct = account(imap_server, smtp_port, batch=10)
    svc = mail_service(engine, acct)
    try:
        deliver(imap_server, mail(0))
        assert svc.round(acct).ok
        queue_reply(engine, "Queued before the restart")
        deliver(imap_server, *(mail(n) for n in range(1, 31)))

        def restart(*_: object) -> None:
            proxy.cut_on(trigger, direction=UP, forward=forward, refuse_seconds=down_for)
            svc.on_progress = None  # once

        svc.on_progress = restart  # armed once the first step has committed
        failed = svc.round(acct)
        assert proxy.fired.is_set(), "the proxy never saw the statement"
        assert not failed.ok
        assert_clear(failed.error, "store unavailable", "closed the connection")
        wait_for(lambda: not proxy.refusing, 10, "the server to come back")
        state = state_of(engine, acct.name)
        if down_for:
            # Down until after the round: there was nowhere to record the error but the
            # round's outcome (the console's status, ``sync``'s stderr).
            assert state.last_error is None
        else:
            assert_clear(state.last_error, "store unavailable", "closed the connection")
            assert state.retry_after is not None and not state.polling
        # The first step is kept; the interrupted one is kept whole or not at all: a
        # COMMIT whose answer was lost did commit, with its cursor.
        kept = 21 if trigger.startswith(b"COMMIT") else 11
        assert_whole_mails(engine, kept)
        assert cursor_state(engine, acct.name)["INBOX"]["last_uid"] == kept
        assert quarantined(engine) == []

        outcome = svc.round(acct)
        assert outcome.ok and outcome.fetched == 31 - kept, outcome
        assert svc.round(acct).ok
        assert_each_once(engine, {f"<q{n}@example.com>" for n in range(31)})
        assert quarantined(engine) == []
        assert len(recorder.received) == 1
        assert [o.state for o in outbox(engine)] == ["sent"]
        state = state_of(engine, acct.name)
        assert state.last_error is None and not state.polling
    finally:
        svc.close()
        engine.dispose()
        proxy.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_going_away_under_a_running_sync_daemon_is_caught_up_on_its_own(
    db_url: str,
    imap_server: Dovecot,
    smtp_server,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """``omnitui sync`` (the daemon) loses its database mid-sync for two seconds: it says
    so on stderr, backs off, and finishes the job with no one's help."""
    _recorder, smtp_port = smtp_server
    url = make_url(db_url)
    engine = open_store(db_url)  # the test looks at the store directly, not via the proxy
    deliver(imap_server, *(mail(n, size=2000) for n in range(300)))
    with TcpProxy(url.port or 5432, url.host or "127.0.0.1") as proxy:
        via_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
        cfg, env = cli_setup(tmp_path, imap_server, smtp_port, batch=50)
        # Start-up and the first steps pass; the cut lands in the middle of the sync.
        proxy.cut_after(400 * 1024, direction=UP, refuse_seconds=2.0)
        command = [sys.executable, "-m", "omnitui", "--config", str(cfg), "--db", via_proxy]
        daemon = subprocess.Popen(
            [*command, "sync"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert proxy.fired.wait(30), "the sync never got that far"
            stored_at_cut = len(inbound(engine))
            wait_for(lambda: len(inbound(engine)) == 300, 60, "the daemon to catch up")
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                _out, err = daemon.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                _out, err = daemon.communicate(timeout=10)
    assert 0 < stored_at_cut < 300
    assert_each_once(engine, {f"<q{n}@example.com>" for n in range(300)})
    assert quarantined(engine) == []
    problems = [line for line in err.splitlines() if line.startswith("omnitui: support-mail: ")]
    assert problems, err
    assert "Traceback" not in err
    for line in problems:
        assert_clear(line, "store unavailable")
    state = state_of(engine, "support-mail")
    assert state.last_error is None and state.last_ok_at is not None
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_terminating_our_backend_mid_transaction_is_store_trouble(
    db_url: str, imap_server: Dovecot
) -> None:
    """What a server shutdown does to each session: FATAL 57P01 in the middle of a step's
    transaction. The server's own words, not a proxy's cut."""
    engine = open_store(db_url)
    acct = account(imap_server, batch=10)

    class Terminated(Desk):
        armed = False
        fired = False

        def ingest_many(self, s, account, messages):  # noqa: ANN001, ANN201
            if self.armed and not self.fired:
                self.fired = True
                pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
                with engine.connect() as admin:  # another session ends ours, and waits
                    admin.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            return super().ingest_many(s, account, messages)

    desk = Terminated()
    svc = mail_service(engine, acct, desk)
    deliver(imap_server, *(mail(n) for n in range(30)))
    svc.on_progress = lambda *_: setattr(desk, "armed", True)  # after the first step
    try:
        failed = svc.round(acct)
        assert desk.fired
        assert not failed.ok
        assert_clear(failed.error, "store unavailable", "administrator command")
        assert_clear(state_of(engine, acct.name).last_error, "store unavailable")
        assert_whole_mails(engine, 10)
        assert quarantined(engine) == []
        svc.on_progress = None
        outcome = svc.round(acct)
        assert outcome.ok and outcome.fetched == 20, outcome
        assert_each_once(engine, {f"<q{n}@example.com>" for n in range(30)})
    finally:
        svc.close()
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_turning_read_only_mid_sync_is_store_trouble_not_bad_items(
    db_url: str,
) -> None:
    """A failover to a standby, or maintenance with ``default_transaction_read_only``:
    every write fails with SQLSTATE 25006. That is the server's state, not the items':
    the step is kept for later, nothing is quarantined."""
    engine = open_store(db_url)
    read_only = {"on": False}

    @event.listens_for(engine, "checkout")
    def _mode(dbapi_conn, _record, _proxy) -> None:  # noqa: ANN001
        mode = "READ ONLY" if read_only["on"] else "READ WRITE"
        dbapi_conn.execute(f"SET SESSION CHARACTERISTICS AS TRANSACTION {mode}")
        dbapi_conn.commit()

    chat = FakeChannel([big_chat(n) for n in range(30)], step=10)
    acct = account()
    svc = SyncService(engine, Desk(), (acct,), adapter_builder=lambda a: FakeAdapter(chat))
    svc.on_progress = lambda *_: read_only.update(on=True)  # after the first step
    try:
        failed = svc.round(acct)
        assert not failed.ok
        assert_clear(failed.error, "store unavailable", "read-only transaction")
        assert len(inbound(engine)) == 10 and quarantined(engine) == []
        assert cursor_state(engine, acct.name)["updates"] == {"offset": 10}
        read_only["on"] = False  # the primary is back
        svc.on_progress = None
        outcome = svc.round(acct)
        assert outcome.ok and outcome.fetched == 20, outcome
        assert sorted(m.external_id for m in inbound(engine)) == sorted(
            f"5001:{n}" for n in range(30)
        )
        assert quarantined(engine) == []
    finally:
        svc.close()
        engine.dispose()


# -- 4. IMAP connection cut mid-FETCH ------------------------------------------


@pytest.mark.parametrize("cut_kb", [100, 400], ids=["first-step", "second-step"])
def test_imap_cut_mid_fetch_keeps_the_cursor_behind_what_was_stored(
    sqlite_engine: Engine, imap_server: Dovecot, cut_kb: int
) -> None:
    engine = sqlite_engine
    deliver(imap_server, *(mail(n, size=2000) for n in range(300)))
    with TcpProxy(imap_server.port) as proxy:
        acct = account(imap_server, imap_port=proxy.port, batch=100)
        svc = mail_service(engine, acct)
        proxy.cut_after(cut_kb * 1024, direction=DOWN)
        failed = svc.round(acct)
        assert proxy.fired.is_set()
        assert not failed.ok
        assert_clear(failed.error, "IMAP 127.0.0.1")
        assert_clear(state_of(engine, acct.name).last_error, "IMAP 127.0.0.1")
        kept = 0 if cut_kb < 250 else 100
        assert_whole_mails(engine, kept)
        assert cursor_state(engine, acct.name).get("INBOX", {}).get("last_uid", 0) == kept
        assert quarantined(engine) == []

        outcome = svc.round(acct)  # the proxy forwards faithfully again
        svc.close()
    assert outcome.ok and outcome.fetched == 300 - kept, outcome
    assert_each_once(engine, {f"<q{n}@example.com>" for n in range(300)})
    assert quarantined(engine) == []
    assert state_of(engine, acct.name).last_error is None


# -- 5. SMTP server dying around DATA ------------------------------------------


@pytest.fixture
def faulty_smtp() -> Iterator[FaultySmtp]:
    server = FaultySmtp()
    yield server
    server.close()


def in_sent(imap: Dovecot, message_id: str) -> int:
    client = imapclient.IMAPClient("127.0.0.1", port=imap.port, ssl=False, timeout=30)
    client.login(USER, PASSWORD)
    client.select_folder("Sent", readonly=True)
    found = len(client.search(["HEADER", "Message-ID", message_id]))
    client.logout()
    return found


def test_smtp_dying_after_the_final_dot_leaves_the_reply_uncertain_until_sent_confirms_it(
    sqlite_engine: Engine, imap_server: Dovecot, faulty_smtp: FaultySmtp
) -> None:
    engine = sqlite_engine
    faulty_smtp.mode = DROP_AFTER_DOT
    acct = account(imap_server, faulty_smtp.port)
    svc = mail_service(engine, acct)
    deliver(imap_server, mail(1), mail(2))
    assert svc.round(acct).ok
    first = queue_reply(engine, "Reply one", subject_has="question 1")
    second = queue_reply(engine, "Reply two", subject_has="question 2")

    outcome = svc.round(acct)
    assert outcome.attempted == 2 and outcome.sent == 0
    assert len(faulty_smtp.received) == 2 and faulty_smtp.accepted == []
    for item in outbox(engine):
        assert item.state == "uncertain" and item.attempts == 1
        assert_clear(item.last_error, "may have been delivered")
        assert item.mime is not None and item.message_id_header

    faulty_smtp.mode = OK  # the server is healthy again: still nothing is resent blindly
    assert svc.round(acct).attempted == 0
    assert [o.state for o in outbox(engine)] == ["uncertain", "uncertain"]
    assert len(faulty_smtp.received) == 2 and faulty_smtp.accepted == []

    # The first one was delivered after all: the provider filed it in Sent.
    one = next(o for o in outbox(engine) if o.id == first)
    assert one.mime is not None and one.message_id_header is not None
    deliver(imap_server, one.mime, folder="Sent")
    for _ in range(2):
        svc.round(acct)
        states = {o.id: o.state for o in outbox(engine)}
        assert states == {first: "sent", second: "uncertain"}  # the other waits for the agent
    svc.close()
    assert len(faulty_smtp.received) == 2 and faulty_smtp.accepted == []
    assert in_sent(imap_server, one.message_id_header) == 1


@pytest.mark.parametrize("mode", [DROP_AT_DATA, DROP_MID_DATA])
def test_smtp_dying_before_data_completes_retries_with_backoff_and_delivers_once(
    sqlite_engine: Engine, imap_server: Dovecot, faulty_smtp: FaultySmtp, mode: str
) -> None:
    engine = sqlite_engine
    faulty_smtp.mode = mode
    acct = account(imap_server, faulty_smtp.port)
    svc = mail_service(engine, acct)
    deliver(imap_server, mail(1))
    assert svc.round(acct).ok
    # Mid-message: bigger than every buffer on the way, so the client is still writing
    # when the server resets the connection.
    body = "Here is the manual.\n" + ("x" * 76 + "\n") * (80_000 if mode == DROP_MID_DATA else 1)
    reply_id = queue_reply(engine, body)

    before = datetime.now(UTC)
    svc.round(acct)
    assert faulty_smtp.data_commands == 1 and faulty_smtp.received == []
    (item,) = outbox(engine)
    assert item.state == "queued" and item.attempts == 1
    assert_clear(item.last_error, "SMTP")
    assert item.next_attempt_at is not None
    assert item.next_attempt_at.replace(tzinfo=UTC) - before >= timedelta(seconds=10)
    message_id = item.message_id_header
    assert message_id

    faulty_smtp.mode = OK
    svc.round(acct)  # backing off: not yet
    assert faulty_smtp.data_commands == 1
    with Session(engine) as s:  # the backoff has passed
        row = s.get(Outbox, reply_id)
        assert row is not None
        row.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
        s.commit()
    assert svc.round(acct).sent == 1
    assert svc.round(acct).attempted == 0
    svc.close()
    (item,) = outbox(engine)
    assert item.state == "sent" and item.message_id_header == message_id
    (delivered,) = faulty_smtp.accepted
    assert f"Message-ID: {message_id}".encode() in delivered  # the same message, once
    assert in_sent(imap_server, message_id) == 1


# -- 6. two syncs at once -------------------------------------------------------


def message_ids_of(envelopes: list) -> list[str]:
    return [email.message_from_bytes(e.content)["Message-ID"] for e in envelopes]


def test_two_sync_processes_at_once_double_nothing(
    db_url: str,
    imap_server: Dovecot,
    smtp_server,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    recorder, smtp_port = smtp_server
    engine = open_store(db_url)
    acct = account(imap_server, smtp_port)
    svc = mail_service(engine, acct)
    deliver(imap_server, *(mail(n) for n in range(8)))
    assert svc.round(acct).fetched == 8
    svc.close()
    replies = [queue_reply(engine, f"Answer {n}", subject_has=f"question {n}") for n in range(8)]
    deliver(imap_server, *(mail(n) for n in range(8, 28)))

    cfg, env = cli_setup(tmp_path, imap_server, smtp_port)
    command = [sys.executable, "-m", "omnitui", "--config", str(cfg), "--db", db_url, "sync"]
    procs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:

        def sent_count() -> int:
            return sum(1 for o in outbox(engine) if o.state == "sent")

        wait_for(lambda: len(inbound(engine)) == 28 and sent_count() == 8, 60, "the first batch")
        # More of both while the two run.
        deliver(imap_server, *(mail(n) for n in range(28, 40)))
        replies += [
            queue_reply(engine, f"Answer {n}", subject_has=f"question {n}") for n in range(8, 14)
        ]
        wait_for(
            lambda: len(inbound(engine)) == 40 and sent_count() == 14,
            30,
            "what arrived and was queued while both run",
        )
        time.sleep(2)  # a couple more rounds each: still nothing doubles
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        outputs = []
        for proc in procs:
            try:
                outputs.append(proc.communicate(timeout=20))
            except subprocess.TimeoutExpired:
                proc.kill()
                outputs.append(proc.communicate(timeout=10))
    for _out, err in outputs:
        assert "Traceback" not in err, err
    assert_each_once(engine, {f"<q{n}@example.com>" for n in range(40)})
    assert quarantined(engine) == []  # the other process's copy is not a bad item
    items = outbox(engine)
    assert [o.id for o in items] == replies and {o.state for o in items} == {"sent"}
    ids = message_ids_of(recorder.received)
    assert sorted(ids) == sorted(o.message_id_header for o in items)  # each exactly once
    for item in items:
        assert item.message_id_header and in_sent(imap_server, item.message_id_header) == 1
    engine.dispose()


def test_two_sync_services_in_two_threads_send_each_reply_once(
    db_url: str,
    imap_server: Dovecot,
    smtp_server,  # noqa: ANN001
) -> None:
    recorder, smtp_port = smtp_server
    acct = account(imap_server, smtp_port)
    engines = [open_store(db_url), open_store(db_url)]
    services = [mail_service(e, acct) for e in engines]
    deliver(imap_server, *(mail(n) for n in range(12)))
    assert services[0].round(acct).fetched == 12
    replies = [
        queue_reply(engines[0], f"Answer {n}", subject_has=f"question {n}") for n in range(12)
    ]
    start = threading.Barrier(2, timeout=30)
    sent: list[int] = []
    errors: list[BaseException] = []

    def run(svc: SyncService) -> None:
        try:
            start.wait()
            for _ in range(3):
                sent.append(svc.send_outbox(acct, svc.adapter(acct)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(svc,)) for svc in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for svc in services:
        svc.close()
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert sum(sent) == 12
    items = outbox(engines[0])
    assert [o.id for o in items] == replies and {o.state for o in items} == {"sent"}
    ids = message_ids_of(recorder.received)
    assert len(ids) == 12 and sorted(ids) == sorted(o.message_id_header for o in items)
    for engine in engines:
        engine.dispose()


# -- 7. one bad mail among good ones -------------------------------------------

BAD = ("<bad-a@example.com>", "<bad-b@example.com>")


def refuse_bad_mail(engine: Engine) -> Callable[[], None]:
    """Make the store itself refuse the two bad mails (a trigger: a real database error,
    seen by every process using the store); returns how to lift it."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON message "
                f"WHEN NEW.message_id IN ('{BAD[0]}', '{BAD[1]}') "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_bad() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.message_id IN ('{BAD[0]}', '{BAD[1]}') THEN "
                "RAISE EXCEPTION 'refused by the test trigger' USING ERRCODE = 'check_violation'; "
                "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON message "
                "FOR EACH ROW EXECUTE FUNCTION refuse_bad()"
            )

    def lift() -> None:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("DROP TRIGGER refuse_bad")
            else:
                conn.exec_driver_sql("DROP TRIGGER refuse_bad ON message")

    return lift


def test_one_mail_the_store_refuses_is_quarantined_with_its_bytes_and_the_cli_handles_it(
    db_url: str,
    imap_server: Dovecot,
    smtp_server,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    _recorder, smtp_port = smtp_server
    engine = open_store(db_url)
    lift = refuse_bad_mail(engine)
    bad_a, bad_b = mail(101, message_id=BAD[0]), mail(102, message_id=BAD[1])
    deliver(imap_server, mail(1), bad_a, mail(2), mail(3), bad_b, mail(4))
    cfg, env = cli_setup(tmp_path, imap_server, smtp_port)

    def omnitui(*args: str) -> subprocess.CompletedProcess[str]:
        return run("--config", str(cfg), "--db", db_url, *args, env=env)

    synced = omnitui("sync", "--once")
    assert synced.returncode == 0, synced.stderr
    assert "support-mail: ok, 4 new, 0 sent, 2 quarantined" in synced.stdout
    assert_each_once(engine, {f"<q{n}@example.com>" for n in range(1, 5)})
    assert state_of(engine, "support-mail").last_error is None
    assert cursor_state(engine, "support-mail")["INBOX"]["last_uid"] == 6  # past both
    first, second = quarantined(engine)
    assert (first.external_id, second.external_id) == (f"mid:{BAD[0]}", f"mid:{BAD[1]}")
    assert first.raw == bad_a and second.raw == bad_b  # the exact bytes, nothing lost
    for item in (first, second):
        assert item.stage == "store" and item.raw_type == "message/rfc822"
        assert_clear(item.error, "refused by the test trigger")

    listed = omnitui("quarantine", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("2 item(s)")
    assert f"mid:{BAD[0]}" in lines[0] and "store" in lines[0] and f"{len(bad_a)} B" in lines[0]
    shown = omnitui("quarantine", "show", str(first.id))
    assert shown.returncode == 0, shown.stderr
    assert f"external id: mid:{BAD[0]}" in shown.stdout
    assert f"raw: message/rfc822, {len(bad_a)} bytes" in shown.stdout
    assert f"{SECRET} body of mail 101." in shown.stdout
    saved = tmp_path / "bad-a.eml"
    assert omnitui("quarantine", "show", str(first.id), "-o", str(saved)).returncode == 0
    assert saved.read_bytes() == bad_a

    still = omnitui("quarantine", "retry")  # the store still refuses them: both kept
    assert still.returncode == 1
    assert still.stderr.count("kept") == 2 and len(quarantined(engine)) == 2

    lift()
    retried = omnitui("quarantine", "retry", str(first.id))
    assert retried.returncode == 0, retried.stderr
    assert "removed from the quarantine" in retried.stdout
    dropped = omnitui("quarantine", "drop", str(second.id))
    assert dropped.returncode == 0 and f"dropped item {second.id}" in dropped.stdout
    assert omnitui("quarantine", "list").stdout.strip() == "the quarantine is empty"

    again = omnitui("sync", "--once")
    assert again.returncode == 0 and "ok, 0 new" in again.stdout, again.stderr
    assert_each_once(engine, {f"<q{n}@example.com>" for n in range(1, 5)} | {BAD[0]})
    with Session(engine) as s:
        stored_a = s.exec(select(Message).where(Message.message_id == BAD[0])).one()
        raw = s.exec(select(RawMessage).where(RawMessage.message_id == stored_a.id)).one()
        assert raw.data == bad_a and f"{SECRET} body of mail 101." in stored_a.text
    engine.dispose()

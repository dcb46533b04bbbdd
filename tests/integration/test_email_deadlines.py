"""Every email network operation has an overall deadline: a server that trickles a byte
a second (each read well inside the socket timeout) is cut off, the error names the
deadline, other accounts carry on, and SIGTERM still stops the daemon within seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.email import imap_poller
from adapters.email.deadline import TooSlow
from omnitui.config import AccountConfig
from storage import open_store
from storage.models import Message
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import ADDRESS
from tests.support.fault_checks import (
    account,
    assert_clear,
    cursor_state,
    deliver,
    inbound,
    mail,
    mail_service,
    outbox,
    queue_reply,
    state_of,
)
from tests.support.trickle import (
    AFTER_DOT,
    GREETING,
    OK,
    TrickleProxy,
    TrickleServer,
    TrickleSmtp,
    wait_until,
)

#: The deadlines the tests configure (seconds); the trickle sends a byte a second.
DEADLINE = 3


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'store' / 'omnitui.sqlite'}")
    yield engine
    engine.dispose()


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    server = TrickleServer()
    yield server
    server.close()


def test_a_login_that_trickles_is_cut_at_its_deadline(trickle: TrickleServer) -> None:
    started = time.monotonic()
    with pytest.raises(TooSlow) as caught:
        imap_poller.connect(
            "127.0.0.1", trickle.port, "plain", USER, PASSWORD, connect_seconds=DEADLINE
        )
    took = time.monotonic() - started
    assert str(caught.value) == "IMAP server too slow: connect and login not done within 3 s"
    assert caught.value.retryable
    assert trickle.trickled >= 1  # it was answering, just never finishing
    assert DEADLINE - 0.5 < took < DEADLINE + 10


def test_a_tls_handshake_that_trickles_is_cut_at_its_deadline() -> None:
    # A TLS record header announcing 16 kB, then a byte a second: the handshake waits.
    server = TrickleServer(greeting=b"\x16\x03\x03\x40\x00")
    try:
        started = time.monotonic()
        with pytest.raises(TooSlow, match="connect and login not done within 3 s"):
            imap_poller.connect(
                "127.0.0.1", server.port, "tls", USER, PASSWORD, connect_seconds=DEADLINE
            )
        assert time.monotonic() - started < DEADLINE + 10
    finally:
        server.close()


def _config(tmp_path: Path, slow_port: int, imap: Dovecot, **slow: object) -> Path:
    """Two accounts: ``slow-mail`` (the trickling server, first) and ``support-mail``."""
    extra = "".join(f"{key} = {value}\n" for key, value in slow.items())
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[[accounts]]\n"
        'name = "slow-mail"\nkind = "email"\npoll_seconds = 1\n'
        f'imap_host = "127.0.0.1"\nimap_port = {slow_port}\nimap_security = "plain"\n'
        f'username = "{USER}"\naddress = "slow@kettle.example"\npassword_env = "MAIL_PW"\n'
        f"{extra}\n"
        "[[accounts]]\n"
        'name = "support-mail"\nkind = "email"\npoll_seconds = 1\n'
        f'imap_host = "127.0.0.1"\nimap_port = {imap.port}\nimap_security = "plain"\n'
        f'username = "{USER}"\naddress = "{ADDRESS}"\npassword_env = "MAIL_PW"\n'
    )
    return cfg


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MAIL_PW": PASSWORD,
        "OMNITUI_INSTALL_KEY": "k" * 64,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


def test_sync_once_gets_past_a_trickling_server_and_stores_the_healthy_accounts_mail(
    tmp_path: Path, imap_server: Dovecot, trickle: TrickleServer
) -> None:
    deliver(imap_server, mail(1))
    cfg = _config(tmp_path, trickle.port, imap_server, connect_deadline_seconds=DEADLINE)
    store = tmp_path / "store.sqlite"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "omnitui", "--config", str(cfg), "--db", f"sqlite:///{store}",
         "sync", "--once"],
        capture_output=True, text=True, env=_env(tmp_path), timeout=120,
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert (
        "omnitui: slow-mail: IMAP server too slow: connect and login not done within 3 s"
        in done.stderr
    ), done.stderr
    assert "support-mail: ok, 1 new" in done.stdout
    assert took < 60
    engine = open_store(f"sqlite:///{store}")
    try:
        with Session(engine) as s:
            stored = s.exec(select(Message)).all()
            assert [(m.account, m.message_id) for m in stored] == [
                ("support-mail", "<q1@example.com>")
            ]
    finally:
        engine.dispose()


def test_a_fetch_that_trickles_fails_the_round_at_its_deadline_and_the_next_one_catches_up(
    sqlite_engine: Engine, imap_server: Dovecot
) -> None:
    engine = sqlite_engine
    proxy = TrickleProxy(imap_server.port, b"BODY.PEEK[]")
    try:
        deliver(imap_server, mail(1), mail(2))
        acct = account(imap_server, imap_deadline_seconds=DEADLINE)
        acct = AccountConfig(
            name=acct.name,
            kind=acct.kind,
            poll_seconds=acct.poll_seconds,
            settings={**acct.settings, "imap_port": proxy.port},
        )
        svc = mail_service(engine, acct)
        started = time.monotonic()
        outcome = svc.round(acct)
        assert time.monotonic() - started < DEADLINE + 10
        assert not outcome.ok and outcome.fetched == 0
        assert outcome.error == "IMAP server too slow: FETCH not done within 3 s"
        state = state_of(engine, acct.name)
        assert_clear(state.last_error, "too slow", "FETCH", "3 s")
        assert state.retry_after is not None  # retryable: backs off, tries again
        assert inbound(engine) == [] and cursor_state(engine, acct.name) == {}

        proxy.trickling = False  # the server recovers
        outcome = svc.round(acct)
        assert outcome.ok and outcome.fetched == 2, outcome.error
        assert {m.message_id for m in inbound(engine)} == {"<q1@example.com>", "<q2@example.com>"}
        svc.close()
    finally:
        proxy.close()


def test_smtp_trickling_after_the_final_dot_leaves_the_reply_uncertain_and_never_resends_it(
    sqlite_engine: Engine, imap_server: Dovecot
) -> None:
    engine = sqlite_engine
    smtp = TrickleSmtp(mode=AFTER_DOT)
    try:
        acct = account(imap_server, smtp.port, smtp_deadline_seconds=DEADLINE)
        svc = mail_service(engine, acct)
        deliver(imap_server, mail(1))
        assert svc.round(acct).ok
        queue_reply(engine, "Here is the answer.")
        started = time.monotonic()
        outcome = svc.round(acct)
        assert time.monotonic() - started < DEADLINE + 10
        assert outcome.attempted == 1 and outcome.sent == 0
        (item,) = outbox(engine)
        assert item.state == "uncertain" and item.attempts == 1
        assert_clear(item.last_error, "SMTP server too slow", "3 s", "may have been delivered")
        assert len(smtp.received) == 1

        smtp.mode = OK  # healthy again: an uncertain reply is still not sent blindly
        svc.round(acct)
        svc.close()
        assert len(smtp.received) == 1 and outbox(engine)[0].state == "uncertain"
    finally:
        smtp.close()


def test_smtp_trickling_before_the_message_is_a_retryable_failure(
    sqlite_engine: Engine, imap_server: Dovecot
) -> None:
    engine = sqlite_engine
    smtp = TrickleSmtp(mode=GREETING)
    try:
        acct = account(imap_server, smtp.port, smtp_deadline_seconds=DEADLINE)
        svc = mail_service(engine, acct)
        deliver(imap_server, mail(1))
        assert svc.round(acct).ok
        queue_reply(engine, "Here is the answer.")
        started = time.monotonic()
        svc.round(acct)
        assert time.monotonic() - started < DEADLINE + 10
        (item,) = outbox(engine)
        assert item.state == "queued" and item.attempts == 1 and item.next_attempt_at
        assert item.last_error == "SMTP server too slow: send not done within 3 s"
        assert smtp.received == []
        svc.close()
    finally:
        smtp.close()


def test_sigterm_stops_the_sync_daemon_within_seconds_with_a_trickling_account(
    tmp_path: Path, imap_server: Dovecot, trickle: TrickleServer
) -> None:
    # Default deadlines (60 s to log in): only the stop itself can make it quick.
    cfg = _config(tmp_path, trickle.port, imap_server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnitui", "--config", str(cfg), "--db",
         f"sqlite:///{tmp_path / 'store.sqlite'}", "sync"],
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until(lambda: trickle.trickled >= 2, 60, "the sync to be stuck on the trickle")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert rc == 0
    assert took < 8, f"took {took:.1f} s to stop"

"""One leader per account (omnitui/sync/leases.py): of any number of processes on one
store, one polls and sends for an account; the others follow it and take over when it
ends. Real parts: SQLite files and the machine's PostgreSQL (advisory locks), holder
processes killed with SIGKILL, and two ``omnitui sync`` processes against a real
Dovecot and aiosmtpd."""

from __future__ import annotations

import email
import json
import os
import stat
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlmodel import Session
from sqlmodel import select as sqlmodel_select

from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.leader_names import role_of
from omnitui.sync import LEASE_RETRY_SECONDS, Outcome, Poller, SyncService
from omnitui.sync.leases import AccountLeases, lease_key, lock_file_name
from storage import open_store
from storage import repository as repo
from storage.models import AccountState, Conversation, Message, Outbox
from storage.types import utcnow
from tests.conftest import pg_url_or_skip
from tests.support.cli_run import command
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import ADDRESS, Recorder
from tests.support.fake_adapter import FakeAdapter, FakeChannel, chat_message
from tests.support.mail_delivery import deliver, mail
from tests.support.sync_processes import WAIT, Process, stop_all

ACCOUNT = "support-mail"


def wait_until(check, what: str, timeout: float = WAIT):  # noqa: ANN001, ANN201
    """``check()``'s first true value, polled every 0.1 s up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def leader_of(engine: Engine, account: str = ACCOUNT) -> str | None:
    with Session(engine) as s:
        row = s.get(AccountState, account)
        return row.leader if row is not None else None


def holder_process(db_url: str, account: str = ACCOUNT) -> Process:
    """A process leading ``account`` until killed."""
    holder = Process("tests.support.lease_holder", db_url, account, env=dict(os.environ))
    holder.out.wait_for(lambda ln: ln in ("held", "refused"), "held")
    assert holder.out.lines[0] == "held", holder.err.lines
    return holder


# -- the leases themselves -------------------------------------------------------


def test_a_second_holder_is_refused_until_the_first_releases(engine: Engine) -> None:
    first = AccountLeases(engine, role="sync service")
    second = AccountLeases(engine, role="console of bob")
    try:
        assert first.try_acquire(ACCOUNT)
        assert first.try_acquire(ACCOUNT)  # asking again while leading: still ours
        assert not second.try_acquire(ACCOUNT)
        assert second.try_acquire("support-chat")  # another account is another lease
        assert first.held() == {ACCOUNT} and second.held() == {"support-chat"}
        assert leader_of(engine) == first.identity
        assert second.holder(ACCOUNT) == first.identity
        assert role_of(first.identity) == "sync service"
        assert first.identity.endswith(f" pid {os.getpid()} (sync service)")

        first.release(ACCOUNT)
        assert leader_of(engine) is None  # a released account names no leader
        assert second.try_acquire(ACCOUNT)
        assert not first.try_acquire(ACCOUNT)
        assert leader_of(engine) == second.identity
    finally:
        second.close()
        first.close()
    assert second.held() == frozenset()
    third = AccountLeases(engine)
    try:
        assert third.try_acquire(ACCOUNT) and third.try_acquire("support-chat")
    finally:
        third.close()


def test_a_killed_holder_s_lease_is_taken_over(engine: Engine, db_url: str) -> None:
    holder = holder_process(db_url)
    leases = AccountLeases(engine, role="console of ana")
    try:
        assert not leases.try_acquire(ACCOUNT)
        assert leases.holder(ACCOUNT) == f"{leader_of(engine)}"
        assert f" pid {holder.pid} (sync service)" in leases.holder(ACCOUNT)
        holder.kill()  # no release, no clean-up: the server or kernel drops the lock
        wait_until(lambda: leases.try_acquire(ACCOUNT), "the lease after the kill", 10)
        assert leader_of(engine) == leases.identity
    finally:
        leases.close()
        stop_all([holder])


def test_a_killed_holder_leaves_nothing_a_new_process_must_clean(
    engine: Engine, db_url: str
) -> None:
    holder = holder_process(db_url)
    holder.kill()
    again = holder_process(db_url)  # a fresh process leads at once
    stop_all([again])


def test_sqlite_lock_files_are_private_and_named_safely(tmp_path: Path) -> None:
    db = tmp_path / "store" / "omnitui.sqlite"
    engine = open_store(f"sqlite:///{db}")
    leases = AccountLeases(engine)
    odd = "../we ird/.name"
    try:
        assert leases.try_acquire(ACCOUNT) and leases.try_acquire(odd)
        folder = db.with_name("omnitui.sqlite.lock.d")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted([f"{ACCOUNT}.lock", lock_file_name(odd)])
        assert "/" not in lock_file_name(odd) and not lock_file_name(odd).startswith(".")
        assert lock_file_name(odd) != lock_file_name("../we_ird/.name")
        for path in folder.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert (folder / f"{ACCOUNT}.lock").read_text().strip() == leases.identity
    finally:
        leases.close()
        engine.dispose()
    # Released: the files stay (removing one could let two processes lead), empty.
    assert (folder / f"{ACCOUNT}.lock").read_text() == ""


def test_a_replaced_lock_file_counts_as_a_lost_lease(tmp_path: Path) -> None:
    db = tmp_path / "omnitui.sqlite"
    engine = open_store(f"sqlite:///{db}")
    leases = AccountLeases(engine)
    try:
        assert leases.try_acquire(ACCOUNT)
        lock = db.with_name("omnitui.sqlite.lock.d") / f"{ACCOUNT}.lock"
        lock.unlink()  # someone cleaned up: another process could lock a new file
        assert leases.try_acquire(ACCOUNT)  # found lost, then taken again on the new file
        assert lock.read_text().strip() == leases.identity
    finally:
        leases.close()
        engine.dispose()


def test_an_in_memory_store_grants_every_lease_once_per_process() -> None:
    engine = open_store("sqlite://")
    first, second = AccountLeases(engine), AccountLeases(engine)
    try:
        assert first.try_acquire(ACCOUNT)
        assert not second.try_acquire(ACCOUNT)  # one holder within the process too
    finally:
        first.close()
        second.close()
        engine.dispose()


def _lease_backend(engine: Engine, account: str = ACCOUNT) -> int | None:
    """The PostgreSQL backend (pid) holding ``account``'s advisory lock, if any."""
    with engine.connect() as conn:
        database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
        key = lease_key(database, schema, account)
        return conn.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = :hi AND objid = :lo AND objsubid = 1"
            ),
            {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
        ).scalar()


def _terminate(engine: Engine, pid: int) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        conn.commit()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_dropped_lease_connection_loses_the_leases(engine: Engine, db_url: str) -> None:
    leases = AccountLeases(engine)
    try:
        assert leases.try_acquire(ACCOUNT) and leases.try_acquire("support-chat")
        before = _lease_backend(engine)
        assert before is not None and _lease_backend(engine, "support-chat") == before
        _terminate(engine, before)
        # Found lost at the next ask, then asked for again on a new connection.
        assert leases.try_acquire(ACCOUNT)
        after = _lease_backend(engine)
        assert after not in (None, before)
        assert _lease_backend(engine, "support-chat") is None  # lost with the connection
        assert leases.try_acquire("support-chat")
        assert _lease_backend(engine, "support-chat") == after
    finally:
        leases.close()
    assert _lease_backend(engine) is None

    # Another process's lease connection drops: its leases are free at once.
    holder = holder_process(db_url)
    mine = AccountLeases(engine)
    try:
        assert not mine.try_acquire(ACCOUNT)
        pid = _lease_backend(engine)
        assert pid is not None
        _terminate(engine, pid)
        wait_until(lambda: mine.try_acquire(ACCOUNT), "the dropped lease", 10)
    finally:
        mine.close()
        stop_all([holder])


def test_stores_in_two_schemas_of_one_database_do_not_share_leases() -> None:
    base = pg_url_or_skip()
    admin = create_engine(base)
    schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    engines: list[Engine] = []
    leases: list[AccountLeases] = []
    try:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base else "?"
        for schema in schemas:
            engines.append(open_store(f"{base}{sep}options={quote(f'-csearch_path={schema}')}"))
            leases.append(AccountLeases(engines[-1]))
        assert all(lease.try_acquire(ACCOUNT) for lease in leases)
    finally:
        for lease in leases:
            lease.close()
        for engine in engines:
            engine.dispose()
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    assert lease_key("d", "a", ACCOUNT) != lease_key("d", "b", ACCOUNT)


# -- the poller ------------------------------------------------------------------


def _service(engine: Engine, channel: FakeChannel, poll_seconds: int = 1) -> SyncService:
    account = AccountConfig(name=ACCOUNT, kind="fake", poll_seconds=poll_seconds, settings={})
    return SyncService(engine, Desk(), (account,), adapter_builder=lambda a: FakeAdapter(channel))


def test_a_poller_follows_an_account_another_leads_and_takes_it_over(engine: Engine) -> None:
    channel = FakeChannel(messages=[chat_message(1), chat_message(2)])
    first_rounds: list[Outcome] = []
    second_rounds: list[Outcome] = []
    first_leases = AccountLeases(engine, role="sync service")
    second_leases = AccountLeases(engine, role="console of ana")
    first = Poller(_service(engine, channel), on_round=first_rounds.append, leases=first_leases)
    second = Poller(_service(engine, channel), on_round=second_rounds.append, leases=second_leases)
    runs = [threading.Thread(target=first.run, daemon=True)]
    try:
        runs[0].start()
        wait_until(lambda: any(o.ran and o.ok for o in first_rounds), "the leader's round")
        runs.append(threading.Thread(target=second.run, daemon=True))
        runs[1].start()
        followed = wait_until(
            lambda: [o for o in second_rounds if o.followed_by], "the follower's outcome"
        )
        assert followed[0].followed_by == first_leases.identity and not followed[0].ran
        assert second.followed == {ACCOUNT: first_leases.identity}
        polls = channel.polls
        time.sleep(2 * LEASE_RETRY_SECONDS)  # the follower asks again, and polls nothing
        assert all(not o.ran for o in second_rounds)
        assert len(second_rounds) == 1  # one outcome per leader, not one per retry
        assert channel.polls > polls  # the leader keeps polling meanwhile

        first.stop()
        runs[0].join(timeout=WAIT)
        assert first_leases.held() == frozenset()
        wait_until(lambda: any(o.ran for o in second_rounds), "the take-over", 10)
        assert second.followed == {}
        assert leader_of(engine) == second_leases.identity
        channel.messages.append(chat_message(3))
        wait_until(lambda: _stored(engine) == 3, "the third message")
    finally:
        first.stop()
        second.stop()
        for run in runs:
            run.join(timeout=WAIT)
    assert second_leases.held() == frozenset()
    assert leader_of(engine) is None


def test_a_reply_another_process_queues_goes_out_without_waiting_for_the_poll(
    engine: Engine,
) -> None:
    channel = FakeChannel(messages=[chat_message(1)])
    rounds: list[Outcome] = []
    leases = AccountLeases(engine)
    poller = Poller(
        _service(engine, channel, poll_seconds=600), on_round=rounds.append, leases=leases
    )
    run = threading.Thread(target=poller.run, daemon=True)
    run.start()
    try:
        wait_until(lambda: rounds and _stored(engine) == 1, "the first round")
        with Session(engine) as s:  # as `omnitui reply` or a following console would
            conv = s.exec(sqlmodel_select(Conversation)).one()
            Desk().reply(s, conv, "On its way.")
            s.commit()
        # The leader sleeps 600 s between polls; the outbox watch wakes it.
        wait_until(lambda: len(channel.sent) == 1 and len(rounds) == 2, "the reply", 30)
        assert channel.polls == 2, rounds  # one round for it, not a poll every 2 s
    finally:
        poller.stop()
        run.join(timeout=WAIT)


def _stored(engine: Engine) -> int:
    """Inbound messages in the store."""
    with Session(engine) as s:
        return s.execute(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        ).scalar_one()


# -- the command line ------------------------------------------------------------


def _config(tmp_path: Path, imap_port: int, smtp_port: int) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[[accounts]]\n"
        f'name = "{ACCOUNT}"\nkind = "email"\npoll_seconds = 1\n'
        f'imap_host = "127.0.0.1"\nimap_port = {imap_port}\nimap_security = "plain"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsmtp_security = "plain"\n'
        f'username = "{USER}"\naddress = "{ADDRESS}"\npassword_env = "MAIL_PW"\n'
    )
    return cfg


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MAIL_PW": PASSWORD,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "OMNITUI_INSTALL_KEY": "k" * 64,
    }


def test_sync_once_leaves_a_led_account_to_its_leader(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    # Nothing listens on port 1: had --once polled or sent, it would have failed.
    omnitui = command(_config(tmp_path, 1, 1), db_url, _env(tmp_path))
    leader = AccountLeases(engine, role="sync service")
    try:
        assert leader.try_acquire(ACCOUNT)
        done = omnitui("sync", "--once")
        assert done.returncode == 0, done.stderr
        assert (
            done.stdout == f"{ACCOUNT}: synced by {leader.identity}; no round of it recorded yet\n"
        )

        with Session(engine) as s:
            repo.set_account_state(s, ACCOUNT, kind="email", last_ok_at=utcnow())
            s.commit()
        done = omnitui("sync", "--once")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(
            f"{ACCOUNT}: synced by {leader.identity}; its last round ok at "
        )

        with Session(engine) as s:
            repo.set_account_state(
                s, ACCOUNT, last_error="IMAP: connection refused", last_error_at=utcnow()
            )
            s.commit()
        done = omnitui("sync", "--once")
        assert done.returncode == 1
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"omnitui: {ACCOUNT}: synced by {leader.identity}; ")
        assert line.endswith(": IMAP: connection refused") and "last round failed at" in line
        assert leader_of(engine) == leader.identity  # --once touched nothing of it
    finally:
        leader.close()
    # Nobody leads it now: --once polls it itself (and fails: nothing listens).
    done = omnitui("sync", "--once")
    assert done.returncode == 1 and "synced by" not in done.stdout + done.stderr
    assert done.stderr.startswith(f"omnitui: {ACCOUNT}: ")
    assert leader_of(engine) is None  # released on exit


def test_two_sync_services_ingest_each_mail_once_and_send_each_reply_once(
    imap_server: Dovecot,
    smtp_server: tuple[Recorder, int],
    engine: Engine,
    db_url: str,
    tmp_path: Path,
) -> None:
    recorder, smtp_port = smtp_server
    deliver(imap_server, *(mail(n) for n in range(3)))
    env = _env(tmp_path)
    cfg = _config(tmp_path, imap_server.port, smtp_port)
    omnitui = command(cfg, db_url, env)
    args = ("omnitui", "--config", str(cfg), "--db", db_url, "sync")
    services = [Process(*args, env=env), Process(*args, env=env)]
    try:
        wait_until(lambda: _stored(engine) == 3, "three mails")
        leader_pid = wait_until(lambda: _leader_pid(engine, services), "a leader")
        lead = next(p for p in services if p.pid == leader_pid)
        follower = next(p for p in services if p.pid != leader_pid)
        follower.err.wait_for(
            lambda ln: (
                ln.startswith(f"{ACCOUNT}: synced by ")
                and ln.endswith(f" pid {leader_pid} (sync service)")
            ),
            "naming the leader",
        )

        refs = [json.loads(row)["ref"] for row in omnitui("export").stdout.splitlines()]
        for n, ref in enumerate(refs):
            queued = omnitui("reply", ref, "--body-file", "-", stdin=f"Answer {n}.")
            assert queued.returncode == 0, queued.stderr
        wait_until(lambda: _sent(engine) == 3, "three replies sent")
        assert len(recorder.received) == 3
        # Only the leader polled and sent: the follower printed no round of its own.
        assert not [ln for ln in follower.out.lines if "new" in ln], follower.out.lines

        lead.kill()  # a crash: no release, the lease goes with the process
        follower.err.wait_for(lambda ln: ln == f"{ACCOUNT}: synced here now", "a take-over")
        wait_until(lambda: _leader_pid(engine, [follower]), "the new leader in account_state")
        deliver(imap_server, mail(3))
        wait_until(lambda: _stored(engine) == 4, "the mail after the take-over")
        ref = json.loads(omnitui("export").stdout.splitlines()[-1])["ref"]
        queued = omnitui("reply", ref, "--body-file", "-", stdin="Answer 3.")
        assert queued.returncode == 0, queued.stderr
        wait_until(lambda: _sent(engine) == 4, "the reply after the take-over")
        assert follower.stop() == 0
    finally:
        stop_all(services)
    assert _stored(engine) == 4  # each mail once
    ids = [email.message_from_bytes(e.content)["Message-ID"] for e in recorder.received]
    assert len(ids) == 4 and len(set(ids)) == 4, ids  # each reply once
    assert leader_of(engine) is None  # the survivor released it on SIGTERM


def _leader_pid(engine: Engine, processes: list[Process]) -> int | None:
    leader = leader_of(engine) or ""
    return next((p.pid for p in processes if f" pid {p.pid} (sync service)" in leader), None)


def _sent(engine: Engine) -> int:
    with Session(engine) as s:
        return s.execute(
            select(func.count()).select_from(Outbox).where(Outbox.state == "sent")
        ).scalar_one()

"""``omnitui sync`` (the long-running loop) says on stderr when a reply turns failing
and when it is delivered, when an account's round fails and when it works again —
each once, not every round. A real Dovecot (behind a proxy that refuses connections the
way a server that is down does) and aiosmtpd (started only later: until then its port
refuses); the daemon runs as a subprocess and ends on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import select

from storage import open_store
from storage.models import AccountState
from tests.support.cli_run import command
from tests.support.dovecot import PASSWORD, USER, Dovecot, free_port
from tests.support.email_fixtures import ADDRESS, Recorder
from tests.support.mail_delivery import deliver, mail
from tests.support.sync_processes import WAIT, Lines
from tests.support.tcp_proxy import TcpProxy


def test_the_daemon_reports_each_failure_once_and_each_recovery(
    imap_server: Dovecot, tmp_path: Path
) -> None:
    deliver(imap_server, mail(1))
    smtp_port = free_port()  # nothing listens yet: the SMTP server is down
    recorder = Recorder()
    smtp = Controller(recorder, hostname="127.0.0.1", port=smtp_port)
    started: list[Controller] = []
    with TcpProxy(imap_server.port) as imap:
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            "[[accounts]]\n"
            'name = "support-mail"\nkind = "email"\npoll_seconds = 1\n'
            f'imap_host = "127.0.0.1"\nimap_port = {imap.port}\nimap_security = "plain"\n'
            f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsmtp_security = "plain"\n'
            f'username = "{USER}"\naddress = "{ADDRESS}"\npassword_env = "MAIL_PW"\n'
        )
        db = f"sqlite:///{tmp_path / 'store.sqlite'}"
        env = {
            **os.environ,
            "MAIL_PW": PASSWORD,
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "OMNITUI_INSTALL_KEY": "k" * 64,
        }
        base = [sys.executable, "-m", "omnitui", "--config", str(cfg), "--db", db]
        omnitui = command(cfg, db, env)

        assert omnitui("sync", "--once").returncode == 0
        ref = json.loads(omnitui("export").stdout.splitlines()[0])["ref"]
        queued = omnitui("reply", ref, "--body-file", "-", stdin="Your kettle ships today.")
        assert queued.returncode == 0, queued.stderr
        item = int(queued.stdout.split("#")[1].split()[0])
        reply = f"omnitui: support-mail: reply #{item} on {ref}"

        proc = subprocess.Popen(
            [*base, "sync"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            out, err = Lines(proc.stdout), Lines(proc.stderr)
            # 1. The reply cannot go out: one line, with the attempt and the error.
            failing = err.wait_for(lambda ln: ln.startswith(f"{reply} is failing"), "failing")
            assert "(attempt 1, retry at " in failing and "refused" in failing.lower()

            # 2. The IMAP server goes away: the rounds fail; said once per error.
            imap.refuse()
            imap.cut()
            down = err.wait_for(lambda ln: _account_error(ln), "for the account's error")
            assert "reply #" not in down
            store = open_store(db)
            attempts: set[object] = set()
            with store.connect() as conn:
                for _ in range(int(WAIT * 10)):  # until three rounds failed
                    now = conn.execute(
                        select(AccountState.last_attempt_at, AccountState.last_error)
                    ).one()
                    if now.last_error:
                        attempts.add(now.last_attempt_at)
                    conn.rollback()
                    if len(attempts) >= 3 or proc.poll() is not None:
                        break
                    threading.Event().wait(0.1)
            store.dispose()
            assert len(attempts) >= 3 and proc.returncode is None
            imap.accept()
            err.wait_for(lambda ln: ln == "support-mail: ok again", "ok again")

            # 3. The SMTP server is back and the agent retries: delivered, said once.
            smtp.start()
            started.append(smtp)
            assert omnitui("outbox", "retry", str(item)).returncode == 0
            done = f"support-mail: reply #{item} on {ref} delivered"
            delivered = err.wait_for(lambda ln: ln.startswith(done), "delivered")
            assert delivered == f"{done} (after 2 attempts)"
            out.wait_for(lambda ln: ln == "support-mail: 0 new, 1 sent", "sent")
            assert len(recorder.received) == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
            for server in started:
                server.stop()
        lines = err.finish()
        out.finish()
    assert rc == 0
    assert [ln for ln in lines if ln.startswith(f"{reply} is failing")] == [failing]
    assert [ln for ln in lines if ln.startswith(done)] == [delivered]
    assert lines.count("support-mail: ok again") == 1
    errors = [ln for ln in lines if _account_error(ln)]
    # Once per change of error, not once per round (at least three rounds failed).
    assert 1 <= len(errors) < len(attempts), (errors, len(attempts))
    assert all(a != b for a, b in zip(errors, errors[1:], strict=False)), errors
    assert "refused" in errors[-1].lower()


def _account_error(line: str) -> bool:
    """A line about the account's failing round (not about a reply)."""
    return line.startswith("omnitui: support-mail: ") and "reply #" not in line

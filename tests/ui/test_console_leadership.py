"""The console polls only the accounts nobody else leads (omnitui/sync/leases.py): with
another process holding an account's lease the console leaves it alone and says who
syncs it on the status line; when that process dies, the console takes the account
over within seconds. A real holder process, killed with SIGKILL, on an SQLite file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlmodel import Session

from storage import open_store
from storage.models import AccountState
from tests.support.console_probe import make_app, status_plain, until
from tests.support.sync_processes import Process, stop_all

#: Nothing listens on this port: had the console polled, the round would have failed.
EMAIL_ACCOUNT = """
[[accounts]]
name = "support-mail"
kind = "email"
imap_host = "127.0.0.1"
imap_port = 1
imap_security = "plain"
smtp_host = "127.0.0.1"
smtp_port = 1
smtp_security = "plain"
username = "support@example.com"
address = "support@example.com"
password_env = "OMNITUI_TEST_UNUSED"
"""


async def test_the_console_follows_a_led_account_and_takes_it_over(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    engine = open_store(url)
    holder = Process("tests.support.lease_holder", url, "support-mail", env=dict(os.environ))
    try:
        holder.out.wait_for(lambda ln: ln == "held", "held")
        app = make_app(engine, tmp_path, EMAIL_ACCOUNT, demo=False)
        async with app.run_test(size=(160, 30)) as pilot:
            await until(pilot, lambda: app.poller is not None and app.poller.followed, 30)
            assert app.poller is not None
            assert app.poller.followed["support-mail"].endswith(f" pid {holder.pid} (sync service)")
            app.refresh_status()
            await until(pilot, lambda: "(by sync service)" in status_plain(app), 30)
            assert "support-mail: waiting (by sync service)" in status_plain(app)

            holder.kill()
            await until(pilot, lambda: not app.poller.followed, 30)  # type: ignore[union-attr]
            await until(pilot, lambda: _state(engine).last_error is not None, 30)
            assert _state(engine).leader == app.poller.leases.identity  # type: ignore[union-attr]
            assert _state(engine).leader.endswith(" (console of me)")  # type: ignore[union-attr]
            app.refresh_status()
            await until(pilot, lambda: "(by " not in status_plain(app), 30)
        # Released when the console quits (its poller's thread ends within a second).
        deadline = time.monotonic() + 10
        while _state(engine).leader is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _state(engine).leader is None
    finally:
        stop_all([holder])
        engine.dispose()


def _state(engine) -> AccountState:  # noqa: ANN001
    with Session(engine) as s:
        row = s.get(AccountState, "support-mail")
        assert row is not None
        return row

"""``omnitui sync`` stops within seconds of SIGTERM, even with a long poll in flight
(a service manager kills what does not stop in about ten)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.support.fake_http import serve


def test_sigterm_ends_the_sync_within_seconds_during_a_long_poll(tmp_path: Path) -> None:
    in_flight = threading.Event()

    def bot_api(request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        if method == "getUpdates":
            in_flight.set()
            time.sleep(min(json.loads(request.content or b"{}").get("timeout", 0), 20))
            return httpx.Response(200, json={"ok": True, "result": []})
        return httpx.Response(200, json={"ok": True, "result": True})

    with serve(bot_api) as url:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[[accounts]]\nname = "bot"\nkind = "telegram"\napi_base = "{url}"\n'
            'long_poll_seconds = 20\ntoken_env = "BOT_TOKEN"\n'
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "omnitui", "--config", str(config), "--db",
             f"sqlite:///{tmp_path / 'store.sqlite'}", "sync"],
            env={**os.environ, "BOT_TOKEN": "123:abc", "OMNITUI_INSTALL_KEY": "k" * 64},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert in_flight.wait(30), "the sync never started its long poll"
            time.sleep(0.5)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=15)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert rc == 0
    assert took < 8, f"took {took:.1f} s to stop"

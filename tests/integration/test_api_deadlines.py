"""Every API request has one overall deadline (security finding 5): a real server that
trickles a byte a second — in the body or in the headers — fails the account with
"API server too slow" when ``timeout_seconds`` (plus any long-poll wait) is spent,
``sync --once`` finishes with the healthy accounts done and exit status 1, and a
daemon ``omnitui sync`` stuck on such a server still stops within seconds of SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import pytest

from adapters.base import AdapterError
from adapters.http_api import LimitedClient, TooSlow
from adapters.mastodon import MastodonAdapter
from adapters.telegram import TelegramAdapter
from adapters.twilio import TwilioAdapter
from tests.support import trickle_http
from tests.support.fake_http import serve
from tests.support.telegram_fake import FakeBotApi, update
from tests.support.twilio_fake import OURS, SID, FakeTwilio, sms

DEADLINE = 3
TG_TOKEN = "123456:ABC-secret-token"
TOKEN_OF_FAKE = TG_TOKEN  # what the fake Bot API (tests/support/telegram_fake.py) expects
TW_TOKEN = "twilio-auth-token"


def telegram(url: str) -> TelegramAdapter:
    settings = {"api_base": url, "long_poll_seconds": 0, "timeout_seconds": DEADLINE}
    return TelegramAdapter("slow-telegram", settings, lambda _f: TG_TOKEN)


def twilio(url: str) -> TwilioAdapter:
    settings = {"api_base": url, "account_sid": SID, "timeout_seconds": DEADLINE}
    return TwilioAdapter("slow-twilio", settings, lambda _f: TW_TOKEN, today=date(2026, 11, 23))


def mastodon(url: str) -> MastodonAdapter:
    settings = {"api_base": url, "timeout_seconds": DEADLINE}
    return MastodonAdapter("slow-mastodon", settings, lambda _f: "md-token")


ADAPTERS: dict[str, Callable[[str], TelegramAdapter | TwilioAdapter | MastodonAdapter]] = {
    "telegram": telegram,
    "twilio": twilio,
    "mastodon": mastodon,
}


@pytest.mark.parametrize(
    ("kind", "how"),
    [
        ("telegram", "body"),
        ("telegram", "headers"),
        ("twilio", "body"),
        ("twilio", "headers"),
        ("mastodon", "body"),
    ],
)
def test_a_trickling_server_fails_the_poll_at_the_deadline(kind: str, how: str) -> None:
    answer = trickle_http.trickle_body() if how == "body" else trickle_http.trickle_headers()
    with trickle_http.serve(answer) as server:
        adapter = ADAPTERS[kind](server.url)
        started = time.monotonic()
        with pytest.raises(TooSlow) as info:
            adapter.poll({})
        took = time.monotonic() - started
        adapter.close()
        assert server.hung_up.wait(5), "the client never hung up on the trickling server"
    assert DEADLINE - 0.5 < took < DEADLINE + 2, f"took {took:.1f} s"
    message = str(info.value)
    assert (
        message.startswith("API server too slow: ") and f"not done within {DEADLINE} s" in message
    )
    assert "\n" not in message and info.value.retryable
    assert TG_TOKEN not in message and TW_TOKEN not in message


def test_a_long_poll_gets_its_wait_on_top_of_the_deadline() -> None:
    """The deadline is ``timeout_seconds`` + ``long_poll_seconds``: a long poll the
    server holds for its whole wait is not cut short."""
    api = FakeBotApi([update(10, 1, "hello")])

    def slow_long_poll(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/getUpdates"):
            time.sleep(2)  # held 2 s of a 2 s long poll; the deadline is 1 + 2 s
        return api.handler(request)

    with serve(slow_long_poll) as url:
        adapter = TelegramAdapter(
            "t",
            {"api_base": url, "long_poll_seconds": 2, "timeout_seconds": 1},
            lambda _f: TOKEN_OF_FAKE,
        )
        assert len(adapter.poll({}).messages) == 1
        adapter.close()


def test_the_shared_client_holds_the_deadline_for_any_adapter_using_it() -> None:
    """Matrix builds its own timeouts (``Timeout(30, read=wait + 30)``); the client it
    shares takes the largest as the overall deadline, so it is bounded too."""
    with trickle_http.serve(trickle_http.trickle_body(0.2)) as server:
        client = LimitedClient()
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException, match="not done within 2 s"):
            client.get(server.url, timeout=httpx.Timeout(1.0, read=2.0))
        client.close()
    assert time.monotonic() - started < 4


def _config(tmp_path: Path, telegram_url: str, twilio_url: str, timeout: int) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f"""
[[accounts]]
name = "shop-telegram"
kind = "telegram"
api_base = "{telegram_url}"
long_poll_seconds = 0
timeout_seconds = {timeout}
token_env = "TG_TOKEN"

[[accounts]]
name = "shop-twilio"
kind = "twilio"
api_base = "{twilio_url}"
account_sid = "{SID}"
from_number = "{OURS}"
timeout_seconds = {timeout}
auth_token_env = "TW_TOKEN"
""")
    return config


def _omnitui(tmp_path: Path, config: Path, *args: str) -> list[str]:
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    return [sys.executable, "-m", "omnitui", "--config", str(config), "--db", db, *args]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TG_TOKEN": TOKEN_OF_FAKE,
        "TW_TOKEN": TW_TOKEN,
        "OMNITUI_INSTALL_KEY": "k" * 64,
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }


@pytest.mark.parametrize("slow", ["telegram", "twilio"])
def test_sync_once_finishes_past_a_trickling_account_and_names_it(
    tmp_path: Path, slow: str
) -> None:
    bot = FakeBotApi([update(10, 1, "こんにちは")])
    phone = FakeTwilio([sms(1, "is anyone there?")])
    with (
        trickle_http.serve(trickle_http.trickle_body()) as trickling,
        serve(bot.handler) as bot_url,
        serve(phone.handler) as phone_url,
    ):
        tg_url = trickling.url if slow == "telegram" else bot_url
        tw_url = trickling.url if slow == "twilio" else phone_url
        config = _config(tmp_path, tg_url, tw_url, DEADLINE)
        started = time.monotonic()
        done = subprocess.run(
            _omnitui(tmp_path, config, "sync", "--once"),
            capture_output=True,
            text=True,
            env=_env(tmp_path),
            timeout=120,
        )
        took = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    slow_name, healthy = (
        ("shop-telegram", "shop-twilio") if slow == "telegram" else ("shop-twilio", "shop-telegram")
    )
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("omnitui: ")]
    assert line.startswith(f"omnitui: {slow_name}: API server too slow: ")
    assert f"not done within {DEADLINE} s" in line
    assert f"{healthy}: ok, 1 new" in done.stdout
    assert "Traceback" not in done.stderr
    assert TOKEN_OF_FAKE not in done.stderr and TW_TOKEN not in done.stderr
    assert took < 30, f"took {took:.1f} s"


def test_sigterm_stops_a_daemon_sync_stuck_on_a_trickling_server(tmp_path: Path) -> None:
    phone = FakeTwilio([sms(1, "hello")])
    with (
        trickle_http.serve(trickle_http.trickle_body()) as trickling,
        serve(phone.handler) as phone_url,
    ):
        # A generous deadline: the Telegram request is still trickling at SIGTERM.
        config = _config(tmp_path, trickling.url, phone_url, 600)
        proc = subprocess.Popen(
            _omnitui(tmp_path, config, "sync"),
            env=_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert trickling.first_request.wait(60), "the sync never reached the server"
            time.sleep(2)  # a couple of bytes into the trickle
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=20)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert rc == 0
    assert took < 8, f"took {took:.1f} s to stop"


def test_a_too_slow_error_is_retryable_and_one_line_through_the_adapter_error() -> None:
    with trickle_http.serve(trickle_http.trickle_headers(0.5)) as server:
        adapter = TwilioAdapter(
            "t",
            {"api_base": server.url, "account_sid": SID, "timeout_seconds": 1},
            lambda _f: TW_TOKEN,
        )
        with pytest.raises(AdapterError) as info:
            adapter.request("GET", f"/2010-04-01/Accounts/{SID}.json")
        adapter.close()
    assert isinstance(info.value, TooSlow) and info.value.retryable
    assert str(info.value) == f"API server too slow: Twilio GET {SID}.json: not done within 1 s"


@pytest.mark.parametrize("kind", ["telegram", "twilio"])
def test_a_send_the_server_may_have_taken_is_uncertain_never_retried(kind: str) -> None:
    """A reply whose request reached the server but whose answer never came may have
    been delivered: it becomes ``uncertain`` (not resent), unlike a refused connection."""
    from adapters.base import OutboundMessage, UncertainDelivery
    from tests.support.dovecot import free_port

    reply = OutboundMessage(outbox_id=1, channel="sms", to="+15550100", text="hi", thread_key="42")
    with trickle_http.serve(trickle_http.trickle_body()) as server:
        adapter = ADAPTERS[kind](server.url)
        with pytest.raises(UncertainDelivery, match="may have been delivered"):
            adapter.send(reply)
        adapter.close()
    closed = ADAPTERS[kind](f"http://127.0.0.1:{free_port()}")
    with pytest.raises(AdapterError) as info:
        closed.send(reply)
    closed.close()
    assert not isinstance(info.value, UncertainDelivery) and info.value.retryable

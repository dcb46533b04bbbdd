"""Secrets never reach logs or the store (DESIGN.md, "Secrets"): every log record at
DEBUG, the round's outcome and every row of the store are searched for the secret after
rounds that fail in the ways most likely to quote it — a wrong IMAP password, an SMTP
server refusing the login or not answering, Telegram calls failing with the token in
their URL and in the server's answer.

Secrets come the way users give them (``*_env``, ``*_command``) through the real
adapter registry; nothing is faked between the config and the wire.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import imapclient
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import Engine, select
from sqlmodel import Session, SQLModel

import storage.models  # noqa: F401 - every table, for the store dump
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import Outcome, SyncService
from storage.models import Conversation, Outbox
from tests.support import fake_http
from tests.support.dovecot import PASSWORD, USER, Dovecot, free_port
from tests.support.email_fixtures import Recorder, settings

WRONG_PASSWORD = "wr0ng-Pa55-Qx81z"
BOT_TOKEN = "987654:Sekr3t-T0ken-AAbbCCdd"
#: Loggers of the test's own servers (aiosmtpd logs the AUTH exchange it receives).
SERVER_LOGGERS = ("mail.log",)
#: Loggers omnitui writes to, and those of the libraries it drives.
OUR_LOGGERS = ("omnitui", "adapters", "storage", "sqlalchemy", "alembic", "imapclient")


def forms(secret: str) -> list[str]:
    """The secret as it could leak: as is, and base64-encoded in an AUTH PLAIN/LOGIN."""
    return [secret, base64.b64encode(secret.encode()).decode()]


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write from the record, and its raw parts."""
    formatted = logging.Formatter("%(name)s %(levelname)s %(message)s").format(record)
    return f"{formatted}\n{record.msg!r}\n{record.args!r}\n{record.__dict__!r}"


def leaks(records: list[logging.LogRecord], secret: str, loggers: tuple[str, ...] | None) -> list:
    """The records (name, text) that carry the secret, from ``loggers`` (None: all but
    the test servers')."""
    found = []
    for record in records:
        if record.name.startswith(SERVER_LOGGERS):
            continue
        if loggers is not None and not record.name.startswith(loggers):
            continue
        text = record_text(record)
        if any(form in text for form in forms(secret)):
            found.append((record.name, record.getMessage()[:300]))
    return found


def store_dump(engine: Engine) -> str:
    """Every row of every table of the store, as text."""
    out = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(select(table)).all():
                out.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(out)


def assert_nowhere(
    secret: str, caplog: pytest.LogCaptureFixture, engine: Engine, outcomes: list[Outcome]
) -> None:
    assert caplog.records, "the failing round logged nothing: the check would be empty"
    assert leaks(caplog.records, secret, OUR_LOGGERS) == []
    for outcome in outcomes:
        assert not any(form in (outcome.error or "") for form in forms(secret))
    dump = store_dump(engine)
    assert "account_state" in dump  # the failure was recorded, without the secret
    assert not any(form in dump for form in forms(secret))


def run_rounds(engine: Engine, acct: AccountConfig, rounds: int = 2) -> list[Outcome]:
    svc = SyncService(engine, Desk(), (acct,))  # the real registry and secret lookup
    try:
        return [svc.round(acct) for _ in range(rounds)]
    finally:
        svc.close()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger at DEBUG, SQLAlchemy's statements and parameters included."""
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy.engine", "imapclient", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


# -- email -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["env", "command"])
def test_a_wrong_imap_password_is_in_no_log_and_no_row(
    engine: Engine,
    imap_server: Dovecot,
    debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    source: str,
) -> None:
    if source == "env":
        monkeypatch.setenv("OMNITUI_TEST_MAIL_PASSWORD", WRONG_PASSWORD)
        how = {"password_env": "OMNITUI_TEST_MAIL_PASSWORD"}
    else:
        secret_file = tmp_path / "pass"
        secret_file.write_text(WRONG_PASSWORD + "\n")
        how = {"password_command": f"cat {secret_file}"}
    acct = AccountConfig("support-mail", "email", settings=settings(imap_server, **how))
    outcomes = run_rounds(engine, acct, rounds=1)  # Dovecot delays each failed login 2 s
    assert not outcomes[-1].ok and "login failed" in (outcomes[-1].error or "")
    assert_nowhere(WRONG_PASSWORD, debug_logs, engine, outcomes)


class RefusingLogin(Recorder):
    """An SMTP server that offers AUTH and refuses every login."""

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        return AuthResult(success=False, handled=False)


@pytest.fixture
def refusing_smtp() -> Iterator[int]:
    handler = RefusingLogin()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=handler,
        auth_require_tls=False,
    )
    controller.start()
    yield port
    controller.stop()


def queue_reply(engine: Engine) -> int:
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).scalars().first()  # type: ignore[call-overload]
        assert conv is not None
        item = Desk().reply(s, conv, "Your refund is on its way.")
        s.commit()
        assert item.id is not None
        return item.id


@pytest.mark.parametrize("smtp", ["refuses-login", "down"])
def test_a_failing_smtp_send_leaves_the_password_in_no_log_and_no_row(
    engine: Engine,
    imap_server: Dovecot,
    refusing_smtp: int,
    debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    smtp: str,
) -> None:
    monkeypatch.setenv("OMNITUI_TEST_MAIL_PASSWORD", PASSWORD)
    port = refusing_smtp if smtp == "refuses-login" else free_port()
    acct = AccountConfig(
        "support-mail",
        "email",
        settings=settings(imap_server, port, password_env="OMNITUI_TEST_MAIL_PASSWORD"),
    )
    client = imapclient.IMAPClient("127.0.0.1", port=imap_server.port, ssl=False, timeout=30)
    client.login(USER, PASSWORD)
    client.append("INBOX", b"From: ana@example.com\r\nSubject: refund?\r\n\r\nWhere is it?\r\n")
    client.logout()
    assert run_rounds(engine, acct, rounds=1)[0].fetched == 1
    outbox_id = queue_reply(engine)
    debug_logs.clear()
    outcomes = run_rounds(engine, acct, rounds=1)
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None and item.state != "sent" and item.last_error
        if smtp == "refuses-login":
            assert "login failed" in item.last_error
    assert_nowhere(PASSWORD, debug_logs, engine, outcomes)


# -- Telegram: the token is part of every URL --------------------------------------------


def telegram_api(mode: dict[str, str]) -> fake_http.Handler:
    """A Bot API that delivers one update, then fails the way ``mode`` says, quoting the
    request (token and all) in its answers the way proxies and error pages do."""

    def handle(request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[1]
        where = str(request.url)
        if method == "deleteWebhook":
            return httpx.Response(200, json={"ok": True, "result": True})
        if method == "getUpdates" and mode["poll"] == "ok":
            payload = json.loads(request.content or b"{}")
            update = {
                "update_id": 10,
                "message": {
                    "message_id": 1,
                    "from": {"id": 5001, "is_bot": False, "first_name": "Mei"},
                    "chat": {"id": 5001, "type": "private"},
                    "date": 1795000000,
                    "text": "hello",
                },
            }
            result = [] if payload.get("offset", 0) > 10 else [update]
            return httpx.Response(200, json={"ok": True, "result": result})
        if method == "getUpdates" and mode["poll"] == "html":
            return httpx.Response(502, text=f"<html>502 Bad Gateway for {where}</html>")
        if method == "getUpdates":
            return httpx.Response(
                500,
                json={"ok": False, "error_code": 500, "description": f"Internal error at {where}"},
            )
        if method == "sendMessage":
            status = 401 if mode["send"] == "unauthorized" else 400
            return httpx.Response(
                status,
                json={
                    "ok": False,
                    "error_code": status,
                    "description": f"Bad Request: token {BOT_TOKEN} cannot send ({where})",
                },
            )
        return httpx.Response(404, json={"ok": False, "description": f"Not Found: {where}"})

    return handle


def telegram_rounds(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, poll: str, send: str
) -> list[Outcome]:
    monkeypatch.setenv("OMNITUI_TEST_BOT_TOKEN", BOT_TOKEN)
    mode = {"poll": "ok", "send": send}
    with fake_http.serve(telegram_api(mode)) as base:
        acct = AccountConfig(
            "shop-telegram",
            "telegram",
            settings={
                "api_base": base,
                "long_poll_seconds": 0,
                "token_env": "OMNITUI_TEST_BOT_TOKEN",
            },
        )
        first = run_rounds(engine, acct, rounds=1)
        assert first[0].ok and first[0].fetched == 1
        queue_reply(engine)
        mode["poll"] = poll
        return run_rounds(engine, acct, rounds=2)


@pytest.mark.parametrize(
    ("poll", "send"), [("error", "bad-request"), ("html", "unauthorized")], ids=["json", "html"]
)
def test_failing_telegram_calls_leave_the_token_in_no_log_of_ours_and_no_row(
    engine: Engine,
    debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    poll: str,
    send: str,
) -> None:
    outcomes = telegram_rounds(engine, monkeypatch, poll, send)
    assert not outcomes[-1].ok
    with Session(engine) as s:
        (item,) = s.exec(select(Outbox)).scalars().all()  # type: ignore[call-overload]
        assert item.state == "failed" and item.last_error
    assert_nowhere(BOT_TOKEN, debug_logs, engine, outcomes)


def test_no_library_logs_the_telegram_token_either(
    engine: Engine, debug_logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram_rounds(engine, monkeypatch, "error", "bad-request")
    assert leaks(debug_logs.records, BOT_TOKEN, None) == []


# -- Twilio: Basic auth, which servers and proxies echo ------------------------------------

TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "tw-Sekr3t-4uth-T0ken-99"


def twilio_forms() -> list[str]:
    """The auth token as it could leak: as is, in the ``sid:token`` pair, and as the
    base64 value of the Basic header."""
    pair = f"{TWILIO_SID}:{TWILIO_TOKEN}"
    return [TWILIO_TOKEN, pair, base64.b64encode(pair.encode()).decode()]


def twilio_api(mode: dict[str, str]) -> fake_http.Handler:
    """Twilio delivering one SMS, then failing the way ``mode`` says while quoting the
    request's Authorization header, decoded and not, as a misconfigured proxy does."""

    def handle(request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization", "")
        pair = base64.b64decode(header.partition(" ")[2] or b"").decode()
        echo = f"{header} ({pair}) for {request.url}"
        if request.method == "GET" and mode["poll"] == "ok":
            key = "messages" if "Messages" in request.url.path else "calls"
            items = [
                {
                    "sid": "SM" + "1" * 32,
                    "from": "+15557654321",
                    "to": "+15551230000",
                    "body": "hello",
                    "direction": "inbound",
                    "date_sent": "Mon, 23 Nov 2026 09:00:00 +0000",
                }
            ]
            return httpx.Response(200, json={key: items if key == "messages" else []})
        if request.method == "GET" and mode["poll"] == "html":
            return httpx.Response(502, text=f"<html>502 Bad Gateway: {echo}</html>")
        if request.method == "GET":
            return httpx.Response(500, json={"code": 20500, "message": f"Internal error: {echo}"})
        status = 401 if mode["send"] == "unauthorized" else 400
        return httpx.Response(status, json={"code": 21211, "message": f"Refused {echo}"})

    return handle


@pytest.mark.parametrize(
    ("poll", "send"), [("error", "bad-request"), ("html", "unauthorized")], ids=["json", "html"]
)
def test_an_echoed_twilio_basic_auth_header_is_in_no_log_and_no_row(
    engine: Engine,
    debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    poll: str,
    send: str,
) -> None:
    monkeypatch.setenv("OMNITUI_TEST_TWILIO_TOKEN", TWILIO_TOKEN)
    mode = {"poll": "ok", "send": send}
    with fake_http.serve(twilio_api(mode)) as base:
        acct = AccountConfig(
            "shop-twilio",
            "twilio",
            settings={
                "api_base": base,
                "account_sid": TWILIO_SID,
                "from_number": "+15551230000",
                "auth_token_env": "OMNITUI_TEST_TWILIO_TOKEN",
            },
        )
        first = run_rounds(engine, acct, rounds=1)
        assert first[0].ok and first[0].fetched == 1
        queue_reply(engine)
        mode["poll"] = poll
        outcomes = run_rounds(engine, acct, rounds=2)
    assert not outcomes[-1].ok
    if poll == "error":  # the JSON error's message is quoted, redacted
        assert "Internal error: Basic *** (***)" in (outcomes[-1].error or "")
    with Session(engine) as s:
        (item,) = s.exec(select(Outbox)).scalars().all()  # type: ignore[call-overload]
        assert item.state == "failed" and item.last_error and "Refused Basic ***" in item.last_error
    dump = store_dump(engine)
    for form in twilio_forms():
        assert leaks(debug_logs.records, form, None) == []
        assert not any(form in (outcome.error or "") for outcome in outcomes)
        assert form not in dump, form

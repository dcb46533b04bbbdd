"""``omnitui doctor`` checks both directions of every account, one line each, and sends
nothing: a real Dovecot and aiosmtpd for email (refusing, silent and AUTH-rejecting SMTP
servers, a missing Sent folder), and the documented answers of each API on a loopback
HTTP server (valid, revoked, forbidden, suspended, a number that is not the account's)."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import imapclient
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from adapters.base import OutboundMessage
from adapters.email import EmailAdapter
from tests.support.cli_run import run
from tests.support.dovecot import PASSWORD, USER, Dovecot, free_port
from tests.support.email_fixtures import ADDRESS
from tests.support.fake_http import serve

# == running doctor ========================================================================


def doctor(tmp_path: Path, toml: str, **env: str) -> tuple[int, list[str]]:
    """Run ``omnitui doctor`` on this config; its exit code and its account lines
    (``name [kind]: ok|FAIL …``, without the secret lines)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml, encoding="utf-8")
    out = run(
        "--config",
        str(cfg),
        "--db",
        f"sqlite:///{tmp_path / 'doctor.sqlite'}",
        "doctor",
        env={
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
            "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
            **env,
        },
    )
    assert "Traceback" not in out.stdout + out.stderr, out.stdout + out.stderr
    lines = [
        line
        for line in out.stdout.splitlines()
        if "]: " in line and "]: secret " not in line and not line.startswith("adapters:")
    ]
    return out.returncode, lines


# == email =================================================================================


@dataclass
class SmtpWatch:
    """An aiosmtpd handler and authenticator that records what the client did."""

    accept_login: bool = True
    logins: list[tuple[str, str]] = field(default_factory=list)
    #: MAIL, RCPT and DATA commands received: doctor must send none.
    envelope_commands: list[str] = field(default_factory=list)

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((mechanism, login))
        ok = self.accept_login and (login, password) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=False)

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: ANN001, ANN201, N802
        self.envelope_commands.append("MAIL")
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: ANN001, ANN201, N802
        self.envelope_commands.append("RCPT")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.envelope_commands.append("DATA")
        return "250 OK: queued"


@pytest.fixture
def smtp_auth() -> Iterator[tuple[SmtpWatch, int]]:
    """aiosmtpd offering AUTH on plain loopback (as a submission port would over TLS)."""
    watch = SmtpWatch()
    port = free_port()
    controller = Controller(
        watch,
        hostname="127.0.0.1",
        port=port,
        authenticator=watch.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield watch, port
    controller.stop()


def email_toml(imap_port: int, smtp_port: int, **extra: str) -> str:
    lines = [
        "[[accounts]]",
        'name = "support-mail"',
        'kind = "email"',
        'imap_host = "127.0.0.1"',
        f"imap_port = {imap_port}",
        'imap_security = "plain"',
        'smtp_host = "127.0.0.1"',
        f"smtp_port = {smtp_port}",
        'smtp_security = "plain"',
        f'username = "{USER}"',
        f'address = "{ADDRESS}"',
        'password_env = "MAIL_PW"',
    ]
    for key, value in extra.items():
        lines = [line for line in lines if not line.startswith(f"{key} =")] + [f"{key} = {value}"]
    return "\n".join(lines) + "\n"


def receive_ok(imap: Dovecot) -> str:
    return (
        f"support-mail [email]: ok receive (IMAP 127.0.0.1:{imap.port}): "
        f"logged in as {USER}; INBOX found; IDLE offered"
    )


def sent_ok(imap: Dovecot) -> str:
    return (
        f"support-mail [email]: ok sent folder (IMAP 127.0.0.1:{imap.port}): "
        "'Sent' found and selectable; a copy of each reply is kept there"
    )


def test_email_doctor_logs_in_both_ways_and_sends_nothing(
    imap_server: Dovecot, smtp_auth: tuple[SmtpWatch, int], tmp_path: Path
) -> None:
    watch, port = smtp_auth
    code, lines = doctor(tmp_path, email_toml(imap_server.port, port), MAIL_PW=PASSWORD)
    assert code == 0, lines
    assert lines == [
        receive_ok(imap_server),
        sent_ok(imap_server),
        f"support-mail [email]: ok send (SMTP 127.0.0.1:{port}): "
        f"connected over plain (loopback), logged in as {USER}; nothing sent",
    ]
    assert [login for _mechanism, login in watch.logins] == [USER]
    assert watch.envelope_commands == []  # no MAIL, RCPT or DATA: nothing sent


def test_a_refusing_smtp_server_fails_send_and_receive_stays_ok(
    imap_server: Dovecot, tmp_path: Path
) -> None:
    closed = free_port()
    code, lines = doctor(tmp_path, email_toml(imap_server.port, closed), MAIL_PW=PASSWORD)
    assert code == 1
    assert lines == [
        receive_ok(imap_server),
        sent_ok(imap_server),
        f"support-mail [email]: FAIL send (SMTP 127.0.0.1:{closed}): connection refused",
    ]


def test_an_unreachable_imap_server_fails_receive_and_send_stays_ok(
    smtp_auth: tuple[SmtpWatch, int], tmp_path: Path
) -> None:
    watch, port = smtp_auth
    closed = free_port()
    code, lines = doctor(tmp_path, email_toml(closed, port), MAIL_PW=PASSWORD)
    assert code == 1
    assert lines == [
        f"support-mail [email]: FAIL receive (IMAP 127.0.0.1:{closed}): connection refused",
        f"support-mail [email]: ok send (SMTP 127.0.0.1:{port}): "
        f"connected over plain (loopback), logged in as {USER}; nothing sent",
    ]
    assert watch.envelope_commands == []


def test_an_smtp_server_refusing_the_login_is_one_line(
    imap_server: Dovecot, smtp_auth: tuple[SmtpWatch, int], tmp_path: Path
) -> None:
    watch, port = smtp_auth
    watch.accept_login = False
    code, lines = doctor(tmp_path, email_toml(imap_server.port, port), MAIL_PW=PASSWORD)
    assert code == 1
    assert lines[-1] == (
        f"support-mail [email]: FAIL send (SMTP 127.0.0.1:{port}): login failed for {USER} "
        "(wrong user name or password): 535 5.7.8 Authentication credentials invalid"
    )
    assert lines[:2] == [receive_ok(imap_server), sent_ok(imap_server)]
    assert watch.logins and watch.envelope_commands == []


def test_starttls_that_the_server_does_not_offer_fails_send(
    imap_server: Dovecot, smtp_auth: tuple[SmtpWatch, int], tmp_path: Path
) -> None:
    watch, port = smtp_auth
    toml = email_toml(imap_server.port, port, smtp_security='"starttls"')
    code, lines = doctor(tmp_path, toml, MAIL_PW=PASSWORD)
    assert code == 1
    assert lines[-1] == (
        f"support-mail [email]: FAIL send (SMTP 127.0.0.1:{port}): "
        'the server does not offer STARTTLS (smtp_security = "starttls")'
    )
    assert watch.logins == []  # the password never went over the plain connection


def test_a_silent_smtp_server_fails_within_the_deadline(
    imap_server: Dovecot, tmp_path: Path
) -> None:
    # Accepts connections (the kernel's backlog) and never says a word.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        toml = email_toml(imap_server.port, port, smtp_deadline_seconds="1")
        code, lines = doctor(tmp_path, toml, MAIL_PW=PASSWORD)
    assert code == 1
    assert lines[-1] == (
        f"support-mail [email]: FAIL send (SMTP 127.0.0.1:{port}): "
        "SMTP server too slow: connect and login not done within 1 s"
    )


def test_a_missing_sent_folder_is_named_with_what_it_means(
    imap_server: Dovecot, smtp_auth: tuple[SmtpWatch, int], tmp_path: Path
) -> None:
    _watch, port = smtp_auth
    toml = email_toml(imap_server.port, port, sent_folder='"Sent Copies"')
    code, lines = doctor(tmp_path, toml, MAIL_PW=PASSWORD)
    assert code == 1
    assert lines[1] == (
        f"support-mail [email]: FAIL sent folder (IMAP 127.0.0.1:{imap_server.port}): "
        "'Sent Copies' not found; omnitui does not create it: replies still go out, but no "
        "copy is kept and an uncertain reply cannot be confirmed — create it or set "
        "sent_folder (this server's sent folder looks like 'Sent')"
    )
    assert lines[0] == receive_ok(imap_server) and " ok send " in lines[2]


def test_what_doctor_says_of_a_missing_sent_folder_is_what_a_send_does(
    imap_server: Dovecot, smtp_auth: tuple[SmtpWatch, int]
) -> None:
    watch, port = smtp_auth
    settings = {
        "imap_host": "127.0.0.1",
        "imap_port": imap_server.port,
        "imap_security": "plain",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "plain",
        "username": USER,
        "address": ADDRESS,
        "sent_folder": "Sent Copies",
    }
    adapter = EmailAdapter("support-mail", settings, lambda field: PASSWORD)
    try:
        adapter.send(
            OutboundMessage(1, "email", "ana@example.com", "On its way.", subject="Grinder")
        )
    finally:
        adapter.close()
    assert watch.envelope_commands == ["MAIL", "RCPT", "DATA"]  # the reply went out
    client = imapclient.IMAPClient("127.0.0.1", port=imap_server.port, ssl=False)
    client.login(USER, PASSWORD)
    try:
        assert not client.folder_exists("Sent Copies")  # and no folder was created
    finally:
        client.logout()


# == API channels ==========================================================================

TG_OK, TG_REVOKED = "1001:good-token", "1002:revoked-token"
MX_OK, MX_REVOKED = "Qx81-mx1", "Qx81-mx2"
MD_FULL, MD_READ_ONLY, MD_REVOKED, MD_WRITE_ONLY = "Qx81-md1", "Qx81-md2", "Qx81-md3", "Qx81-md4"
ACTIVE, SUSPENDED, NOT_OURS = (
    "AC00000000000000000000000000000001",
    "AC00000000000000000000000000000002",
    "AC00000000000000000000000000000003",
)
TW_TOKEN, NUMBER = "Qx81-tw1", "+15551230000"


@dataclass
class FakeApis:
    """Telegram, Matrix, Mastodon and Twilio answering as their documentation says;
    records every request so a test can tell nothing was sent."""

    requests: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.startswith("/bot"):
            return self.telegram(request)
        if path.startswith("/_matrix/"):
            return self.matrix(request)
        if path.startswith(("/api/v1/", "/oauth/")):
            return self.mastodon(request)
        return self.twilio(request)

    @staticmethod
    def telegram(request: httpx.Request) -> httpx.Response:
        token, _, method = request.url.path.removeprefix("/bot").partition("/")
        if token != TG_OK:
            return httpx.Response(
                401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        assert method == "getMe"
        me = {
            "id": 1001,
            "is_bot": True,
            "first_name": "Kettle & Crema",
            "username": "kettle_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        return httpx.Response(200, json={"ok": True, "result": me})

    @staticmethod
    def matrix(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/_matrix/client/v3/account/whoami"
        if request.headers["Authorization"] != f"Bearer {MX_OK}":
            return httpx.Response(
                401,
                json={
                    "errcode": "M_UNKNOWN_TOKEN",
                    "error": "Invalid access token passed.",
                    "soft_logout": False,
                },
            )
        return httpx.Response(
            200, json={"user_id": "@shop:hs.test", "device_id": "DEV", "is_guest": False}
        )

    @staticmethod
    def mastodon(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        scopes = {MD_FULL: ["read", "write"], MD_READ_ONLY: ["read"], MD_WRITE_ONLY: ["write"]}
        if token not in scopes:
            return httpx.Response(401, json={"error": "The access token is invalid"})
        if request.url.path == "/oauth/token/info":  # Doorkeeper's answer
            return httpx.Response(
                200,
                json={
                    "resource_owner_id": 7,
                    "scope": scopes[token],
                    "expires_in": None,
                    "application": {"uid": "app-uid"},
                    "created_at": 1795000000,
                },
            )
        assert request.url.path == "/api/v1/accounts/verify_credentials"
        if "read" not in scopes[token]:
            return httpx.Response(
                403, json={"error": "This action is outside the authorized scopes"}
            )
        return httpx.Response(200, json={"id": "7", "acct": "kettlecrema", "username": "k"})

    @staticmethod
    def twilio(request: httpx.Request) -> httpx.Response:
        account = request.url.path.split("/Accounts/")[-1].split("/")[0].removesuffix(".json")
        pair = base64.b64encode(f"{account}:{TW_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {pair}":
            return httpx.Response(
                401,
                json={
                    "code": 20003,
                    "message": "Authenticate",
                    "more_info": "https://www.twilio.com/docs/errors/20003",
                    "status": 401,
                },
            )
        if request.url.path == f"/2010-04-01/Accounts/{account}.json":
            status = "suspended" if account == SUSPENDED else "active"
            return httpx.Response(
                200,
                json={"sid": account, "friendly_name": "Kettle", "status": status, "type": "Full"},
            )
        assert request.url.path.endswith("/IncomingPhoneNumbers.json")
        numbers = []
        if account == ACTIVE and request.url.params.get("PhoneNumber") == NUMBER:
            numbers = [
                {
                    "sid": "PN1",
                    "phone_number": NUMBER,
                    "capabilities": {"fax": False, "mms": True, "sms": True, "voice": True},
                }
            ]
        return httpx.Response(200, json={"incoming_phone_numbers": numbers, "page": 0})


def api_toml(url: str) -> str:
    return f"""
[[accounts]]
name = "tg"
kind = "telegram"
api_base = "{url}"
token_env = "TG_OK"

[[accounts]]
name = "tg-revoked"
kind = "telegram"
api_base = "{url}"
token_env = "TG_REVOKED"

[[accounts]]
name = "mx"
kind = "matrix"
api_base = "{url}"
user_id = "@shop:hs.test"
access_token_env = "MX_OK"

[[accounts]]
name = "mx-other-user"
kind = "matrix"
api_base = "{url}"
user_id = "@support:hs.test"
access_token_env = "MX_OK"

[[accounts]]
name = "mx-revoked"
kind = "matrix"
api_base = "{url}"
access_token_env = "MX_REVOKED"

[[accounts]]
name = "md"
kind = "mastodon"
api_base = "{url}"
access_token_env = "MD_FULL"

[[accounts]]
name = "md-read-only"
kind = "mastodon"
api_base = "{url}"
access_token_env = "MD_READ_ONLY"

[[accounts]]
name = "md-write-only"
kind = "mastodon"
api_base = "{url}"
access_token_env = "MD_WRITE_ONLY"

[[accounts]]
name = "md-revoked"
kind = "mastodon"
api_base = "{url}"
access_token_env = "MD_REVOKED"

[[accounts]]
name = "sms"
kind = "twilio"
api_base = "{url}"
account_sid = "{ACTIVE}"
from_number = "{NUMBER}"
auth_token_env = "TW_TOKEN"

[[accounts]]
name = "sms-suspended"
kind = "twilio"
api_base = "{url}"
account_sid = "{SUSPENDED}"
from_number = "{NUMBER}"
auth_token_env = "TW_TOKEN"

[[accounts]]
name = "sms-not-ours"
kind = "twilio"
api_base = "{url}"
account_sid = "{NOT_OURS}"
from_number = "{NUMBER}"
auth_token_env = "TW_TOKEN"

[[accounts]]
name = "sms-revoked"
kind = "twilio"
api_base = "{url}"
account_sid = "{ACTIVE}"
from_number = "{NUMBER}"
auth_token_env = "TW_REVOKED"
"""


API_ENV = {
    "TG_OK": TG_OK,
    "TG_REVOKED": TG_REVOKED,
    "MX_OK": MX_OK,
    "MX_REVOKED": MX_REVOKED,
    "MD_FULL": MD_FULL,
    "MD_READ_ONLY": MD_READ_ONLY,
    "MD_WRITE_ONLY": MD_WRITE_ONLY,
    "MD_REVOKED": MD_REVOKED,
    "TW_TOKEN": TW_TOKEN,
    "TW_REVOKED": "Qx81-tw2",
}

MD_WHO = "signed in as @kettlecrema@127.0.0.1"


def test_api_channels_report_each_direction_and_send_nothing(tmp_path: Path) -> None:
    apis = FakeApis()
    with serve(apis.handler) as url:
        code, lines = doctor(tmp_path, api_toml(url), **API_ENV)
    assert code == 1
    revoked_tg = "Telegram getMe: 401 Unauthorized (check the token)"
    revoked_mx = (
        "Matrix GET /_matrix/client/v3/account/whoami: 401 M_UNKNOWN_TOKEN "
        "Invalid access token passed. (check the token)"
    )
    revoked_md = (
        "Mastodon GET /api/v1/accounts/verify_credentials: 401 The access token is invalid "
        "(check the token)"
    )
    forbidden_md = (
        "Mastodon GET /api/v1/accounts/verify_credentials: 403 This action is outside the "
        "authorized scopes (check the token)"
    )
    other = "the token is @shop:hs.test's, not user_id @support:hs.test's"
    revoked_tw = "Twilio GET {ACTIVE}.json: 401 Authenticate (code 20003) (check the token)"
    assert lines == [
        "tg [telegram]: ok receive: bot @kettle_bot: updates by getUpdates (the first sync "
        "removes any webhook); privacy mode on: in groups only commands and replies to the "
        "bot arrive",
        "tg [telegram]: ok send: bot @kettle_bot: sendMessage to anyone who has written to "
        "it; nothing sent",
        f"tg-revoked [telegram]: FAIL receive: {revoked_tg}",
        f"tg-revoked [telegram]: FAIL send: {revoked_tg}",
        "mx [matrix]: ok receive: signed in as @shop:hs.test: /sync",
        "mx [matrix]: ok send: signed in as @shop:hs.test; the right to post is set per "
        "room (power levels) and not checked here; nothing sent",
        f"mx-other-user [matrix]: FAIL receive: {other}: the bot's own replies would come "
        "back as messages",
        f"mx-other-user [matrix]: FAIL send: {other}: replies would go out as @shop:hs.test",
        f"mx-revoked [matrix]: FAIL receive: {revoked_mx}",
        f"mx-revoked [matrix]: FAIL send: {revoked_mx}",
        f"md [mastodon]: ok receive: {MD_WHO}; token scopes read write",
        f"md [mastodon]: ok send: {MD_WHO}; token scopes read write; nothing sent",
        f"md-read-only [mastodon]: ok receive: {MD_WHO}; token scopes read",
        "md-read-only [mastodon]: FAIL send: the token lacks write:statuses (it has read): "
        "replies cannot be posted",
        f"md-write-only [mastodon]: FAIL receive: {forbidden_md}",
        f"md-write-only [mastodon]: FAIL send: {forbidden_md}",
        f"md-revoked [mastodon]: FAIL receive: {revoked_md}",
        f"md-revoked [mastodon]: FAIL send: {revoked_md}",
        "sms [twilio]: ok receive: account Kettle (active): reads Messages.json and Calls.json",
        f"sms [twilio]: ok send: from_number {NUMBER} is the account's and can send SMS; "
        "nothing sent",
        "sms-suspended [twilio]: FAIL receive: account Kettle is suspended, not active",
        "sms-suspended [twilio]: FAIL send: account Kettle is suspended, not active",
        "sms-not-ours [twilio]: ok receive: account Kettle (active): reads Messages.json and "
        "Calls.json",
        f"sms-not-ours [twilio]: FAIL send: from_number {NUMBER} is not a phone number of "
        "this account (IncomingPhoneNumbers): replies would be refused",
        f"sms-revoked [twilio]: FAIL receive: {revoked_tw.format(ACTIVE=ACTIVE)}",
        f"sms-revoked [twilio]: FAIL send: {revoked_tw.format(ACTIVE=ACTIVE)}",
    ]
    # Only reads: no sendMessage, no status posted, no SMS created.
    assert {r.method for r in apis.requests} <= {"GET", "POST"}
    posted = [r for r in apis.requests if r.method == "POST"]
    assert {r.url.path.rsplit("/", 1)[-1] for r in posted} == {"getMe"}


def test_a_server_that_does_not_show_token_scopes_gets_the_token_checked(
    tmp_path: Path,
) -> None:
    def mastodon_without_token_info(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/accounts/verify_credentials":
            return httpx.Response(200, json={"id": "7", "acct": "kettlecrema"})
        return httpx.Response(404, json={"error": "Record not found"})

    with serve(mastodon_without_token_info) as url:
        toml = f'[[accounts]]\nname = "md"\nkind = "mastodon"\napi_base = "{url}"\n'
        code, lines = doctor(tmp_path, toml + 'access_token_env = "MD"\n', MD="t0ken-md")
    unread = "the server does not show the token's scopes (GET /oauth/token/info), so"
    assert code == 0
    assert lines == [
        f"md [mastodon]: ok receive: {MD_WHO}; {unread} read:notifications is not checked",
        f"md [mastodon]: ok send: {MD_WHO}; {unread} write:statuses is not checked; nothing sent",
    ]


def test_a_twilio_messaging_service_must_exist(tmp_path: Path) -> None:
    seen: list[str] = []

    def twilio(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == f"/2010-04-01/Accounts/{ACTIVE}.json":
            return httpx.Response(
                200, json={"sid": ACTIVE, "friendly_name": "Kettle", "status": "active"}
            )
        if request.url.path == "/v1/Services/MG0001":
            return httpx.Response(200, json={"sid": "MG0001", "friendly_name": "Support"})
        return httpx.Response(
            404,
            json={
                "code": 20404,
                "message": f"The requested resource {request.url.path} was not found",
                "status": 404,
            },
        )

    with serve(twilio) as url:
        toml = "".join(
            f'[[accounts]]\nname = "{name}"\nkind = "twilio"\napi_base = "{url}"\n'
            f'account_sid = "{ACTIVE}"\nmessaging_service_sid = "{service}"\n'
            'auth_token_env = "TW"\ncalls = false\n'
            for name, service in (("sms", "MG0001"), ("sms-gone", "MG0002"))
        )
        code, lines = doctor(tmp_path, toml, TW=TW_TOKEN)
    assert code == 1
    assert lines == [
        "sms [twilio]: ok receive: account Kettle (active): reads Messages.json",
        "sms [twilio]: ok send: messaging service Support found; nothing sent",
        "sms-gone [twilio]: ok receive: account Kettle (active): reads Messages.json",
        "sms-gone [twilio]: FAIL send: messaging_service_sid MG0002 is not a messaging "
        "service of this account",
    ]
    assert all(line.startswith("GET ") for line in seen)


def test_check_lines_carry_no_token(tmp_path: Path) -> None:
    apis = FakeApis()
    with serve(apis.handler) as url:
        cfg = tmp_path / "config.toml"
        cfg.write_text(api_toml(url), encoding="utf-8")
        out = run(
            "--config",
            str(cfg),
            "--db",
            f"sqlite:///{tmp_path / 'd.sqlite'}",
            "doctor",
            env={"XDG_DATA_HOME": str(tmp_path / "d"), **API_ENV},
        )
    assert out.returncode == 1 and "FAIL" in out.stdout
    for secret in API_ENV.values():
        assert secret not in out.stdout + out.stderr, secret


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hi {{ customer.nmae }}", "unknown placeholder customer.nmae"),
        ("Hi {% if %}", "routing.acknowledge.text:1: template error"),
    ],
)
def test_an_acknowledgement_that_cannot_render_fails_doctor(
    tmp_path: Path, text: str, problem: str
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"[routing.acknowledge]\ntext = {text!r}\n".replace("'", '"'), encoding="utf-8")
    out = run(
        "--config",
        str(cfg),
        "--db",
        f"sqlite:///{tmp_path / 'd.sqlite'}",
        "doctor",
        env={"XDG_DATA_HOME": str(tmp_path / "d")},
    )
    assert out.returncode == 1, out.stdout + out.stderr
    failing = [line for line in out.stdout.splitlines() if "FAIL" in line]
    assert len(failing) == 1 and failing[0].startswith("routing.acknowledge.text: FAIL")
    assert problem in failing[0]

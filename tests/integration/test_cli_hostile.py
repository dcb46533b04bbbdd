"""The command line under hostile input: server text with terminal escapes, passwords
in database URLs, absurd durations and malformed URLs. Each ends in clean output or one
line on stderr and a non-zero exit, never a traceback and never a password."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from omnitui.demo import seed
from omnitui.desk.sla import MAX_DURATION, DurationTooLong, SLAConfigError, parse_duration
from omnitui.sanitize import for_terminal
from storage import open_store
from storage.engine import redact_secrets, redact_url
from tests.support.cli_run import run_in_process
from tests.support.fake_http import serve

#: Raw characters a terminal acts on or that reorder the line; never in our output.
RAW = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
PASSWORD = "hunter2-Secret"
TOKEN = "123456:TEST-token"


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text("", encoding="utf-8")
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "OMNITUI_CONFIG": str(cfg),
        "OMNITUI_TEST_TOKEN": TOKEN,
    }


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite'}"
    engine = open_store(url)
    seed(engine, now=datetime.now(UTC))
    engine.dispose()
    return url


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (asserting there is exactly one)."""
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("omnitui: ")
    return lines[0]


def config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "hostile.toml"
    path.write_text(text, encoding="utf-8")
    return {"OMNITUI_CONFIG": str(path)}


# -- finding 8: server text reaches the terminal escaped ------------------------------

BOT_NAME = "bot\x1b]0;DOC\x07\x9b2J\u202eevil"


def telegram(request: httpx.Request) -> httpx.Response:
    method = request.url.path.rsplit("/", 1)[1]
    if method == "getMe":
        return httpx.Response(200, json={"ok": True, "result": {"id": 1, "username": BOT_NAME}})
    if method == "deleteWebhook":
        return httpx.Response(200, json={"ok": True, "result": True})
    return httpx.Response(
        500, json={"ok": False, "error_code": 500, "description": "down\x1b[2J\x9d0;x\x07\u202e"}
    )


def twilio(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/IncomingPhoneNumbers.json"):
        ours = {"phone_number": "+15550001111", "capabilities": {"sms": True}}
        return httpx.Response(200, json={"incoming_phone_numbers": [ours]})
    return httpx.Response(
        200, json={"sid": "AC1", "friendly_name": "Shop\x1b]0;PWNED\x07\u202e", "status": "active"}
    )


def test_doctor_prints_a_bot_name_with_escapes_escaped(
    tmp_path: Path, home: dict[str, str]
) -> None:
    with serve(telegram) as tg, serve(twilio) as tw:
        env = home | config(
            tmp_path,
            f'[[accounts]]\nname = "tg"\nkind = "telegram"\napi_base = "{tg}"\n'
            'token_env = "OMNITUI_TEST_TOKEN"\n'
            f'[[accounts]]\nname = "sms"\nkind = "twilio"\napi_base = "{tw}"\n'
            'account_sid = "AC1"\nfrom_number = "+15550001111"\n'
            'auth_token_env = "OMNITUI_TEST_TOKEN"\n',
        )
        out = run_in_process("doctor", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert RAW.search(out.stdout + out.stderr) is None
    assert "tg [telegram]: ok receive: bot @bot\\x1b]0;DOC\\x07\\x9b2J\\u202eevil" in out.stdout
    assert "account Shop\\x1b]0;PWNED\\x07\\u202e (active)" in out.stdout


def test_sync_failure_quoting_the_server_is_escaped(tmp_path: Path, home: dict[str, str]) -> None:
    with serve(telegram) as tg:
        env = home | config(
            tmp_path,
            f'[[accounts]]\nname = "tg"\nkind = "telegram"\napi_base = "{tg}"\n'
            'token_env = "OMNITUI_TEST_TOKEN"\nlong_poll_seconds = 0\n',
        )
        out = run_in_process("sync", "--once", env=env)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and "tg" in out.stderr
    assert RAW.search(out.stdout + out.stderr) is None
    assert TOKEN not in out.stdout + out.stderr


def test_for_terminal_shows_every_control_and_keeps_text() -> None:
    assert for_terminal("a\x1b[31mb\x9bc\u202ed\u2028e\x7f\rf") == (
        "a\\x1b[31mb\\x9bc\\u202ed\\u2028e\\x7f\\x0df"
    )
    assert for_terminal("tab\there\nnext") == "tab\there\\x0anext"
    assert for_terminal("two\nlines", keep_newlines=True) == "two\nlines"
    assert for_terminal("田中 ☕ café") == "田中 ☕ café"


def test_error_lines_quoting_input_are_escaped(demo_db: str, home: dict[str, str]) -> None:
    line = one_line_error(
        run_in_process("--db", demo_db, "conv", "show", "C-1\x1b]0;x\x07\u202e", env=home)
    )
    assert RAW.search(line) is None


def test_warnings_logged_while_syncing_are_escaped() -> None:
    """Log lines (e.g. ``sync``'s "quarantined <external id>") go through the same
    escaping when no handler is configured."""
    script = (
        "import logging, sys\n"
        "from omnitui import cli\n"
        "sys.argv = ['omnitui', '--version']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "logging.getLogger('omnitui.sync').warning('quarantined %s', 'id\\x1b]0;x\\x07')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stderr == "quarantined id\\x1b]0;x\\x07\n"


# -- finding 9: no password in any message about a database URL -----------------------


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://root:{PASSWORD}@db.example/x",
        f"mysql://root:{PASSWORD}@db.example:bad/x",
        f"postgresql://u:{PASSWORD}@[::1/x",
        f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/x",
        f"postgresql+psycopg://u@127.0.0.1:1/x?password={PASSWORD}",
        f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/x?foo=bar",
        "postgresql+psycopg://u:hunter2%40x@127.0.0.1:1/x",
        f"sqlite+pysqlcipher://:{PASSWORD}@/x.db",
    ],
)
def test_database_url_errors_never_show_the_password(
    tmp_path: Path, home: dict[str, str], url: str
) -> None:
    out = run_in_process("--db", url, "export", env=home)
    line = one_line_error(out)
    assert PASSWORD not in out.stdout + out.stderr
    assert "hunter2@x" not in line and "hunter2%40x" not in line
    assert "***" in line


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://root:{PASSWORD}@db.example/x",
        f"postgresql://u:{PASSWORD}@[::1/x",
        f"postgresql+psycopg://u@127.0.0.1:1/x?password={PASSWORD}",
    ],
)
def test_storage_url_errors_in_the_config_never_show_the_password(
    tmp_path: Path, home: dict[str, str], url: str
) -> None:
    out = run_in_process("export", env=home | config(tmp_path, f'[storage]\nurl = "{url}"\n'))
    line = one_line_error(out)
    assert PASSWORD not in out.stdout + out.stderr
    assert "hunter2@x" not in line and "hunter2%40x" not in line
    assert "***" in line


def test_an_unusable_sqlite_path_is_one_line(tmp_path: Path, home: dict[str, str]) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x", encoding="utf-8")
    for url in (f"sqlite:///{not_a_dir}/x.db", f"sqlite:///{not_a_dir}", "nonsense", "://"):
        line = one_line_error(run_in_process("--db", url, "export", env=home))
        assert "database" in line
    assert not_a_dir.read_text(encoding="utf-8") == "x"


def test_doctor_shows_the_database_without_its_password(
    tmp_path: Path, home: dict[str, str]
) -> None:
    url = f"sqlite:///{tmp_path / 'd.sqlite'}?timeout=5&password={PASSWORD}"
    out = run_in_process("--db", url, "doctor", env=home)
    assert PASSWORD not in out.stdout + out.stderr
    # SQLite has no password: the argument is named, never ignored in silence.
    line = one_line_error(out)
    assert "d.sqlite?timeout=5&password=***" in line
    assert "takes no query arguments (got 'password', 'timeout')" in line


@pytest.mark.parametrize("query", ["mode=ro", "mode=ro&uri=true", "cache=shared"])
def test_an_sqlite_url_with_arguments_is_refused_and_opens_no_file(
    tmp_path: Path, home: dict[str, str], query: str
) -> None:
    """SQLite would drop ``?mode=ro`` and open the file writable, or with ``uri=true``
    open a new file named ``d.sqlite?mode=ro``: either way the user would not get what
    they asked for, so the URL is refused before anything is opened."""
    path = tmp_path / "d.sqlite"
    line = one_line_error(run_in_process("--db", f"sqlite:///{path}?{query}", "export", env=home))
    assert "an SQLite URL takes no query arguments" in line
    assert f"'{query.split('=')[0]}'" in line
    assert list(tmp_path.glob("d.sqlite*")) == []


def test_redaction_helpers() -> None:
    assert redact_url("mysql://root:p@ss@h/x") == "mysql://root:***@h/x"
    assert redact_url("postgresql://u@h/x?password=s3&a=1") == "postgresql://u@h/x?password=***&a=1"
    assert redact_url("sqlite:////tmp/a:b@c.db") == "sqlite:////tmp/a:b@c.db"
    assert redact_secrets("pwd is pw", "mysql://root:pw@h/x") == "pwd is ***"
    assert redact_secrets("for p@ss", "postgresql://u:p%40ss@h/x") == "for ***"


# -- finding 10: one line, never a traceback -------------------------------------------


def test_parse_duration_is_bounded() -> None:
    assert parse_duration("36525d") == MAX_DURATION
    for text in ("36526d", "99999999999d", "9" * 5000 + "s", "36525d1s"):
        with pytest.raises(DurationTooLong, match="at most 100 years"):
            parse_duration(text)
    started = time.perf_counter()
    with pytest.raises(SLAConfigError):
        parse_duration("1" * 100_000 + "x")
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("conv", "snooze", "C-1001", "99999999999d"), "at most 100 years"),
        (("conv", "snooze", "C-1001", "9999-12-31T23:59:59-14:00"), "at most 100 years"),
        (("conv", "due", "--within", "99999999999d"), "at most 100 years"),
        (("conv", "show", "C-99999999999999999999"), "no conversation"),
        (("conv", "resolve", "C-99999999999999999999"), "no conversation"),
        (("reply", "C-1001", "--body-file", "BAD_UTF8"), "not UTF-8"),
        (("reply", "C-1001", "--body-file", "/nonexistent/body.txt"), "No such file"),
        (("reply", "C-1001", "--body-file", ""), "--body-file"),
        (("export", "--since", "2024-13-45"), "--since"),
        (("export", "--customer", ""), "--customer"),
        (("customer", "show", "sms:"), "not an email address"),
    ],
)
def test_wrong_input_is_one_line(
    tmp_path: Path, demo_db: str, home: dict[str, str], args: tuple[str, ...], expected: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9 \xff\xfe")
    args = tuple(str(bad) if a == "BAD_UTF8" else a for a in args)
    line = one_line_error(run_in_process("--db", demo_db, *args, env=home))
    assert expected in line and len(line) < 1100


def test_a_pasted_page_is_one_short_line(demo_db: str, home: dict[str, str]) -> None:
    line = one_line_error(
        run_in_process("--db", demo_db, "conv", "show", "C-" + "9" * 100_000, env=home)
    )
    assert line.startswith("omnitui: no conversation") and len(line) <= 1010


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "0001-01-01", "9999-12-31"])
def test_export_since_at_the_ends_of_time(demo_db: str, home: dict[str, str], since: str) -> None:
    out = run_in_process("--db", demo_db, "export", "--since", since, env=home)
    assert out.returncode == 0 and not out.stderr, out.stderr
    assert bool(out.stdout) == since.startswith("0001")


@pytest.mark.parametrize(
    "command",
    ["quarantine show", "quarantine drop", "quarantine retry", "outbox retry", "outbox cancel"],
)
@pytest.mark.parametrize("item_id", ["99999999999999999999", "3000000000"])
def test_huge_ids_are_a_usage_error(
    demo_db: str, home: dict[str, str], command: str, item_id: str
) -> None:
    """Past PostgreSQL's ``integer`` (2**31 - 1) the driver would refuse the query."""
    out = run_in_process("--db", demo_db, *command.split(), item_id, env=home)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "item_id" in out.stderr.replace("ITEM_ID", "item_id")


@pytest.mark.parametrize(
    ("api_base", "problem"),
    [
        ("http://[::1", "Invalid port"),
        ("ftp://example.org", "not an http:// or https:// URL"),
        ("http:///path", "no host"),
        ("http://127.0.0.1:99999", "port 99999"),
        (f"https://bot:{PASSWORD}@example.org", "user name or password"),
    ],
)
@pytest.mark.parametrize("command", ["sync --once"])
def test_a_bad_api_base_is_one_line_naming_account_and_option(
    tmp_path: Path, demo_db: str, home: dict[str, str], api_base: str, problem: str, command: str
) -> None:
    env = home | config(
        tmp_path,
        f'[[accounts]]\nname = "shop-bot"\nkind = "telegram"\napi_base = "{api_base}"\n'
        'token_env = "OMNITUI_TEST_TOKEN"\n',
    )
    line = one_line_error(run_in_process("--db", demo_db, *command.split(), env=env))
    assert "hostile.toml:4: accounts[0].api_base: account 'shop-bot'" in line
    assert problem in line and PASSWORD not in line


@pytest.mark.parametrize("command", ["doctor", "export", "conv due"])
def test_every_command_checks_api_base(
    tmp_path: Path, demo_db: str, home: dict[str, str], command: str
) -> None:
    test_a_bad_api_base_is_one_line_naming_account_and_option(
        tmp_path, demo_db, home, "http://[::1", "Invalid port", command
    )


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[[sla.policies]]\nname = "x"\nfirst_response = "99999999999d"\n', "sla.policies[0]"),
        ('[routing.acknowledge]\ntext = "hi"\nmax_age = "99999999999d"\n', "max_age"),
        ('[routing.acknowledge]\ntext = "hi"\nper_sender = "99999999999d"\n', "per_sender"),
    ],
)
def test_absurd_durations_in_the_config_are_one_line(
    tmp_path: Path, demo_db: str, home: dict[str, str], toml: str, key: str
) -> None:
    line = one_line_error(
        run_in_process("--db", demo_db, "conv", "due", env=home | config(tmp_path, toml))
    )
    assert key in line and "at most 100 years" in line


def test_doctor_reports_an_absurd_warn_before(
    tmp_path: Path, demo_db: str, home: dict[str, str]
) -> None:
    env = home | config(tmp_path, '[notifications]\nwarn_before = "99999999999d"\n')
    out = run_in_process("--db", demo_db, "doctor", env=env)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "notifications: FAIL" in out.stdout and "at most 100 years" in out.stdout


def test_an_unexpected_error_is_one_line_without_its_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from omnitui import cli

    def explode() -> None:
        raise RuntimeError(f"customer text {PASSWORD}\x1b]0;x\x07")

    monkeypatch.setattr(logging, "lastResort", logging.lastResort)
    monkeypatch.setattr("omnitui.cli.export_command.load", explode)
    monkeypatch.setattr(sys, "argv", ["omnitui", "export"])
    monkeypatch.delenv("OMNITUI_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("omnitui: unexpected error: RuntimeError")
    assert PASSWORD not in err and "\x1b" not in err


def test_every_expected_failure_shares_one_base() -> None:
    """Each module's expected failure is an OmnituiError, so one that a command does
    not catch itself still reaches the user as its own one line, not "unexpected"."""
    from omnitui.config import ConfigError
    from omnitui.desk import DeskError, WorkflowError
    from omnitui.desk.customers import CustomerError
    from omnitui.desk.kb import KBError
    from omnitui.desk.outbox import OutboxRefused
    from omnitui.desk.routing import RoutingConfigError
    from omnitui.desk.sla import SLAConfigError
    from omnitui.desk.undo import UndoError
    from omnitui.errors import OmnituiError
    from omnitui.secrets import SecretError
    from omnitui.sync.attachments import SaveError

    for cls in (
        SaveError,
        ConfigError,
        CustomerError,
        DeskError,
        KBError,
        OutboxRefused,
        RoutingConfigError,
        SecretError,
        SLAConfigError,
        UndoError,
        WorkflowError,
    ):
        assert issubclass(cls, OmnituiError), cls

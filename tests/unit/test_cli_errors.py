"""Every expected failure of the command line is one line on stderr and a non-zero exit,
never a traceback: the commands' own checks, and what ``omnitui.cli.main`` does with a
failure no command caught (``OmnituiError`` and the lower layers' ``StoreError`` and
``AdapterError`` in their own words, anything else as "unexpected error")."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest
from sqlmodel import Session

from storage import open_store
from storage.models import Customer, Identity

ADDRESS = "ana@example.org"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty config, XDG dirs under ``tmp_path``, and a store with one customer;
    returns the store's URL."""
    cfg = tmp_path / "config.toml"
    cfg.write_text("", encoding="utf-8")
    monkeypatch.setenv("OMNITUI_CONFIG", str(cfg))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    for name in ("OMNITUI_DB", "OMNITUI_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(logging, "lastResort", logging.lastResort)
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    engine = open_store(url)
    with Session(engine) as s:
        customer = Customer(name="Ana")
        s.add(customer)
        s.flush()
        s.add(Identity(customer_id=customer.id, channel="email", address=ADDRESS))
        s.commit()
    engine.dispose()
    return url


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    stdin: str = "",
) -> tuple[int, str]:
    """``omnitui ARGS…`` in this process: its exit code and its stderr."""
    from omnitui.cli import main

    monkeypatch.setattr(sys, "argv", ["omnitui", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def one_line(code: int, err: str) -> str:
    """The single ``omnitui:`` line of a failure (asserting there is exactly one)."""
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("omnitui: "), err
    return lines[0]


def test_a_note_too_long_on_stdin_is_one_line(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bug of issue 13: 20,001 characters on stdin were a CustomerError traceback."""
    code, err = run(
        monkeypatch, capsys, "--db", env, "customer", "note", ADDRESS, "-", stdin="x" * 20_001
    )
    assert code == 1
    assert "notes are at most 20000 characters" in one_line(code, err)


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (("customer", "note", ADDRESS, "-"), "caf\udce9", "stdin is not UTF-8 text"),
        (("reply", "C-1", "--body-file", "-"), "caf\udce9", "stdin is not UTF-8 text"),
        (("customer", "note", ADDRESS, "caf\udce9"), "", "an argument is not UTF-8 text"),
        (("customer", "show", "nobody@example.org"), "", "no customer with address"),
        (("customer", "vip", "not an address"), "", "not an email address"),
        (("conv", "show", "C-9999"), "", "no conversation 'C-9999'"),
        (("reply", "C-9999", "--body-file", "/nonexistent/file"), "", "--body-file"),
        (("export", "--since", "yesterday-ish"), "", "--since"),
        (("conv", "due", "--within", "soon"), "", "--within"),
        (("outbox", "--state", "lost"), "", "--state"),
        (("kb", "list"), "", "no knowledge base"),
        (("sync", "--once", "--account", "nope"), "", "no account named 'nope'"),
    ],
)
def test_wrong_input_is_one_line(
    env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    stdin: str,
    expected: str,
) -> None:
    code, err = run(monkeypatch, capsys, "--db", env, *args, stdin=stdin)
    assert expected in one_line(code, err)


@pytest.mark.parametrize(
    ("db", "expected"),
    [
        ("nosuch://x", "unsupported backend"),
        ("sqlite:////nonexistent-dir/x.sqlite", "--db: /nonexistent-dir"),
    ],
)
def test_a_bad_database_url_is_one_line(
    env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    db: str,
    expected: str,
) -> None:
    code, err = run(monkeypatch, capsys, "--db", db, "export")
    assert expected in one_line(code, err)


def test_a_missing_config_file_is_one_line(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(monkeypatch, capsys, "--config", "/nonexistent/omnitui.toml", "export")
    assert "no such config file" in one_line(code, err)


def test_a_wrong_option_names_it_without_a_traceback(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(monkeypatch, capsys, "export", "--bogus")
    assert code == 2 and "Traceback" not in err
    assert "No such option: --bogus" in err


def _raise(exc: Exception):  # noqa: ANN202 - a stand-in for ``load``
    def load(**_: object) -> None:
        raise exc

    return load


def _uncaught() -> list[tuple[Exception, str]]:
    from adapters.base import AuthError
    from omnitui.errors import OmnituiError
    from storage.errors import StoreError

    return [
        (OmnituiError("the thing is wrong\nsecond line"), "omnitui: the thing is wrong"),
        (StoreError("cannot open database x: locked"), "omnitui: cannot open database x: locked"),
        (AuthError("telegram: the token was refused"), "omnitui: telegram: the token was refused"),
        (RuntimeError("customer text"), "omnitui: unexpected error: RuntimeError"),
    ]


@pytest.mark.parametrize(("exc", "expected"), _uncaught(), ids=lambda v: type(v).__name__)
def test_a_failure_no_command_caught_is_one_line(
    env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: Exception,
    expected: str,
) -> None:
    """Expected failures in their own words (first line only); a bug by its class
    and place, never its message."""
    monkeypatch.setattr("omnitui.cli.export_command.load", _raise(exc))
    code, err = run(monkeypatch, capsys, "export")
    assert code == 1
    line = one_line(code, err)
    assert line.startswith(expected)
    assert "second line" not in err and "customer text" not in err


def test_an_uncaught_store_error_hides_the_password(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from storage.errors import StoreError

    url = "postgresql+psycopg://u:s3cret-pw@db.example/x"
    monkeypatch.setattr("omnitui.cli.export_command.load", _raise(StoreError(f"cannot use {url}")))
    code, err = run(monkeypatch, capsys, "--db", url, "export")
    assert "s3cret-pw" not in one_line(code, err)

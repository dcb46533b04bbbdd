"""Secrets come from a command, the environment or the keyring, and are never echoed."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import NoKeyringError

from omnitui.config import AccountConfig, Config
from omnitui.secrets import (
    SecretError,
    check_keyring,
    describe_source,
    keyring_problem,
    resolve_secret,
    secret_target,
    store_secret,
)


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.data.pop((service, username), None)


class BrokenKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise NoKeyringError("no backend")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NoKeyringError("no backend")


@pytest.fixture
def memory() -> MemoryKeyring:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def acct(**settings: str) -> AccountConfig:
    return AccountConfig(name="mail", kind="email", settings=settings)


def test_command_first(memory: MemoryKeyring) -> None:
    memory.set_password("omnitui", "mail", "from-keyring")
    account = acct(password_command="printf 'from-command\\nsecond line'")
    assert resolve_secret(account) == "from-command"
    assert describe_source(account) == "command"


def test_failing_command_does_not_leak_stdout() -> None:
    account = acct(password_command="echo leaked-secret; echo oops >&2; exit 3")
    with pytest.raises(SecretError) as info:
        resolve_secret(account)
    assert "exited with 3" in str(info.value) and "oops" in str(info.value)
    assert "leaked-secret" not in str(info.value)


def test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_PW", "from-env")
    assert resolve_secret(acct(password_env="MAIL_PW")) == "from-env"
    assert describe_source(acct(password_env="MAIL_PW")) == "env MAIL_PW"
    monkeypatch.delenv("MAIL_PW")
    with pytest.raises(SecretError, match="MAIL_PW"):
        resolve_secret(acct(password_env="MAIL_PW"))


def test_keyring_by_account_and_field(memory: MemoryKeyring) -> None:
    store_secret("mail", "password", "pw")
    store_secret("mail", "token", "tk")
    assert memory.data == {("omnitui", "mail"): "pw", ("omnitui", "mail:token"): "tk"}
    assert resolve_secret(acct()) == "pw"
    assert resolve_secret(acct(), "token") == "tk"
    assert describe_source(acct(), "token") == "keyring omnitui/mail:token"


def test_missing_secret_says_how_to_add_it(memory: MemoryKeyring) -> None:
    with pytest.raises(SecretError) as info:
        resolve_secret(acct(), "token")
    assert "omnitui secrets set mail token" in str(info.value)


def test_no_keyring_backend_is_a_clear_error() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(BrokenKeyring())
    try:
        with pytest.raises(SecretError, match="keyring is unavailable"):
            resolve_secret(acct())
        with pytest.raises(SecretError, match="password_command"):
            store_secret("mail", "password", "x")
    finally:
        keyring.set_keyring(previous)


# -- `omnitui secrets set`: what is checked before the secret is asked for -------------


def config(**kinds: str) -> Config:
    return Config(
        path=Path("config.toml"),
        accounts=tuple(AccountConfig(name=name, kind=kind) for name, kind in kinds.items()),
    )


def test_secret_target_checks_account_and_field() -> None:
    cfg = config(**{"support-mail": "email", "shop-telegram": "telegram"})
    assert secret_target(cfg, "shop-telegram", None)[1] == "token"  # the kind's only one
    assert secret_target(cfg, "support-mail", "password")[1] == "password"
    with pytest.raises(SecretError, match=r"no secret 'password': its secret is 'token'"):
        secret_target(cfg, "shop-telegram", "password")
    with pytest.raises(SecretError, match=r"no account named 'shop-telgram'.*'shop-telegram'"):
        secret_target(cfg, "shop-telgram", "token")
    with pytest.raises(SecretError, match="has no \\[\\[accounts\\]\\]"):
        secret_target(config(), "support-mail", None)


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
def test_no_keyring_backend_is_said_before_asking(backend: type) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend())
    try:
        assert keyring_problem() is not None
        with pytest.raises(SecretError) as info:
            check_keyring(AccountConfig(name="shop-telegram", kind="telegram"), "token")
    finally:
        keyring.set_keyring(previous)
    message = str(info.value)
    assert "no OS keyring backend" in message and "\n" not in message
    assert "token_command" in message and "token_env" in message


def test_a_real_backend_is_usable(memory: MemoryKeyring) -> None:
    assert keyring_problem() is None
    check_keyring(AccountConfig(name="shop-telegram", kind="telegram"), "token")


# -- the command, as a user runs it ------------------------------------------------------

MEMORY_BACKEND = """\
import json, os
from keyring.backend import KeyringBackend
PATH = os.environ["MEMKR"]
class Mem(KeyringBackend):
    priority = 1
    def _load(self):
        return json.load(open(PATH)) if os.path.exists(PATH) else {}
    def get_password(self, s, u):
        return self._load().get(f"{s}/{u}")
    def set_password(self, s, u, p):
        d = self._load(); d[f"{s}/{u}"] = p; json.dump(d, open(PATH, "w"))
    def delete_password(self, s, u):
        pass
"""


@pytest.fixture
def user(tmp_path: Path) -> dict[str, str]:
    """A config with a Telegram and an email account; no keyring backend."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[[accounts]]\nname = "shop-telegram"\nkind = "telegram"\n\n'
        '[[accounts]]\nname = "support-mail"\nkind = "email"\nimap_host = "mail.example.com"\n'
        'username = "support"\naddress = "support@example.com"\n',
        encoding="utf-8",
    )
    return {
        "OMNITUI_CONFIG": str(cfg),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }


def refused_on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """Run ``omnitui ARGS`` with a terminal as stdin (where it would ask for the
    secret); its one stderr line. Nothing is typed: a prompt would wait forever."""
    import os
    import subprocess
    import sys

    controller, terminal = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "omnitui", *args],
            stdin=terminal,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=60,
            start_new_session=True,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == "" and done.stderr.startswith("omnitui: ")  # no prompt first
    (line,) = done.stderr.splitlines()
    return line


def test_set_refuses_an_unknown_account_before_asking(user: dict[str, str]) -> None:
    line = refused_on_a_terminal("secrets", "set", "shop-telgram", env=user)
    assert "no account named 'shop-telgram'" in line and "did you mean 'shop-telegram'" in line


def test_set_refuses_a_field_the_kind_does_not_have(user: dict[str, str]) -> None:
    line = refused_on_a_terminal("secrets", "set", "shop-telegram", "password", env=user)
    assert "has no secret 'password': its secret is 'token'" in line
    assert "omnitui secrets set shop-telegram token" in line


@pytest.mark.parametrize("backend", ["fail", "null"])
def test_set_says_there_is_no_keyring_before_asking(user: dict[str, str], backend: str) -> None:
    env = user | {"PYTHON_KEYRING_BACKEND": f"keyring.backends.{backend}.Keyring"}
    line = refused_on_a_terminal("secrets", "set", "support-mail", env=env)
    assert "no OS keyring backend" in line and "password_command" in line
    assert "password_env" in line


def test_set_stores_the_kinds_only_field(user: dict[str, str], tmp_path: Path) -> None:
    import json

    from tests.support.cli_run import run

    (tmp_path / "memkeyring.py").write_text(MEMORY_BACKEND, encoding="utf-8")
    env = user | {
        "PYTHONPATH": str(tmp_path),
        "PYTHON_KEYRING_BACKEND": "memkeyring.Mem",
        "MEMKR": str(tmp_path / "store.json"),
    }
    out = run("secrets", "set", "shop-telegram", stdin="123:bot-token\n", env=env)
    assert out.returncode == 0, out.stderr
    assert "stored token for shop-telegram" in out.stdout and "bot-token" not in out.stdout
    stored = json.loads((tmp_path / "store.json").read_text())
    assert stored == {"omnitui/shop-telegram:token": "123:bot-token"}

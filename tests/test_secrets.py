"""Secrets come from a command, the environment or the keyring, and are never echoed."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import NoKeyringError

from omnitui.config import AccountConfig
from omnitui.secrets import SecretError, describe_source, resolve_secret, store_secret


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

"""Account secrets from a command, the environment or the OS keyring — never from a file.

Order per field (``password`` unless a kind names others): ``<field>_command`` (like
mbsync's PassCmd), then ``<field>_env``, then the keyring (service ``omnitui``,
username ``<account>`` for the password, ``<account>:<field>`` otherwise).
Values are never logged, cached on disk or put in error messages.
"""

from __future__ import annotations

import os
import subprocess

from omnitui.config import AccountConfig

SERVICE = "omnitui"
COMMAND_TIMEOUT = 30


class SecretError(Exception):
    """A secret could not be found or read; the message says how to provide it."""


def keyring_username(account: str, field: str = "password") -> str:
    """The keyring username of an account's field."""
    return account if field == "password" else f"{account}:{field}"


def _how(account: str, field: str) -> str:
    arg = "" if field == "password" else f" {field}"
    return (
        f"run `omnitui secrets set {account}{arg}`, or set {field}_command or "
        f"{field}_env in the account's config"
    )


def describe_source(account: AccountConfig, field: str = "password") -> str:
    """Where this field's secret comes from, for ``omnitui doctor`` (never the value)."""
    if account.get(f"{field}_command"):
        return "command"
    if account.get(f"{field}_env"):
        return f"env {account.get(f'{field}_env')}"
    return f"keyring {SERVICE}/{keyring_username(account.name, field)}"


def resolve_secret(account: AccountConfig, field: str = "password") -> str:
    """The secret ``field`` of ``account``; raises :class:`SecretError` with a hint."""
    command = account.get(f"{field}_command")
    if command:
        try:
            done = subprocess.run(
                str(command),
                shell=True,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise SecretError(
                f"{account.name}: {field}_command did not finish within {COMMAND_TIMEOUT}s"
            ) from None
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or [""])[0][:200]
            raise SecretError(
                f"{account.name}: {field}_command exited with "
                f"{done.returncode}" + (f": {first}" if first else "")
            )
        value = (done.stdout.splitlines() or [""])[0].strip()
        if not value:
            raise SecretError(f"{account.name}: {field}_command printed nothing")
        return value
    env_name = account.get(f"{field}_env")
    if env_name:
        value = os.environ.get(str(env_name), "")
        if not value:
            raise SecretError(
                f"{account.name}: environment variable {env_name} ({field}_env) is not set"
            )
        return value
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            value = keyring.get_password(SERVICE, keyring_username(account.name, field))
        except KeyringError as exc:
            raise SecretError(
                f"{account.name}: the OS keyring is unavailable ({exc}); "
                f"set {field}_command or {field}_env instead"
            ) from None
    except ImportError:  # pragma: no cover - keyring is a dependency
        raise SecretError(
            f"{account.name}: keyring is not installed; " + _how(account.name, field)
        ) from None
    if not value:
        raise SecretError(
            f"{account.name}: no {field} in the keyring; " + _how(account.name, field)
        )
    return value


def store_secret(account_name: str, field: str, value: str) -> None:
    """Put a secret in the OS keyring."""
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(SERVICE, keyring_username(account_name, field), value)
    except KeyringError as exc:
        raise SecretError(
            f"cannot store in the OS keyring ({exc}); set {field}_command or {field}_env "
            "in the account's config instead"
        ) from None

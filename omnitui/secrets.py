"""Account secrets from a command, the environment or the OS keyring — never from a file.

Order per field (``password`` unless a kind names others): ``<field>_command`` (like
mbsync's PassCmd), then ``<field>_env``, then the keyring (service ``omnitui``,
username ``<account>`` for the password, ``<account>:<field>`` otherwise).
Values are never logged, cached on disk or put in error messages.
"""

from __future__ import annotations

import os
import subprocess

from omnitui.config import AccountConfig, Config
from omnitui.errors import OmnituiError

SERVICE = "omnitui"
COMMAND_TIMEOUT = 30


class SecretError(OmnituiError):
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
            stored = keyring.get_password(SERVICE, keyring_username(account.name, field))
        except KeyringError as exc:
            raise SecretError(
                f"{account.name}: the OS keyring is unavailable ({exc}); "
                f"set {field}_command or {field}_env instead"
            ) from None
    except ImportError:  # pragma: no cover - keyring is a dependency
        raise SecretError(
            f"{account.name}: keyring is not installed; " + _how(account.name, field)
        ) from None
    if not stored:
        raise SecretError(
            f"{account.name}: no {field} in the keyring; " + _how(account.name, field)
        )
    return stored


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


def secret_fields(kind: str) -> tuple[str, ...] | None:
    """The secret fields of an account kind (``password`` when its adapter names none);
    None when no installed adapter provides the kind."""
    from omnitui.config.schema import KIND_SECRETS

    if kind in KIND_SECRETS:
        return KIND_SECRETS[kind]
    from adapters import registry

    spec = registry.spec(kind)
    return None if spec is None else tuple(spec.secret_fields)


def secret_target(
    config: Config, account: str, field: str | None = None
) -> tuple[AccountConfig, str]:
    """The account and field ``omnitui secrets set ACCOUNT [FIELD]`` is about, checked
    before anything is asked: the account is in the config and the field is one of its
    kind's secrets (left out: the kind's only one). Raises :class:`SecretError`."""
    from omnitui.config.schema import suggest

    found = next((a for a in config.accounts if a.name == account), None)
    if found is None:
        names = [a.name for a in config.accounts]
        if not names:
            raise SecretError(
                f"no account named {account!r}: {config.path} has no [[accounts]] "
                "(add one, or write a config with `omnitui init`)"
            )
        hint = suggest(account, names)
        raise SecretError(f"no account named {account!r} in {config.path} {hint}")
    fields = secret_fields(found.kind)
    if fields is None:
        raise SecretError(
            f"{account}: no adapter is installed for kind {found.kind!r}, so its secrets "
            "are unknown"
        )
    quoted = ", ".join(repr(f) for f in fields)
    if field is None:
        if len(fields) == 1:
            return found, fields[0]
        raise SecretError(f"{account} ({found.kind}) has several secrets: name one of {quoted}")
    if field not in fields:
        which = "its secret is" if len(fields) == 1 else "its secrets are"
        raise SecretError(
            f"{account} ({found.kind}) has no secret {field!r}: {which} {quoted} "
            f"(omnitui secrets set {account} {fields[0]})"
        )
    return found, field


def keyring_problem() -> str | None:
    """Why the OS keyring cannot keep a secret here (keyring's ``fail`` and ``null``
    backends, or a chain of none), or None when it can."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
        empty = isinstance(backend, chainer.ChainerBackend) and not backend.backends
    except Exception as exc:  # noqa: BLE001 - a broken keyring set-up is "none" too
        return f"the OS keyring cannot be set up ({type(exc).__name__})"
    if empty or isinstance(backend, fail.Keyring | null.Keyring):
        name = f"{type(backend).__module__}.{type(backend).__qualname__}"
        return f"no OS keyring backend is available here (keyring has only {name})"
    return None


def check_keyring(account: AccountConfig, field: str) -> None:
    """Raise :class:`SecretError` (one line, with the alternatives) when the OS keyring
    cannot store ``account``'s ``field``."""
    problem = keyring_problem()
    if problem:
        raise SecretError(
            f"{account.name}: {problem}; set {field}_command (a command that prints it) "
            f'or {field}_env (an environment variable) in [[accounts]] "{account.name}" '
            "instead"
        )

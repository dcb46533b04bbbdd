"""The config file (TOML): read with tomllib, checked, and turned into frozen dataclasses.

Every error is one line naming the file, the line and the key, and never echoes a secret.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOP_LEVEL = {"storage", "accounts", "sla", "kb", "keys", "agent", "ui", "routing", "notifications"}
SECRET_KEYS = {
    "password",
    "token",
    "access_token",
    "auth_token",
    "api_key",
    "secret",
    "bot_token",
    "api_secret",
    "client_secret",
}
SECURITY = ("tls", "starttls", "plain")
NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")


class ConfigError(Exception):
    """A config problem, as one line: ``FILE:LINE: KEY: what is wrong``."""


@dataclass(frozen=True)
class AccountConfig:
    """One ``[[accounts]]`` table: name, kind, poll interval and the kind's settings."""

    name: str
    kind: str
    poll_seconds: int = 60
    settings: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        """A setting of this account."""
        return self.settings.get(key, default)


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    path: Path | None = None
    storage_url: str | None = None
    accounts: tuple[AccountConfig, ...] = ()
    sla: Mapping[str, Any] = field(default_factory=dict)
    kb_dir: Path | None = None
    keys: Mapping[str, str] = field(default_factory=dict)
    agent_name: str = "me"
    display_timezone: str | None = None
    ui: Mapping[str, Any] = field(default_factory=dict)
    routing: Mapping[str, Any] = field(default_factory=dict)
    notifications: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Config:
        """No file, no accounts: the defaults."""
        return cls()


class _Lines:
    """Finds the line of a key in the raw text (tomllib reports none)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.account_starts = [
            i + 1 for i, ln in enumerate(self.lines) if ln.strip().startswith("[[accounts]]")
        ]

    def table(self, header: str) -> int:
        for i, ln in enumerate(self.lines):
            if ln.strip().replace(" ", "") == f"[{header}]":
                return i + 1
        return 0

    def key(self, key: str, *, start: int = 0, end: int | None = None) -> int:
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        stop = end if end is not None else len(self.lines)
        for i in range(max(start - 1, 0), stop):
            if pattern.match(self.lines[i]):
                return i + 1
        return start

    def account(self, index: int) -> tuple[int, int | None]:
        if index < len(self.account_starts):
            start = self.account_starts[index]
            nxt = (
                self.account_starts[index + 1] - 1 if index + 1 < len(self.account_starts) else None
            )
            # A following [table] also ends the account table.
            stop = nxt if nxt is not None else len(self.lines)
            for i in range(start, stop):
                s = self.lines[i].strip()
                if s.startswith("[") and not s.startswith("[[accounts]]"):
                    stop = i
                    break
            return start, stop
        return 0, None


def _where(path: Path, line: int) -> str:
    return f"{path}:{line}" if line else str(path)


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _find_secret(data: Any, prefix: str = "") -> str | None:
    """The dotted path of the first literal secret anywhere in the document."""
    if isinstance(data, dict):
        for key, value in data.items():
            dotted = f"{prefix}.{key}" if prefix else key
            if key in SECRET_KEYS and isinstance(value, str | int):
                return dotted
            found = _find_secret(value, dotted)
            if found:
                return found
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found = _find_secret(item, f"{prefix}[{i}]")
            if found:
                return found
    return None


def load_config(path: Path, *, required: bool = False) -> Config:
    """Read and check the config at ``path``.

    A missing file is an empty config unless the user named it (``required``).
    """
    path = Path(path).expanduser()
    if not path.exists():
        if required:
            raise ConfigError(f"{path}: no such config file")
        return Config(path=path)
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if match:
            reason = msg[: match.start()].strip()
            raise ConfigError(
                f"{path}:{match.group(1)}: TOML syntax: {reason} (column {match.group(2)})"
            ) from None
        raise ConfigError(f"{path}: TOML syntax: {msg}") from None
    lines = _Lines(raw)
    return _parse(path, data, lines)


def _parse(path: Path, data: dict[str, Any], lines: _Lines) -> Config:
    unknown = sorted(set(data) - TOP_LEVEL)
    if unknown:
        key = unknown[0]
        line = lines.table(key) or lines.key(key)
        raise ConfigError(
            f"{_where(path, line)}: {key}: unknown setting "
            f"(known tables: {', '.join(sorted(TOP_LEVEL))})"
        )
    secret = _find_secret(data)
    if secret:
        leaf = re.split(r"[.\[]", secret)[-1].rstrip("]")
        account_idx = re.match(r"accounts\[(\d+)\]", secret)
        if account_idx:
            start, end = lines.account(int(account_idx.group(1)))
            line = lines.key(leaf, start=start, end=end)
            acct = data["accounts"][int(account_idx.group(1))]
            name = acct.get("name", "ACCOUNT") if isinstance(acct, dict) else "ACCOUNT"
        else:
            line = lines.key(leaf)
            name = "ACCOUNT"
        field_arg = "" if leaf == "password" else f" {leaf}"
        raise ConfigError(
            f"{_where(path, line)}: {secret}: secrets are not allowed in the config file; "
            f"store it in the keyring with `omnitui secrets set {name}{field_arg}`, or set "
            f"{leaf}_command (a command that prints it) or {leaf}_env (an environment variable)"
        )

    def table(key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{_where(path, lines.key(key))}: {key}: expected a table [{key}]")
        return value

    storage = table("storage")
    url = storage.get("url")
    if url is not None and (not isinstance(url, str) or not url.strip()):
        raise ConfigError(
            f"{_where(path, lines.key('url'))}: storage.url: expected a database URL string"
        )
    agent = table("agent")
    ui = table("ui")
    keys = table("keys")
    for key, value in keys.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"{_where(path, lines.key(key, start=lines.table('keys')))}: keys.{key}: "
                'expected a key string like "j,down"'
            )
    tz = ui.get("timezone")
    if tz is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{_where(path, lines.key('timezone'))}: ui.timezone: unknown "
                f"time zone {tz!r} (use an IANA name like Europe/Berlin)"
            ) from None
    kb = table("kb")
    kb_dir = Path(str(kb["dir"])).expanduser() if kb.get("dir") else None
    if kb_dir is not None and not kb_dir.is_absolute():
        kb_dir = (path.parent / kb_dir).resolve()
    accounts = _accounts(path, data.get("accounts", []), lines)
    return Config(
        path=path,
        storage_url=url,
        accounts=accounts,
        sla=table("sla"),
        kb_dir=kb_dir,
        keys={k: str(v) for k, v in keys.items()},
        agent_name=str(agent.get("name", "me")),
        display_timezone=str(tz) if tz else None,
        ui=ui,
        routing=table("routing"),
        notifications=table("notifications"),
    )


def _accounts(path: Path, raw: Any, lines: _Lines) -> tuple[AccountConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError(
            f"{_where(path, lines.key('accounts'))}: accounts: use [[accounts]] "
            "tables, one per account"
        )
    seen: dict[str, int] = {}
    out = []
    for i, acct in enumerate(raw):
        start, end = lines.account(i)
        label = f"accounts[{i}]"

        def err(
            key: str, message: str, *, _s: int = start, _e: int | None = end, _l: str = label
        ) -> ConfigError:
            line = lines.key(key, start=_s, end=_e) if key else _s
            return ConfigError(
                f"{_where(path, line)}: {_l}.{key}: {message}"
                if key
                else f"{_where(path, line)}: {_l}: {message}"
            )

        if not isinstance(acct, dict):
            raise err("", "expected a table")
        name = acct.get("name")
        if not isinstance(name, str) or not name:
            raise err("", "every account needs a name")
        if not NAME_RE.match(name):
            raise err("name", f"{name!r}: use letters, digits, '.', '_' or '-'")
        if name in seen:
            raise err("name", f"{name!r} is already used by the account on line {seen[name]}")
        seen[name] = lines.key("name", start=start, end=end)
        kind = acct.get("kind")
        if not isinstance(kind, str) or not kind:
            raise (
                err("kind", "missing: email, telegram, matrix, mastodon, twilio or a plugin kind")
                if "kind" in acct
                else err("", f"{name}: every account needs a kind")
            )
        poll = acct.get("poll_seconds", 60)
        if isinstance(poll, bool) or not isinstance(poll, int) or poll <= 0:
            raise err("poll_seconds", f"expected a whole number of seconds, got {poll!r}")
        for key, value in acct.items():
            if key.endswith("_port") and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535
            ):
                raise err(key, f"expected a port number 1-65535, got {value!r}")
            if (key.endswith("_command") or key.endswith("_env")) and (
                not isinstance(value, str) or not value.strip()
            ):
                raise err(key, "expected a non-empty string")
        if kind == "email":
            _check_email(acct, err)
        if "api_base" in acct:
            _check_api_base(name, acct["api_base"], err)
        settings = {k: v for k, v in acct.items() if k not in ("name", "kind", "poll_seconds")}
        if kind == "email":
            settings.setdefault("folders", ["INBOX"])
            settings.setdefault("sent_folder", "Sent")
        out.append(
            AccountConfig(name=name, kind=kind, poll_seconds=poll, settings=settings, line=start)
        )
    return tuple(out)


def _check_email(acct: dict[str, Any], err: Any) -> None:
    for key in ("imap_host", "username", "address"):
        if not isinstance(acct.get(key), str) or not acct[key].strip():
            raise err(key if key in acct else "", f"an email account needs {key}")
    for proto in ("imap", "smtp"):
        security = acct.get(f"{proto}_security", "tls")
        if security not in SECURITY:
            raise err(
                f"{proto}_security", f"expected one of {', '.join(SECURITY)}, got {security!r}"
            )
        host = acct.get(f"{proto}_host", acct.get("imap_host") if proto == "smtp" else None)
        if security == "plain" and host and not _is_loopback(str(host)):
            raise err(
                f"{proto}_security",
                f"'plain' sends the password unencrypted; it is "
                f"only allowed to a loopback host, not {host!r} (use tls or starttls)",
            )
    folders = acct.get("folders", ["INBOX"])
    if not isinstance(folders, list) or not all(isinstance(f, str) and f for f in folders):
        raise err("folders", 'expected a list of folder names, e.g. ["INBOX"]')
    sent = acct.get("sent_folder", "Sent")
    if not isinstance(sent, str) or not sent:
        raise err("sent_folder", "expected a folder name")


_USERINFO = re.compile(r"//[^/?#]*@")


def _check_api_base(name: str, value: Any, err: Any) -> None:
    """``api_base`` is an ``http(s)://host[:port][/path]`` URL httpx can use: no user
    name or password (secrets go in the keyring), query or fragment."""
    if not isinstance(value, str) or not value.strip():
        raise err("api_base", f"account {name!r}: expected the server's URL, e.g. https://…")
    import httpx

    shown = _USERINFO.sub("//***@", value.strip())[:120]
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        problem = (str(exc).splitlines() or ["not a URL"])[0][:80]
    else:
        if url.scheme not in ("http", "https"):
            problem = "not an http:// or https:// URL"
        elif not url.host:
            problem = "no host"
        elif url.port is not None and not 1 <= url.port <= 65535:
            problem = f"port {url.port} is not 1-65535"
        elif url.userinfo:
            problem = "a user name or password in the URL (secrets go in the keyring)"
        elif url.query or url.fragment:
            problem = "a query or fragment"
        else:
            return
    raise err("api_base", f"account {name!r}: {shown!r} is not a usable URL: {problem}")

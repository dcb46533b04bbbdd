"""The config file (TOML): read with tomllib, checked, and turned into frozen dataclasses.

Strict: a table or key the code does not read is an error with the closest valid name
(``omnitui/config/schema.py``), and so is a ``[keys]`` binding that would hide another
action's key. Every error is one line naming the file, the line and the key, and never
echoes a secret: ``config.toml:12: unknown key 'imap_hots' in [[accounts]]
"support-mail" (email) (did you mean 'imap_host'?)``.
"""

from __future__ import annotations

import getpass
import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnitui.config.assignment import Assignment, assignment_from_config
from omnitui.config.csat import Csat, csat_from_config
from omnitui.config.lines import TomlLines
from omnitui.config.schema import Problem, check_names
from omnitui.errors import OmnituiError

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


class ConfigError(OmnituiError):
    """A config problem, as one line: ``FILE:LINE: KEY: what is wrong``."""


def login_name() -> str:
    """The user's login name (the agent's name when ``[agent] name`` is not set)."""
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no $USER and no passwd entry (a bare container)
        name = ""
    name = " ".join(name.split())
    return name or "agent"


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
    #: ``[keys]``: action id → comma-separated keys, spaces removed.
    keys: Mapping[str, str] = field(default_factory=dict)
    agent_name: str = field(default_factory=login_name)
    display_timezone: str | None = None
    ui: Mapping[str, Any] = field(default_factory=dict)
    routing: Mapping[str, Any] = field(default_factory=dict)
    notifications: Mapping[str, Any] = field(default_factory=dict)
    #: ``[csat]``: satisfaction surveys after a resolution.
    csat: Csat = field(default_factory=Csat)
    #: ``[assignment]``: auto-assignment of new conversations (off by default).
    assignment: Assignment = field(default_factory=Assignment)
    #: Lines of ``[storage] url`` and of each ``[keys]`` entry, for later checks.
    storage_url_line: int = 0
    key_lines: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Config:
        """No file, no accounts: the defaults."""
        return cls()


def _where(path: Path, line: int) -> str:
    return f"{path}:{line}" if line else str(path)


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _find_secret(data: Any, prefix: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The key path of the first literal secret anywhere in the document."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in SECRET_KEYS and isinstance(value, str | int):
                return (*prefix, key)
            found = _find_secret(value, (*prefix, key))
            if found:
                return found
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found = _find_secret(item, (*prefix, i))
            if found:
                return found
    return None


def _dotted(path: tuple[str | int, ...]) -> str:
    """``("accounts", 0, "token")`` → ``accounts[0].token``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


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
    lines = TomlLines(raw)
    try:
        return _parse(path, data, lines)
    except Problem as problem:
        raise ConfigError(f"{_where(path, lines.line(problem.path))}: {problem.message}") from None


def check_key_names(config: Config) -> None:
    """Raise :class:`ConfigError` for a ``[keys]`` entry Textual does not know as a key
    (the console and ``omnitui doctor`` call it)."""
    if not config.keys:
        return
    from omnitui.config.keys import check_key_names as check

    try:
        check(config.keys)
    except Problem as problem:
        line = config.key_lines.get(str(problem.path[-1]), 0)
        raise ConfigError(f"{_where(config.path or Path('config'), line)}: {problem}") from None


def sqlite_dir_problem(url: str) -> str | None:
    """What is wrong with the directory of an SQLite database URL (it must exist: a
    mistyped path must not become a new empty store), or None (also for other
    databases, and for URLs the store will report on itself)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        return None
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database:
        return None
    if database == ":memory:" or database.startswith("file:"):
        return None
    folder = Path(database).expanduser().parent
    if folder.is_dir():
        return None
    what = "is not a directory" if folder.exists() else "does not exist"
    return (
        f"{folder}, the directory of the SQLite database, {what} (create it first, or fix "
        "the path: a new store is made only in an existing directory)"
    )


def _parse(path: Path, data: dict[str, Any], lines: TomlLines) -> Config:
    secret = _find_secret(data)
    if secret:
        leaf = str(secret[-1])
        account_name = "ACCOUNT"
        if secret[0] == "accounts" and isinstance(secret[1], int):
            acct = data["accounts"][secret[1]]
            account_name = acct.get("name", "ACCOUNT") if isinstance(acct, dict) else "ACCOUNT"
        field_arg = "" if leaf == "password" else f" {leaf}"
        raise Problem(
            secret,
            f"{_dotted(secret)}: secrets are not allowed in the config file; "
            f"store it in the keyring with `omnitui secrets set {account_name}{field_arg}`, or set "
            f"{leaf}_command (a command that prints it) or {leaf}_env (an environment variable)",
        )
    check_names(data)

    def table(key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise Problem((key,), f"{key}: expected a table [{key}]")
        return value

    storage = table("storage")
    url = storage.get("url")
    if url is not None and (not isinstance(url, str) or not url.strip()):
        raise Problem(("storage", "url"), "storage.url: expected a database URL string")
    agent = table("agent")
    name = agent.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise Problem(("agent", "name"), "agent.name: expected your name as a string")
    ui = table("ui")
    keys = table("keys")
    if keys:
        from omnitui.config.keys import check_keys

        keys = check_keys(keys)
    tz = ui.get("timezone")
    if tz is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise Problem(
                ("ui", "timezone"),
                f"ui.timezone: unknown time zone {tz!r} (use an IANA name like Europe/Berlin)",
            ) from None
    kb = table("kb")
    kb_dir = Path(str(kb["dir"])).expanduser() if kb.get("dir") else None
    if kb_dir is not None and not kb_dir.is_absolute():
        kb_dir = (path.parent / kb_dir).resolve()
    accounts = _accounts(data.get("accounts", []), lines)
    return Config(
        path=path,
        storage_url=url,
        accounts=accounts,
        sla=table("sla"),
        kb_dir=kb_dir,
        keys=keys,
        agent_name=name.strip() if name is not None else login_name(),
        display_timezone=str(tz) if tz else None,
        ui=ui,
        routing=table("routing"),
        notifications=table("notifications"),
        csat=csat_from_config(table("csat")),
        assignment=assignment_from_config(table("assignment")),
        storage_url_line=lines.line(("storage", "url")) if url else 0,
        key_lines={k: lines.line(("keys", k)) for k in keys},
    )


def _accounts(raw: Any, lines: TomlLines) -> tuple[AccountConfig, ...]:
    if not isinstance(raw, list):
        raise Problem(("accounts",), "accounts: use [[accounts]] tables, one per account")
    seen: dict[str, int] = {}
    out = []
    for i, acct in enumerate(raw):
        label = f"accounts[{i}]"

        def err(key: str, message: str, *, _i: int = i, _l: str = label) -> Problem:
            where: tuple[str | int, ...] = ("accounts", _i, key) if key else ("accounts", _i)
            return Problem(where, f"{_l}.{key}: {message}" if key else f"{_l}: {message}")

        if not isinstance(acct, dict):
            raise err("", "expected a table")
        name = acct.get("name")
        if not isinstance(name, str) or not name:
            raise err("", "every account needs a name")
        if not NAME_RE.match(name):
            raise err("name", f"{name!r}: use letters, digits, '.', '_' or '-'")
        if name in seen:
            raise err("name", f"{name!r} is already used by the account on line {seen[name]}")
        seen[name] = lines.line(("accounts", i, "name"))
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
            AccountConfig(
                name=name,
                kind=kind,
                poll_seconds=poll,
                settings=settings,
                line=lines.line(("accounts", i)),
            )
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

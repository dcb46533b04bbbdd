"""Every table and key the code reads from the config, so that anything else is an error
with the closest valid name (a typo never silently turns a setting off).

Adding a setting means adding its name here (and to ``config.example.toml``);
``tests/integration/test_config_strict.py`` checks that every setting an adapter reads is listed.

Accounts of a built-in kind are checked against that kind's settings and its secret
fields' ``<field>_command`` / ``<field>_env``. A plugin kind (from the
``omnitui.adapters`` entry points) is checked only for the keys every account has:
omnitui cannot know what its module reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from omnitui.config.lines import Path


class Problem(Exception):
    """One config problem: where (a key path) and what, without file or line."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


#: ``None``: a value of any shape; a dict: a table with these keys; a one-item list: an
#: array of tables (``[[…]]``) whose items have these keys.
Spec = dict[str, Any] | list[Any] | None

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: ``omnitui.desk.sla``'s and ``omnitui.desk.routing``'s names (a test keeps them in step).
SLA_MATCH_KEYS = ("channel", "priority", "vip", "tag", "account")
ROUTING_MATCH_KEYS = ("channel", "account", "vip", "tag", "priority", "from", "subject", "text")
ROUTING_RULE_KEYS = ("name", "match", "set_priority", "add_tags", "assign", "stop")


def _table(*keys: str, **nested: Spec) -> dict[str, Spec]:
    return {**dict.fromkeys(keys), **nested}


SCHEMA: dict[str, Spec] = {
    "storage": _table("url"),
    "agent": _table("name"),
    "ui": _table("timezone"),
    "kb": _table("dir"),
    "notifications": _table("warn_before", "bell", "desktop"),
    # [csat.channels] holds channel names (checked in omnitui/config/csat.py).
    "csat": _table("enabled", "text", "every_days", "answer_days", channels=None),
    # Checked in omnitui/config/assignment.py.
    "assignment": _table("strategy", "away_after", "vip_agents", "skip_channels"),
    "routing": _table(
        "vip_priority",
        rules=[_table(*ROUTING_RULE_KEYS, match=_table(*ROUTING_MATCH_KEYS))],
        acknowledge=_table("channels", "text", "max_age", "per_sender"),
    ),
    "sla": _table(
        "timezone",
        "holidays",
        "closed_dates",
        hours=_table(*DAYS, *(d[:3] for d in DAYS)),
        policies=[
            _table(
                "name",
                "first_response",
                "next_response",
                "resolution",
                "business_hours",
                match=_table(*SLA_MATCH_KEYS),
            )
        ],
    ),
    # Checked by their own rules: every [[accounts]] by its kind (below), [keys] against
    # the console's action ids (omnitui/config/keys.py).
    "accounts": None,
    "keys": None,
}
TOP_LEVEL = tuple(SCHEMA)
#: ``omnitui.desk.sla`` reads day names in any case.
DAY_TABLE = ("sla", "hours")

#: What every account has, whatever its kind.
ACCOUNT_COMMON = ("name", "kind", "poll_seconds")
#: The limits every HTTP API account reads (adapters/http_api.py).
API_SETTINGS = (
    "api_base",
    "timeout_seconds",
    "max_response_bytes",
    "max_item_bytes",
    "max_attachment_bytes",
    "attachment_timeout_seconds",
)
#: The settings each built-in kind's adapter reads.
KIND_SETTINGS: dict[str, tuple[str, ...]] = {
    "email": (
        "imap_host",
        "imap_port",
        "imap_security",
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "username",
        "address",
        "folders",
        "sent_folder",
        "quote",
        "since",
        "batch",
        "timeout_seconds",
        "smtp_timeout_seconds",
        "max_message_bytes",
        "step_bytes",
        "connect_deadline_seconds",
        "imap_deadline_seconds",
        "smtp_deadline_seconds",
    ),
    "telegram": (*API_SETTINGS, "long_poll_seconds"),
    "matrix": (
        *API_SETTINGS,
        "user_id",
        "long_poll_seconds",
        "timeline_limit",
        "rooms",
        "bridge_servers",
    ),
    "mastodon": API_SETTINGS,
    "twilio": (*API_SETTINGS, "account_sid", "from_number", "messaging_service_sid", "calls"),
    "whatsapp": (*API_SETTINGS, "account_sid", "from_number", "templates"),
    "messenger": (*API_SETTINGS, "page_id", "human_agent"),
    "instagram": (*API_SETTINGS, "page_id", "human_agent"),
    "wechat": (*API_SETTINGS, "corp_id", "open_kfid", "poll_seconds"),
}
#: Each built-in kind's secret fields (the adapters' ``secret_fields``).
KIND_SECRETS: dict[str, tuple[str, ...]] = {
    "email": ("password",),
    "telegram": ("token",),
    "matrix": ("access_token",),
    "mastodon": ("access_token",),
    "twilio": ("auth_token",),
    "whatsapp": ("auth_token",),
    "messenger": ("page_token",),
    "instagram": ("page_token",),
    "wechat": ("secret",),
}


def account_keys(kind: str) -> tuple[str, ...] | None:
    """Every key an account of ``kind`` may have; None for a plugin kind (not checked)."""
    settings = KIND_SETTINGS.get(kind)
    if settings is None:
        return None
    secrets = tuple(f"{f}_{how}" for f in KIND_SECRETS[kind] for how in ("command", "env"))
    return (*ACCOUNT_COMMON, *settings, *secrets)


def suggest(name: str, valid: Iterable[str], *, what: str = "", limit: int = 12) -> str:
    """``(did you mean 'x'?)``, or the valid names when none is close (``what``: how to
    quote them, e.g. ``[{}]`` for tables)."""
    import difflib

    valid = list(valid)
    fmt = what or "'{}'"
    lowered = {v.lower(): v for v in valid}
    close = [lowered[name.lower()]] if name.lower() in lowered else []
    close = close or difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if close:
        return f"(did you mean {fmt.format(close[0])}?)"
    if len(valid) > limit:
        return "(see config.example.toml for every option)"
    return "(valid: " + ", ".join(fmt.format(v) for v in valid) + ")"


def label(data: Mapping[str, Any], path: Path) -> str:
    """How the user wrote the table at ``path``: ``[sla.hours]``,
    ``[[accounts]] "support-mail"``, ``match of [[sla.policies]] "vip"``."""
    if not path:
        return "the top level"
    last = max((i for i, p in enumerate(path) if isinstance(p, int)), default=-1)
    if last < 0:
        return "[" + ".".join(map(str, path)) + "]"
    item: Any = data
    for part in path[: last + 1]:
        item = item[part]
    name = item.get("name") if isinstance(item, Mapping) else None
    shown = f'"{name}"' if isinstance(name, str) and name else f"#{int(path[last]) + 1}"
    base = "[[" + ".".join(map(str, path[:last])) + f"]] {shown}"
    rest = path[last + 1 :]
    return f"{'.'.join(map(str, rest))} of {base}" if rest else base


def check_names(data: Mapping[str, Any]) -> None:
    """Raise :class:`Problem` at the first table or key the code does not read."""
    for key, value in data.items():
        if key not in SCHEMA:
            if isinstance(value, Mapping | list):
                hint = suggest(key, TOP_LEVEL, what="[{}]")
                raise Problem((key,), f"unknown table [{key}] {hint}")
            raise Problem((key,), f"unknown key '{key}' at the top level {suggest(key, TOP_LEVEL)}")
        _walk(data, value, SCHEMA[key], (key,))
    accounts = data.get("accounts")
    if isinstance(accounts, list):
        for i, acct in enumerate(accounts):
            if not isinstance(acct, Mapping) or not isinstance(acct.get("kind"), str):
                continue  # the loader says what is wrong with it
            valid = account_keys(acct["kind"])
            if valid is None:
                continue
            for key in acct:
                if key not in valid:
                    path = ("accounts", i, key)
                    raise Problem(
                        path,
                        f"unknown key '{key}' in {label(data, path[:-1])} ({acct['kind']}) "
                        + _account_hint(key, acct["kind"], valid),
                    )


def _account_hint(key: str, kind: str, valid: tuple[str, ...]) -> str:
    """The closest valid name; for a secret's ``_command``/``_env`` of another field,
    the kind's own (Telegram's ``password_env`` → ``token_env``)."""
    fields = KIND_SECRETS[kind]
    for suffix in ("_command", "_env"):
        if key.endswith(suffix) and key.removesuffix(suffix) not in fields:
            mine = " or ".join(f"'{f}{suffix}'" for f in fields)
            secret = ", ".join(f"'{f}'" for f in fields)
            return f"(did you mean {mine}? the {kind} secret is {secret})"
    return suggest(key, valid)


def _walk(data: Mapping[str, Any], value: Any, spec: Spec, path: Path) -> None:
    if isinstance(spec, list) and isinstance(value, list):
        for i, item in enumerate(value):
            _walk(data, item, spec[0], (*path, i))
    elif isinstance(spec, dict) and isinstance(value, Mapping):
        for key, inner in value.items():
            name = str(key).strip().lower() if path == DAY_TABLE else key
            if name not in spec:
                raise Problem(
                    (*path, key),
                    f"unknown key '{key}' in {label(data, path)} {suggest(key, spec)}",
                )
            _walk(data, inner, spec[name], (*path, key))

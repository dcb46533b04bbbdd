"""The config is strict: a name the code does not read, a key that is not a key, or a
binding that hides another action's key is one line on stderr naming the file, the line
and the closest valid name, and a non-zero exit — never a setting silently ignored."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from omnitui.config import ConfigError, check_key_names, load_config
from omnitui.config.lines import TomlLines
from omnitui.config.schema import (
    KIND_SECRETS,
    KIND_SETTINGS,
    ROUTING_MATCH_KEYS,
    ROUTING_RULE_KEYS,
    SCHEMA,
    SLA_MATCH_KEYS,
)
from tests.support.cli_run import run_in_process

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An isolated user: XDG dirs in tmp, no keyring (nothing reaches the network)."""
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command."""
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


EMAIL = """\
[agent]
name = "sam"

[[accounts]]
name = "support-mail"
kind = "email"
imap_host = "127.0.0.1"
imap_security = "plain"
username = "support"
address = "support@example.com"
password_env = "PW"
"""

# The mistakes of issue 12, item 8: (text, line, what the message must name).
MISTAKES = {
    "agent-name": ('[agent]\nnmae = "sam"\n', 2, ["'nmae'", "[agent]", "'name'"]),
    "imap-host": (
        EMAIL.replace('imap_host = "127.0.0.1"', 'imap_hots = "127.0.0.1"'),
        7,
        ["'imap_hots'", '[[accounts]] "support-mail"', "did you mean 'imap_host'"],
    ),
    "holiday": (
        '[sla]\ntimezone = "America/New_York"\nholiday = "US"\n',
        3,
        ["'holiday'", "[sla]", "did you mean 'holidays'"],
    ),
    "theme": ('[ui]\nthme = "dark"\n', 2, ["'thme'", "[ui]", "'timezone'"]),
    "action-id": (
        '[keys]\ncursor_dwn = "j"\n',
        2,
        ["'cursor_dwn'", "[keys]", "did you mean 'cursor_down'"],
    ),
    "key-name": (
        '[keys]\nhelp = "question_mark"\ncursor_down = "j,ctrl+alt+banana"\n',
        3,
        ["keys.cursor_down", "'ctrl+alt+banana'", "'banana' is not a key name", "escape"],
    ),
    "modifier": (
        '[keys]\ncursor_down = "crtl+n"\n',
        2,
        ["keys.cursor_down", "'crtl'", "did you mean 'ctrl'"],
    ),
    "key-case": ('[keys]\nhelp = "F1"\n', 2, ["keys.help", "'F1'", "did you mean 'f1'"]),
    "hides-quit": (
        '[keys]\ncursor_down = "j,q"\n',
        2,
        ["keys.cursor_down", "'q'", "'quit'", "everywhere"],
    ),
    "hides-help": ('\n[keys]\nnote = "?"\n', 3, ["keys.note", "'?'", "'help'"]),
    "hides-escape": ('[keys]\nopen = "enter,escape"\n', 2, ["keys.open", "'escape'", "'back'"]),
    "quit-takes-a-key": ('[keys]\nquit = "j"\n', 2, ["keys.quit", "'j'", "'cursor_down'"]),
    "table": ('[storag]\nurl = "sqlite:///x"\n', 1, ["[storag]", "did you mean [storage]"]),
    "policy-match": (
        '[[sla.policies]]\nname = "vip"\nmatch = { vpi = true }\nfirst_response = "1h"\n',
        3,
        ["'vpi'", 'match of [[sla.policies]] "vip"', "did you mean 'vip'"],
    ),
    "routing-rule": (
        '[routing]\nvip_priority = "high"\n\n[[routing.rules]]\nname = "refunds"\n'
        'match = { subject = "refund" }\nasign = "sam"\n',
        7,
        ["'asign'", '[[routing.rules]] "refunds"', "did you mean 'assign'"],
    ),
    "secret-of-another-kind": (
        '[[accounts]]\nname = "shop-telegram"\nkind = "telegram"\npassword_env = "X"\n',
        4,
        ["'password_env'", "did you mean 'token_env'", "secret is 'token'"],
    ),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_each_mistake_is_one_line_with_file_line_and_suggestion(
    case: str, tmp_path: Path, home: dict[str, str]
) -> None:
    text, line, wanted = MISTAKES[case]
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    message = one_line(run_in_process("--config", str(cfg), "doctor", env=home))
    assert message.startswith(f"omnitui: {cfg}:{line}: "), message
    for part in wanted:
        assert part in message, (part, message)
    assert not (tmp_path / "xdg-data").exists()  # stopped before opening any store


@pytest.mark.parametrize("command", [("sync", "--once"), ("export",), ("conv", "due")])
def test_headless_commands_refuse_a_misspelt_key_too(
    command: tuple[str, ...], tmp_path: Path, home: dict[str, str]
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(MISTAKES["imap-host"][0], encoding="utf-8")
    message = one_line(run_in_process("--config", str(cfg), *command, env=home))
    assert f"{cfg}:7: unknown key 'imap_hots'" in message and "'imap_host'" in message


def test_the_console_refuses_an_unknown_key_name_before_it_starts(
    tmp_path: Path, home: dict[str, str]
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[keys]\nreply = "ctrl+alt+banana"\n', encoding="utf-8")
    message = one_line(run_in_process("--config", str(cfg), env=home))
    assert f"{cfg}:2: keys.reply: 'ctrl+alt+banana'" in message


def test_headless_loading_never_imports_textual(tmp_path: Path) -> None:
    """Key names need Textual, so only the console and doctor check them."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[keys]\ncursor_down = "j,down,ctrl+n"\nquit = "x"\n', encoding="utf-8")
    code = (
        "import sys\nfrom omnitui.config import load_config\n"
        f"cfg = load_config({str(cfg)!r})\n"
        "print(dict(cfg.keys), 'textual' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'cursor_down': 'j,down,ctrl+n', 'quit': 'x'} False"


def test_keys_are_stored_without_spaces_and_the_defaults_do_not_clash(tmp_path: Path) -> None:
    from omnitui.config.keys import check_keys
    from omnitui.keymap import ACTIONS

    cfg = tmp_path / "config.toml"
    cfg.write_text('[keys]\ncursor_down = "j, down , ctrl+n"\n', encoding="utf-8")
    loaded = load_config(cfg)
    assert loaded.keys == {"cursor_down": "j,down,ctrl+n"}
    check_key_names(loaded)
    defaults = check_keys({a.id: a.keys for a in ACTIONS})
    check_key_names(loaded.__class__(keys=defaults))
    # Swapping two keys is fine: neither hides the other once both are rebound.
    cfg.write_text('[keys]\nquit = "Q"\nquarantine = "q"\n', encoding="utf-8")
    assert load_config(cfg).keys == {"quit": "Q", "quarantine": "q"}


def test_key_names_are_textuals() -> None:
    from textual.keys import _character_to_key

    from omnitui.config.keys import key_name

    for code in range(0x20, 0x7F):
        assert key_name(chr(code)) == _character_to_key(chr(code))
    assert key_name("é") == "é" and key_name("ctrl+a") == "ctrl+a"


# -- config.example.toml -------------------------------------------------------------------


def test_the_example_loads_under_the_strict_rules() -> None:
    cfg = load_config(EXAMPLE, required=True)
    check_key_names(cfg)
    assert [a.name for a in cfg.accounts] == ["support-mail"]


def uncommented_examples() -> str:
    """config.example.toml with every commented ``# key = value`` line switched on."""
    lines = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^# (# )?(\[\[?[a-z.]+\]\]?\s*$|[a-z_]+ = .*)", line)
        lines.append(match.group(2) if match else line)
    return "\n".join(lines) + "\n"


def test_every_commented_example_in_the_example_is_valid_too(tmp_path: Path) -> None:
    """Switching on any documented option (the other channels' accounts, the storage
    URL, every [keys] example, routing rules) still loads: no example is a typo."""
    text = uncommented_examples()
    # Two [storage] urls and a literal `password_command` line each: keep one of each.
    text = text.replace('url = "postgresql+psycopg://omnitui@db.internal/omnitui"\n', "", 1)
    path = tmp_path / "all.toml"
    path.write_text(text, encoding="utf-8")
    cfg = load_config(path, required=True)
    check_key_names(cfg)
    assert {a.kind for a in cfg.accounts} == set(KIND_SETTINGS)
    assert cfg.keys["cursor_down"] == "j,down,ctrl+n"
    assert cfg.routing["rules"][0]["assign"] == "sam" and cfg.routing["acknowledge"]


def schema_names(spec: object) -> set[str]:
    if isinstance(spec, list):
        return schema_names(spec[0])
    if isinstance(spec, dict):
        return set(spec) | {n for inner in spec.values() for n in schema_names(inner)}
    return set()


def test_the_example_documents_every_option() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    words = set(re.findall(r"[A-Za-z_]+", text))
    names = schema_names(SCHEMA) | {n for keys in KIND_SETTINGS.values() for n in keys}
    names |= {f"{f}_{how}" for f in sum(KIND_SECRETS.values(), ()) for how in ("command", "env")}
    assert sorted(names - words) == []


# -- the schema follows the code -----------------------------------------------------------


def read_names(path: Path, *patterns: str) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {m for p in patterns for m in re.findall(p, text)}


def test_every_setting_an_adapter_reads_is_accepted() -> None:
    reads = (
        r'settings\.get\(\s*"(\w+)"',
        r'settings\[\s*"(\w+)"\s*\]',
        r'_positive\(\s*settings,\s*"(\w+)"',
        r'_name_list\(\s*name,\s*settings,\s*"(\w+)"',
    )
    api = read_names(ROOT / "adapters" / "http_api.py", *reads, r'number\(\s*"(\w+)"')
    assert api, "adapters/http_api.py reads no settings any more: update this test"
    modules = {
        "email": [ROOT / "adapters" / "email" / "adapter.py"],
        "telegram": [ROOT / "adapters" / "telegram.py"],
        "matrix": [ROOT / "adapters" / "matrix.py"],
        "mastodon": [ROOT / "adapters" / "mastodon.py"],
        "twilio": [ROOT / "adapters" / "twilio.py"],
        "messenger": [ROOT / "adapters" / "meta.py"],
        "instagram": [ROOT / "adapters" / "meta.py"],
        "whatsapp": [ROOT / "adapters" / "whatsapp.py"],  # sets twilio's calls, service off
        "wechat": [ROOT / "adapters" / "wechat.py", ROOT / "adapters" / "wechat_items.py"],
    }
    for kind, paths in modules.items():
        read = {n for p in paths for n in read_names(p, *reads)}
        if kind != "email":
            read |= api
        assert read - set(KIND_SETTINGS[kind]) == set(), kind
    # What omnitui itself reads of an account (make_desk's own addresses, sync).
    for key in ("address", "username", "user_id", "from_number"):
        assert any(key in keys for keys in KIND_SETTINGS.values())


def test_secret_fields_are_the_adapters() -> None:
    from adapters import registry

    for kind, fields in KIND_SECRETS.items():
        spec = registry.spec(kind)
        assert spec is not None and spec.secret_fields == fields, kind


def test_desk_tables_match_what_their_readers_accept() -> None:
    from omnitui.desk import routing, sla

    assert set(SLA_MATCH_KEYS) == set(sla._MATCH_KEYS)
    assert set(ROUTING_MATCH_KEYS) == set(routing.MATCH_KEYS)
    assert set(ROUTING_RULE_KEYS) == set(routing.RULE_KEYS)
    omnitui = ROOT / "omnitui"
    schema: Any = SCHEMA
    get = r'{}\.get\(\s*"(\w+)"'
    assert read_names(omnitui / "desk" / "sla.py", get.format("sla")) <= set(schema["sla"])
    assert read_names(omnitui / "desk" / "sla.py", get.format("item")) <= set(
        schema["sla"]["policies"][0]
    )
    assert read_names(omnitui / "desk" / "routing.py", get.format("raw")) <= set(schema["routing"])
    ack = set(schema["routing"]["acknowledge"]) | set(ROUTING_RULE_KEYS)
    assert read_names(omnitui / "desk" / "routing.py", get.format("item")) <= ack
    alerts = read_names(omnitui / "desk" / "sla_alerts.py", get.format("raw"))
    assert alerts and alerts <= set(schema["notifications"])


def test_plugin_kinds_are_checked_only_for_the_common_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[accounts]]\nname = "toy"\nkind = "echo"\ninbox = "/tmp/in"\npoll_seconds = 5\n',
        encoding="utf-8",
    )
    (toy,) = load_config(path).accounts
    assert toy.get("inbox") == "/tmp/in" and toy.poll_seconds == 5
    path.write_text('[[accounts]]\nname = "toy"\nkind = "echo"\npoll_seconds = "x"\n')
    with pytest.raises(ConfigError, match=r"config.toml:4: accounts\[0\]\.poll_seconds"):
        load_config(path)


# -- line numbers ----------------------------------------------------------------------------


def test_lines_are_found_past_strings_arrays_and_inline_tables() -> None:
    text = '''\
# [agent] in a comment
[sla]
holidays = "US" # name = "x"
closed_dates = [
  "2026-12-24",  # ]
  "2026-12-31",
]

[[routing.rules]]
name = "a"
match = { subject = ["x",
  "y"] }

[routing.acknowledge]
text = """
[fake]
name = "not a key"
"""
max_age = "2h"

[[routing.rules]]
"name" = "b"
match.channel = "email"

[[accounts]]
name = "one"
[[accounts]]
name = 'two'
kind = "email"
[accounts.nested]
x = 1
'''
    assert tomllib.loads(text)["routing"]["rules"][1]["match"] == {"channel": "email"}
    lines = TomlLines(text)
    assert lines.line(("sla",)) == 2
    assert lines.line(("sla", "holidays")) == 3
    assert lines.line(("sla", "closed_dates")) == 4
    assert lines.line(("routing", "rules", 0, "match")) == 11
    assert lines.line(("routing", "acknowledge", "text")) == 15
    assert lines.line(("routing", "acknowledge", "max_age")) == 19
    assert lines.line(("routing", "rules", 1)) == 21
    assert lines.line(("routing", "rules", 1, "name")) == 22
    assert lines.line(("routing", "rules", 1, "match", "channel")) == 23
    assert lines.line(("accounts", 0, "name")) == 26
    assert lines.line(("accounts", 1, "kind")) == 29
    assert lines.line(("accounts", 1, "nested", "x")) == 31
    assert lines.line(("accounts", 1, "missing")) == 27  # falls back to its table
    assert lines.line(("nothing",)) == 0


@pytest.mark.parametrize(
    "env",
    [
        {},  # --db
        {"OMNITUI_DB": "{url}"},
    ],
)
def test_a_db_in_a_missing_directory_is_an_error(
    env: dict[str, str], tmp_path: Path, home: dict[str, str]
) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    url = f"sqlite:///{missing / 'omnitui.sqlite'}"
    if env:
        out = run_in_process("export", env=home | {"OMNITUI_DB": url})
        option = "OMNITUI_DB: "
    else:
        out = run_in_process("--db", url, "export", env=home)
        option = "--db: "
    message = one_line(out)
    assert message.startswith(f"omnitui: {option}{missing}") and "does not exist" in message
    assert not (tmp_path / "no").exists()


def test_a_storage_url_in_a_missing_directory_names_the_config_line(
    tmp_path: Path, home: dict[str, str]
) -> None:
    missing = tmp_path / "typo"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[agent]\nname = "sam"\n\n[storage]\nurl = "sqlite:///{missing}/x.sqlite"\n')
    message = one_line(run_in_process("--config", str(cfg), "search", "kettle", env=home))
    assert message.startswith(f"omnitui: {cfg}:5: [storage].url: {missing}")
    assert not missing.exists()


def test_the_default_data_directory_is_still_created(tmp_path: Path, home: dict[str, str]) -> None:
    out = run_in_process("export", env=home)
    assert out.returncode == 0, out.stderr
    data = tmp_path / "xdg-data" / "omnitui"
    assert (data / "omnitui.sqlite").exists() and (os.stat(data).st_mode & 0o777) == 0o700

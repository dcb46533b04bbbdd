"""The config contract: good files load; bad ones give one line naming file, line, key."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnitui.config import Config, ConfigError, load_config, login_name

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    return message


GOOD = """
[storage]
url = "sqlite:////tmp/x.sqlite"

[agent]
name = "sam"

[ui]
timezone = "Europe/Berlin"

[keys]
cursor_down = "j,ctrl+n"

[[accounts]]
name = "support-mail"
kind = "email"
imap_host = "127.0.0.1"
imap_security = "plain"
smtp_host = "localhost"
smtp_security = "plain"
username = "support"
address = "support@example.com"
password_env = "PW"

[[accounts]]
name = "tg"
kind = "telegram"
poll_seconds = 5
api_base = "http://127.0.0.1:8081"
"""


def test_good_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.storage_url == "sqlite:////tmp/x.sqlite"
    assert cfg.agent_name == "sam" and cfg.display_timezone == "Europe/Berlin"
    assert cfg.keys == {"cursor_down": "j,ctrl+n"}
    mail, tg = cfg.accounts
    assert (mail.name, mail.kind, mail.poll_seconds) == ("support-mail", "email", 60)
    assert mail.get("folders") == ["INBOX"] and mail.get("sent_folder") == "Sent"
    assert (tg.kind, tg.poll_seconds, tg.get("api_base")) == (
        "telegram",
        5,
        "http://127.0.0.1:8081",
    )
    assert mail.line == 14 and tg.line == 25


def test_missing_default_file_is_empty(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "absent.toml")
    assert cfg.accounts == () and cfg.agent_name == login_name()
    assert Config.empty().accounts == ()


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="absent.toml"):
        load_config(tmp_path / "absent.toml", required=True)


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    msg = error(tmp_path, '[agent]\nname = "x"\nbroken = \n')
    assert "config.toml:3:" in msg


@pytest.mark.parametrize("key", ["password", "token", "access_token", "auth_token", "api_key"])
def test_literal_secret_is_refused_without_echo(tmp_path: Path, key: str) -> None:
    msg = error(tmp_path, f'[[accounts]]\nname = "m"\nkind = "telegram"\n{key} = "hunter2-xyz"\n')
    assert "hunter2-xyz" not in msg
    assert "config.toml:4:" in msg and key in msg
    assert "omnitui secrets set m" in msg and f"{key}_command" in msg


def test_plain_security_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    msg = error(tmp_path, GOOD.replace('imap_host = "127.0.0.1"', 'imap_host = "mail.example.com"'))
    assert "imap_security" in msg and "loopback" in msg and "config.toml:18:" in msg


def test_duplicate_account_names(tmp_path: Path) -> None:
    msg = error(tmp_path, GOOD.replace('name = "tg"', 'name = "support-mail"'))
    assert "support-mail" in msg and "already used" in msg and "config.toml:26:" in msg


def test_bad_poll_seconds_names_line_and_key(tmp_path: Path) -> None:
    msg = error(tmp_path, GOOD.replace("poll_seconds = 5", 'poll_seconds = "soon"'))
    assert "config.toml:28:" in msg and "accounts[1].poll_seconds" in msg and "soon" in msg


def test_unknown_table(tmp_path: Path) -> None:
    msg = error(tmp_path, "[storag]\nurl = 'x'\n")
    assert "config.toml:1:" in msg and "storag" in msg


def test_email_account_needs_its_settings(tmp_path: Path) -> None:
    msg = error(tmp_path, '[[accounts]]\nname = "m"\nkind = "email"\nimap_host = "x"\n')
    assert "username" in msg


def test_bad_port_and_timezone(tmp_path: Path) -> None:
    assert "imap_port" in error(
        tmp_path,
        GOOD.replace('imap_security = "plain"', 'imap_security = "plain"\nimap_port = 99999'),
    )
    assert "timezone" in error(tmp_path, '[ui]\ntimezone = "Mars/Olympus"\n')


def test_example_file_loads() -> None:
    cfg = load_config(ROOT / "config.example.toml", required=True)
    assert cfg.accounts[0].name == "support-mail"
    assert cfg.sla["policies"][0]["name"] == "vip"

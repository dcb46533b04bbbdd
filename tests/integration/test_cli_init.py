"""``omnitui init`` writes a commented config for the channels chosen, private and
loadable under the strict rules, never over an existing file, and runs ``doctor`` on it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from omnitui.config import check_key_names, load_config
from tests.support.cli_run import run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An isolated user "ana" without a config or an OS keyring."""
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "LOGNAME": "ana",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_a_private_config_that_loads_and_runs_doctor(
    tmp_path: Path, home: dict[str, str]
) -> None:
    old = os.umask(0)  # the command inherits it: the modes must not
    try:
        out = run("init", "--channel", "email", "--channel", "telegram", env=home)
    finally:
        os.umask(old)
    assert out.returncode == 0, out.stderr
    path = tmp_path / "xdg-config" / "omnitui" / "config.toml"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700  # made by init too
    cfg = load_config(path, required=True)
    check_key_names(cfg)
    assert [(a.name, a.kind) for a in cfg.accounts] == [
        ("support-mail", "email"),
        ("shop-telegram", "telegram"),
    ]
    assert cfg.agent_name == "ana"
    assert "# [sla]" in path.read_text() and "# [kb]" in path.read_text()
    said = out.stdout
    assert f"wrote {path}" in said
    assert "support-mail: imap_host, smtp_host, username, address" in said  # to fill in
    assert "omnitui secrets set support-mail password" in said
    assert "omnitui secrets set shop-telegram token" in said
    # ... then doctor's own lines, failing on the secrets still missing.
    assert f"config: {path} (found)" in said
    assert "support-mail [email]: FAIL" in said and "password_command" in said
    assert "shop-telegram [telegram]: FAIL" in said


def test_every_channel_loads(tmp_path: Path, home: dict[str, str]) -> None:
    path = tmp_path / "deep" / "er" / "omnitui.toml"
    out = run(
        "--config", str(path), "init", "--channel", "twilio,mastodon,matrix,email,telegram",
        env=home,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert mode(path) == 0o600 and mode(tmp_path / "deep") == 0o700
    kinds = [a.kind for a in load_config(path, required=True).accounts]
    assert kinds == ["twilio", "mastodon", "matrix", "email", "telegram"]
    # The next steps name the file when it is not the default one.
    assert f"omnitui --config {path} secrets set shop-twilio auth_token" in out.stdout
    assert f"omnitui --config {path} secrets set shop-matrix access_token" in out.stdout


def test_init_never_overwrites_without_force(tmp_path: Path, home: dict[str, str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# mine\n", encoding="utf-8")
    out = run("--config", str(path), "init", "--channel", "email", env=home)
    assert out.returncode != 0
    (line,) = out.stderr.splitlines()
    assert str(path) in line and "--force" in line
    assert path.read_text() == "# mine\n"
    forced = run("--config", str(path), "init", "--channel", "matrix", "--force", env=home)
    assert forced.returncode == 0, forced.stderr
    assert mode(path) == 0o600
    assert [a.kind for a in load_config(path).accounts] == ["matrix"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (("--channel", "emial"), "did you mean 'email'"),
        ((), "--channel"),  # no terminal to ask on
    ],
)
def test_bad_or_missing_channels_write_nothing(
    tmp_path: Path, home: dict[str, str], args: tuple[str, ...], wanted: str
) -> None:
    path = tmp_path / "new" / "config.toml"
    out = subprocess.run(
        [sys.executable, "-m", "omnitui", "--config", str(path), "init", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **home},
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert out.returncode != 0
    (line,) = out.stderr.splitlines()
    assert wanted in line
    assert not (tmp_path / "new").exists()


def test_init_asks_for_the_channels_on_a_terminal(tmp_path: Path, home: dict[str, str]) -> None:
    path = tmp_path / "config.toml"
    controller, terminal = os.openpty()
    try:
        os.write(controller, b"mastodon, telegram\n")
        done = subprocess.run(
            [sys.executable, "-m", "omnitui", "--config", str(path), "init"],
            stdin=terminal,
            capture_output=True,
            text=True,
            env={**os.environ, **home},
            timeout=120,
            start_new_session=True,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Channels to set up (email, telegram, matrix, mastodon, twilio")
    assert [a.kind for a in load_config(path).accounts] == ["mastodon", "telegram"]

"""Where omnitui keeps its files (XDG locations via platformdirs)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_dir, user_data_dir

APP = "omnitui"


def config_path() -> Path:
    """``$OMNITUI_CONFIG``, else ``<XDG config dir>/omnitui/config.toml``."""
    env = os.environ.get("OMNITUI_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(user_config_dir(APP)) / "config.toml"


def data_dir() -> Path:
    """``<XDG data dir>/omnitui``."""
    return Path(user_data_dir(APP))


def ensure_data_dir() -> Path:
    """The data directory, created user-only (0700) if missing."""
    path = data_dir()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def default_db_url() -> str:
    """The default store: an SQLite file in the data directory."""
    return f"sqlite:///{data_dir() / 'omnitui.sqlite'}"

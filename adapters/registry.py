"""Adapters by kind: the built-in ones and third-party ones from the
``omnitui.adapters`` entry-point group."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from types import ModuleType

from adapters.base import AdapterFactory

ENTRY_POINT_GROUP = "omnitui.adapters"

#: Built-in kinds -> "module:factory". Filled in as channels land.
BUILTIN: dict[str, str] = {
    "email": "adapters.email:create",
    "telegram": "adapters.telegram:create",
    "mastodon": "adapters.mastodon:create",
    "twilio": "adapters.twilio:create",
    "matrix": "adapters.matrix:create",
}


def available() -> dict[str, str]:
    """Every installed adapter kind mapped to where it comes from (module path)."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def module(kind: str) -> ModuleType | None:
    """The module providing ``kind`` (for its optional ``check`` and ``secret_fields``)."""
    target = available().get(kind)
    if target is None:
        return None
    return importlib.import_module(target.partition(":")[0])


def load(kind: str) -> AdapterFactory | None:
    """The factory for ``kind``, or None when no installed adapter provides it."""
    target = available().get(kind)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=[attr or "create"])
    return getattr(module, attr or "create")

"""Adapters by kind: the built-in ones and third-party ones from the
``omnitui.adapters`` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points

from adapters.base import AdapterFactory

ENTRY_POINT_GROUP = "omnitui.adapters"

#: Built-in kinds -> "module:factory". Filled in as channels land.
BUILTIN: dict[str, str] = {}


def available() -> dict[str, str]:
    """Every installed adapter kind mapped to where it comes from (module path)."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def load(kind: str) -> AdapterFactory | None:
    """The factory for ``kind``, or None when no installed adapter provides it."""
    target = available().get(kind)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=[attr or "create"])
    return getattr(module, attr or "create")

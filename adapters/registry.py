"""Adapters by kind: the built-in ones and third-party ones from the
``omnitui.adapters`` entry-point group, each as an :class:`~adapters.spec.AdapterSpec`.

An entry point names either a spec (``pkg.module:SPEC``) or, the older form still
honoured, a factory function (``pkg.module:create``), which is wrapped in a
:class:`~adapters.spec.FactorySpec` with its module's optional ``secret_fields``,
``check`` and ``checks``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from adapters.base import Adapter
from adapters.spec import AdapterSpec, FactorySpec

ENTRY_POINT_GROUP = "omnitui.adapters"

#: Built-in kinds -> "module:SPEC".
BUILTIN: dict[str, str] = {
    "email": "adapters.email:SPEC",
    "telegram": "adapters.telegram:SPEC",
    "mastodon": "adapters.mastodon:SPEC",
    "twilio": "adapters.twilio:SPEC",
    "whatsapp": "adapters.whatsapp:SPEC",
    "matrix": "adapters.matrix:SPEC",
    "messenger": "adapters.meta:MESSENGER_SPEC",
    "instagram": "adapters.meta:INSTAGRAM_SPEC",
    "wechat": "adapters.wechat:SPEC",
}


def available() -> dict[str, str]:
    """Every installed adapter kind mapped to where it comes from (``module:attribute``)."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def spec(kind: str) -> AdapterSpec[Adapter] | None:
    """The spec of ``kind``, or None when no installed adapter provides it."""
    target = available().get(kind)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name.strip())
    found: Any = module
    for part in (attr.strip() or "create").split("."):
        found = getattr(found, part)
    if isinstance(found, AdapterSpec):
        return found
    if callable(found):
        return FactorySpec(kind, found, module)
    raise TypeError(f"adapter {kind!r}: {target} is neither an AdapterSpec nor a factory")

"""Adapter kinds are :class:`AdapterSpec` objects: the built-in ones, a plug-in's spec,
and the older plug-in form (a factory function) wrapped into one."""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from adapters import registry
from adapters.base import Adapter, PollResult, SecretGetter, SendResult
from adapters.checks import Finding
from adapters.spec import AdapterSpec, FactorySpec

#: DESIGN.md's table: each built-in kind's secret field.
DESIGN_SECRETS = {
    "email": ("password",),
    "telegram": ("token",),
    "matrix": ("access_token",),
    "mastodon": ("access_token",),
    "twilio": ("auth_token",),
    "messenger": ("page_token",),
    "instagram": ("page_token",),
    "whatsapp": ("auth_token",),
    "wechat": ("secret",),
}


class ToyAdapter:
    kind = "toy"

    def __init__(self, name: str, settings: Mapping[str, Any], secret: SecretGetter) -> None:
        self.name = name
        self.settings = settings
        self.closed = False

    def poll(self, cursors: Mapping[str, Any]) -> PollResult:
        return PollResult()

    def send(self, message: Any) -> SendResult:
        return SendResult(provider_id="toy")

    def close(self) -> None:
        self.closed = True


def plugged(monkeypatch: pytest.MonkeyPatch, module: types.ModuleType, value: str) -> None:
    """Install ``module`` and an ``omnitui.adapters`` entry point ``toy = value``."""
    monkeypatch.setitem(sys.modules, module.__name__, module)
    point = EntryPoint(name="toy", value=value, group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])


@pytest.mark.parametrize("kind", sorted(DESIGN_SECRETS))
def test_each_builtin_kind_has_a_spec_with_its_design_secret(kind: str) -> None:
    spec = registry.spec(kind)
    assert isinstance(spec, AdapterSpec)
    assert spec.kind == kind
    assert spec.secret_fields == DESIGN_SECRETS[kind]
    assert kind in registry.available()


def test_an_unknown_kind_has_no_spec() -> None:
    assert registry.spec("carrier-pigeon") is None


def test_an_old_style_entry_point_still_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("omnitui_toy_old")
    module.__dict__.update(
        create=ToyAdapter,
        secret_fields=("api_key",),
        check=lambda name, settings, secret: f"{name} reachable as {secret('api_key')}",
    )
    plugged(monkeypatch, module, "omnitui_toy_old:create")
    assert registry.available()["toy"] == "omnitui_toy_old:create"
    spec = registry.spec("toy")
    assert isinstance(spec, FactorySpec)
    assert spec.secret_fields == ("api_key",)
    adapter = spec.create("acct", {"x": 1}, lambda field: "k")
    assert isinstance(adapter, ToyAdapter) and adapter.settings == {"x": 1}
    assert spec.checks("acct", {}, lambda field: "k") == [Finding("", True, "acct reachable as k")]


def test_an_old_style_module_without_extras_gets_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("omnitui_toy_bare")
    module.__dict__.update(create=ToyAdapter)
    plugged(monkeypatch, module, "omnitui_toy_bare:create")
    spec = registry.spec("toy")
    assert spec is not None
    assert spec.secret_fields == ("password",)
    assert spec.check("acct", {}, lambda field: "") is None
    assert spec.checks("acct", {}, lambda field: "") is None


def test_a_plugin_spec_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[ToyAdapter] = []

    class ToySpec(AdapterSpec[ToyAdapter]):
        def check(self, name: str, settings: Mapping[str, Any], secret: SecretGetter) -> str:
            with self.opened(name, settings, secret) as adapter:
                closed.append(adapter)
                return f"{adapter.name} ok"

    module = types.ModuleType("omnitui_toy_spec")
    module.__dict__.update(SPEC=ToySpec("toy", ToyAdapter, secret_fields=("api_key",)))
    plugged(monkeypatch, module, "omnitui_toy_spec:SPEC")
    spec = registry.spec("toy")
    assert spec is module.SPEC
    assert spec.checks("acct", {}, lambda field: "") == [Finding("", True, "acct ok")]
    assert closed[0].closed
    adapter: Adapter = spec.create("acct", {}, lambda field: "")
    assert adapter.kind == "toy"
    assert spec.secret_fields == ("api_key",)


def test_an_entry_point_naming_something_else_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("omnitui_toy_wrong")
    module.__dict__.update(SPEC="not a spec")
    plugged(monkeypatch, module, "omnitui_toy_wrong:SPEC")
    with pytest.raises(TypeError, match="neither an AdapterSpec nor a factory"):
        registry.spec("toy")

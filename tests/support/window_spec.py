"""A toy adapter kind with the shapes of the platforms' reply-window rules
(WhatsApp's 24 hours then templates, Messenger's tag for 7 days, WeChat's message
count) and a file limit, plugged into the registry as ``toywin`` for a test."""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from adapters import registry
from adapters.base import ReplyWindow
from adapters.spec import AdapterSpec

KIND = "toywin"


class WindowSpec(AdapterSpec[Any]):
    """24 hours of free text; then the tag for 7 days when ``tag`` is set, else
    templates only; at most ``limit`` messages when set."""

    def reply_window(
        self,
        settings: Mapping[str, Any],
        last_inbound_at: datetime | None,
        sent_since: int,
        now: datetime,
    ) -> ReplyWindow:
        """The toy rule."""
        if last_inbound_at is None:
            return ReplyWindow("template_only", reason="never written: templates only")
        limit = settings.get("limit")
        if limit is not None and sent_since >= limit:
            return ReplyWindow("closed", reason=f"{limit} messages sent: wait for the customer")
        until = last_inbound_at + timedelta(hours=24)
        if now < until:
            remaining = None if limit is None else limit - sent_since
            return ReplyWindow("open", until=until, remaining=remaining, reason="open 24 h")
        if settings.get("tag") and now < last_inbound_at + timedelta(days=7):
            return ReplyWindow("tagged", tag="HUMAN_AGENT", reason="tagged: HUMAN_AGENT")
        return ReplyWindow("template_only", reason="the 24-hour window closed: templates only")

    def max_file_bytes(self, settings: Mapping[str, Any]) -> int:
        """The ``max_file_bytes`` setting (default: no files)."""
        return int(settings.get("max_file_bytes", 0))

    def templates(self, settings: Mapping[str, Any]) -> dict[str, str]:
        """The ``templates`` setting as it is."""
        return dict(settings.get("templates", {}))


def plug_window_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the toy kind for the length of a test."""
    module = types.ModuleType("omnitui_toy_window")
    module.__dict__["SPEC"] = WindowSpec(KIND, lambda *a: None, secret_fields=("token",))
    monkeypatch.setitem(sys.modules, "omnitui_toy_window", module)
    monkeypatch.setitem(registry.BUILTIN, KIND, "omnitui_toy_window:SPEC")

"""An account as the desk sees it: its kind and settings, enough to ask the adapter
spec for the reply window and the templates (no secret, no network)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from adapters.base import ALWAYS_OPEN, ReplyWindow
from adapters.spec import AdapterSpec


@dataclass(frozen=True)
class AccountRule:
    """An account's kind and settings: enough to ask its adapter spec for the window
    and the templates, without secrets or network. The spec is looked up once."""

    kind: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def spec(self) -> AdapterSpec[Any] | None:
        """The kind's adapter spec (None for a kind no installed adapter provides)."""
        from adapters import registry

        try:
            return registry.spec(self.kind)
        except (ImportError, AttributeError, TypeError):
            return None

    @property
    def windowed(self) -> bool:
        """Whether the kind has a reply window at all (else it is always open, and the
        store's facts need not be read)."""
        spec = self.spec
        return spec is not None and type(spec).reply_window is not AdapterSpec.reply_window

    def window(
        self, last_inbound_at: datetime | None, sent_since: int, now: datetime
    ) -> ReplyWindow:
        """The kind's window for these facts (always open for a kind without one)."""
        spec = self.spec
        if spec is None:
            return ALWAYS_OPEN
        return spec.reply_window(self.settings, last_inbound_at, sent_since, now)

    def templates(self) -> dict[str, str]:
        """The account's approved templates, name -> platform id."""
        spec = self.spec
        return {} if spec is None else spec.templates(self.settings)

    def max_file_bytes(self) -> int:
        """The most a reply of this account may carry in files (0: none)."""
        spec = self.spec
        return 0 if spec is None else int(spec.max_file_bytes(self.settings))

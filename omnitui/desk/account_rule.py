"""An account as the desk sees it: its kind and settings, enough to ask the adapter
spec for the reply window and the templates (no secret, no network)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapters.base import ALWAYS_OPEN, ReplyWindow


@dataclass(frozen=True)
class AccountRule:
    """An account's kind and settings: enough to ask its adapter spec for the window
    and the templates, without secrets or network."""

    kind: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    def window(
        self, last_inbound_at: datetime | None, sent_since: int, now: datetime
    ) -> ReplyWindow:
        """The kind's window for these facts (always open for a kind without one)."""
        spec = _spec(self.kind)
        if spec is None:
            return ALWAYS_OPEN
        return spec.reply_window(self.settings, last_inbound_at, sent_since, now)

    def templates(self) -> dict[str, str]:
        """The account's approved templates, name -> platform id."""
        spec = _spec(self.kind)
        return {} if spec is None else spec.templates(self.settings)

    def max_file_bytes(self) -> int:
        """The most a reply of this account may carry in files (0: none)."""
        spec = _spec(self.kind)
        return 0 if spec is None else int(spec.max_file_bytes(self.settings))


def _spec(kind: str) -> Any:
    from adapters import registry

    try:
        return registry.spec(kind)
    except (ImportError, AttributeError, TypeError):
        return None

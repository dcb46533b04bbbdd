"""The knowledge base's records: an article, a rendered text, the KB's error.

No I/O and no Jinja: shared by :mod:`omnitui.desk.kb.index` (loading and search) and
:mod:`omnitui.desk.kb.templates` (templates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omnitui.errors import OmnituiError


class KBError(OmnituiError):
    """A knowledge-base problem, as one line naming the file (and line where known)."""


@dataclass(frozen=True)
class Article:
    """One KB article: front matter fields plus the Markdown/Jinja body (the template)."""

    path: Path
    shortcut: str
    title: str
    tags: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()  # empty: every channel
    body: str = ""
    body_line: int = field(default=1, compare=False)  # file line where the body starts

    def allowed_on(self, channel: str) -> bool:
        """Whether this article may be used on ``channel`` (no ``channels`` = all)."""
        return not self.channels or channel in self.channels


@dataclass(frozen=True)
class Rendered:
    """A rendered article: the text to insert and the warnings to show in the composer."""

    text: str
    warnings: list[str] = field(default_factory=list)

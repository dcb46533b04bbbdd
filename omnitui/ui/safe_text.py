"""The one path customer text takes into a widget: sanitised (no escape sequences,
control or bidi characters) and never parsed as markup.

Widgets and screens import these, never :mod:`omnitui.sanitize` directly (an
import-linter contract in pyproject.toml keeps it so).
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from omnitui.sanitize import clean, clean_line


def line(value: str, max_len: int | None = None) -> str:
    """One line of customer text (a name, a subject, an error) as a plain string."""
    return clean_line(value, max_len)


def block(value: str) -> str:
    """Multi-line customer text (a message body) as a plain string."""
    return clean(value)


def safe_text(value: str, style: str | Style = "") -> Text:
    """Multi-line customer text for a widget."""
    return Text(clean(value), style=style)


def safe_line(value: str, max_len: int | None = None, style: str | Style = "") -> Text:
    """One line of customer text (names, subjects) for a widget."""
    return Text(clean_line(value, max_len), style=style)

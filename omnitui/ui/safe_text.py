"""Customer text as Rich ``Text`` built from plain strings: sanitised, never markup."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from omnitui.sanitize import clean, clean_line


def safe_text(text: str, style: str | Style = "") -> Text:
    """Multi-line customer text for a widget."""
    return Text(clean(text), style=style)


def safe_line(text: str, max_len: int | None = None, style: str | Style = "") -> Text:
    """One line of customer text (names, subjects) for a widget."""
    return Text(clean_line(text, max_len), style=style)

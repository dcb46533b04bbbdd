"""Text helpers the channels share: HTML to plain text, and splitting long replies."""

from __future__ import annotations

import re

#: C0 controls but tab and newline, DEL, and lone surrogates (no backend stores them;
#: PostgreSQL refuses NUL). Carriage returns are turned into newlines first.
_UNSTORABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text every backend stores as it is: ``\\n`` line ends; no NUL, no other C0
    control but tab and newline, no DEL, no lone surrogate."""
    if not text:
        return ""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSTORABLE.sub("", text)


def html_to_text(html: str) -> str:
    """Readable text from HTML, computed locally; no image or link is fetched."""
    try:
        from inscriptis import get_text
        from inscriptis.model.config import ParserConfig

        text = get_text(html, ParserConfig(display_links=False, display_images=False))
    except Exception:  # noqa: BLE001 - broken HTML: strip tags crudely
        text = re.sub(r"<[^>]+>", " ", html)
    lines = [line.rstrip() for line in text.splitlines()]
    # Collapse runs of blank lines that layout-heavy mail produces.
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a newline or space when possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text or not pieces:
        pieces.append(text)
    return pieces

"""Neutralise terminal-hostile text before it reaches the screen.

Customer text may carry escape sequences (colours, clear screen, window title, OSC 52
clipboard writes, hyperlinks), C0/C1 controls and bidi overrides ("Trojan source").
Textual and Rich strip only a few of these, so every customer string passes through
:func:`clean` (or :func:`clean_line`) first. Pure Python: no Rich, no Textual.
"""

from __future__ import annotations

import re
import unicodedata

# Whole escape sequences first, so their payload (e.g. a window title) goes too.
_SEQUENCES = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?                 # CSI … final
    | \x9b[0-?]*[ -/]*[@-~]?                   # 8-bit CSI
    | \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?   # OSC … BEL | ST
    | \x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?     # 8-bit OSC
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?        # DCS, SOS, PM, APC strings
    | [\x90\x98\x9e\x9f][^\x1b\x9c]*(?:\x1b\\|\x9c)? # 8-bit DCS, SOS, PM, APC
    | \x1b[ -/]*[0-~]?                          # any other ESC sequence
    """,
    re.VERBOSE,
)

#: Characters that open a sequence above: ESC and the 8-bit CSI, OSC, DCS, SOS, PM, APC.
_INTRODUCERS = re.compile("[\x1b\x90\x98\x9b\x9d\x9e\x9f]")

_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
_DROP = {cp: None for cp in range(0x20) if cp not in (0x09, 0x0A)}
_DROP.update({0x7F: None})
_DROP.update({cp: None for cp in range(0x80, 0xA0)})
_DROP.update({ord(ch): None for ch in _BIDI})
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "]")
_WS = re.compile(r"[ \t\n]{2,}|[\t\n]")


def clean(text: str) -> str:
    """``text`` without escape sequences, C0 controls (but tab and newline), DEL, C1 or
    bidi embedding/override/isolate characters; CR and CRLF become newlines."""
    if not _UNSAFE.search(text):
        return text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _INTRODUCERS.search(text):
        text = _SEQUENCES.sub("", text)
    return text.translate(_DROP)


def clean_line(text: str, max_len: int | None = None) -> str:
    """:func:`clean` on one line: each run of blanks (tabs, newlines, spaces) folded to
    one space, trimmed, and cut to ``max_len`` characters with an ellipsis."""
    text = clean(text)
    if "\n" in text or "\t" in text or "  " in text:
        text = _WS.sub(" ", text)
    text = text.strip()
    if max_len is not None and len(text) > max_len:
        text = text[: max(max_len - 1, 0)] + "…"
    return text


_WINDOWS_DEVICES = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_FORBIDDEN_FILE_CHARS = re.compile(r'[:*?"<>|]')
MAX_FILENAME_BYTES = 200


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A name safe to create inside a chosen directory: no path parts, controls, bidi
    characters, leading dots or device names; at most 200 bytes, keeping the extension."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = clean_line(name)
    name = _FORBIDDEN_FILE_CHARS.sub("_", name).strip().lstrip(".").strip()
    if not name or name in (".", ".."):
        name = fallback
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.upper().rstrip(" ") in _WINDOWS_DEVICES or name.upper() in _WINDOWS_DEVICES:
        name = "_" + name
    encoded = name.encode("utf-8")
    if len(encoded) > MAX_FILENAME_BYTES:
        suffix = ("." + ext) if dot and len(ext.encode()) < 20 else ""
        budget = MAX_FILENAME_BYTES - len(suffix.encode("utf-8"))
        head = name[: len(name) - len(suffix)] if suffix else name
        head = head.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
        name = head + suffix
    return name

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
_DROP: dict[int, str | None] = {cp: None for cp in range(0x20) if cp not in (0x09, 0x0A)}
_DROP.update({0x7F: None})
_DROP.update({cp: None for cp in range(0x80, 0xA0)})
_DROP.update({ord(ch): None for ch in _BIDI})
#: Unicode line and paragraph separators: a line break, as the sender meant.
_DROP.update({0x2028: "\n", 0x2029: "\n"})
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029" + _BIDI + "]")
_WS = re.compile(r"[ \t\n]{2,}|[\t\n]")


def clean(text: str) -> str:
    """``text`` without escape sequences, C0 controls (but tab and newline), DEL, C1 or
    bidi embedding/override/isolate characters; CR, CRLF and U+2028/U+2029 become
    newlines."""
    if not _UNSAFE.search(text):
        return text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _INTRODUCERS.search(text):
        text = _SEQUENCES.sub("", text)
    return text.translate(_DROP)


#: Code points a terminal acts on or that garble the printed line: C0 controls, DEL,
#: C1 controls, bidi embeddings/overrides/isolates and marks (U+061C, U+200E, U+200F),
#: the line/paragraph separators and lone surrogates (which cannot be encoded at all).
UNSAFE_FOR_OUTPUT = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def for_terminal(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` safe to print on a terminal as it is, for command-line output of server
    or customer text (diagnostics, error lines): every character of
    :data:`UNSAFE_FOR_OUTPUT` but tab (and newline with ``keep_newlines``) is shown as a
    visible ``\\x1b`` / ``\\u202e`` escape, so nothing is hidden and nothing acts."""
    if not UNSAFE_FOR_OUTPUT.search(text):
        return text

    def visible(match: re.Match[str]) -> str:
        char = match.group()
        if char == "\t" or (keep_newlines and char == "\n"):
            return char
        cp = ord(char)
        return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"

    return UNSAFE_FOR_OUTPUT.sub(visible, text)


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

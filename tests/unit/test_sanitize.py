"""Customer text never takes over the terminal and is never markup."""

from __future__ import annotations

import unicodedata

import pytest

from omnitui.sanitize import clean, clean_line, safe_filename
from omnitui.ui.safe_text import safe_line, safe_text

HOSTILE = [
    "\x1b[31mred\x1b[0m text",
    "before\x1b[2Jafter",
    "\x1b]0;window title\x07visible",
    "\x1b]0;title with ST\x1b\\visible",
    "\x1b]52;c;cm0gLXJmIH4=\x07clipboard",
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "\x1bP1$r0m\x1b\\dcs",
    "\x9b31m8-bit CSI",
    "\x9d0;title\x07 8-bit OSC",
    "\x1b_apc payload\x1b\\",
    "access = \u202e \u2066admin\u2069 \u2066// check\u2069",
    "[bold]x[/]",
    "[@click=app.quit]click me[/]",
    "[link=https://evil.example]x[/link]",
    "a lone [ bracket",
    "\\[escaped]",
    "nul\x00byte",
    "bell\x07 backspace\x08 formfeed\x0c vt\x0b",
    "overwrite\rline",
    "del\x7fchar",
    "c1\x85next line\x8d",
    "unterminated \x1b]0;title never ends",
    "trailing escape \x1b",
]
LEGIT = [
    "こんにちは、グラインダーの刃は交換できますか？",
    "你好，我们想订 40 台手冲壶",
    "family 👨\u200d👩\u200d👧\u200d👦 and flags 🇯🇵🇳🇴",
    "combining e\u0301 and n\u0303",
    "tabs\tand\nnewlines",
    "emoji variation ☕\ufe0f",
    "Arabic مرحبا and Hebrew שלום",
]
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")


def unsafe(text: str) -> list[str]:
    return [
        ch
        for ch in text
        if (ord(ch) < 0x20 and ch not in "\t\n") or 0x7F <= ord(ch) <= 0x9F or ch in BIDI
    ]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_loses_every_control(text: str) -> None:
    cleaned = clean(text)
    assert unsafe(cleaned) == []
    assert "\x1b" not in cleaned


def test_escape_sequences_are_removed_with_their_payload() -> None:
    assert clean("\x1b]0;window title\x07visible") == "visible"
    assert clean("\x1b]52;c;cm0gLXJmIH4=\x07clipboard") == "clipboard"
    assert clean("\x1b[31mred\x1b[0m text") == "red text"
    assert clean("\x9b31m8-bit CSI") == "8-bit CSI"


@pytest.mark.parametrize("text", LEGIT)
def test_legitimate_text_is_untouched(text: str) -> None:
    assert clean(text) == text


def test_carriage_returns_become_newlines() -> None:
    assert clean("a\r\nb\rc") == "a\nb\nc"


def test_clean_line_folds_and_cuts() -> None:
    assert clean_line("  Hello\n\tworld  ") == "Hello world"
    assert clean_line("x" * 50, 10) == "x" * 9 + "…"
    long = "y" * 10_000
    assert clean(long) == long and len(clean_line(long, 80)) == 80


@pytest.mark.parametrize("text", HOSTILE + LEGIT)
def test_safe_text_is_never_markup(text: str) -> None:
    rendered = safe_text(text, "bold")
    assert rendered.plain == clean(text)
    assert rendered.spans == []
    line = safe_line(text)
    assert line.plain == clean_line(text) and line.spans == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Windows\\evil.exe", "evil.exe"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        (".bashrc", "bashrc"),
        ("", "attachment"),
        ("..", "attachment"),
        ("/", "attachment"),
        ("rep\x1b[31mort.pdf", "report.pdf"),
        ("invoice\u202etxt.exe", "invoicetxt.exe"),
        ('a:b*c?"d<e>f|g.txt', "a_b_c__d_e_f_g.txt"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_safe_filename_caps_length_and_keeps_extension() -> None:
    name = safe_filename("é" * 300 + ".pdf")
    assert name.endswith(".pdf") and len(name.encode()) <= 200
    assert unicodedata.is_normalized("NFC", name)

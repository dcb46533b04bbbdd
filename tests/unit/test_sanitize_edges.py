"""Edges of the sanitiser that a mutation sample found unguarded.

8-bit (C1) string sequences go with their payload: OSC (0x9d) ends at BEL or ST, DCS
(0x90), SOS (0x98), PM (0x9e) and APC (0x9f) end at ST (0x9c or ESC \\). Dropping only
the introducer would leave a window title, a clipboard write or a device control string
on screen as text. Then the exact limits of one-line folding and of file-name cutting.
"""

from __future__ import annotations

import pytest

from omnitui.sanitize import MAX_FILENAME_BYTES, clean, clean_line, safe_filename

ST8 = "\x9c"
ST7 = "\x1b\\"
BEL = "\x07"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x9d0;window title" + BEL + "visible", "visible"),
        ("\x9d0;window title" + ST8 + "visible", "visible"),
        ("\x9d0;window title" + ST7 + "visible", "visible"),
        ("\x9d52;c;cm0gLXJmIH4=" + BEL + "clipboard", "clipboard"),
        ("\x9d8;;https://evil.example" + ST8 + "link\x9d8;;" + ST8, "link"),
        ("a\x9d2;title" + ST8 + "b\x9d0;again" + BEL + "c", "abc"),
        ("\x90q#0;2;0;0;0#0!10~" + ST8 + "visible", "visible"),  # sixel
        ("\x901$r0m" + ST7 + "visible", "visible"),  # DECRQSS
        ("\x90+q544e" + ST8 + "after", "after"),  # XTGETTCAP
        ("\x98start of string" + ST8 + "visible", "visible"),
        ("\x9eprivacy message" + ST8 + "visible", "visible"),
        ("\x9fapplication command" + ST8 + "visible", "visible"),
        ("\x9fapc" + ST7 + "visible", "visible"),
        ("keep \x9d0;title never ends", "keep "),
        ("keep \x90dcs never ends", "keep "),
        ("mixed \x1b]0;seven" + ST8 + "and \x9d0;eight" + ST7 + "end", "mixed and end"),
    ],
)
def test_8bit_string_sequences_are_removed_with_their_payload(text: str, expected: str) -> None:
    assert clean(text) == expected
    assert clean_line(text) == expected.strip()


@pytest.mark.parametrize("introducer", ["\x90", "\x98", "\x9d", "\x9e", "\x9f"])
def test_no_payload_survives_any_8bit_introducer(introducer: str) -> None:
    cleaned = clean(f"before{introducer}SECRET-PAYLOAD{ST8}after")
    assert cleaned == "beforeafter"
    assert not any(0x80 <= ord(ch) <= 0x9F for ch in cleaned)


def test_legitimate_latin1_text_is_untouched() -> None:
    # Printable Latin-1 (0xa0 and up) is text, not a control.
    text = "Crème brûlée, ¿qué tal? ¡Olé! © ± µ ÿ"
    assert clean(text) == text


# -- one line: every kind of blank folds on its own, cuts at exactly max_len ----------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a\nb", "a b"), ("a\tb", "a b"), ("a  b", "a b"), ("a \n\n b", "a b"), ("a\r\nb", "a b")],
)
def test_each_kind_of_blank_folds_to_one_space(text: str, expected: str) -> None:
    assert clean_line(text) == expected


def test_a_line_of_exactly_max_len_is_not_cut() -> None:
    assert clean_line("x" * 10, 10) == "x" * 10
    assert clean_line("x" * 11, 10) == "x" * 9 + "…"


@pytest.mark.parametrize(("max_len", "expected"), [(0, "…"), (1, "…"), (2, "a…")])
def test_tiny_limits_keep_only_the_ellipsis(max_len: int, expected: str) -> None:
    assert clean_line("abcdef", max_len) == expected


# -- file names: the extension is kept only when short ---------------------------------


def test_a_name_of_exactly_the_limit_is_kept_whole() -> None:
    name = "a" * (MAX_FILENAME_BYTES - 4) + ".pdf"
    assert safe_filename(name) == name


def test_an_extension_shorter_than_20_bytes_survives_the_cut() -> None:
    ext = "x" * 18  # with its dot, 19 bytes
    name = safe_filename("a" * 300 + "." + ext)
    assert name.endswith("." + ext) and len(name.encode()) == MAX_FILENAME_BYTES


@pytest.mark.parametrize("length", [19, 20, 40])
def test_a_long_extension_is_not_kept_as_one(length: int) -> None:
    ext = "x" * length
    name = safe_filename("a" * 300 + "." + ext)
    assert len(name.encode()) == MAX_FILENAME_BYTES
    if length >= 20:
        assert name == "a" * MAX_FILENAME_BYTES  # cut like a name without extension
    else:
        assert name.endswith("." + ext)


def test_a_long_name_without_a_dot_is_cut_to_the_limit() -> None:
    assert safe_filename("b" * 500) == "b" * MAX_FILENAME_BYTES

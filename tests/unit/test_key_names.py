"""The config's list of key names is the one the installed Textual knows, so a keymap
that loads without Textual binds exactly as the console will."""

from __future__ import annotations

from textual.keys import Keys, _character_to_key

from omnitui.config.key_names import KEY_NAMES


def test_key_names_match_textual() -> None:
    names = {
        k.value
        for k in Keys
        if "+" not in k.value and not k.value.startswith("<") and k.value.isidentifier()
    } - {"return"}  # Textual reports Enter as "enter"
    names |= {_character_to_key(chr(c)) for c in range(0x21, 0x7F)}
    names.add("space")
    assert {n for n in names if len(n) > 1} == KEY_NAMES

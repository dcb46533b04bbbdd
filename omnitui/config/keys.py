"""The ``[keys]`` table: console action ids, keys that do not hide another action's, and
key names Textual knows.

:func:`check_keys` runs with every config load; :func:`check_key_names` runs when the
console starts and in ``omnitui doctor``. Neither imports Textual (headless commands must
not): the key names are in :mod:`omnitui.config.key_names`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from omnitui.config.key_names import KEY_NAMES
from omnitui.config.schema import Problem, suggest

MODIFIERS = ("ctrl", "alt", "shift", "super", "meta", "hyper")
IDS_HINT = "(the ids are in the README's key table and in the console's help, ?)"
NAMES_HINT = (
    "(a key is one character, or a name such as escape, enter, tab, space, backspace, "
    "delete, up, pagedown, home, f1, question_mark, slash, comma, with ctrl+, alt+, "
    "shift+, super+, meta+ or hyper+ before it)"
)
#: Textual's names of some characters (textual.keys.KEY_NAME_REPLACEMENTS).
_RENAMED = {
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}


def key_name(key: str) -> str:
    """A key as Textual names it: ``?`` → ``question_mark``; longer names unchanged
    (what ``textual.keys._character_to_key`` does, without importing Textual)."""
    if len(key) != 1 or key.isalnum():
        return key
    try:
        name = unicodedata.name(key).lower().replace("-", "_").replace(" ", "_")
    except ValueError:
        name = {"\t": "tab"}.get(key, key)
    return _RENAMED.get(name, name)


def check_keys(keys: Mapping[str, Any]) -> dict[str, str]:
    """``[keys]`` as ``{action id: "k1,k2"}`` (spaces removed); raises :class:`Problem`
    for an unknown id, an empty key, or a key that another action of the same screen or
    of every screen (``q`` quit, ``?`` help…) already uses."""
    from omnitui.keymap import ACTIONS

    by_id = {a.id: a for a in ACTIONS}
    out: dict[str, str] = {}
    for action_id, value in keys.items():
        where = ("keys", action_id)
        if action_id not in by_id:
            hint = suggest(action_id, by_id, limit=0)
            hint = IDS_HINT if hint.startswith("(see") else hint
            raise Problem(where, f"unknown key '{action_id}' in [keys] {hint}")
        if not isinstance(value, str) or not value.strip():
            raise Problem(where, f'keys.{action_id}: expected a key string like "j,down"')
        parts = ["".join(p.split()) for p in value.split(",")]
        if not all(parts):
            raise Problem(
                where,
                f"keys.{action_id}: {value!r} has an empty key (keys are separated by "
                'commas, e.g. "j,down"; the comma key itself is "comma")',
            )
        out[action_id] = ",".join(parts)
    effective = {a.id: {key_name(k) for k in out.get(a.id, a.keys).split(",")} for a in ACTIONS}
    for action_id, value in out.items():
        mine = by_id[action_id]
        for key in value.split(","):
            for other in ACTIONS:
                if other.id == action_id or key_name(key) not in effective[other.id]:
                    continue
                if other.scope == mine.scope or "app" in (other.scope, mine.scope):
                    where_other = "everywhere" if other.scope == "app" else f"in the {other.scope}"
                    raise Problem(
                        ("keys", action_id),
                        f"keys.{action_id}: '{key}' is already the key of '{other.id}' "
                        f"({other.description}; {where_other}): choose another key, or "
                        f"rebind {other.id} too",
                    )
    return out


def check_key_names(keys: Mapping[str, str]) -> None:
    """Raise :class:`Problem` for a key Textual does not know (``cursor_down =
    "ctrl+alt+banana"``)."""
    names = KEY_NAMES
    for action_id, value in keys.items():
        for key in value.split(","):
            *mods, base = [key] if len(key) == 1 else key.split("+")
            for mod in mods:
                if mod not in MODIFIERS:
                    raise Problem(
                        ("keys", action_id),
                        f"keys.{action_id}: '{key}': unknown modifier '{mod}' "
                        + suggest(mod, MODIFIERS),
                    )
            if (len(base) == 1 and base.isprintable()) or base in names:
                continue
            hint = suggest(base, sorted(n for n in names if len(n) > 1), limit=0) if base else ""
            raise Problem(
                ("keys", action_id),
                f"keys.{action_id}: '{key}': '{base}' is not a key name "
                + (hint if hint.startswith("(did") else NAMES_HINT),
            )

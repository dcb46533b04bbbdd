"""CJK text for the full-text indexes: each Han, kana and Hangul character its own word.

Chinese and Japanese are written without spaces, so the tokenizers (FTS5 ``unicode61``,
PostgreSQL ``simple``) see a whole run such as ``我的订单还没到`` as one word, and a word
inside it (``订单``) cannot be found. Both indexes therefore index :func:`spaced` text,
where every such character stands apart, and a query word is searched as the phrase of
its characters (``"订 单"``): found anywhere inside a run, in order and adjacent. Text
without CJK characters is indexed unchanged.

The same rule is spelt twice, kept identical by a test: :func:`spaced` (registered as
the SQL function ``omnitui_cjk`` on every SQLite connection of :mod:`storage.engine`,
used by the FTS5 triggers) and :data:`PG_FUNCTION` (an immutable SQL function, used by
the GIN expression indexes and the queries).
"""

from __future__ import annotations

import re

#: The SQL function both databases index through.
FUNCTION = "omnitui_cjk"

#: Characters indexed one by one: CJK symbols' iteration marks, hiragana, katakana
#: (with the prolonged sound mark), CJK unified ideographs (extension A and the base
#: block), compatibility ideographs, Hangul syllables, halfwidth katakana.
RANGES = (
    ("\u3005", "\u3007"),
    ("\u3040", "\u30ff"),
    ("\u3400", "\u4dbf"),
    ("\u4e00", "\u9fff"),
    ("\uac00", "\ud7af"),
    ("\uf900", "\ufaff"),
    ("\uff66", "\uff9f"),
)
_CLASS = "".join(f"{a}-{b}" for a, b in RANGES)
_CHAR = re.compile(f"([{_CLASS}])")
_ANY = re.compile(f"[{_CLASS}]")

#: PostgreSQL's spelling of :func:`spaced` (the database must be UTF8). The GIN indexes
#: hold its results: a different rule needs a new function name and a migration that
#: rebuilds them, never a replaced body (the indexes would silently disagree).
PG_FUNCTION = (
    f"CREATE OR REPLACE FUNCTION {FUNCTION}(t text) RETURNS text "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS "
    f"$$ SELECT regexp_replace(t, '([{_CLASS}])', ' \\1 ', 'g') $$"
)


def pg_function_in(schema: str) -> str:
    """:data:`PG_FUNCTION`, created in ``schema`` (the tables' own, so every role that
    finds the tables through its search_path finds the function too)."""
    quoted = '"' + schema.replace('"', '""') + '"'
    return PG_FUNCTION.replace(f"FUNCTION {FUNCTION}(", f"FUNCTION {quoted}.{FUNCTION}(", 1)


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a character indexed one by one."""
    return not text.isascii() and _ANY.search(text) is not None


def spaced(text: str | None) -> str | None:
    """``text`` with a space on each side of every CJK character (what the indexes
    hold); unchanged without one. None stays None (SQL NULL)."""
    if text is None or text.isascii():
        return text
    return _CHAR.sub(r" \1 ", text)

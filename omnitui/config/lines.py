"""Where each table and key of a TOML document is, by line (``tomllib`` reports none).

A small scanner over the text: it follows table headers (``[sla.hours]``), arrays of
tables (``[[accounts]]``, counted, so the second one is ``("accounts", 1)``), dotted and
quoted keys, and skips what is inside strings, multi-line strings and values that span
lines (arrays, inline tables). Only called on text ``tomllib`` has already accepted.
"""

from __future__ import annotations

Path = tuple[str | int, ...]


class TomlLines:
    """Line numbers (1-based) of the tables and keys of one TOML text."""

    def __init__(self, text: str) -> None:
        self.lines: dict[Path, int] = {}
        #: The current index of each array of tables, by its concrete path.
        self._arrays: dict[Path, int] = {}
        self._scan(text)

    def line(self, path: Path) -> int:
        """The line of ``path`` (e.g. ``("accounts", 0, "imap_host")``), else of its
        nearest enclosing table or key that has one, else 0."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found:
                return found
        return 0

    # -- scanning ---------------------------------------------------------------------

    def _scan(self, text: str) -> None:
        table: Path = ()
        open_string = ""  # the delimiter of a multi-line string being skipped
        depth = 0  # brackets of a value spanning lines
        for number, raw in enumerate(text.splitlines(), start=1):
            rest = raw
            if open_string:
                end = rest.find(open_string)
                if end < 0:
                    continue
                rest = rest[end + 3 :]
                open_string, depth = _skip_value(rest, depth)
                continue
            if depth:
                open_string, depth = _skip_value(rest, depth)
                continue
            stripped = rest.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("[["):
                parts, _ = _key(stripped[2:], "]")
                parent = self._concrete(parts[:-1]) + tuple(parts[-1:])
                index = self._arrays.get(parent, -1) + 1
                self._arrays[parent] = index
                table = (*parent, index)
                self.lines.setdefault(parent, number)
                self.lines[table] = number
                continue
            if stripped.startswith("["):
                parts, _ = _key(stripped[1:], "]")
                table = self._concrete(parts)
                self.lines.setdefault(table, number)
                continue
            parts, after = _key(stripped, "=")
            path = (*table, *parts)
            for end in range(len(table) + 1, len(path) + 1):
                self.lines.setdefault(path[:end], number)
            open_string, depth = _skip_value(after, 0)

    def _concrete(self, parts: list[str]) -> Path:
        """A header's dotted key with the current index after each array of tables."""
        out: Path = ()
        for part in parts:
            out = (*out, part)
            if out in self._arrays:
                out = (*out, self._arrays[out])
        return out


def _key(text: str, stop: str) -> tuple[list[str], str]:
    """The dotted key at the start of ``text`` (quotes removed) and what follows ``stop``."""
    parts: list[str] = []
    current = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            end = i + 1
            while end < len(text) and text[end] != ch:
                end += 2 if ch == '"' and text[end] == "\\" else 1
            current += text[i + 1 : end]
            i = end + 1
            continue
        if ch == ".":
            parts.append(current.strip())
            current = ""
        elif ch == stop:
            break
        else:
            current += ch
        i += 1
    parts.append(current.strip())
    return parts, text[i + 1 :]


def _skip_value(text: str, depth: int) -> tuple[str, int]:
    """Scan (part of) a value: the delimiter of a multi-line string left open at the end
    of the line ('' if none) and the bracket depth left open."""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "#":
            break
        if text.startswith(('"""', "'''"), i):
            delim = text[i : i + 3]
            end = text.find(delim, i + 3)
            if end < 0:
                return delim, depth
            i = end + 3
            while i < len(text) and text[i] == delim[0]:  # up to two quotes may end it
                i += 1
            continue
        if ch in "\"'":
            i += 1
            while i < len(text) and text[i] != ch:
                i += 2 if ch == '"' and text[i] == "\\" else 1
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return "", depth

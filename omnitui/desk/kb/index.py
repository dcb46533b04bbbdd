"""Loading and searching the knowledge base: a directory of Markdown answers with YAML
front matter, read into memory, indexed with SQLite FTS5 (plus rapidfuzz for typos)
and re-scanned cheaply by :meth:`KnowledgeBase.refresh`.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import unicodedata
from pathlib import Path
from typing import Any

from omnitui.desk.kb.model import Article, KBError
from storage.models import CHANNELS

MAX_FILE_BYTES = 1_000_000
SHORTCUT_RE = re.compile(r"^\w[\w.-]{0,63}$")
_CJK = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]"
_CJK_RE = re.compile(_CJK)
_TOKEN_RE = re.compile(rf"{_CJK}+|(?:(?!{_CJK})[^\W_])+")
_JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_HEADING_RE = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.M)
_SEARCH_WEIGHTS = "10.0, 6.0, 3.0, 1.0"  # shortcut, title, tags, body
_SUGGEST_WEIGHTS = "4.0, 4.0, 3.0, 1.0"
_FUZZY_MIN = 80.0
_SUGGEST_MAX_WORDS = 32
# English stop-words plus the filler of support messages ("hi, please help, thanks").
_STOP_TEXT = """
a about above after again against all also am an and any are aren as at be because been
before being below between both but by can cannot could couldn did didn do does doesn doing
don down during each few for from further had hadn has hasn have haven having he her here
hers herself him himself his how i if in into is isn it its itself just let ll me more most
mustn my myself no nor not now of off on once only or other ought our ours ourselves out
over own re same shan she should shouldn so some such than that the their theirs them
themselves then there these they this those through to too under until up ve very was wasn
we were weren what when where which while who whom why will with won would wouldn you your
yours yourself yourselves hello hi hey dear thanks thank thx please pls regards best cheers
kind sincerely ok okay yes yeah want wanted need needed like get got help know still really
today yesterday tomorrow asap sir madam team support guys anyone someone something
"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())


# --- loading -------------------------------------------------------------------------------

Signature = tuple[bool, tuple[tuple[str, int, int], ...]]


def _scan(directory: Path) -> Signature:
    """Names, mtimes and sizes of the ``*.md`` files (hidden files and dirs skipped)."""
    if not directory.is_dir():
        return (False, ())
    found: list[tuple[str, int, int]] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith(".") or not name.lower().endswith(".md"):
                continue
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            found.append((os.path.relpath(full, directory), st.st_mtime_ns, st.st_size))
    return (True, tuple(sorted(found)))


def _split_front_matter(text: str) -> tuple[str | None, str, int]:
    """(front matter or None, body, 1-based line where the body starts)."""
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        return None, text, 1
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :]), i + 2
    raise KBError("1: front matter has no closing '---'")


def _key_line(front: str, key: str) -> int:
    """The file line of ``key:`` in the front matter (1 if not found)."""
    for i, line in enumerate(front.split("\n")):
        if re.match(rf"{key}\s*:", line):
            return i + 2
    return 1


def _str_list(value: Any, key: str, front: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        raise KBError(f"{_key_line(front, key)}: {key} must be a list of words")
    return tuple(s for s in (str(v).strip() for v in value) if s)


def _parse(path: Path, rel: str) -> Article:
    """Read one file; raises KBError("LINE: message") (the caller adds the path)."""
    import yaml

    raw = path.read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        raise KBError(f"1: file is larger than {MAX_FILE_BYTES // 1000} KB")
    try:
        text = raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise KBError(f"1: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    front, body, body_line = _split_front_matter(text)
    meta: Any = {}
    if front is not None:
        try:
            meta = yaml.safe_load(front) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 2 if mark is not None else 1
            problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
            raise KBError(f"{line}: bad front matter: {problem}") from None
        if not isinstance(meta, dict):
            raise KBError("2: front matter must be a mapping of keys (title: …)")
    front = front or ""
    stem = re.sub(r"\s+", "-", Path(rel).stem.strip())
    shortcut = meta.get("shortcut", stem)
    if not isinstance(shortcut, str | int) or not SHORTCUT_RE.match(str(shortcut)):
        raise KBError(
            f"{_key_line(front, 'shortcut')}: shortcut {shortcut!r} must be one word "
            "(letters, digits, '-', '_', '.')"
        )
    title = meta.get("title")
    if title is None:
        heading = _HEADING_RE.search(body)
        title = heading.group(1).strip() if heading else stem
    if not isinstance(title, str | int | float) or isinstance(title, bool) or not str(title):
        raise KBError(f"{_key_line(front, 'title')}: title must be text")
    channels = tuple(c.lower() for c in _str_list(meta.get("channels"), "channels", front))
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise KBError(
            f"{_key_line(front, 'channels')}: unknown channel {unknown[0]!r} "
            f"(use {', '.join(CHANNELS)})"
        )
    from omnitui.desk.kb.templates import template_problem

    problem = template_problem(body)  # a syntax error, or a limit broken in plain sight
    if problem is not None:
        line, message = problem
        raise KBError(f"{body_line + line - 1}: {message}")
    return Article(
        path=path,
        shortcut=str(shortcut),
        title=str(title).strip(),
        tags=_str_list(meta.get("tags"), "tags", front),
        channels=channels,
        body=body,
        body_line=body_line,
    )


# --- indexing and search -------------------------------------------------------------------


def _fold(text: str) -> str:
    """Case- and accent-insensitive form for fuzzy matching."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _spaced(text: str) -> str:
    """Split CJK text into one token per character (unicode61 would keep whole runs)."""
    return _CJK_RE.sub(lambda m: f" {m.group(0)} ", text)


def _quote(token: str) -> str:
    """One user token as an FTS5 string (a phrase of characters for CJK)."""
    if _CJK_RE.match(token):
        token = " ".join(token)
    return '"' + token.replace('"', '""') + '"'


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(unicodedata.normalize("NFC", text).casefold())


class _Snapshot:
    """An immutable loaded state: articles, problems and their FTS index."""

    def __init__(self, signature: Signature, articles: list[Article], problems: list[str]):
        self.signature = signature
        self.articles = sorted(articles, key=lambda a: a.shortcut.casefold())
        self.problems = tuple(problems)
        self.row = {a.shortcut.casefold(): i for i, a in enumerate(self.articles)}
        self.by_shortcut = {key: self.articles[i] for key, i in self.row.items()}
        self.words: list[list[str]] = []
        self.lock = threading.Lock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        for table, tokenizer in (("search_idx", ""), ("suggest_idx", "porter ")):
            self.db.execute(
                f"CREATE VIRTUAL TABLE {table} USING fts5(shortcut, title, tags, body, "
                f"tokenize = '{tokenizer}unicode61 remove_diacritics 2')"
            )
        for rowid, art in enumerate(self.articles):
            row = (
                rowid,
                _spaced(art.shortcut),
                _spaced(art.title),
                _spaced(" ".join(art.tags)),
                _spaced(_JINJA_RE.sub(" ", art.body)),
            )
            for table in ("search_idx", "suggest_idx"):
                self.db.execute(
                    f"INSERT INTO {table}(rowid, shortcut, title, tags, body) "
                    "VALUES (?, ?, ?, ?, ?)",
                    row,
                )
            words = {_fold(w) for w in re.findall(r"[^\W_]+", f"{art.shortcut} {art.title}")}
            words |= {_fold(art.shortcut), _fold(re.sub(r"[\W_]+", "", art.shortcut))}
            self.words.append(sorted(words))

    def query(self, table: str, weights: str, match: str) -> list[tuple[int, float]]:
        sql = (
            f"SELECT rowid, bm25({table}, {weights}) FROM {table} "
            f"WHERE {table} MATCH ? ORDER BY 2 LIMIT 500"
        )
        with self.lock:
            try:
                rows = self.db.execute(sql, (match,)).fetchall()
            except sqlite3.OperationalError:  # defensive: user text is always quoted
                return []
        return [(int(r), float(s)) for r, s in rows]


class KnowledgeBase:
    """The articles of one KB directory, searchable, refreshed by :meth:`refresh`.

    Thread-safe: a refresh builds a new snapshot and swaps it in; readers use whichever
    snapshot was current when they started.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory).expanduser()
        self._refresh_lock = threading.Lock()
        self._snap = self._load(_scan(self.directory))

    @property
    def problems(self) -> list[str]:
        """One line per file that could not be loaded: ``path:line: message``."""
        return list(self._snap.problems)

    def _load(self, signature: Signature) -> _Snapshot:
        exists, files = signature
        if not exists:
            return _Snapshot(signature, [], [f"kb dir {self.directory} does not exist"])
        articles: list[Article] = []
        problems: list[str] = []
        seen: dict[str, Article] = {}
        for rel, _mtime, _size in files:
            path = self.directory / rel
            try:
                article = _parse(path, rel)
            except KBError as exc:
                problems.append(f"{path}:{exc}")
                continue
            except OSError as exc:
                problems.append(f"{path}:1: cannot read: {exc.strerror or exc}")
                continue
            except Exception as exc:  # a watcher thread must survive any odd file
                problems.append(f"{path}:1: cannot load: {type(exc).__name__}: {exc}")
                continue
            first = seen.get(article.shortcut.casefold())
            if first is not None:
                problems.append(
                    f"{path}:1: duplicate shortcut {article.shortcut!r} "
                    f"(already used by {first.path})"
                )
                continue
            seen[article.shortcut.casefold()] = article
            articles.append(article)
        return _Snapshot(signature, articles, problems)

    def refresh(self) -> bool:
        """Re-scan the directory; reload and re-index only if a file changed. Cheap."""
        with self._refresh_lock:
            signature = _scan(self.directory)
            if signature == self._snap.signature:
                return False
            self._snap = self._load(signature)
            return True

    def articles(self) -> list[Article]:
        """Every loaded article, sorted by shortcut."""
        return list(self._snap.articles)

    def get(self, shortcut: str) -> Article | None:
        """The article with this shortcut (case-insensitive), or None."""
        return self._snap.by_shortcut.get(shortcut.strip().casefold())

    def search(self, query: str, *, channel: str | None = None, limit: int = 20) -> list[Article]:
        """Articles matching ``query``, best first (exact shortcut, then FTS + fuzzy)."""
        snap = self._snap
        if limit <= 0:
            return []
        ok = [channel is None or a.allowed_on(channel) for a in snap.articles]
        if not query.strip():
            allowed = [a for a, keep in zip(snap.articles, ok, strict=True) if keep]
            return sorted(allowed, key=lambda a: (a.title.casefold(), a.shortcut))[:limit]
        tokens = _tokens(query)
        scores: dict[int, float] = {}
        exact = snap.row.get(query.strip().lstrip("/").casefold())
        if exact is not None:
            scores[exact] = 1000.0
        if tokens:
            terms = [_quote(t) for t in tokens]
            if not query[-1].isspace() and not _CJK_RE.match(tokens[-1]):
                terms[-1] += "*"
            hits = snap.query("search_idx", _SEARCH_WEIGHTS, " AND ".join(terms))
            base = 100.0
            if not hits and len(terms) > 1:  # no article has every word: any word, ranked lower
                hits, base = snap.query("search_idx", _SEARCH_WEIGHTS, " OR ".join(terms)), 50.0
            best = hits[0][1] if hits and hits[0][1] < 0 else -1.0
            for rowid, bm25 in hits:
                scores[rowid] = scores.get(rowid, 0.0) + base + base * min(bm25 / best, 1.0)
            for rowid, fuzzy in self._fuzzy(snap, tokens, prefix=not query[-1].isspace()):
                scores[rowid] = scores.get(rowid, 0.0) + fuzzy
        ranked = sorted(
            (r for r in scores if ok[r]),
            key=lambda r: (-scores[r], snap.articles[r].title.casefold()),
        )
        return [snap.articles[r] for r in ranked[:limit]]

    @staticmethod
    def _fuzzy(snap: _Snapshot, tokens: list[str], *, prefix: bool) -> list[tuple[int, float]]:
        """(row, score) where every query word is close to a word of shortcut or title."""
        from rapidfuzz import fuzz

        words = [_fold(t) for t in tokens if not _CJK_RE.match(t)]
        if not words or all(len(w) < 3 for w in words):
            return []
        out: list[tuple[int, float]] = []
        for rowid, candidates in enumerate(snap.words):
            total = 0.0
            for i, word in enumerate(words):
                best = max((fuzz.ratio(word, c) for c in candidates), default=0.0)
                if prefix and i == len(words) - 1 and len(word) >= 3:
                    best = max([best, *(fuzz.ratio(word, c[: len(word)]) for c in candidates)])
                if best < _FUZZY_MIN:
                    break
                total += best
            else:
                out.append((rowid, total / len(words)))
        return out

    def suggest(self, text: str, *, channel: str | None = None, limit: int = 5) -> list[Article]:
        """Articles related to a customer's message (its significant words, OR-ed), best first."""
        snap = self._snap
        terms: list[str] = []
        for token in _tokens(text[:20_000]):
            if _CJK_RE.match(token):
                grams = [token[i : i + 2] for i in range(len(token) - 1)]
                terms.extend(_quote(g) for g in grams)
            elif len(token) >= 3 and not token.isdigit() and token not in _STOP_WORDS:
                terms.append(_quote(token))
        terms = list(dict.fromkeys(terms))[:_SUGGEST_MAX_WORDS]
        if not terms or limit <= 0:
            return []
        hits = snap.query("suggest_idx", _SUGGEST_WEIGHTS, " OR ".join(terms))
        found = [snap.articles[r] for r, _score in hits]
        return [a for a in found if channel is None or a.allowed_on(channel)][:limit]

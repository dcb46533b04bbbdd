"""Full-text search over message text, conversation subjects and customer names.

SQLite uses the FTS5 tables of the first migration (tokenizer ``unicode61
remove_diacritics 2``); PostgreSQL uses the GIN indexes over ``to_tsvector('simple', …)``
('simple': no stemming, no stop words, so names and any language work).

What matches. The query is split on white space into words (at most
:data:`MAX_WORDS`); a word with no letter or digit (``"``, ``*``, ``-``, an emoji) is
dropped, and a query left with no word finds nothing. Every word must match (AND). Each
word is passed to the database as one quoted phrase, so nothing the user types is ever
query syntax: ``OR``, ``NEAR(``, ``col:x``, ``*`` are plain words. The last word also
matches as the start of a longer word once it has :data:`MIN_PREFIX` characters, or one
CJK character (``ref`` finds ``refund``). A conversation matches when

* its subject, or its customer's name, contains every word (shown first), or
* one of its messages contains every word (next), or
* the words are spread over its subject, its customer's name and its messages
  (``ana refund``: the customer is Ana, a message says refund). Shown last, looked for
  only when the groups above leave room under ``limit``, and among a bounded set:
  the conversations holding the rarest word.

Within a group, better rank first (FTS5 ``bm25`` / ``ts_rank``), then newer first. One
hit per conversation; its snippet is a one-line plain-text excerpt (≤
:data:`SNIPPET_CHARS` characters, no markup) of its best matching message around the
first match, with the matching words' offsets in ``highlights``.

Bounded work on big stores: only the newest :data:`MESSAGE_CAP` matching messages are
ranked (SQLite; PostgreSQL takes the first the index yields), so a word found in a
million messages costs about the same as a rare one; a short last word is matched whole,
since a one- or two-letter prefix expands to thousands of words (up to ~1 s at 1M
messages on SQLite without an FTS5 prefix index).

PostgreSQL. The indexes hold no tsvector, so ``ts_rank`` parses each ranked text again
(about 30 µs a message): a message is ranked only when its score can change the
result. When subjects and customer names alone fill ``limit`` (a common word), the
message lookup reads ids only and ranks just the messages of the conversations shown,
for their snippets; otherwise every matching message is ranked, as on SQLite. The
lookups for words spread over fields read no scores at all. The query reaches the
lookups through a subquery the planner does not look into, so it never trades the GIN
index for a sequential scan that parses every message it passes (it did for any word in
more than a few per cent of the messages, and took longer than the index). Lists of ids
go as one array (``= ANY``), so a statement's text, and its prepared plan, is the same
whatever the number of ids.

Limits. Accents: SQLite ignores them (``cafe`` finds ``café``), PostgreSQL's 'simple'
configuration does not. CJK: both indexes hold each Han, kana and Hangul character as a
word of its own (:mod:`storage.cjk`), and a query word with such characters is looked
for as the phrase of its characters, so a word inside a run of text without spaces is
found (``订单`` in ``我的订单还没到``, ``壊れた`` in ``ケトルが壊れた``); checked in
Python (words spread over fields), its characters need only all be present. Emoji are
separators, never search terms.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, text
from sqlalchemy.orm import Session

from storage.cjk import has_cjk, spaced

#: Words of a query that are used; more are ignored.
MAX_WORDS = 8
#: Matching messages ranked per query (the newest ones on SQLite).
MESSAGE_CAP = 2000
#: Subjects, customers and messages looked up per word for words spread over fields.
FIELD_CAP = 500
#: Conversations checked for words spread over fields, or of one customer.
CANDIDATE_CAP = 300
#: Messages read (newest first) for those conversations.
CANDIDATE_MESSAGES = 3000
#: Characters of a message read for its snippet or for checking it in Python.
TEXT_CAP = 20_000
#: Longest snippet, ellipses included.
SNIPPET_CHARS = 120
#: Shortest last word matched as a prefix (CJK: one character).
MIN_PREFIX = 3

_WORD_CHAR = re.compile(r"[^\W_]")
_TOKEN = re.compile(r"[^\W_]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Groups of hits, best first.
_WHOLE_FIELD, _ONE_MESSAGE, _SPREAD = 0, 1, 2


@dataclass(frozen=True)
class SearchHit:
    """A matching conversation with a plain-text snippet of its best match.

    ``highlights`` are ``(start, end)`` offsets into ``snippet`` of the matching words.
    """

    conversation_id: int
    ref: str | None
    subject: str
    snippet: str
    channel: str
    status: str
    highlights: tuple[tuple[int, int], ...] = ()


def query_words(query: str) -> list[str]:
    """The words of ``query`` that take part in a search (see the module docstring)."""
    cleaned = unicodedata.normalize("NFC", _CONTROL.sub(" ", query))
    return [w for w in cleaned.split() if _WORD_CHAR.search(w)][:MAX_WORDS]


def search(
    conn_or_session: Connection | Session,
    query: str,
    *,
    limit: int = 50,
    customer_id: int | None = None,
) -> list[SearchHit]:
    """Conversations matching every word of ``query``, best first, at most ``limit``.

    ``customer_id`` restricts the search to that customer's conversations (their newest
    :data:`CANDIDATE_CAP`). Accepts a Connection or an ORM/SQLModel Session.
    """
    words = query_words(query)
    if not words or limit <= 0:
        return []
    conn = conn_or_session.connection() if isinstance(conn_or_session, Session) else conn_or_session
    backend: _Backend = _Postgres() if conn.dialect.name == "postgresql" else _Sqlite()
    q = _Query(words, fold_accents=backend.folds_accents)
    found = _Found()
    if customer_id is not None:
        _customer_hits(conn, q, customer_id, found)
    else:
        _indexed_hits(conn, backend, q, found, limit)
        if len(words) > 1 and len(found.best) < limit:
            _spread_hits(conn, backend, q, found)
    return _materialise(conn, q, found, limit)


# -- the query in Python: folding, tokens, matching -------------------------------------


@lru_cache(maxsize=8192)
def _fold_char(ch: str, fold_accents: bool) -> str:
    low = ch.lower()
    if not fold_accents:
        return low
    bare = "".join(c for c in unicodedata.normalize("NFD", low) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare) or low


def _fold(s: str, fold_accents: bool) -> tuple[str, list[int] | None]:
    """``s`` folded like the tokenizer does, and a map of folded to original offsets
    (None when the offsets are the same)."""
    if s.isascii():
        return s.lower(), None
    parts = [_fold_char(ch, fold_accents) for ch in s]
    folded = "".join(parts)
    if len(folded) == len(s) and all(len(p) == 1 for p in parts):
        return folded, None
    offsets: list[int] = []
    for i, part in enumerate(parts):
        offsets.extend([i] * len(part))
    offsets.append(len(s))
    return folded, offsets


def _tokens(folded: str) -> list[str]:
    """The tokens of folded text as the indexes see them (CJK characters one by one)."""
    return _TOKEN.findall(spaced(folded) or "")


def _indexed_form(word: str) -> str:
    """A query word as the indexes hold it (CJK characters spaced apart)."""
    return (spaced(word) or "").strip() if has_cjk(word) else word


def _prefix_worthy(token: str) -> bool:
    """Whether ``token`` is long enough to be matched as a prefix: three characters, or
    one wide (CJK) character. Shorter prefixes expand to too many words to be fast."""
    if len(token) >= MIN_PREFIX:
        return True
    return bool(token) and unicodedata.east_asian_width(token[0]) in ("W", "F")


class _Query:
    """The words of a query, with their folded tokens for checks done in Python."""

    def __init__(self, words: list[str], *, fold_accents: bool) -> None:
        self.words = words
        self.fold_accents = fold_accents
        folded = [_fold(w, fold_accents)[0] for w in words]
        self.tokens = [_tokens(f) or [""] for f in folded]
        last = self.tokens[-1][-1]
        #: The last token, when it may start a longer word.
        self.prefix = last if _prefix_worthy(last) and not has_cjk(last) else None
        # Highlights: a CJK word's characters in a row, anywhere; other tokens whole.
        runs = {r for f in folded if has_cjk(f) for r in _TOKEN.findall(f)}
        exact = {t for toks in self.tokens for t in toks if t and not has_cjk(t)}
        exact -= {self.prefix}
        alternatives = [re.escape(t) for t in sorted(exact, key=len, reverse=True)]
        parts = [rf"(?<![^\W_])(?:{'|'.join(alternatives)})(?![^\W_])"] if exact else []
        if runs:
            parts.append("|".join(re.escape(r) for r in sorted(runs, key=len, reverse=True)))
        if self.prefix:
            parts.append(rf"(?<![^\W_]){re.escape(self.prefix)}[^\W_]*")
        self._find = re.compile("|".join(parts)) if parts else None

    def doc_tokens(self, s: str) -> set[str]:
        """The distinct folded tokens of a text."""
        return set(_tokens(_fold(s, self.fold_accents)[0]))

    def covered(self, tokens: set[str]) -> set[int]:
        """Indexes of the words found in a text with these tokens."""
        out = set()
        last = len(self.words) - 1
        for i, toks in enumerate(self.tokens):
            need = toks[:-1] if i == last and self.prefix else toks
            if not all(t in tokens for t in need):
                continue
            if i == last and self.prefix and not any(t.startswith(self.prefix) for t in tokens):
                continue
            out.add(i)
        return out

    def spans(self, s: str) -> list[tuple[int, int]]:
        """``(start, end)`` offsets in ``s`` of tokens matching a query word."""
        if self._find is None:
            return []
        folded, offsets = _fold(s, self.fold_accents)
        spans = (m.span() for m in self._find.finditer(folded))
        if offsets is None:
            return list(spans)
        return [(offsets[a], offsets[b - 1] + 1) for a, b in spans]


# -- the databases ----------------------------------------------------------------------


class _Backend:
    """SQL for one database: match expressions and the three indexed lookups.

    ``*_sql`` read ``(id, score)``; ``*_ids_sql`` the same rows without a score, where
    scoring costs (the same as the scored ones where it does not)."""

    folds_accents = False
    messages_sql = ""
    subjects_sql = ""
    customers_sql = ""
    messages_ids_sql = ""
    subjects_ids_sql = ""
    customers_ids_sql = ""
    #: Scores messages apart from finding them (:meth:`message_scores`).
    scores_later = False

    def match(self, q: _Query, words: Sequence[int]) -> str:
        raise NotImplementedError

    def message_scores(self, conn: Connection, match: str, mids: Sequence[int]) -> dict[int, float]:
        """The scores of these messages for ``match``, as ``messages_sql`` gives them."""
        raise NotImplementedError


class _Sqlite(_Backend):
    folds_accents = True
    messages_sql = """
        SELECT f.rowid AS mid, m.conversation_id AS cid, f.rank AS score
          FROM (SELECT rowid, rank FROM message_fts WHERE message_fts MATCH :q
                 ORDER BY rowid DESC LIMIT :cap) AS f
          JOIN message m ON m.id = f.rowid"""
    subjects_sql = """
        SELECT rowid AS cid, rank AS score FROM conversation_fts
         WHERE conversation_fts MATCH :q ORDER BY rowid DESC LIMIT :cap"""
    customers_sql = """
        SELECT rowid AS id, rank AS score FROM customer_fts
         WHERE customer_fts MATCH :q ORDER BY rowid DESC LIMIT :cap"""
    # FTS5 ranks as it matches: nothing to save.
    messages_ids_sql = messages_sql
    subjects_ids_sql = subjects_sql
    customers_ids_sql = customers_sql

    def match(self, q: _Query, words: Sequence[int]) -> str:
        """An FTS5 query: each word a quoted phrase (implicit AND), the last a prefix."""
        last = len(q.words) - 1
        parts = []
        for i in words:
            phrase = '"' + _indexed_form(q.words[i]).replace('"', '""') + '"'
            parts.append(phrase + "*" if i == last and q.prefix else phrase)
        return " ".join(parts)


#: The tsquery of ``:q``, computed where the planner does not look (``OFFSET 0``): it
#: plans ``@@`` with its default selectivity, which keeps the GIN index (with the query
#: in sight it chose a sequential scan, parsing every row it passed, for any word found
#: in a few per cent of the rows). The rows are the same either way: the first matches
#: in the table's order.
_PG_QUERY = "(SELECT to_tsquery('simple', :q) AS q OFFSET 0) AS tq"


def _pg_vector(alias: str, column: str) -> str:
    """The tsvector of ``alias.column``: the expression its GIN index holds (the
    queries must spell it the same for the planner to use the index)."""
    return f"to_tsvector('simple', omnitui_cjk({alias}.{column}))"


#: A message's tsvector. ``ts_rank`` and the rechecks of CJK phrases parse the text
#: again each time; a stored column (``GENERATED ALWAYS AS (…) STORED`` with its own GIN
#: index) would be read instead: 3× faster for Latin words, 20× and more for CJK phrases
#: (docs/PERFORMANCE.md). With such a column, this becomes ``"m.<column>"``.
_PG_MESSAGE_VECTOR = _pg_vector("m", "text")


def _pg_lookup(table: str, alias: str, vector: str, key: str, scored: bool) -> str:
    score = f", -ts_rank({vector}, tq.q) AS score" if scored else ""
    return (
        f"SELECT {key}{score} FROM {_PG_QUERY} CROSS JOIN {table} {alias} "
        f"WHERE {vector} @@ tq.q LIMIT :cap"
    )


_MESSAGE_KEY = "m.id AS mid, m.conversation_id AS cid"
_SUBJECT, _NAME = _pg_vector("c", "subject"), _pg_vector("cu", "name")


class _Postgres(_Backend):
    messages_sql = _pg_lookup("message", "m", _PG_MESSAGE_VECTOR, _MESSAGE_KEY, True)
    subjects_sql = _pg_lookup("conversation", "c", _SUBJECT, "c.id AS cid", True)
    customers_sql = _pg_lookup("customer", "cu", _NAME, "cu.id AS id", True)
    messages_ids_sql = _pg_lookup("message", "m", _PG_MESSAGE_VECTOR, _MESSAGE_KEY, False)
    subjects_ids_sql = _pg_lookup("conversation", "c", _SUBJECT, "c.id AS cid", False)
    customers_ids_sql = _pg_lookup("customer", "cu", _NAME, "cu.id AS id", False)
    scores_later = True
    _scores_sql = f"""
        SELECT m.id AS mid, -ts_rank({_PG_MESSAGE_VECTOR}, to_tsquery('simple', :q)) AS score
          FROM message m WHERE m.id = ANY(:ids)"""

    def message_scores(self, conn: Connection, match: str, mids: Sequence[int]) -> dict[int, float]:
        if not mids:
            return {}
        rows = conn.execute(text(self._scores_sql), {"q": match, "ids": list(mids)})
        return {row.mid: row.score for row in rows}

    def match(self, q: _Query, words: Sequence[int]) -> str:
        """A tsquery: each word a quoted lexeme string (``&``), the last with ``:*``."""
        last = len(q.words) - 1
        parts = []
        for i in words:
            word = _indexed_form(q.words[i])
            quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
            parts.append(quoted + ":*" if i == last and q.prefix else quoted)
        return " & ".join(parts)


# -- collecting hits --------------------------------------------------------------------


@dataclass
class _Found:
    """The best (group, score) per conversation, and the message to quote for it."""

    best: dict[int, tuple[int, float]] = field(default_factory=dict)
    message: dict[int, tuple[float, int]] = field(default_factory=dict)

    def add(self, cid: int, group: int, score: float) -> None:
        old = self.best.get(cid)
        if old is None or (group, score) < old:
            self.best[cid] = (group, score)

    def quote(self, cid: int, mid: int, score: float) -> None:
        old = self.message.get(cid)
        if old is None or (score, -mid) < (old[0], -old[1]):
            self.message[cid] = (score, mid)


@lru_cache(maxsize=32)
def _with_ids(dialect: str, sql: str) -> TextClause:
    """``sql`` taking the list ``:ids`` (written ``IN :ids``): one array parameter on
    PostgreSQL (``= ANY``: one statement text whatever the length, so it is prepared
    once), an expanding ``IN`` list on SQLite."""
    if dialect == "postgresql":
        return text(sql.replace(" IN :ids", " = ANY(:ids)"))
    return text(sql).bindparams(bindparam("ids", expanding=True))


def _ids_stmt(conn: Connection, sql: str) -> TextClause:
    return _with_ids(conn.dialect.name, sql)


def _conversations_of(conn: Connection, customer_ids: Iterable[int]) -> list[Any]:
    """``(id, customer_id)`` of the newest conversations of these customers."""
    ids = list(customer_ids)
    if not ids:
        return []
    stmt = _ids_stmt(
        conn,
        "SELECT id, customer_id FROM conversation WHERE customer_id IN :ids "
        "ORDER BY id DESC LIMIT :cap",
    )
    return list(conn.execute(stmt, {"ids": ids, "cap": 2 * FIELD_CAP}))


def _top(found: _Found, limit: int) -> list[int]:
    """The ``limit`` best conversations found so far, best first (as shown)."""
    return sorted(found.best, key=lambda cid: (*found.best[cid], -cid))[:limit]


def _indexed_hits(
    conn: Connection, backend: _Backend, q: _Query, found: _Found, limit: int
) -> None:
    """Subjects, customer names and single messages holding every word (indexed)."""
    match = backend.match(q, range(len(q.words)))
    params: dict[str, object] = {"q": match, "cap": FIELD_CAP}
    for row in conn.execute(text(backend.subjects_sql), params):
        found.add(row.cid, _WHOLE_FIELD, row.score)
    names = {row.id: row.score for row in conn.execute(text(backend.customers_sql), params)}
    for cid, customer in _conversations_of(conn, names):
        found.add(cid, _WHOLE_FIELD, names[customer])
    params["cap"] = MESSAGE_CAP
    if not backend.scores_later or len(found.best) < limit:
        for row in conn.execute(text(backend.messages_sql), params):
            found.add(row.cid, _ONE_MESSAGE, row.score)
            found.quote(row.cid, row.mid, row.score)
        return
    # Whole fields already fill the result, and a message puts a conversation only
    # after them: the messages' scores matter only for quoting the conversations shown.
    shown = set(_top(found, limit))
    rows = conn.execute(text(backend.messages_ids_sql), params).all()
    scores = backend.message_scores(conn, match, [r.mid for r in rows if r.cid in shown])
    for row in rows:
        score = scores.get(row.mid)
        if score is None:  # not shown (or deleted meanwhile): counted, never ranked
            found.add(row.cid, _ONE_MESSAGE, math.inf)
            continue
        found.add(row.cid, _ONE_MESSAGE, score)
        found.quote(row.cid, row.mid, score)


def _spread_hits(conn: Connection, backend: _Backend, q: _Query, found: _Found) -> None:
    """Conversations whose subject, customer name and messages together hold every word.

    Candidates are the conversations holding the rarest word (per word, the newest
    :data:`FIELD_CAP` subjects, customers and messages are looked up); those still
    lacking words are checked in Python against their newest messages."""
    covered: dict[int, set[int]] = {}
    by_customer: dict[int, set[int]] = {}
    matched_message: dict[int, int] = {}
    #: Words whose lookups were cut at a cap (their holders are only a sample).
    sampled: set[int] = set()
    #: Words found in more messages than we look at (the least telling).
    common: set[int] = set()
    for i in range(len(q.words)):
        params = {"q": backend.match(q, [i]), "cap": FIELD_CAP}
        rows = conn.execute(text(backend.subjects_ids_sql), params).all()
        for row in rows:
            covered.setdefault(row.cid, set()).add(i)
        customers = conn.execute(text(backend.customers_ids_sql), params).all()
        for row in customers:
            by_customer.setdefault(row.id, set()).add(i)
        messages = conn.execute(text(backend.messages_ids_sql), params).all()
        for row in messages:
            covered.setdefault(row.cid, set()).add(i)
            matched_message.setdefault(row.cid, row.mid)
        if FIELD_CAP in (len(rows), len(customers), len(messages)):
            sampled.add(i)
        if len(messages) == FIELD_CAP:
            common.add(i)
    if by_customer:
        conversations = _conversations_of(conn, by_customer)
        for cid, customer in conversations:
            covered.setdefault(cid, set()).update(by_customer[customer])
        if len(conversations) == 2 * FIELD_CAP:
            sampled.update(*by_customer.values())
        stmt = _ids_stmt(conn, "SELECT id, customer_id FROM conversation WHERE id IN :ids")
        for cid, customer in conn.execute(stmt, {"ids": list(covered)}) if covered else ():
            covered[cid].update(by_customer.get(customer, ()))
    everything = set(range(len(q.words)))
    # Every hit holds the rarest word: its conversations are the candidates (all of
    # them, unless every word was cut at a cap).
    holders = [{cid for cid, words in covered.items() if i in words} for i in everything]
    rarest = min(everything, key=lambda i: (i in sampled, i in common, len(holders[i])))
    pending: dict[int, set[int]] = {}
    for cid in sorted(holders[rarest], key=lambda c: (-len(covered[c]), -c)):
        if cid in found.best:
            continue
        if covered[cid] == everything:
            found.add(cid, _SPREAD, 0.0)
            if cid in matched_message:
                found.quote(cid, matched_message[cid], 0.0)
        elif len(pending) < CANDIDATE_CAP:
            pending[cid] = covered[cid]
    _check_messages(conn, q, pending, found)


def _check_messages(
    conn: Connection, q: _Query, pending: dict[int, set[int]], found: _Found
) -> None:
    """Add each conversation whose messages hold the words its fields lack (in Python)."""
    if not pending:
        return
    stmt = _ids_stmt(
        conn,
        "SELECT id, conversation_id, substr(text, 1, :chars) AS text FROM message "
        "WHERE conversation_id IN :ids ORDER BY id DESC LIMIT :cap",
    )
    rows = conn.execute(stmt, {"ids": list(pending), "chars": TEXT_CAP, "cap": CANDIDATE_MESSAGES})
    everything = set(range(len(q.words)))
    quoted: dict[int, tuple[int, int]] = {}
    for mid, cid, body in rows:
        words = q.covered(q.doc_tokens(body))
        if not words:
            continue
        pending[cid] = pending[cid] | words
        if len(words) > quoted.get(cid, (0, 0))[0]:
            quoted[cid] = (len(words), mid)
        group = _ONE_MESSAGE if words == everything else _SPREAD
        if pending[cid] == everything:
            found.add(cid, group, 0.0)
    for cid, (_n, mid) in quoted.items():
        if cid in found.best:
            found.quote(cid, mid, 0.0)


def _customer_hits(conn: Connection, q: _Query, customer_id: int, found: _Found) -> None:
    """Hits among one customer's newest conversations, checked in Python."""
    stmt = text(
        "SELECT c.id, c.subject, cu.name FROM conversation c "
        "JOIN customer cu ON cu.id = c.customer_id "
        "WHERE c.customer_id = :cu ORDER BY c.id DESC LIMIT :cap"
    )
    pending: dict[int, set[int]] = {}
    everything = set(range(len(q.words)))
    for cid, subject, name in conn.execute(stmt, {"cu": customer_id, "cap": CANDIDATE_CAP}):
        in_subject = q.covered(q.doc_tokens(subject))
        in_name = q.covered(q.doc_tokens(name))
        if everything in (in_subject, in_name):
            found.add(cid, _WHOLE_FIELD, 0.0)
        pending[cid] = in_subject | in_name
    _check_messages(conn, q, pending, found)


# -- results ----------------------------------------------------------------------------


def _materialise(conn: Connection, q: _Query, found: _Found, limit: int) -> list[SearchHit]:
    """The best ``limit`` hits with their conversation fields and snippets."""
    order = _top(found, limit)
    if not order:
        return []
    conv_stmt = _ids_stmt(
        conn, "SELECT id, ref, subject, channel, status, preview FROM conversation WHERE id IN :ids"
    )
    convs = {row.id: row for row in conn.execute(conv_stmt, {"ids": order})}
    mids = [found.message[cid][1] for cid in order if cid in found.message]
    texts: dict[int, str] = {}
    if mids:
        msg_stmt = _ids_stmt(
            conn, "SELECT id, substr(text, 1, :chars) AS text FROM message WHERE id IN :ids"
        )
        texts = dict(conn.execute(msg_stmt, {"ids": mids, "chars": TEXT_CAP}).all())
    hits = []
    for cid in order:
        row = convs.get(cid)
        if row is None:  # deleted meanwhile
            continue
        quoted = found.message.get(cid)
        body = texts.get(quoted[1]) if quoted else None
        snippet, spans = _snippet(body if body is not None else row.preview or "", q)
        hits.append(SearchHit(cid, row.ref, row.subject, snippet, row.channel, row.status, spans))
    return hits


def _snippet(body: str, q: _Query) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A one-line excerpt of ``body`` (≤ :data:`SNIPPET_CHARS`) around its first match,
    and the matches' offsets in it."""
    line = " ".join(body.split())
    spans = q.spans(line)
    if len(line) <= SNIPPET_CHARS:
        return line, tuple(spans)
    start = 0
    if spans and spans[0][1] > SNIPPET_CHARS - 1:
        start = max(0, spans[0][0] - 30)
        space = line.rfind(" ", 0, start)
        start = space + 1 if space >= 0 and start - space < 15 else start
        start = min(start, len(line) - (SNIPPET_CHARS - 1))
    lead = "…" if start else ""
    room = SNIPPET_CHARS - len(lead)
    end = start + room
    if end < len(line):
        room -= 1
        end = start + room
        space = line.rfind(" ", start, end)
        if space > start + room // 2:
            end = space
    snippet = lead + line[start:end] + ("…" if end < len(line) else "")
    shift = len(lead) - start
    kept = tuple((a + shift, min(b, end) + shift) for a, b in spans if a >= start and a < end)
    return snippet, kept

"""Full-text search over message text, subjects and customer names.

SQLite uses the FTS5 tables of the first migration (tokenizer ``unicode61``);
PostgreSQL uses GIN indexes over ``to_tsvector('simple', …)``. The user's words are
never parsed as query syntax: each becomes a quoted term, every term must match
(AND), and the last is a prefix, so typing ``refu`` already finds ``refund``.

Limit: both tokenizers split on spaces and punctuation, not inside runs of CJK text;
a CJK word is found when the query starts a run (prefix) or equals it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

_TERM = re.compile(r"[^\W_]+", re.UNICODE)
_OPEN, _CLOSE = "\ue000", "\ue001"
#: Message hits considered before grouping by conversation (keeps common words fast).
MESSAGE_CAP = 2000


@dataclass(frozen=True)
class SearchHit:
    """A matching conversation with a plain-text snippet of the best match."""

    conversation_id: int
    ref: str | None
    subject: str
    snippet: str
    channel: str
    status: str
    highlights: tuple[tuple[int, int], ...] = ()


def terms(query: str) -> list[str]:
    """The words of a query, lower-cased, without any syntax."""
    return [t.lower() for t in _TERM.findall(query)][:16]


def _fts5_query(words: list[str]) -> str:
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def _tsquery(words: list[str]) -> str:
    parts = [f"'{w}'" for w in words]
    parts[-1] += ":*"
    return " & ".join(parts)


def _unmark(snippet: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Strip highlight markers, returning the text and (start, end) offsets."""
    snippet = " ".join(snippet.split())
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    start = None
    for ch in snippet:
        if ch == _OPEN:
            start = pos
        elif ch == _CLOSE:
            if start is not None:
                spans.append((start, pos))
            start = None
        else:
            out.append(ch)
            pos += 1
    return "".join(out), tuple(spans)


_SQLITE = f"""
WITH msg AS (
    SELECT rowid AS mid, rank AS r FROM message_fts WHERE message_fts MATCH :q
    ORDER BY rank LIMIT {MESSAGE_CAP}
), hits AS (
    SELECT m.conversation_id AS cid, msg.r AS r, msg.mid AS mid
      FROM msg JOIN message m ON m.id = msg.mid
    UNION ALL
    SELECT cf.rowid, cf.rank - 1.0, NULL FROM conversation_fts cf
     WHERE conversation_fts MATCH :q
    UNION ALL
    SELECT c.id, cu.rank - 0.5, NULL FROM customer_fts cu
      JOIN conversation c ON c.customer_id = cu.rowid
     WHERE customer_fts MATCH :q
), best AS (
    SELECT cid, MIN(r) AS r, MAX(mid) AS mid FROM hits GROUP BY cid ORDER BY r LIMIT :limit
)
SELECT best.cid, best.mid, c.ref, c.subject, c.channel, c.status, c.preview, best.r
  FROM best JOIN conversation c ON c.id = best.cid
 {{customer}}
 ORDER BY best.r, c.recency
"""

_SQLITE_SNIPPET = """
SELECT snippet(message_fts, 0, :o, :c, '…', 14) FROM message_fts
 WHERE message_fts MATCH :q AND rowid = :mid
"""

_PG = """
WITH hits AS (
    (SELECT m.conversation_id AS cid, m.id AS mid,
            ts_rank(to_tsvector('simple', m.text), q) AS r
       FROM message m, to_tsquery('simple', :q) q
      WHERE to_tsvector('simple', m.text) @@ q
      LIMIT {cap})
    UNION ALL
    SELECT c.id, NULL, 1.0 FROM conversation c, to_tsquery('simple', :q) q
     WHERE to_tsvector('simple', c.subject) @@ q
    UNION ALL
    SELECT c.id, NULL, 0.9 FROM customer cu JOIN conversation c ON c.customer_id = cu.id,
           to_tsquery('simple', :q) q
     WHERE to_tsvector('simple', cu.name) @@ q
), best AS (
    SELECT cid, MAX(r) AS r, MAX(mid) AS mid FROM hits GROUP BY cid ORDER BY MAX(r) DESC
     LIMIT :limit
)
SELECT best.cid, best.mid, c.ref, c.subject, c.channel, c.status, c.preview, best.r,
       CASE WHEN best.mid IS NULL THEN NULL ELSE
         (SELECT ts_headline('simple', m.text, to_tsquery('simple', :q),
                 'StartSel=' || :o || ', StopSel=' || :c || ', MaxWords=18, MinWords=6')
            FROM message m WHERE m.id = best.mid) END AS snip
  FROM best JOIN conversation c ON c.id = best.cid
 {customer}
 ORDER BY best.r DESC, c.recency
"""


def search(
    conn: Connection, query: str, *, limit: int = 50, customer_id: int | None = None
) -> list[SearchHit]:
    """Conversations matching every word of ``query``, best first (at most ``limit``)."""
    words = terms(query)
    if not words:
        return []
    if hasattr(conn, "connection") and not isinstance(conn, Connection):
        conn = conn.connection()  # a Session
    customer = "WHERE c.customer_id = :customer" if customer_id is not None else ""
    params: dict[str, object] = {"limit": limit, "o": _OPEN, "c": _CLOSE}
    if customer_id is not None:
        params["customer"] = customer_id
    hits: list[SearchHit] = []
    if conn.dialect.name == "postgresql":
        params["q"] = _tsquery(words)
        rows = conn.execute(text(_PG.format(cap=MESSAGE_CAP, customer=customer)), params)
        return [_hit(row, row.snip) for row in rows]
    params["q"] = _fts5_query(words)
    for row in conn.execute(text(_SQLITE.format(customer=customer)), params):
        raw = None
        if row.mid is not None:
            raw = conn.execute(
                text(_SQLITE_SNIPPET), {"q": params["q"], "mid": row.mid, "o": _OPEN, "c": _CLOSE}
            ).scalar()
        hits.append(_hit(row, raw))
    return hits


def _hit(row: Any, marked_snippet: str | None) -> SearchHit:
    """A hit from a result row and its marked snippet (the preview when none)."""
    snippet, spans = _unmark(marked_snippet or row.preview or "")
    if len(snippet) > 160:
        snippet = snippet[:159] + "…"
    return SearchHit(row.cid, row.ref, row.subject, snippet, row.channel, row.status, spans)

"""Rows of the inbox by position, fetched in keyset pages and cached.

The inbox widget asks for row ``i``; this class answers from its cache or fetches
one page (100 rows) next to a cached neighbour by keyset, falling back to an
offset query only for a jump into the unknown (dragging the scrollbar).
No Textual here: it is plain data access, unit-testable and benchmarkable.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from storage import queries
from storage.queries import InboxFilter, InboxRow

PAGE = 100
MAX_CACHED = 5000


class InboxSource:
    """The filtered inbox as an indexable, lazily fetched sequence."""

    def __init__(self, engine: Engine, flt: InboxFilter | None = None) -> None:
        self.engine = engine
        self.filter = flt or InboxFilter()
        self.search_ids: list[int] | None = None
        self._rows: OrderedDict[int, InboxRow] = OrderedDict()
        self._count: int | None = None

    # -- state -------------------------------------------------------------
    def set_filter(self, flt: InboxFilter) -> None:
        """Show another slice of the inbox."""
        self.filter = flt
        self.search_ids = None
        self.invalidate()

    def set_search(self, ids: list[int] | None) -> None:
        """Show these conversations (search results, best first); None ends search."""
        self.search_ids = ids
        self.invalidate()

    def prune_search(self) -> bool:
        """Drop from the search results the conversations deleted since the search (a
        customer erased, a merge); whether any was. One query over the ids found."""
        if not self.search_ids:
            return False
        with self.engine.connect() as conn:
            stored = queries.stored_conversation_ids(conn, self.search_ids)
        gone = set(self.search_ids) - stored
        self._drop_found(gone)
        return bool(gone)

    def _drop_found(self, gone: set[int]) -> None:
        """Take ``gone`` out of the search results: the rows after the first of them
        move up, so the cached ones from there on and the count are forgotten."""
        if not gone or not self.search_ids:
            return
        first = next(n for n, i in enumerate(self.search_ids) if i in gone)
        self.search_ids = [i for i in self.search_ids if i not in gone]
        self._count = None
        for index in [i for i in self._rows if i >= first]:
            del self._rows[index]

    def invalidate(self) -> None:
        """Forget cached rows and the count (after new mail or an action)."""
        self._rows.clear()
        self._count = None

    # -- reads -------------------------------------------------------------
    def __len__(self) -> int:
        if self._count is None:
            if self.search_ids is not None:
                self._count = len(self.search_ids)
            else:
                with self.engine.connect() as conn:
                    self._count = queries.inbox_count(conn, self.filter)
        return self._count

    def cached(self, index: int) -> InboxRow | None:
        """Row ``index`` if it is in the cache (no I/O)."""
        return self._rows.get(index)

    def get(self, index: int) -> InboxRow | None:
        """Row ``index``, fetching its page if needed; None past the end."""
        if index < 0 or index >= len(self):
            return None
        row = self._rows.get(index)
        if row is not None:
            self._rows.move_to_end(index)
            return row
        self._fetch_around(index)
        return self._rows.get(index)

    def index_of(self, conversation_id: int) -> int | None:
        """The cached position of a conversation, if loaded."""
        for index, row in self._rows.items():
            if row.id == conversation_id:
                return index
        return None

    def position_of(self, row: InboxRow) -> int:
        """Where ``row`` stands in the current filter (one count query)."""
        if self.search_ids is not None:
            try:
                return self.search_ids.index(row.id)
            except ValueError:
                return 0
        with self.engine.connect() as conn:
            # An action may have moved it (priority, SLA); if it left the view, the
            # old key still points at what is now next.
            key = queries.inbox_key(conn, self.filter, row.id) or row.key
            return queries.inbox_position(conn, self.filter, key)

    def update_cached(self, row: InboxRow, **changes: Any) -> None:
        """Patch a cached row in place (optimistic UI after an action)."""
        for index, cached in self._rows.items():
            if cached.id == row.id:
                self._rows[index] = replace(cached, **changes)
                return

    # -- fetching ----------------------------------------------------------
    def _store(self, start: int, rows: list[InboxRow]) -> None:
        for offset, row in enumerate(rows):
            self._rows[start + offset] = row
        while len(self._rows) > MAX_CACHED:
            self._rows.popitem(last=False)

    def _fetch_around(self, index: int) -> None:
        if self.search_ids is not None:
            start = (index // PAGE) * PAGE
            ids = self.search_ids[start : start + PAGE]
            with self.engine.connect() as conn:
                rows = queries.inbox_rows_by_id(conn, ids, drafts_of=self.filter.drafts_of)
            # Some may have been deleted since the search (a customer erased, a merge).
            self._drop_found(set(ids) - {row.id for row in rows})
            self._store(start, rows)
            return
        with self.engine.connect() as conn:
            prev = self._rows.get(index - 1)
            if prev is not None:
                self._store(
                    index, queries.inbox_page(conn, self.filter, after=prev.key, limit=PAGE)
                )
                return
            nxt = self._rows.get(index + 1)
            if nxt is not None:
                rows = queries.inbox_page_before(conn, self.filter, before=nxt.key, limit=PAGE)
                self._store(index + 1 - len(rows), rows)
                return
            if index == 0:
                self._store(0, queries.inbox_page(conn, self.filter, limit=PAGE))
                return
            if index >= len(self) - PAGE:
                rows = queries.inbox_page_before(conn, self.filter, limit=PAGE)
                self._store(len(self) - len(rows), rows)
                return
            start = max(index - PAGE // 2, 0)
            self._store(start, queries.inbox_at(conn, self.filter, start, limit=PAGE))

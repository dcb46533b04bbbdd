"""What the quarantine screen reads: the kept items (without payloads) and the head of
one item's raw payload, made safe to show. Called in worker threads, never on the UI
thread; the list itself is read by ``storage.quarantine.listing``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from omnitui.sanitize import clean
from storage import quarantine
from storage.models import Quarantine, table_of

#: Items shown in the list; more are counted and pointed to the CLI.
LIST_LIMIT = 1000
#: Bytes of a raw payload shown; the rest is counted in a note.
RAW_LIMIT = 16 * 1024


@dataclass(frozen=True)
class Items:
    """The first :data:`LIST_LIMIT` items, oldest first, and how many there are."""

    items: list[quarantine.QuarantineInfo]
    total: int


@dataclass(frozen=True)
class RawPreview:
    """The head of one item's raw payload as sanitised text."""

    item_id: int
    text: str
    size: int
    shown: int

    @property
    def truncated(self) -> bool:
        return self.shown < self.size


def load_items(engine: Engine, limit: int = LIST_LIMIT) -> Items:
    """Every kept item (up to ``limit``), oldest first, without payloads."""
    with engine.connect() as conn:
        items = quarantine.listing(conn)
    return Items(items[:limit], len(items))


def load_raw(engine: Engine, item_id: int, limit: int = RAW_LIMIT) -> RawPreview | None:
    """The first ``limit`` bytes of an item's raw payload, decoded (UTF-8, bad bytes
    replaced) and sanitised; only those bytes leave the store. None when the item is
    gone."""
    q = table_of(Quarantine)
    stmt = select(func.substr(q.c.raw, 1, limit), func.length(q.c.raw)).where(q.c.id == item_id)
    with engine.connect() as conn:
        row = conn.execute(stmt).one_or_none()
    if row is None:
        return None
    head = row[0]
    head = bytes(head) if head is not None else b""
    return RawPreview(item_id, raw_text(head), int(row[1] or 0), len(head))


def raw_text(raw: bytes) -> str:
    """Raw bytes as text for a terminal: UTF-8 with bad bytes replaced, escape sequences,
    C0/C1 controls and bidi controls removed (``omnitui/sanitize.py``)."""
    return clean(raw.decode("utf-8", "replace"))

"""The quarantine: items an adapter could not parse or the store could not take.

Each row keeps the item's raw payload and a description of the failure that never
carries its content. Writes happen in the caller's transaction, so a poll's rejected
items commit together with its messages and its advanced cursor: the cursor moves past
a bad item only once the item is safe here. One row per (account, external id); an
item seen again (a re-poll after a crash, a retry that fails again) updates that row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from storage.limits import clamp_id, clamp_text
from storage.models import Quarantine, table_of
from storage.types import utcnow

#: Longest error kept (a description, never content).
ERROR_LIMIT = 500


def put(
    s: Session,
    *,
    account: str,
    external_id: str,
    raw: bytes,
    error: str,
    raw_type: str = "application/json",
    kind: str = "",
    folder: str = "",
    stage: str = "parse",
    received_at: datetime | None = None,
) -> Quarantine:
    """Keep one item (or count one more failure of an item already kept)."""
    external_id = clamp_id(external_id, 512)
    row = s.exec(
        select(Quarantine).where(
            Quarantine.account == account, Quarantine.external_id == external_id
        )
    ).one_or_none()
    now = utcnow()
    if row is None:
        row = Quarantine(
            account=account,
            kind=kind[:32],
            folder=clamp_id(folder, 512),
            external_id=external_id,
            stage=stage,
            error=clamp_text(error, ERROR_LIMIT),
            raw=raw,
            raw_type=raw_type[:128],
            received_at=received_at,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
    else:
        row.error = clamp_text(error, ERROR_LIMIT)
        row.stage = stage
        row.updated_at = now
        row.attempts = (row.attempts or 0) + 1
    s.flush()
    return row


def drop(s: Session, item_id: int) -> bool:
    """Forget one item for good; False when there is no such item."""
    row = s.get(Quarantine, item_id)
    if row is None:
        return False
    s.delete(row)
    s.flush()
    return True


def remove_if_kept(s: Session, account: str, external_ids: list[str]) -> int:
    """Delete the rows of items that have now been stored (a retry that worked)."""
    if not external_ids:
        return 0
    rows = s.exec(
        select(Quarantine).where(
            Quarantine.account == account, col(Quarantine.external_id).in_(external_ids)
        )
    ).all()
    for row in rows:
        s.delete(row)
    return len(rows)


def forget_mentions(s: Session, addresses: list[str]) -> int:
    """Delete the items whose raw payload names any of ``addresses`` (a customer being
    erased: a quarantined mail of theirs must go with the rest of their data)."""
    needles = [a.strip().lower().encode("utf-8") for a in addresses if a and a.strip()]
    if not needles:
        return 0
    removed = 0
    for row in s.exec(select(Quarantine)).all():
        haystack = row.raw.lower()
        if any(needle in haystack for needle in needles):
            s.delete(row)
            removed += 1
    return removed


@dataclass(frozen=True)
class QuarantineInfo:
    """One quarantined item, without its payload (for lists)."""

    id: int
    account: str
    kind: str
    folder: str
    external_id: str
    stage: str
    error: str
    raw_type: str
    size: int
    attempts: int
    created_at: datetime
    updated_at: datetime


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def listing(conn: Connection, *, account: str | None = None) -> list[QuarantineInfo]:
    """Every kept item, oldest first, without payloads."""
    q = table_of(Quarantine)
    stmt = core_select(
        q.c.id,
        q.c.account,
        q.c.kind,
        q.c.folder,
        q.c.external_id,
        q.c.stage,
        q.c.error,
        q.c.raw_type,
        func.length(q.c.raw),
        q.c.attempts,
        q.c.created_at,
        q.c.updated_at,
    ).order_by(q.c.id)
    if account is not None:
        stmt = stmt.where(q.c.account == account)
    return [
        QuarantineInfo(
            id=r[0],
            account=r[1],
            kind=r[2],
            folder=r[3],
            external_id=r[4],
            stage=r[5],
            error=r[6],
            raw_type=r[7],
            size=int(r[8] or 0),
            attempts=int(r[9] or 0),
            created_at=_aware(r[10]),
            updated_at=_aware(r[11]),
        )
        for r in conn.execute(stmt).all()
    ]


def count(conn: Connection) -> int:
    """How many items wait in the quarantine (the status line, ``doctor``)."""
    q = table_of(Quarantine)
    return int(conn.execute(select(func.count()).select_from(q)).scalar() or 0)

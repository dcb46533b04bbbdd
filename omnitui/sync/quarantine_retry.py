"""Re-read quarantined items from their stored raw payload (after an upgrade, or once
the store has room again) and store what now parses; what still fails stays.

A quarantined mail is parsed again by its adapter's ``reparse`` hook, with no network
and no secret; a stored-but-refused record (``INBOUND_JSON``) is rebuilt directly.
Each item is its own transaction: the message and the removal of its quarantine row
commit together.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adapters import registry
from adapters.base import AdapterError, InboundMessage
from omnitui.desk import Desk
from omnitui.sync import item_error
from omnitui.sync.inbound_clean import storable
from omnitui.sync.inbound_record import INBOUND_JSON, inbound_from_json
from storage.models import Quarantine
from storage.types import utcnow

if TYPE_CHECKING:
    from omnitui.config import AccountConfig


class CannotRetry(Exception):
    """The item is fine as far as we know, but cannot be re-read here (its account is
    not configured, or its adapter has no ``reparse``): it stays as it was."""


#: Builds an adapter for re-reading only: no secret is needed, none is asked for.
Reader = Callable[["AccountConfig"], Any]


def offline_adapter(account: AccountConfig) -> Any:
    """The account's adapter, built with empty secrets (``reparse`` needs none)."""
    spec = registry.spec(account.kind)
    if spec is None:
        raise CannotRetry(f"no adapter installed for kind {account.kind!r}")
    return spec.create(account.name, account.settings, lambda _field: "")


@dataclass(frozen=True)
class RetryOutcome:
    """What happened to one item: ``stored``, ``duplicate``, ``ignored`` or ``failed``."""

    item_id: int
    account: str
    external_id: str
    result: str
    detail: str = ""


def retry(
    engine: Engine,
    desk: Desk,
    accounts: Iterable[AccountConfig],
    item_ids: Iterable[int] | None = None,
    *,
    reader: Reader = offline_adapter,
) -> list[RetryOutcome]:
    """Retry the given items (every item when ``item_ids`` is None)."""
    by_name = {a.name: a for a in accounts}
    with Session(engine) as s:
        stmt = select(Quarantine.id).order_by(col(Quarantine.id))
        # Stored rows' ids are never None (the model types ``id`` optional for new rows).
        ids = cast(list[int], list(s.exec(stmt).all())) if item_ids is None else list(item_ids)
    readers: dict[str, Any] = {}
    outcomes = []
    for item_id in ids:
        outcomes.append(_retry_one(engine, desk, by_name, readers, reader, item_id))
    for adapter in readers.values():
        close = getattr(adapter, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # closing must not fail a retry
                close()
    return outcomes


def _messages(
    item: Quarantine,
    account: AccountConfig | None,
    readers: dict[str, Any],
    reader: Reader,
) -> list[InboundMessage]:
    if item.raw_type == INBOUND_JSON:
        return [inbound_from_json(item.raw)]
    if account is None:
        raise CannotRetry(f"account {item.account!r} is not in the config")
    adapter = readers.get(account.name)
    if adapter is None:
        adapter = readers[account.name] = reader(account)
    reparse = getattr(adapter, "reparse", None)
    if reparse is None:
        raise CannotRetry(f"the {account.kind} adapter cannot re-read items")
    return list(reparse(item.external_id, item.raw, item.raw_type, item.folder))


def _retry_one(
    engine: Engine,
    desk: Desk,
    accounts: dict[str, AccountConfig],
    readers: dict[str, Any],
    reader: Reader,
    item_id: int,
) -> RetryOutcome:
    with Session(engine, autoflush=False) as s:
        item = s.get(Quarantine, item_id)
        if item is None:
            return RetryOutcome(item_id, "", "", "failed", "no such item")
        account, external_id = item.account, item.external_id
        try:
            messages = [
                storable(m) for m in _messages(item, accounts.get(account), readers, reader)
            ]
            stored = desk.ingest_many(s, account, messages) if messages else []
            s.delete(item)
            s.commit()
        except (CannotRetry, AdapterError) as exc:
            # Cannot be re-read here, or the adapter says why not (e.g. a mail over the
            # size limit has only its header): the item and its error stay as they are.
            s.rollback()
            return RetryOutcome(item_id, account, external_id, "failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - still bad: keep it, say why
            s.rollback()
            reason = item_error(exc)
            kept = s.get(Quarantine, item_id)
            if kept is not None:
                kept.attempts = (kept.attempts or 0) + 1
                kept.error = reason
                kept.updated_at = utcnow()
                s.commit()
            return RetryOutcome(item_id, account, external_id, "failed", reason)
    if not messages:
        return RetryOutcome(item_id, account, external_id, "ignored", "nothing to store")
    if not stored:
        return RetryOutcome(item_id, account, external_id, "duplicate", "already stored")
    return RetryOutcome(item_id, account, external_id, "stored", f"{len(stored)} message(s)")

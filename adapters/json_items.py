"""Reading the JSON items of the API channels (Telegram, Matrix, Mastodon, Twilio) one
at a time, without trusting their shapes.

A provider's JSON is read as leniently as a sensible reading allows (a number sent as a
string, a ``null`` where an object was expected, a date out of range); what truly cannot
be used becomes a :class:`~adapters.base.RejectedItem` with the item's own JSON, so the
poll goes on with the rest and the cursor moves past it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from adapters.base import InboundMessage, PollResult, RejectedItem, describe_exception

#: Latest timestamp taken as it is (seconds since the epoch, 9999-12-31).
_MAX_SECONDS = 253402300799


class Unusable(ValueError):  # noqa: N818 - reads as "the item is unusable"
    """The item lacks what a message needs (an id, a sender); the message says which
    field, never its value."""


def raw_json(item: Any) -> bytes:
    """``item`` as JSON bytes: UTF-8, or ``\\uXXXX`` escapes when it holds a lone
    surrogate (which UTF-8 cannot carry); its ``repr`` if it is not JSON at all."""
    try:
        return json.dumps(item, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(item).encode("ascii")
    except (TypeError, ValueError, RecursionError):
        try:
            return repr(item).encode("utf-8", "backslashreplace")
        except Exception:  # noqa: BLE001 - a repr that fails: keep the type at least
            return f"<unrepresentable {type(item).__name__}>".encode()


def content_id(raw: bytes) -> str:
    """A stable id for an item that carries none of its own: the hash of its JSON."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def rejected(
    item: Any,
    exc: BaseException,
    *,
    folder: str,
    external_id: str | None = None,
    raw: bytes | None = None,
) -> RejectedItem:
    """``item`` as a quarantine entry: its JSON, and what failed (never its content)."""
    data = raw_json(item) if raw is None else raw
    return RejectedItem(
        external_id=external_id or content_id(data),
        raw=data,
        error=describe_exception(exc),
        raw_type="application/json",
        folder=folder,
    )


def size_text(n: int) -> str:
    """``10 MB`` for whole megabytes, else ``1,234 bytes``."""
    mb = 1 << 20
    return f"{n // mb} MB" if n >= mb and n % mb == 0 else f"{n:,} bytes"


def too_large(
    item: Any, limit: int, *, folder: str, external_id: str | None = None
) -> RejectedItem | None:
    """A quarantine entry for an item whose JSON is over ``limit`` bytes
    (``max_item_bytes``), else None. The entry keeps the first ``limit`` bytes and a
    note saying so (no longer valid JSON, hence ``text/plain``): never silently dropped,
    never more than the limit kept."""
    data = raw_json(item)
    if len(data) <= limit:
        return None
    note = f"\n[omnitui: cut to the first {size_text(limit)} of {len(data):,} (max_item_bytes)]"
    return RejectedItem(
        external_id=external_id or content_id(data),
        raw=data[:limit] + note.encode(),
        error=(
            f"item too large: {len(data):,} bytes, over the {size_text(limit)} limit "
            "(max_item_bytes); its start is kept"
        ),
        raw_type="text/plain",
        folder=folder,
    )


def loads(raw: bytes) -> Any:
    """A stored item's JSON (what :func:`raw_json` wrote)."""
    return json.loads(raw.decode("utf-8", "surrogatepass"))


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (``null``, a string, a list)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str:
    """Text from a JSON string or number; ``""`` for anything else (objects, ``null``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def as_int(value: Any, default: int = 0) -> int:
    """An integer from a JSON number or a numeric string; ``default`` otherwise."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else default
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40:
            return default
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return default
            return int(number) if math.isfinite(number) else default
    return default


def ident(value: Any) -> str | None:
    """A provider id (a JSON integer or a non-empty string) as text; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def timestamp(value: Any, *, per_second: int = 1) -> datetime:
    """An aware UTC datetime from seconds (or milliseconds: ``per_second=1000``) since
    the epoch; now when the value is missing, not a number, or out of range."""
    number: float | None
    if isinstance(value, bool) or value is None:
        number = None
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and len(value.strip()) <= 40:
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    else:
        number = None
    if number is None or not math.isfinite(number):
        return datetime.now(UTC)
    seconds = number / per_second
    if not 0 <= seconds <= _MAX_SECONDS:
        return datetime.now(UTC)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """``value`` with a timezone (naive ones are taken as UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def take_item(
    result: PollResult,
    item: Any,
    read: Callable[[Any], InboundMessage | None],
    *,
    max_item: int,
    folder: str,
    external_id: str | None,
) -> None:
    """One fetched item into ``result``: its message, nothing (``read`` gave None: one
    of ours, skipped on purpose), or a :class:`RejectedItem` with its raw payload when
    it is over ``max_item`` bytes or ``read`` raises. Never raises: one bad item never
    stops the rest."""
    big = too_large(item, max_item, folder=folder, external_id=external_id)
    if big is not None:
        result.rejected.append(big)
        return
    try:
        inbound = read(item)
    except Exception as exc:  # noqa: BLE001 - quarantined, never blocking
        result.rejected.append(rejected(item, exc, folder=folder, external_id=external_id))
        return
    if inbound is not None:
        result.messages.append(inbound)

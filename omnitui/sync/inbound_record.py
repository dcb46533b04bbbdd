"""An inbound message record as JSON, for the quarantine: a message the store refused
that its adapter kept no raw payload for (an edit, a call log entry) is kept as this,
and ``omnitui quarantine retry`` stores it again from it without the adapter."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from adapters.base import InboundAttachment, InboundMessage, Sender

#: ``raw_type`` of a quarantined record.
INBOUND_JSON = "application/x-omnitui-inbound+json"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"base64"}:
            return base64.b64decode(value["base64"])
        if set(value) == {"datetime"}:
            return datetime.fromisoformat(value["datetime"])
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return value


def inbound_to_json(msg: InboundMessage) -> bytes:
    """The record as UTF-8 JSON (lone surrogates escaped, so it always encodes)."""
    return json.dumps(_plain(asdict(msg)), ensure_ascii=True).encode("ascii")


def inbound_from_json(raw: bytes) -> InboundMessage:
    """The record back from :func:`inbound_to_json`; raises ValueError when it is not one."""
    data = _typed(json.loads(raw))
    if not isinstance(data, dict):
        raise ValueError("not an inbound record")
    data["sender"] = Sender(**data["sender"])
    data["attachments"] = tuple(InboundAttachment(**a) for a in data.get("attachments") or ())
    for key in ("to", "references"):
        data[key] = tuple(data.get(key) or ())
    return InboundMessage(**data)

"""Saving attachments to disk: safe names, inside the chosen directory, never over a file.

An email attachment's bytes are stored once, inside the raw message: its row holds the
name, type, size and SHA-256 only, and saving re-extracts the part from the stored
RFC 822 bytes (checked against that SHA-256)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, select
from sqlmodel import Session, col

from omnitui.errors import OmnituiError
from omnitui.sanitize import safe_filename
from storage.models import Attachment, RawMessage

#: ``raw_message.content_type`` of a whole email, whose parts hold its attachments.
RFC822 = "message/rfc822"

if TYPE_CHECKING:
    from omnitui.config import AccountConfig


class SaveError(OmnituiError):
    """The attachment could not be saved; the message says why."""


def download_missing(engine: Engine, attachment_id: int, accounts: Sequence[AccountConfig]) -> None:
    """Fetch an attachment the channel only announced (Telegram ``file_id``) through its
    account's adapter, and keep the bytes in the store."""
    from adapters.base import AdapterError
    from omnitui.sync import build_adapter
    from storage.models import Message

    with Session(engine) as s:
        att = s.get(Attachment, attachment_id)
        if att is None or att.content is not None:
            return
        raw = s.get(RawMessage, att.message_id)
        if raw is not None and raw.content_type == RFC822:
            return  # in the stored mail: extracted when saved, never stored twice
        msg = s.get(Message, att.message_id)
        account = next((a for a in accounts if msg is not None and a.name == msg.account), None)
        if account is None or not att.remote_ref:
            raise SaveError(
                "this attachment has not been downloaded from the channel, and "
                "its account is not configured here"
            )
        try:
            adapter = build_adapter(account)
            fetch = getattr(adapter, "fetch_attachment", None)
            if fetch is None:
                raise SaveError(f"{account.kind} attachments cannot be downloaded yet")
            data = fetch(att.remote_ref)
            adapter.close()
        except AdapterError as exc:
            raise SaveError(f"download failed: {exc}") from None
        att.content = data
        att.size = len(data)
        att.sha256 = sha256(data).hexdigest()
        s.commit()


def save_attachment(engine: Engine, attachment_id: int, directory: Path) -> Path:
    """Write one attachment into ``directory`` (which must exist) and return the path.

    The name is made safe (no path parts, controls or device names); an existing file
    is never overwritten (``name (1).ext`` instead); the file is created 0600 and the
    final path is checked to lie inside ``directory``.
    """
    directory = directory.expanduser()
    if not directory.is_dir():
        raise SaveError(f"{directory} is not a directory")
    with engine.connect() as conn:
        row = conn.execute(
            select(col(Attachment.filename), col(Attachment.content)).where(
                col(Attachment.id) == attachment_id
            )
        ).first()
        if row is None:
            raise SaveError("that attachment no longer exists")
        content = row.content if row.content is not None else _from_raw(conn, attachment_id)
    base = directory.resolve()
    name = safe_filename(row.filename)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    for n in range(1000):
        candidate = name if n == 0 else f"{stem} ({n}){dot}{ext}"
        path = base / candidate
        if path.resolve().parent != base:
            raise SaveError(f"refusing to write outside {base}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise SaveError(f"cannot write in {base}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        return path
    raise SaveError(f"too many files named like {name} in {base}")


def _from_raw(conn: Connection, attachment_id: int) -> bytes:
    """The bytes of an email attachment, re-extracted from its message's stored raw
    RFC 822 bytes: the part at the same place among the message's attachments, else
    one with the same name, else any with the same bytes — always the recorded SHA-256."""
    from adapters.email.parse import attachment_content

    att = conn.execute(
        select(col(Attachment.message_id), col(Attachment.filename), col(Attachment.sha256)).where(
            col(Attachment.id) == attachment_id
        )
    ).one()
    raw = conn.execute(
        select(col(RawMessage.data), col(RawMessage.content_type)).where(
            col(RawMessage.message_id) == att.message_id
        )
    ).first()
    if raw is None or raw.content_type != RFC822:
        raise SaveError("this attachment has not been downloaded from the channel")
    siblings = conn.execute(
        select(col(Attachment.id))
        .where(col(Attachment.message_id) == att.message_id)
        .order_by(col(Attachment.id))
    ).scalars()
    index = next((i for i, sibling in enumerate(siblings) if sibling == attachment_id), None)
    content = attachment_content(raw.data, att.sha256, index=index, filename=att.filename)
    if content is None:
        raise SaveError("this attachment's bytes are not in the stored message")
    return content

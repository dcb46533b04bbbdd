"""Files sent with a reply: read from the agent's paths, checked against what the
channel takes (:meth:`adapters.spec.AdapterSpec.max_file_bytes`) before the reply is
queued, and kept with its ``out`` message as attachments (the thread lists them; the
sync hands them to the adapter from there).
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlmodel import Session, col, select

from adapters.base import OutboundAttachment
from omnitui.desk.account_rule import AccountRule
from omnitui.desk.settings import DeskError
from storage.models import Attachment, Conversation, Message

#: Files one reply may carry, whatever the channel.
MAX_FILES = 10
#: The largest file read at all (over every channel's limit): a bigger one is refused
#: from its size, before its bytes are read into memory.
MAX_FILE_BYTES = 64 * 1_048_576
#: Longest file name kept (the rest of a longer one is cut, the extension kept).
MAX_NAME = 200


def read_files(paths: Sequence[str | Path]) -> list[OutboundAttachment]:
    """The files at ``paths``, read; a path that is not a readable file is a one-line
    :class:`DeskError` naming it. Read in a worker: never on the UI thread."""
    if len(paths) > MAX_FILES:
        raise DeskError(f"at most {MAX_FILES} files per reply ({len(paths)} given)")
    out = []
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES and path.is_file():
                raise DeskError(
                    f"{raw}: {_mb(size)}; no channel takes a file over {_mb(MAX_FILE_BYTES)}"
                )
            content = path.read_bytes()
        except IsADirectoryError:
            raise DeskError(f"{raw}: a directory, not a file") from None
        except OSError as exc:
            raise DeskError(f"{raw}: {exc.strerror or exc}") from None
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        out.append(OutboundAttachment(_name(path.name), kind, content))
    return out


def _name(name: str) -> str:
    if len(name) <= MAX_NAME:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and len(ext) <= 10:
        return stem[: MAX_NAME - len(ext) - 1] + "." + ext
    return name[:MAX_NAME]


def check_files(
    rules: Mapping[str, AccountRule], conv: Conversation, files: Sequence[OutboundAttachment]
) -> None:
    """Refuse, in one line, files the conversation's channel cannot take."""
    if not files:
        return
    rule = rules.get(conv.account)
    limit = rule.max_file_bytes() if rule else 0
    if limit <= 0:
        raise DeskError(f"{conv.ref}: {conv.channel} replies cannot carry files from omnitui")
    total = sum(len(f.content) for f in files)
    if total > limit:
        raise DeskError(
            f"{conv.ref}: the files come to {_mb(total)}; {conv.channel} replies "
            f"take at most {_mb(limit)}"
        )


def _mb(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB"


def attach(s: Session, msg: Message, files: Sequence[OutboundAttachment]) -> None:
    """Keep ``files`` with the reply's ``out`` message."""
    for f in files:
        s.add(
            Attachment(
                message_id=msg.id,
                filename=f.filename,
                content_type=f.content_type,
                size=len(f.content),
                sha256=hashlib.sha256(f.content).hexdigest(),
                content=f.content,
            )
        )
    if files:
        msg.has_attachments = True


def files_of(s: Session, message_id: int | None) -> tuple[OutboundAttachment, ...]:
    """The files kept with an ``out`` message, for the adapter."""
    if message_id is None:
        return ()
    rows = s.exec(
        select(Attachment)
        .where(col(Attachment.message_id) == message_id)
        .order_by(col(Attachment.id))
    ).all()
    return tuple(OutboundAttachment(a.filename, a.content_type, a.content or b"") for a in rows)

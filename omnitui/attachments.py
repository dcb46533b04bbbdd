"""Saving attachments to disk: safe names, inside the chosen directory, never over a file."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, select

from omnitui.sanitize import safe_filename
from storage.models import Attachment


class SaveError(Exception):
    """The attachment could not be saved; the message says why."""


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
            select(Attachment.filename, Attachment.content).where(Attachment.id == attachment_id)
        ).first()
    if row is None:
        raise SaveError("that attachment no longer exists")
    if row.content is None:
        raise SaveError("this attachment has not been downloaded from the channel")
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
            handle.write(row.content)
        return path
    raise SaveError(f"too many files named like {name} in {base}")

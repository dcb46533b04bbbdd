"""The files of an outgoing reply as MIME attachment parts, and how large they may be.

A reply with files is ``multipart/mixed``: the text part first, then one part per file,
base64-encoded, ``Content-Disposition: attachment`` with its name RFC 2231-encoded
(``filename*=utf-8''…`` when not plain ASCII; the ``Content-Type`` ``name`` too, for
older clients). See RFC 2045 (base64), RFC 2046 (multipart/mixed), RFC 2183
(Content-Disposition) and RFC 2231 (parameter encoding):
https://www.rfc-editor.org/rfc/rfc2231 and https://www.rfc-editor.org/rfc/rfc2183.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.message import EmailMessage

from adapters.base import AdapterError, OutboundAttachment
from adapters.outbound_files import FALLBACK_TYPE, file_name, mime_type

#: Room kept in ``max_message_bytes`` for the headers, the text, the quote and the
#: MIME structure of a reply: the files get the rest, before base64.
RESERVE = 256 * 1024
#: Types never given to a file part: their bodies may not be base64 (RFC 2046 5.1, 5.2).
_NOT_FOR_FILES = ("multipart/", "message/")


def encoded_size(size: int) -> int:
    """Bytes ``size`` bytes take once base64-encoded in lines of 76 characters + CRLF."""
    chars = -(-size // 3) * 4
    return chars + -(-chars // 76) * 2


def max_file_bytes(max_message: int) -> int:
    """The largest total of files a reply may carry when the whole message must stay
    under ``max_message`` bytes: what is left after :data:`RESERVE`, over base64's
    growth (4/3, plus a line break every 76 characters); 0 when nothing is left."""
    room = max_message - RESERVE
    if room <= 0:
        return 0
    files = room * 3 * 76 // (4 * 78)
    while files > 0 and encoded_size(files) > room:
        files -= 1
    return files


def safe_filename(name: str) -> str:
    """The file's name as sent (:func:`adapters.outbound_files.file_name`)."""
    return file_name(name)


def content_type(given: str) -> tuple[str, str]:
    """``(maintype, subtype)`` of the given type when it is a well-formed one that may
    be base64-encoded, else ``application/octet-stream``."""
    value = mime_type(given)
    if value.startswith(_NOT_FOR_FILES):
        value = FALLBACK_TYPE
    maintype, subtype = value.split("/", 1)
    return maintype, subtype


def attach(msg: EmailMessage, files: Iterable[OutboundAttachment]) -> None:
    """Add each file to ``msg`` (which becomes ``multipart/mixed``, its text first)."""
    for file in files:
        if not isinstance(file.content, bytes | bytearray):
            raise AdapterError("a file of this reply has no content", retryable=False)
        name = safe_filename(file.filename)
        maintype, subtype = content_type(file.content_type)
        msg.add_attachment(
            bytes(file.content),
            maintype=maintype,
            subtype=subtype,
            filename=name,
            params={"name": name},
        )

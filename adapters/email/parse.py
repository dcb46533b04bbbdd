"""Turn raw RFC 822 bytes into the fields the helpdesk needs, without ever failing.

``email`` with ``policy.default`` raises on some malformed headers (and is slow), so
parsing uses ``compat32``, which never raises, and decodes what it can itself:
unknown or wrong charsets decode with replacement, RFC 2047 words and RFC 2231
parameters are handled, HTML-only mail is converted to text locally (inscriptis;
nothing remote is fetched).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from adapters.plain_text import html_to_text

_MSGID = re.compile(r"<[^<>\s]+>")
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "x-sjis": "shift_jis",
    "unknown-8bit": "latin-1",
    "x-unknown": "latin-1",
    "us-ascii": "utf-8",
}


@dataclass(frozen=True)
class ParsedAttachment:
    """A file part of a message."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ParsedMail:
    """What omnitui keeps of an email besides its raw bytes."""

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    from_name: str
    from_addr: str
    to: tuple[str, ...]
    date: datetime | None
    text: str
    attachments: tuple[ParsedAttachment, ...] = field(default_factory=tuple)
    auto_generated: bool = False
    content_hash: str = ""


def decode_text(payload: bytes, charset: str | None) -> str:
    """Bytes to text: the declared charset (with aliases for mislabelled ones), then
    UTF-8, then Latin-1; never raises."""
    candidates = []
    if charset:
        name = charset.strip().strip('"').lower()
        candidates.append(_CHARSET_ALIASES.get(name, name))
    candidates += ["utf-8"]
    for name in candidates:
        try:
            return payload.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    if charset:
        name = _CHARSET_ALIASES.get(charset.strip().lower(), charset.strip().lower())
        try:
            return payload.decode(name, errors="replace")
        except LookupError:
            pass
    return payload.decode("latin-1")


def decode_header_value(value: object) -> str:
    """A header as text, RFC 2047 words decoded, whatever the input looks like."""
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:  # noqa: BLE001 - malformed header objects
            return ""
    if "=?" not in value:
        return " ".join(value.split())
    try:
        parts = decode_header(value)
        out = []
        for chunk, charset in parts:
            if isinstance(chunk, bytes):
                out.append(decode_text(chunk, charset))
            else:
                out.append(chunk)
        return " ".join("".join(out).split())
    except Exception:  # noqa: BLE001 - fall back to make_header, then the raw value
        try:
            return " ".join(str(make_header(decode_header(value))).split())
        except Exception:  # noqa: BLE001
            return " ".join(value.split())


def _msgids(value: str) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value or ""))


def _parse(raw: bytes) -> Message:
    """The lenient parser: ``compat32`` never raises on malformed headers and is several
    times faster than ``policy.default``; headers are decoded by :func:`decode_header_value`
    (RFC 2047) and parameters by the RFC 2231 helpers, so nothing is lost."""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001
        try:
            value = email.message_from_bytes(b"", policy=email.policy.compat32).get(name)
        except Exception:  # noqa: BLE001
            value = None
    return decode_header_value(value)


def _raw_header(raw_headers: Message, name: str) -> str:
    values = raw_headers.get_all(name) or []
    return " ".join(str(v) for v in values)


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - broken RFC 2231 parameters
        name = None
    if name is None:
        for key in ("filename", "name"):
            try:
                name = part.get_param(
                    key, header="content-disposition" if key == "filename" else "content-type"
                )
            except Exception:  # noqa: BLE001
                name = None
            if name:
                break
    if isinstance(name, tuple):  # RFC 2231 triple from compat32
        try:
            name = email.utils.collapse_rfc2231_value(name)
        except Exception:  # noqa: BLE001
            name = str(name[-1])
    return decode_header_value(name) if name else None


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        data = None
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "replace") if isinstance(raw, str) else b""
    return data


def _walk(msg: Message) -> tuple[str, str, list[ParsedAttachment]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[ParsedAttachment] = []
    try:
        parts = list(msg.walk())
    except Exception:  # noqa: BLE001
        parts = [msg]
    for part in parts:
        try:
            if part.is_multipart():
                continue
            ctype = (part.get_content_type() or "text/plain").lower()
            disposition = (part.get_content_disposition() or "").lower()
        except Exception:  # noqa: BLE001
            ctype, disposition = "application/octet-stream", "attachment"
        name = _filename(part)
        data = _payload(part)
        if ctype.startswith("text/") and disposition != "attachment" and not name:
            try:
                charset = part.get_content_charset()
            except Exception:  # noqa: BLE001
                charset = None
            text = decode_text(data, charset)
            if ctype == "text/html":
                html.append(text)
            elif ctype == "text/plain":
                plain.append(text)
            else:
                attachments.append(ParsedAttachment(name or "part.txt", ctype, data))
            continue
        if ctype == "message/rfc822" and not name:
            name = "forwarded.eml"
        attachments.append(ParsedAttachment(name or "attachment", ctype, data))
    return "\n\n".join(plain), "\n\n".join(html), attachments


def is_auto_generated(headers: Message) -> bool:
    """Auto-replies, bulk and list mail (never send an acknowledgement to these)."""
    auto = (headers.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return True
    precedence = (headers.get("Precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return True
    if headers.get("List-Id") or headers.get("List-Unsubscribe"):
        return True
    if (headers.get("Return-Path") or "").strip() == "<>":
        return True  # a bounce (null sender, RFC 3834 §2)
    sender = (headers.get("From") or "").lower()
    if any(f"{who}@" in sender for who in _ROBOTS):
        return True
    return bool(headers.get("X-Autoreply") or headers.get("X-Autorespond"))


#: Local parts of senders that are programs, not people.
_ROBOTS = ("mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply")


def parse_message(raw: bytes) -> ParsedMail:
    """Parse one message; never raises, whatever the bytes."""
    digest = hashlib.sha256(raw).hexdigest()
    msg = _parse(raw)
    headers = msg
    subject = _header(msg, "subject")
    try:
        from_pairs = getaddresses([_header(msg, "from")])
    except Exception:  # noqa: BLE001
        from_pairs = []
    from_name, from_addr = from_pairs[0] if from_pairs else ("", "")
    try:
        to = tuple(a for _, a in getaddresses([_header(msg, "to"), _header(msg, "cc")]) if a)
    except Exception:  # noqa: BLE001
        to = ()
    date = None
    date_header = _raw_header(headers, "Date")
    if date_header:
        try:
            date = parsedate_to_datetime(date_header)
            if date.tzinfo is None:
                date = date.replace(tzinfo=UTC)
        except (TypeError, ValueError, IndexError):
            date = None
    message_ids = _msgids(_raw_header(headers, "Message-ID"))
    reply_to_ids = _msgids(_raw_header(headers, "In-Reply-To"))
    plain, html, attachments = _walk(msg)
    text = plain.strip() or (html_to_text(html) if html else "")
    return ParsedMail(
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=reply_to_ids[0] if reply_to_ids else None,
        references=_msgids(_raw_header(headers, "References")),
        subject=subject,
        from_name=from_name,
        from_addr=from_addr.strip(),
        to=to,
        date=date,
        text=text,
        attachments=tuple(attachments),
        auto_generated=is_auto_generated(headers),
        content_hash=digest,
    )

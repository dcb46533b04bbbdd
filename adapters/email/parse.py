"""Turn raw RFC 822 bytes into the fields the helpdesk needs, without ever failing.

Parsing uses ``compat32`` (never raises on malformed headers, and several times faster
than ``policy.default``), but no header value is ever read through it: every header is
read by :func:`header_values`, which takes the stored raw value, restores raw 8-bit
bytes (RFC 6532 UTF-8, or a legacy charset) and only then decodes RFC 2047 words, so no
``email.header.Header`` object ever reaches string code.

The rules, each owned here:

- Address lists are split *before* display names are decoded, and the address itself
  is never decoded (decoding first is the "Mailsploit" forgery:
  ``=?utf-8?b?YWxpY2VAdmljdGltLmV4YW1wbGU=?= <mallory@attacker.example>`` is a mail
  from mallory, whatever its display name says).
- Message-IDs are kept exactly as sent (8-bit bytes decoded the same way everywhere), so
  a customer's reply that quotes one threads.
- A body charset that lies falls back to UTF-8, then a guess (charset-normalizer), then
  cp1252/Latin-1: never to replacement characters.
- Text comes out with ``\\n`` line ends and without NUL or other C0 controls.
- Depth is bounded: the part tree is walked iteratively to :data:`MAX_DEPTH`, and a
  message nested too deep for the parser is read as headers plus a text body.
- A malformed line in the header block is skipped, not the rest of the headers.
- Sizes are bounded: a subject is cut to :data:`MAX_SUBJECT` characters (header folding
  is quadratic, and every reply repeats it), References to :data:`MAX_REFERENCES` ids,
  recipients to :data:`MAX_RECIPIENTS`. Attachments are described by size and SHA-256;
  their bytes stay in the raw message (:func:`attachment_content` finds them again).
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import hashlib
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.feedparser import BytesFeedParser
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import cast

from adapters.plain_text import clean_text, html_to_text

#: Deepest multipart nesting read (real mail rarely passes 5).
MAX_DEPTH = 40
#: Most leaf parts read from one message.
MAX_PARTS = 2000
#: Longest subject kept (characters; RFC 5322's line limit), in and out.
MAX_SUBJECT = 998
#: Most Message-IDs kept of a References header: the first (the thread's root) and
#: the latest ones (RFC 5322 3.6.4 allows trimming the middle).
MAX_REFERENCES = 20
#: Most To/Cc addresses kept.
MAX_RECIPIENTS = 100
#: Bytes handed to the feed parser at a time.
_FEED = 1 << 16
#: Base64 bodies from this size are hashed a window at a time (characters).
_STREAM_MIN = 1 << 16
_STREAM_WINDOW = 1 << 20
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/=\r\n]*")

_MSGID = re.compile(r"<[^<>\s]+>")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
#: What the feed parser accepts as a header line (same as email.feedparser.headerRE).
_HEADER_LINE = re.compile(rb"^(From |[\x21-\x39\x3b-\x7e]*:|[\t ])")
_FIELD_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[\t ]*:")
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "x-sjis": "shift_jis",
    "unknown-8bit": "cp1252",
    "x-unknown": "cp1252",
    "unknown": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "iso-8859-1": "cp1252",  # what "Latin-1" mail is in practice (WHATWG does the same)
    "latin1": "cp1252",
    "latin-1": "cp1252",
}
#: Multi-byte charsets: a message with a few broken bytes reads better in its own
#: charset with a replacement character than as a wrong single-byte guess.
_MULTIBYTE = ("gb18030", "big5", "shift_jis", "euc_jp", "euc-jp", "cp949", "euc-kr", "iso-2022")


@dataclass(frozen=True)
class ParsedAttachment:
    """A file part of a message; ``content`` is None when not asked for
    (``parse_message(raw, contents=False)``): its bytes stay in the raw message."""

    filename: str
    content_type: str
    content: bytes | None
    size: int = 0
    sha256: str = ""


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
    #: What could not be read (e.g. a body nested past MAX_DEPTH); never content.
    defects: tuple[str, ...] = ()


# -- charsets ---------------------------------------------------------------
def _codec(charset: str | None) -> str | None:
    if not isinstance(charset, str) or not charset:
        return None
    name = "".join(charset.strip().strip("\"'").lower().split())
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    return _CHARSET_ALIASES.get(name, name) or None


def _strict(payload: bytes, codec: str | None) -> str | None:
    if not codec:
        return None
    try:
        return payload.decode(codec)
    except (LookupError, UnicodeDecodeError, ValueError):
        return None


def _guess(payload: bytes) -> str | None:
    """charset-normalizer's best reading of 8-bit text whose label lied."""
    if len(payload) < 64:
        return None  # too little text for a guess to beat cp1252
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(payload[:200_000]).best()
    except Exception:  # noqa: BLE001 - a guess is optional
        return None
    if best is None or best.chaos > 0.2:
        return None
    return _strict(payload, best.encoding)


def decode_text(payload: bytes, charset: str | None) -> str:
    """Bytes to text, never raising and never with replacement characters when the
    bytes have a sensible reading: the declared charset (aliases for mislabelled
    ones, GB2312 read as its superset GB18030), UTF-8, the declared multi-byte charset
    with a few bad bytes replaced, a guess, then cp1252 and Latin-1."""
    codec = _codec(charset)
    for attempt in (codec, "utf-8"):
        text = _strict(payload, attempt)
        if text is not None:
            return text
    if codec and codec.startswith(_MULTIBYTE):
        try:
            text = payload.decode(codec, errors="replace")
            if text.count("\ufffd") * 100 <= max(len(text), 1):
                return text
        except LookupError:
            pass
    return _guess(payload) or _strict(payload, "cp1252") or payload.decode("latin-1")


# -- headers ----------------------------------------------------------------
def _restore_8bit(value: str, hint: str | None) -> str:
    """A header value as the parser stored it (raw 8-bit bytes as surrogate escapes)
    back to text: RFC 6532 UTF-8 first, then the message's own charset, then cp1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    raw = value.encode("ascii", "surrogateescape")
    for codec in ("utf-8", _codec(hint)):
        text = _strict(raw, codec)
        if text is not None:
            return text
    return _strict(raw, "cp1252") or raw.decode("latin-1")


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in ``value`` (any charset; adjacent words in one
    charset are joined before decoding, so a character split across words survives);
    text around them is kept as it is, and whitespace between two words dropped."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = b""
    pending_codec: str | None = None
    pos = 0
    last_word_end: int | None = None

    def flush() -> None:
        nonlocal pending, pending_codec
        if pending:
            out.append(decode_text(pending, pending_codec))
        pending, pending_codec = b"", None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        # RFC 2047 6.2: whitespace between two adjacent encoded words is not text.
        if between and not (between.isspace() and last_word_end == pos):
            flush()
            out.append(between)
        charset, kind, data = match.group(1), match.group(2).lower(), match.group(3)
        try:
            if kind == "b":
                raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=False)
            else:
                raw = _q_decode(data)
        except (binascii.Error, ValueError):
            flush()
            out.append(match.group(0))
            pos = last_word_end = match.end()
            continue
        codec = _codec(charset)
        if pending and codec != pending_codec:
            flush()
        pending += raw
        pending_codec = codec
        pos = last_word_end = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def _q_decode(data: str) -> bytes:
    """The Q encoding of RFC 2047 (``_`` is a space, ``=XX`` a byte)."""
    return binascii.a2b_qp(data.encode("utf-8", "surrogateescape"), header=True)


def _unfold(value: str) -> str:
    return " ".join(value.split())


def _charset_hint(msg: Message) -> str | None:
    try:
        for part in _parts(msg):
            charset = part.get_param("charset")
            if isinstance(charset, str) and charset:
                return charset
    except Exception:  # noqa: BLE001 - a hint is optional
        return None
    return None


def header_values(msg: Message, name: str, *, hint: str | None = None) -> list[str]:
    """Every value of header ``name`` as text, 8-bit bytes restored, unfolded, RFC 2047
    words *not* yet decoded. The one way headers are read in omnitui."""
    wanted = name.lower()
    values: list[str] = []
    try:
        items = msg.raw_items()
    except Exception:  # noqa: BLE001
        return values
    for key, value in items:
        if not isinstance(key, str) or key.lower() != wanted:
            continue
        if not isinstance(value, str):
            try:
                value = str(value)
            except Exception:  # noqa: BLE001 - an object that will not print
                continue
        values.append(_unfold(_restore_8bit(value, hint)))
    return values


def header_text(msg: Message, name: str, *, hint: str | None = None) -> str:
    """An unstructured header (Subject…) as clean text: first value, words decoded."""
    values = header_values(msg, name, hint=hint)
    return _one_line(decode_words(values[0])) if values else ""


def decode_header_value(value: object) -> str:
    """A header-like value (e.g. an attachment's file name) as one line of text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:  # noqa: BLE001
            return ""
    return _one_line(decode_words(_unfold(_restore_8bit(value, None))))


def _one_line(text: str) -> str:
    return " ".join(clean_text(text).split())


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut; a base
    character is never separated from its combining marks."""
    if len(text) <= limit:
        return text
    cut = max(limit - 1, 0)
    while cut > 0 and unicodedata.combining(text[cut]):
        cut -= 1  # the first dropped character is a mark: drop its base too
    return text[:cut].rstrip() + "…"


def trim_references(ids: Sequence[str], limit: int = MAX_REFERENCES) -> tuple[str, ...]:
    """At most ``limit`` Message-IDs: the first (the thread's root) and the latest."""
    if len(ids) <= limit:
        return tuple(ids)
    return (ids[0], *ids[len(ids) - limit + 1 :])


def addresses(msg: Message, *names: str, hint: str | None = None) -> list[tuple[str, str]]:
    """``(display name, address)`` pairs of address headers: the list is split first,
    then each display name decoded; the address is never decoded."""
    pairs: list[tuple[str, str]] = []
    for name in names:
        for value in header_values(msg, name, hint=hint):
            try:
                found = getaddresses([value])
            except Exception:  # noqa: BLE001 - an unsplittable list
                found = []
            for display, address in found:
                address = clean_text(address).strip()
                display = _one_line(decode_words(display))
                if address or display:
                    pairs.append((display, address))
    return pairs


def _msgids(values: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        value = clean_text(value)
        ids = _MSGID.findall(value)
        if not ids:
            bare = value.strip()
            if bare and " " not in bare and "@" in bare and "<" not in bare and ">" not in bare:
                ids = [f"<{bare}>"]  # a Message-ID sent without its angle brackets
        found.extend(ids)
    return tuple(found)


# -- structure --------------------------------------------------------------
def repair_header_block(raw: bytes) -> bytes:
    """Drop lines in the header block that are not headers when real header fields
    follow them (the parser would otherwise end the headers at the first bad line,
    losing sender, subject and threading). Unchanged bytes when nothing is wrong."""
    if raw.startswith((b"\n", b"\r\n")):
        return raw  # no headers at all: nothing to repair
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    cut = min(ends) + 1 if ends else min(len(raw), 1_000_000)
    head = raw[:cut]
    lines = head.splitlines(keepends=True)
    bad = [
        i for i, line in enumerate(lines) if line.strip(b"\r\n") and not _HEADER_LINE.match(line)
    ]
    if not bad:
        return raw
    last_field = max((j for j, line in enumerate(lines) if _FIELD_LINE.match(line)), default=-1)
    out: list[bytes] = []
    for i, line in enumerate(lines):
        if not line.strip(b"\r\n") or _HEADER_LINE.match(line):
            out.append(line)
        elif i < last_field:
            continue  # a stray line amid the headers: skip it, keep the headers
        else:
            # Body text right after the headers with no blank line: the body starts here.
            out.append(b"\r\n" if line.endswith(b"\r\n") else b"\n")
            out.extend(lines[i:])
            break
    return b"".join(out) + raw[cut:]


def _parse(raw: bytes) -> tuple[Message, list[str]]:
    """The lenient parse; a message nested deeper than the parser can recurse is read
    as its headers plus the rest as text."""
    try:
        # Fed in slices: ``message_from_bytes`` reads through a StringIO of the whole
        # message, whose buffer takes four bytes a character (200 MB for a 50 MB mail).
        parser = BytesFeedParser(policy=email.policy.compat32)
        for start in range(0, len(raw), _FEED):
            parser.feed(raw[start : start + _FEED])
        return parser.close(), []
    except RecursionError:
        from email.parser import BytesParser

        msg = BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=True)
        return msg, ["structure nested too deep; body read as text"]


def _parts(msg: Message) -> Iterator[Message]:
    """Every part, depth first, iteratively, at most MAX_DEPTH deep and MAX_PARTS many."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        yield part
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list) and depth < MAX_DEPTH:
            children = cast(list[Message], payload)  # a multipart's payload: its sub-messages
            stack.extend((child, depth + 1) for child in reversed(children))


def _filename(part: Message) -> str | None:
    name: str | tuple[str | None, str | None, str] | None  # get_param: an RFC 2231 triple
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
    return decode_header_value(name) or None if name else None


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        data = None
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return data if isinstance(data, bytes) else b""


def _attachment(name: str, ctype: str, data: bytes, contents: bool) -> ParsedAttachment:
    return ParsedAttachment(
        name, ctype, data if contents else None, len(data), hashlib.sha256(data).hexdigest()
    )


def _base64_digest(part: Message) -> tuple[int, str] | None:
    """Size and SHA-256 of a big, well-formed base64 body, decoded a window at a time
    (no whole copy of it, encoded or decoded); None when the general path must decide.
    Accepts exactly what ``get_payload(decode=True)`` decodes without a defect."""
    try:
        if str(part.get("content-transfer-encoding", "")).lower() != "base64":
            return None
        payload = part.get_payload()
    except Exception:  # noqa: BLE001
        return None
    if not isinstance(payload, str) or len(payload) < _STREAM_MIN:
        return None
    pads = payload.count("=")
    if pads > 2 or (pads and not payload.rstrip("\r\n").endswith("=" * pads)):
        return None
    digest = hashlib.sha256()
    size = 0
    carry = b""
    for start in range(0, len(payload), _STREAM_WINDOW):
        window = payload[start : start + _STREAM_WINDOW]
        if not _BASE64_TEXT.fullmatch(window):
            return None
        data = carry + window.encode("ascii").translate(None, b"\r\n")
        cut = len(data) - len(data) % 4
        try:
            decoded = binascii.a2b_base64(data[:cut], strict_mode=True)
        except binascii.Error:
            return None
        carry = data[cut:]
        digest.update(decoded)
        size += len(decoded)
    return None if carry else (size, digest.hexdigest())


def _described(name: str, ctype: str, part: Message) -> ParsedAttachment:
    """An attachment by size and SHA-256 only."""
    found = _base64_digest(part)
    if found is None:
        return _attachment(name, ctype, _payload(part), contents=False)
    return ParsedAttachment(name, ctype, None, *found)


def _walk(msg: Message, contents: bool = True) -> tuple[str, str, list[ParsedAttachment]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[ParsedAttachment] = []
    for part in _parts(msg):
        try:
            if part.is_multipart():
                continue
            ctype = (part.get_content_type() or "text/plain").lower()
            disposition = (part.get_content_disposition() or "").lower()
        except Exception:  # noqa: BLE001
            ctype, disposition = "application/octet-stream", "attachment"
        name = _filename(part)
        is_text = ctype.startswith("text/") and disposition != "attachment" and not name
        if not is_text and not contents:
            if ctype == "message/rfc822" and not name:
                name = "forwarded.eml"
            attachments.append(_described(name or "attachment", clean_text(ctype), part))
            continue
        data = _payload(part)
        if is_text:
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
                attachments.append(_attachment(name or "part.txt", ctype, data, contents))
            continue
        if ctype == "message/rfc822" and not name:
            name = "forwarded.eml"
        attachments.append(_attachment(name or "attachment", clean_text(ctype), data, contents))
    return "\n\n".join(plain), "\n\n".join(html), attachments


# -- classification ---------------------------------------------------------
#: Local parts of senders that are programs, not people.
_ROBOTS = ("mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply")


def is_auto_generated(headers: Message) -> bool:
    """Auto-replies, bulk and list mail (never send an acknowledgement to these)."""

    def first(name: str) -> str:
        values = header_values(headers, name)
        return values[0] if values else ""

    auto = first("Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return True
    if first("Precedence").strip().lower() in ("bulk", "list", "junk", "auto_reply"):
        return True
    if first("List-Id") or first("List-Unsubscribe"):
        return True
    if first("Return-Path").strip() == "<>":
        return True  # a bounce (null sender, RFC 3834 §2)
    sender = first("From").lower()
    if any(f"{who}@" in sender for who in _ROBOTS):
        return True
    if first("X-Loop") or first("X-Auto-Response-Suppress"):
        return True  # a robot's loop guard, or a sender asking for no auto-replies
    if headers.get_content_type() == "multipart/report":
        return True  # delivery status and read receipts (RFC 6522), whoever sends them
    if _OUT_OF_OFFICE.match(decode_words(first("Subject")[:4000]).strip()):
        return True
    return bool(first("X-Autoreply") or first("X-Autorespond"))


#: Subjects of out-of-office and other automatic replies that carry no header saying so.
_OUT_OF_OFFICE = re.compile(
    r"(auto(matic)?[ -]?(reply|response)|automatische antwort|out of (the )?office|"
    r"abwesenheitsnotiz|r[ée]ponse automatique|absent du bureau|fuera de la oficina|"
    r"respuesta autom[áa]tica|undeliverable|delivery status notification|"
    r"undelivered mail|mail delivery failed)",
    re.IGNORECASE,
)


# -- the entry point --------------------------------------------------------
def parse_message(raw: bytes, *, contents: bool = True) -> ParsedMail:
    """Parse one message; never raises, whatever the bytes. ``contents=False`` leaves
    the attachments' bytes out (size and SHA-256 only)."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        return _parse_message(raw, digest, contents)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: keep the mail
        return ParsedMail(
            message_id=None,
            in_reply_to=None,
            references=(),
            subject="",
            from_name="",
            from_addr="",
            to=(),
            date=None,
            text=clean_text(raw[:200_000].decode("utf-8", "replace")),
            content_hash=digest,
            defects=(f"unreadable structure ({type(exc).__name__}); shown as raw text",),
        )


def _parse_message(raw: bytes, digest: str, contents: bool) -> ParsedMail:
    msg, defects = _parse(repair_header_block(raw))
    hint = _charset_hint(msg)
    subject = clip(header_text(msg, "subject", hint=hint), MAX_SUBJECT)
    senders = addresses(msg, "from", hint=hint)
    with_address = [pair for pair in senders if "@" in pair[1]]
    from_name, from_addr = (with_address or senders or [("", "")])[0]
    to = tuple(a for _, a in addresses(msg, "to", "cc", hint=hint) if a)[:MAX_RECIPIENTS]
    date = None
    date_values = header_values(msg, "Date")
    if date_values:
        try:
            date = parsedate_to_datetime(date_values[0])
            if date.tzinfo is None:
                date = date.replace(tzinfo=UTC)
            date.astimezone(UTC)  # out-of-range offsets fail here, not later
        except Exception:  # noqa: BLE001 - any unreadable date is no date
            date = None
    message_ids = _msgids(header_values(msg, "Message-ID", hint=hint))
    reply_to_ids = _msgids(header_values(msg, "In-Reply-To", hint=hint))
    attachments: list[ParsedAttachment]
    if defects:
        body = raw.partition(b"\n\n")[2] or raw.partition(b"\r\n\r\n")[2]
        plain, html, attachments = decode_text(body[:2_000_000], hint), "", []
    else:
        plain, html, attachments = _walk(msg, contents)
    text = clean_text(plain).strip() or (clean_text(html_to_text(html)) if html else "")
    return ParsedMail(
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=reply_to_ids[0] if reply_to_ids else None,
        references=trim_references(_msgids(header_values(msg, "References", hint=hint))),
        subject=subject,
        from_name=from_name,
        from_addr=from_addr,
        to=to,
        date=date,
        text=text,
        attachments=tuple(attachments),
        auto_generated=is_auto_generated(msg),
        content_hash=digest,
        defects=tuple(defects),
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def attachment_content(
    raw: bytes, sha256: str, *, index: int | None = None, filename: str | None = None
) -> bytes | None:
    """The bytes of the attachment of ``raw`` whose SHA-256 is ``sha256``: the one at
    ``index`` (its place among the message's attachments) when it matches, else one with
    the same ``filename``, else any; None when no part has those bytes."""
    if not sha256:
        return None
    found = parse_message(raw).attachments
    order = [found[index]] if index is not None and 0 <= index < len(found) else []
    order += [a for a in found if a.filename == filename] + list(found)
    for att in order:
        content = att.content
        if att.sha256 == sha256 and content is not None and _sha256(content) == sha256:
            return content  # verified: these are the bytes the store described
    return None

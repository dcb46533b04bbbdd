"""WeChat Customer Service (WeCom 微信客服) without the network: one ``kf/sync_msg``
item into an :class:`~adapters.base.InboundMessage`, the 48-hour / 5-message reply
window, replies cut to WeChat's 2,048-byte text limit, and which temporary media type
(and size limit) a file sent with a reply falls under.

Everything here is pure, so ``reparse`` (``omnitui quarantine retry``) rebuilds a
message from its stored JSON alone, and the desk asks :func:`reply_window` before a
reply is queued.

An item's ``origin``: 3 the customer wrote (a message), 4 a system event, 5 one of our
agents wrote in the WeCom client (skipped: not the customer's). Events: ``enter_session``
(the customer opened the chat; nothing is stored: no reply is allowed until they write),
``servicer_status_change`` / ``session_status_change`` / ``servicer_recall_msg`` (our
side's bookkeeping: nothing stored), ``msg_send_fail`` and ``user_recall_msg`` (a
private note on the customer's conversation, so an agent sees it; notes never open the
reply window). A message type omnitui does not know is kept as a message saying what
arrived; an item without a ``msgid`` or a customer is quarantined.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from adapters.base import InboundAttachment, InboundMessage, OutboundAttachment, ReplyWindow, Sender
from adapters.json_items import (
    Unusable,
    as_dict,
    as_int,
    as_list,
    as_text,
    aware,
    raw_json,
    timestamp,
)
from adapters.outbound_files import file_name, mime_type

CHANNEL = "wechat"
#: ``origin`` of an item: the customer, the system (events), one of our agents.
ORIGIN_CUSTOMER = 3
ORIGIN_SYSTEM = 4
ORIGIN_SERVICER = 5
#: WeChat's text limit for one message (bytes of UTF-8).
TEXT_LIMIT_BYTES = 2048
#: After the customer's last message, replies may go for 48 hours, at most 5 of them.
WINDOW = timedelta(hours=48)
WINDOW_MESSAGES = 5

#: Files announced as attachments (fetched on demand by ``media_id``).
MEDIA: dict[str, tuple[str, str]] = {
    "image": ("image.jpg", "image/jpeg"),
    "voice": ("voice.amr", "audio/amr"),  # sync_msg's default voice_format 0: AMR
    "video": ("video.mp4", "video/mp4"),
    "file": ("file", "application/octet-stream"),
}
_MB = 1 << 20
#: Temporary media (``media/upload``) a reply's file goes as: type -> (its content
#: types, its largest size). A file that is not one of these types, or too large for
#: its type, goes as a ``file``. https://developer.work.weixin.qq.com/document/path/90389
OUT_MEDIA: dict[str, tuple[frozenset[str], int]] = {
    "image": (frozenset({"image/jpeg", "image/jpg", "image/png"}), 10 * _MB),
    "voice": (frozenset({"audio/amr"}), 2 * _MB),
    "video": (frozenset({"video/mp4"}), 10 * _MB),
}
#: The largest file WeChat takes (``file``: 20 MB), and the smallest (over 5 bytes).
FILE_LIMIT = 20 * _MB
FILE_MIN = 6

#: Events about our side only: nothing is stored.
QUIET_EVENTS = frozenset(
    {"enter_session", "servicer_status_change", "session_status_change", "servicer_recall_msg"}
)
_ID = re.compile(r"[\x21-\x7e]{1,128}")
_WORD = re.compile(r"[^A-Za-z0-9_.-]")


def wechat_id(value: Any) -> str | None:
    """A WeChat id (``msgid``, ``external_userid``, ``media_id``): printable ASCII
    without spaces, at most 128 characters; None otherwise."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    return None


def _word(value: Any) -> str:
    """A type name from the item, safe to show (letters, digits, ``_.-``; 40 at most)."""
    return _WORD.sub("", as_text(value))[:40] or "?"


def _number(value: Any) -> str:
    """A coordinate as text; ``?`` when it is not a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}"
    text = as_text(value).strip()
    try:
        return f"{float(text):g}"
    except ValueError:
        return "?"


def _lines(*parts: str) -> str:
    return "\n".join(p for p in (part.strip() for part in parts) if p)


def _content(msgtype: str, item: dict[str, Any]) -> tuple[str, tuple[InboundAttachment, ...]]:
    """The text and attachments of a customer's message of ``msgtype``."""
    body = as_dict(item.get(msgtype))
    if msgtype == "text":
        return as_text(body.get("content")), ()
    if msgtype in MEDIA:
        media_id = wechat_id(body.get("media_id"))
        if media_id is None:
            raise Unusable(f"{msgtype} without a media_id")
        filename, content_type = MEDIA[msgtype]
        return "", (InboundAttachment(filename, content_type, 0, remote_ref=media_id),)
    if msgtype == "location":
        place = ", ".join(
            p
            for p in (as_text(body.get("name")).strip(), as_text(body.get("address")).strip())
            if p
        )
        where = f"({_number(body.get('latitude'))}, {_number(body.get('longitude'))})"
        return f"Location: {place} {where}" if place else f"Location: {where}", ()
    if msgtype == "link":
        text = _lines(
            as_text(body.get("title")), as_text(body.get("desc")), as_text(body.get("url"))
        )
        return text or "(a link without a title or address)", ()
    if msgtype == "miniprogram":
        title = as_text(body.get("title")).strip() or "(untitled)"
        return f"Mini program: {title} ({_word(body.get('appid'))})", ()
    if msgtype == "business_card":
        return f"Business card: {as_text(body.get('userid')) or '?'}", ()
    if msgtype == "channels_shop_product":
        return f"Channels shop product: {as_text(body.get('title')) or '?'}", ()
    if msgtype == "channels_shop_order":
        return f"Channels shop order {as_text(body.get('order_id')) or '?'}", ()
    return (
        f"(a WeChat message of type {_word(msgtype)!r} that omnitui cannot show; "
        "its original is kept)",
        (),
    )


def _note(item: dict[str, Any], msgid: str, event: dict[str, Any], text: str) -> InboundMessage:
    user = wechat_id(event.get("external_userid"))
    if user is None:
        raise Unusable("event without an external_userid")
    return InboundMessage(
        external_id=msgid,
        channel=CHANNEL,
        sender=Sender(CHANNEL, user),
        sent_at=timestamp(item.get("send_time")),
        text=text,
        direction="note",
        thread_key=user,
        raw=raw_json(item),
    )


def _event(item: dict[str, Any], msgid: str) -> InboundMessage | None:
    """A system event: a note on the customer's conversation, or None."""
    event = as_dict(item.get("event"))
    kind = as_text(event.get("event_type"))
    if kind in QUIET_EVENTS:
        return None
    if kind == "msg_send_fail":
        failed = wechat_id(event.get("fail_msgid")) or "?"
        reason = as_int(event.get("fail_type"), -1)
        text = f"WeChat did not deliver our message {failed} (fail_type {reason})"
    elif kind == "user_recall_msg":
        text = f"The customer recalled their WeChat message {wechat_id(event.get('recall_msgid'))}"
    else:
        if wechat_id(event.get("external_userid")) is None:
            return None  # an event of our side we do not know: nothing for an agent
        text = f"WeChat event {_word(kind)!r}"
    return _note(item, msgid, event, text)


def normalise(item: Any, names: Mapping[str, str] | None = None) -> InboundMessage | None:
    """The message (or note) one ``msg_list`` item carries; None for what is skipped
    on purpose (our agents' messages, our side's events); raises when it cannot be
    used (no ``msgid``, no customer, an unknown ``origin``). ``names`` maps
    ``external_userid`` to the customer's WeChat nickname."""
    if not isinstance(item, dict):
        raise Unusable("item is not an object")
    msgid = wechat_id(item.get("msgid"))
    if msgid is None:
        raise Unusable("no msgid")
    origin = as_int(item.get("origin"), -1)
    msgtype = as_text(item.get("msgtype"))
    if origin == ORIGIN_SERVICER:
        return None
    if origin == ORIGIN_SYSTEM or msgtype == "event":
        return _event(item, msgid)
    if origin != ORIGIN_CUSTOMER:
        raise Unusable("unknown origin")
    user = wechat_id(item.get("external_userid"))
    if user is None:
        raise Unusable("no external_userid")
    text, attachments = _content(msgtype, item)
    return InboundMessage(
        external_id=msgid,
        channel=CHANNEL,
        sender=Sender(CHANNEL, user, (names or {}).get(user, "")),
        sent_at=timestamp(item.get("send_time")),
        text=text,
        thread_key=user,
        raw=raw_json(item),
        raw_type="application/json",
        attachments=attachments,
    )


def customers(items: list[Any]) -> list[str]:
    """The customers (``external_userid``) who wrote in ``items``, each once, in order."""
    seen: dict[str, None] = {}
    for item in items:
        record = as_dict(item)
        if as_int(record.get("origin"), -1) == ORIGIN_CUSTOMER:
            user = wechat_id(record.get("external_userid"))
            if user is not None:
                seen.setdefault(user)
    return list(seen)


def nicknames(answer: Mapping[str, Any]) -> dict[str, str]:
    """``external_userid`` -> nickname from a ``kf/customer/batchget`` answer."""
    found: dict[str, str] = {}
    for entry in as_list(answer.get("customer_list")):
        record = as_dict(entry)
        user = wechat_id(record.get("external_userid"))
        if user is not None:
            found[user] = as_text(record.get("nickname")).strip()[:200]
    return found


# -- the reply window ------------------------------------------------------------------


def _duration(left: timedelta) -> str:
    minutes = max(0, int(left.total_seconds()) // 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "under 1 min"


def reply_window(last_inbound_at: datetime | None, sent_since: int, now: datetime) -> ReplyWindow:
    """WeChat's rule: for 48 hours after the customer's last message, at most 5 of our
    messages (a reply split into several pieces counts as several). Open before the
    48th hour with a message left; closed otherwise, until the customer writes."""
    if last_inbound_at is None:
        return ReplyWindow(
            "closed", reason="WeChat: the customer has not written; replies wait until they do"
        )
    until = aware(last_inbound_at) + WINDOW
    left = max(0, WINDOW_MESSAGES - max(0, sent_since))
    if aware(now) >= until:
        return ReplyWindow(
            "closed",
            until=until,
            remaining=0,
            reason="WeChat: more than 48 h since the customer last wrote; wait for them to write",
        )
    if left == 0:
        return ReplyWindow(
            "closed",
            until=until,
            remaining=0,
            reason="WeChat: all 5 messages sent since the customer last wrote; "
            "wait for them to write",
        )
    return ReplyWindow(
        "open",
        until=until,
        remaining=left,
        reason=f"WeChat: {left} of {WINDOW_MESSAGES} messages left, "
        f"{_duration(until - aware(now))}",
    )


# -- splitting replies -----------------------------------------------------------------

#: Where a long reply is best cut, in order: a line end, a sentence end, a space.
_BREAKS = (("\n",), ("。", "！", "？", ". ", "! ", "? "), (" ", "，", ", "))


def split_utf8(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Pieces of at most ``limit`` bytes of UTF-8 each, cut between characters (never
    inside one), at a line end, sentence end or space in the piece's second half when
    there is one. Lone surrogates (which UTF-8 cannot carry) become ``?``."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    pieces: list[str] = []
    while len(text.encode("utf-8")) > limit:
        fits = len(text.encode("utf-8")[:limit].decode("utf-8", "ignore"))
        cut = fits
        for marks in _BREAKS:
            ends = [at + len(m) for m in marks if (at := text.rfind(m, 0, fits)) >= 0]
            best = max(ends, default=0)
            if best > fits // 2:
                cut = best
                break
        cut = max(1, cut)
        piece = text[:cut].rstrip()
        if piece:
            pieces.append(piece)
        text = text[cut:].lstrip()
    if text or not pieces:
        pieces.append(text)
    return pieces


# -- files sent with a reply -----------------------------------------------------------


def media_type(file: OutboundAttachment) -> str:
    """The temporary media type ``file`` goes as: ``image`` (JPG/PNG up to 10 MB),
    ``voice`` (AMR up to 2 MB), ``video`` (MP4 up to 10 MB), else ``file``."""
    kind = mime_type(file.content_type)
    for media, (types, limit) in OUT_MEDIA.items():
        if kind in types and len(file.content) <= limit:
            return media
    return "file"


def file_problem(file: OutboundAttachment) -> str | None:
    """Why WeChat cannot take ``file`` (one line, naming it), or None when it can:
    over 20 MB, or 5 bytes or fewer."""
    size = len(file.content)
    if FILE_MIN <= size <= FILE_LIMIT:
        return None
    why = f"over {FILE_LIMIT // _MB} MB" if size > FILE_LIMIT else "WeChat takes files over 5 bytes"
    return f"WeChat cannot carry {file_name(file.filename)!r} ({size:,} bytes): {why}"

"""Make an inbound message storable on every backend, whatever its adapter sent.

Owned here, applied by the sync service to every message of every adapter before it
reaches the store: text without NUL or other C0 controls and with ``\\n`` line ends
(:func:`adapters.plain_text.clean_text`), identifiers and addresses clamped to the
columns' sizes (:mod:`storage.limits`), subjects cut to a sane length.
"""

from __future__ import annotations

from dataclasses import replace

from adapters.base import InboundAttachment, InboundMessage, Sender
from adapters.plain_text import clean_text
from storage import limits


def _one_line(value: str) -> str:
    return " ".join(clean_text(value).split())


def _id(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    return limits.clamp_id(clean_text(value), limit)


def storable(msg: InboundMessage) -> InboundMessage:
    """``msg`` with every field cleaned and clamped; the raw payload is untouched."""
    sender = Sender(
        clean_text(msg.sender.channel)[:32],
        limits.clamp_id(_one_line(msg.sender.address), limits.ADDRESS),
        limits.clamp_text(_one_line(msg.sender.display_name), 256),
        _id(msg.sender.phone, 32),
    )
    return replace(
        msg,
        external_id=limits.clamp_id(clean_text(msg.external_id), limits.EXTERNAL_ID),
        channel=clean_text(msg.channel)[:32],
        sender=sender,
        text=clean_text(msg.text),
        subject=limits.clamp_text(_one_line(msg.subject), limits.SUBJECT),
        to=tuple(limits.clamp_id(_one_line(a), limits.ADDRESS) for a in msg.to if a),
        thread_key=_id(msg.thread_key, limits.THREAD_KEY),
        message_id=_id(msg.message_id, limits.MESSAGE_ID),
        in_reply_to=_id(msg.in_reply_to, limits.MESSAGE_ID),
        references=tuple(limits.clamp_id(clean_text(r), limits.MESSAGE_ID) for r in msg.references),
        source=_id(msg.source, limits.SOURCE),
        attachments=tuple(_attachment(a) for a in msg.attachments),
    )


def _attachment(att: InboundAttachment) -> InboundAttachment:
    return replace(
        att,
        filename=limits.clamp_text(_one_line(att.filename), 255) or "attachment",
        content_type=limits.clamp_text(_one_line(att.content_type), 255),
        size=max(0, min(int(att.size or 0), 2**62)),
        remote_ref=_id(att.remote_ref, limits.REMOTE_REF),
    )

"""An in-memory channel for sync tests (a server-side list of messages with offsets),
and the inbound messages the tests feed it: chat messages, and an email whose raw
bytes are hostile (8-bit header, NUL, bare CR, invalid UTF-8, dot-stuffing)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from adapters.base import (
    AdapterError,
    Cursor,
    InboundMessage,
    OutboundMessage,
    PollResult,
    Sender,
    SendResult,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def chat_message(n: int, user: str = "5001") -> InboundMessage:
    """The n-th message of a customer on the fake chat channel."""
    return InboundMessage(
        external_id=f"{user}:{n}",
        channel="telegram",
        sender=Sender("telegram", user, f"User {user}"),
        sent_at=T0 + timedelta(minutes=n),
        text=f"message {n}",
        thread_key=user,
    )


@dataclass
class FakeChannel:
    """What the fake server holds and how it misbehaves."""

    messages: list[InboundMessage] = field(default_factory=list)
    sent: list[OutboundMessage] = field(default_factory=list)
    poll_error: AdapterError | None = None
    send_errors: list[AdapterError] = field(default_factory=list)
    ignore_cursor: bool = False
    polls: int = 0
    #: Messages per poll (None: all at once) and which poll raises (1-based).
    step: int | None = None
    fail_at_poll: int | None = None


class FakeAdapter:
    """Adapter over a :class:`FakeChannel`; the cursor is the next offset."""

    kind = "fake"

    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel
        self.closed = False

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        self.channel.polls += 1
        if self.channel.poll_error is not None:
            raise self.channel.poll_error
        if self.channel.fail_at_poll == self.channel.polls:
            raise AdapterError("connection reset by peer")
        start = (
            0
            if self.channel.ignore_cursor
            else cursors.get("updates", Cursor("updates")).state.get("offset", 0)
        )
        end = len(self.channel.messages)
        if self.channel.step is not None:
            end = min(end, start + self.channel.step)
        new = self.channel.messages[start:end]
        more = end < len(self.channel.messages)
        return PollResult(
            new,
            [Cursor("updates", {"offset": end})],
            more=more,
            progress=(len(new), len(self.channel.messages) - start),
        )

    def send(self, message: OutboundMessage) -> SendResult:
        if self.channel.send_errors:
            raise self.channel.send_errors.pop(0)
        self.channel.sent.append(message)
        return SendResult(
            provider_id=f"p{len(self.channel.sent)}", external_id=f"out:{len(self.channel.sent)}"
        )

    def close(self) -> None:
        self.closed = True


#: The raw bytes of ``email_message``: every oddity a store must keep byte for byte.
RAW = (
    b"From: =?utf-8?q?Ana_Lima?= <ana@example.com>\r\n"
    b"To: support@kettle.example\r\n"
    b"Subject: broken \xe9 8-bit header  \r\n"
    b"Message-ID: <raw-1@example.com>\r\n"
    b"X-Odd: trailing spaces   \r\n"
    b"\r\n"
    b"Body with a NUL \x00, a bare CR \r here, Latin-1 \xe9\xe8, invalid \xff\xfe,\n"
    b"an LF-only line\n"
    b"\r\n.\r\n..dot-stuffed?\r\n"
)


def email_message(n: int = 1, **changes: object) -> InboundMessage:
    """The n-th email from Ana, with ``RAW`` as its bytes; ``changes`` replace fields."""
    msg = InboundMessage(
        external_id=f"mid:<raw-{n}@example.com>",
        channel="email",
        sender=Sender("email", "ana@example.com", "Ana Lima"),
        sent_at=datetime(2026, 11, 23, 10, n, tzinfo=UTC),
        text=f"Body {n}",
        subject="broken é 8-bit header",
        message_id=f"<raw-{n}@example.com>",
        raw=RAW.replace(b"raw-1", f"raw-{n}".encode()),
        raw_type="message/rfc822",
    )
    return replace(msg, **changes)  # type: ignore[arg-type]

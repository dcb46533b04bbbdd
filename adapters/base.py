"""The records adapters exchange with the sync service, and the adapter interface.

Adapters speak one channel's protocol and know nothing of storage or UI: they take a
cursor, return plain records and a new cursor, and send replies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class Sender:
    """Who sent a message: ``channel`` + a stable ``address`` (email, phone, user id).

    ``phone`` is a phone number (``+`` and digits) this sender provably stands for; set
    only by an adapter that can vouch for it (a Matrix bridge puppet from a configured
    bridge server). The store links a new identity to the customer with that number.
    """

    channel: str
    address: str
    display_name: str = ""
    phone: str | None = None


@dataclass(frozen=True)
class InboundAttachment:
    """A file that came with a message; ``content`` is None until downloaded."""

    filename: str
    content_type: str
    size: int
    sha256: str = ""
    content: bytes | None = None
    remote_ref: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """One message fetched from a channel, ready for the sync service to store.

    ``external_id`` is unique per account (IMAP: folder/UIDVALIDITY/UID or Message-ID;
    APIs: the provider's id). ``thread_key`` groups chat messages (chat or room id).
    """

    external_id: str
    channel: str
    sender: Sender
    sent_at: datetime
    text: str
    subject: str = ""
    to: tuple[str, ...] = ()
    direction: str = "in"
    kind: str = "message"
    thread_key: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    raw: bytes = b""
    raw_type: str = "application/json"
    attachments: tuple[InboundAttachment, ...] = ()
    auto_generated: bool = False
    source: str | None = None
    #: A new version of a message already delivered (its text replaces the old one).
    edited: bool = False


@dataclass
class Cursor:
    """Where polling one folder/stream resumes. ``state`` is adapter-defined JSON."""

    folder: str
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedItem:
    """An item a poll fetched but could not turn into an :class:`InboundMessage`.

    The sync service quarantines it with its raw payload (the mail's bytes, the API
    update's JSON) in the same transaction as the cursor, so the cursor moves past it
    and nothing is lost. ``error`` names what failed, never the item's content (see
    :func:`describe_exception`).
    """

    external_id: str
    raw: bytes
    error: str
    raw_type: str = "application/json"
    folder: str = ""
    received_at: datetime | None = None


@dataclass
class PollResult:
    """What one poll fetched, and the cursors to store in the same transaction."""

    messages: list[InboundMessage] = field(default_factory=list)
    cursors: list[Cursor] = field(default_factory=list)
    #: More is waiting (a large first sync): commit this step and poll again.
    more: bool = False
    #: Messages fetched so far and in all, when the adapter knows (progress display).
    progress: tuple[int, int] | None = None
    #: Items that could not be parsed or normalised: quarantined, never blocking.
    rejected: list[RejectedItem] = field(default_factory=list)


#: What a platform lets an agent send now (see :class:`ReplyWindow`).
WindowState = Literal["open", "tagged", "template_only", "closed"]


@dataclass(frozen=True)
class ReplyWindow:
    """When a reply may go on a conversation, by its platform's rule (WhatsApp's and
    Messenger's 24 hours, WeChat's 48 hours and message count…). Pure: worked out
    from the store's facts by :meth:`adapters.spec.AdapterSpec.reply_window`.

    ``state``:

    * ``open``: free text may go (until ``until`` when set; ``remaining`` more
      messages when the platform counts them);
    * ``tagged``: free text may go only with the message tag ``tag`` (Messenger's
      ``HUMAN_AGENT``), until ``until``;
    * ``template_only``: only an approved template (WhatsApp), until the customer
      writes again;
    * ``closed``: nothing may go until the customer writes again.

    ``reason`` is one line for people, saying why and until when.
    """

    state: WindowState = "open"
    until: datetime | None = None
    remaining: int | None = None
    tag: str | None = None
    reason: str = ""

    @property
    def allows_text(self) -> bool:
        """A free-text reply may be queued now."""
        return self.state in ("open", "tagged")


#: A channel with no reply window: free text at any time.
ALWAYS_OPEN = ReplyWindow()


@dataclass(frozen=True)
class OutboundAttachment:
    """A file sent with a reply."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class OutboundMessage:
    """A reply to send on the customer's channel.

    ``template`` (a platform template id: a Twilio Content SID) with its
    ``template_variables`` replaces ``text`` where the reply window allows only
    templates; ``tag`` is the message tag a window asked for (Messenger's
    ``HUMAN_AGENT``). Both are fixed when the reply is queued, never at send time.
    """

    outbox_id: int
    channel: str
    to: str
    text: str
    subject: str = ""
    conversation_ref: str = ""
    thread_key: str | None = None
    reply_to_external_id: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    mime: bytes | None = None
    #: The customer's last message, attributed and quoted, for email replies.
    quote: str = ""
    #: An automatic acknowledgement, not a person's reply (email: RFC 3834 headers).
    auto_reply: bool = False
    template: str | None = None
    template_variables: tuple[tuple[str, str], ...] = ()
    tag: str | None = None
    attachments: tuple[OutboundAttachment, ...] = ()


@dataclass(frozen=True)
class PreparedSend:
    """What an adapter fixes before the first attempt and reuses on every retry."""

    message_id: str
    mime: bytes


@dataclass(frozen=True)
class SendResult:
    """What the provider said about a sent reply."""

    provider_id: str
    external_id: str | None = None


def describe_exception(exc: BaseException) -> str:
    """A one-line description of an item's failure that carries none of its content:
    the exception's class and where our code raised it (module:line, function).

    Exception messages are left out on purpose: ``int('…')``, ``KeyError``, database
    errors and the like quote the data that failed, which may be a customer's text.
    """
    where = ""
    tb = exc.__traceback__
    frame_info = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if "/adapters/" in filename or "/omnitui/" in filename or "/storage/" in filename:
            frame_info = tb
        tb = tb.tb_next
    if frame_info is not None:
        code = frame_info.tb_frame.f_code
        parts = code.co_filename.replace("\\", "/").split("/")
        module = "/".join(parts[-2:])
        where = f" in {module}:{frame_info.tb_lineno} ({code.co_name})"
    return f"{type(exc).__name__}{where}"


class AdapterError(Exception):
    """A channel failure. ``retryable`` failures back off; ``retry_after`` in seconds."""

    #: The server may have got the request (a network failure after connecting): a send
    #: that fails so may have been delivered (set by ``http_api.transport_error``).
    maybe_received: bool = False

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class UncertainDelivery(AdapterError):
    """The channel may have accepted the message: never resend without checking."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class AuthError(AdapterError):
    """The credentials were refused: retrying will not help until they change."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


SecretGetter = Callable[[str], str]


@runtime_checkable
class Adapter(Protocol):
    """One channel account. Built with its settings and a way to fetch its secrets.

    Optional hook: ``reparse(external_id, raw, raw_type, folder) -> list[InboundMessage]``
    turns a quarantined item (a :class:`RejectedItem`'s fields) into messages again from
    its stored raw payload alone, with no network and no secret (``omnitui quarantine
    retry``, e.g. after an upgrade). It returns ``[]`` for an item that is ignored on
    purpose and raises when the item still cannot be used.
    """

    kind: str

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """Fetch what is new since ``cursors`` (keyed by folder)."""
        ...

    def send(self, message: OutboundMessage) -> SendResult:
        """Deliver ``message``; raise :class:`AdapterError` on failure."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


AdapterFactory = Callable[[str, Mapping[str, Any], SecretGetter], Adapter]

"""The tables of the store (SQLModel).

Times are aware UTC datetimes (see :class:`storage.types.UTCDateTime`). Two integer
columns on ``conversation`` exist only for the inbox's keyset order:
``urgency_due`` (epoch seconds of the most urgent running SLA clock, or
:data:`NO_DUE` when none runs) and ``recency`` (minus the epoch seconds of the last
activity), so "breached first, then soonest due, then newest" is one ascending
index scan on ``(urgency_due, recency, id)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelConfig

from storage.types import UTCDateTime, utcnow

#: ``urgency_due`` of a conversation without a running SLA clock (year 5138).
NO_DUE = 99_999_999_999

CHANNELS = (
    "email",
    "telegram",
    "matrix",
    "mastodon",
    "sms",
    "phone",
    "whatsapp",
    "messenger",
    "instagram",
    "wechat",
)
STATUSES = ("open", "pending", "snoozed", "resolved")
#: Statuses in which the next-response and resolution clocks stand still (the first
#: response clock never pauses). The one place this rule is spelled out.
PAUSED_STATUSES = ("pending", "snoozed")
PRIORITIES = ("low", "normal", "high", "urgent")
DIRECTIONS = ("in", "out", "note")
OUTBOX_STATES = ("queued", "sending", "sent", "failed", "uncertain")


def _ts(*, stamp: bool = False, **kw: Any) -> Any:
    if stamp:
        return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    return Field(default=None, sa_column=Column(UTCDateTime(), **kw))


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey(target, ondelete="CASCADE"), nullable=nullable, index=index
        ),
    )


class _Row(SQLModel):
    """The base of every table: pydantic builds a model's validator when it is first
    needed, not when the module is imported (the console's launch imports them all)."""

    model_config = SQLModelConfig(defer_build=True)


class Customer(_Row, table=True):
    """A person or organisation, reachable through one or more identities."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    vip: bool = False
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = _ts(stamp=True)


def phone_number(text: str | None) -> str | None:
    """``text`` as ``+`` and 6–15 ASCII digits when it is exactly that (the leading
    ``+`` optional); None for anything else."""
    if not text:
        return None
    digits = text.strip().removeprefix("+")
    if digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 15:
        return "+" + digits
    return None


def _identity_phone(context: Any) -> str | None:
    """Column default: an SMS identity always stands for its own number."""
    row = context.get_current_parameters()
    if row.get("channel") in ("sms", "phone"):
        return phone_number(row.get("address"))
    return None


class Identity(_Row, table=True):
    """One address of a customer on one channel (``email:a@b.c``, ``sms:+1555…``).

    ``phone`` is the number the identity provably stands for: an SMS identity's own
    number (filled by default), or one an adapter vouched for (``Sender.phone``).
    New identities are linked to a customer by it.
    """

    __table_args__ = (UniqueConstraint("channel", "address", name="uq_identity_channel_address"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = _fk("customer.id")
    channel: str = Field(sa_column=Column(String(32), nullable=False))
    address: str = Field(sa_column=Column(String(320), nullable=False))
    display_name: str = ""
    created_at: datetime = _ts(stamp=True)
    phone: str | None = Field(
        default=None, sa_column=Column(String(32), index=True, default=_identity_phone)
    )


#: ``conversation.version``: raised by every change made through the ORM, which then
#: updates only the row it read (``WHERE version = …``), so two agents changing one
#: conversation at once never lose an update silently (a ``StaleDataError`` instead).
_CONVERSATION_VERSION = Column("version", Integer, nullable=False, server_default="1")


class Conversation(_Row, table=True):
    """A thread with one customer on one channel, with its status and SLA clocks."""

    __mapper_args__ = {"version_id_col": _CONVERSATION_VERSION}

    __table_args__ = (
        Index("ix_conversation_inbox", "urgency_due", "recency", "id"),
        Index("ix_conversation_status_inbox", "status", "urgency_due", "recency", "id"),
        Index("ix_conversation_customer", "customer_id", "recency"),
        # Reports: a period's conversations, and older ones still open in it.
        Index("ix_conversation_created", "created_at"),
        Index("ix_conversation_report", "status", "resolved_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ref: str | None = Field(default=None, sa_column=Column(String(32), unique=True))
    account: str = Field(sa_column=Column(String(128), nullable=False))
    channel: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    customer_id: int | None = _fk("customer.id", index=False)
    thread_key: str | None = Field(default=None, sa_column=Column(String(512)))
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    preview: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default="open", sa_column=Column(String(16), nullable=False))
    priority: str = Field(default="normal", sa_column=Column(String(16), nullable=False))
    assignee: str | None = Field(default=None, sa_column=Column(String(128), index=True))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    unread: bool = True
    message_count: int = 0
    created_at: datetime = _ts(stamp=True)
    last_message_at: datetime = _ts(stamp=True)
    last_inbound_at: datetime | None = _ts()
    first_response_due: datetime | None = _ts()
    first_responded_at: datetime | None = _ts()
    next_response_due: datetime | None = _ts()
    resolution_due: datetime | None = _ts()
    resolved_at: datetime | None = _ts()
    snoozed_until: datetime | None = _ts()
    #: When the SLA clocks stopped (status pending or snoozed); None while they run.
    paused_at: datetime | None = _ts()
    #: When the acknowledgement auto-reply was queued (it goes once per conversation).
    acknowledged_at: datetime | None = _ts()
    urgency_due: int = Field(default=NO_DUE, sa_column=Column(BigInteger, nullable=False))
    recency: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    #: Optimistic concurrency: see :data:`_CONVERSATION_VERSION`.
    version: int = Field(default=1, sa_column=_CONVERSATION_VERSION)


class Message(_Row, table=True):
    """One message in a conversation: from the customer (``in``), to them (``out``),
    or a private ``note``. ``kind`` tells calls and voicemails from messages."""

    __table_args__ = (
        UniqueConstraint("account", "external_id", name="uq_message_account_external"),
        Index("ix_message_conversation", "conversation_id", "sent_at", "id"),
        Index("ix_message_identity", "identity_id", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = _fk("conversation.id", index=False)
    account: str = Field(sa_column=Column(String(128), nullable=False))
    external_id: str = Field(sa_column=Column(String(512), nullable=False))
    direction: str = Field(sa_column=Column(String(8), nullable=False))
    kind: str = Field(default="message", sa_column=Column(String(16), nullable=False))
    identity_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("identity.id", ondelete="SET NULL")),
    )
    author: str | None = None
    from_addr: str = ""
    to_addrs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    sent_at: datetime = _ts(stamp=True)
    received_at: datetime = _ts(stamp=True)
    message_id: str | None = Field(default=None, sa_column=Column(String(998), index=True))
    in_reply_to: str | None = Field(default=None, sa_column=Column(String(998)))
    references: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    has_attachments: bool = False
    #: Where the message lives on the server (IMAP: ``folder/UIDVALIDITY/UID``).
    source: str | None = Field(default=None, sa_column=Column(String(1024)))


class RawMessage(_Row, table=True):
    """The bytes a message arrived as (email: the whole RFC 822 message; APIs: JSON)."""

    __tablename__ = "raw_message"

    message_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("message.id", ondelete="CASCADE"), primary_key=True),
    )
    content_type: str = "message/rfc822"
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Attachment(_Row, table=True):
    """A file attached to a message. ``content`` may be empty until downloaded."""

    id: int | None = Field(default=None, primary_key=True)
    message_id: int | None = _fk("message.id")
    filename: str = ""
    content_type: str = "application/octet-stream"
    size: int = 0
    sha256: str = ""
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    #: The channel's handle for a file not downloaded yet (Telegram file_id, a URL).
    remote_ref: str | None = Field(default=None, sa_column=Column(String(2048)))


class SyncCursor(_Row, table=True):
    """Where an account's poll of one folder/stream resumes (UIDVALIDITY+UID, offsets)."""

    __tablename__ = "sync_cursor"
    __table_args__ = (UniqueConstraint("account", "folder", name="uq_cursor_account_folder"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(sa_column=Column(String(128), nullable=False))
    folder: str = Field(default="", sa_column=Column(String(512), nullable=False))
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _ts(stamp=True)


class Outbox(_Row, table=True):
    """A reply waiting to go out: queued → sending → sent | failed | uncertain."""

    __table_args__ = (Index("ix_outbox_state_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = _fk("conversation.id")
    account: str = Field(sa_column=Column(String(128), nullable=False))
    channel: str = Field(sa_column=Column(String(32), nullable=False))
    author: str = "me"
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    mime: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    #: How the platform must take it, fixed when queued: ``template`` (a platform
    #: template id), ``template_name``, ``variables`` (name -> value), ``tag``.
    send_options: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict)
    )
    message_id_header: str | None = None
    state: str = Field(default="queued", sa_column=Column(String(16), nullable=False))
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    last_error: str | None = None
    provider_id: str | None = None
    sent_message_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("message.id", ondelete="SET NULL"), index=True),
    )
    created_at: datetime = _ts(stamp=True)
    updated_at: datetime = _ts(stamp=True)
    sent_at: datetime | None = _ts()


class Event(_Row, table=True):
    """Who did what when: the audit log that reports and privacy requests read."""

    __table_args__ = (Index("ix_event_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(stamp=True)
    actor: str = "system"
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    conversation_id: int | None = _fk("conversation.id", nullable=True)
    customer_id: int | None = _fk("customer.id", nullable=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RefAlias(_Row, table=True):
    """The reference of a conversation merged into another: it keeps leading there."""

    __tablename__ = "ref_alias"

    ref: str = Field(sa_column=Column(String(32), primary_key=True))
    conversation_id: int | None = _fk("conversation.id")


class Quarantine(_Row, table=True):
    """An item an adapter could not parse or the store could not take: its raw payload
    (a mail's bytes, an API update's JSON) and what failed, kept until an agent drops
    it. ``error`` names the failure, never the content; one row per (account, external
    id), however often the item is seen again."""

    __table_args__ = (
        UniqueConstraint("account", "external_id", name="uq_quarantine_account_external"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(sa_column=Column(String(128), nullable=False))
    kind: str = Field(default="", sa_column=Column(String(32), nullable=False, default=""))
    folder: str = Field(default="", sa_column=Column(String(512), nullable=False, default=""))
    external_id: str = Field(sa_column=Column(String(512), nullable=False))
    #: ``parse`` (the adapter could not read it) or ``store`` (the store refused it).
    stage: str = Field(default="parse", sa_column=Column(String(16), nullable=False))
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    raw_type: str = Field(default="application/json", sa_column=Column(String(128), nullable=False))
    received_at: datetime | None = _ts()
    created_at: datetime = _ts(stamp=True)
    updated_at: datetime = _ts(stamp=True)
    #: Times it was seen or retried and failed.
    attempts: int = 1


class Draft(_Row, table=True):
    """The unsent text of a reply or note, one per conversation and agent, saved as the
    agent types so it survives closing the composer, resolving, a restart and a crash.
    ``began_at`` and ``base_message_id`` (the newest message of the conversation when
    the draft began) tell what happened since, before the reply is queued."""

    conversation_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    author: str = Field(default="me", sa_column=Column(String(128), primary_key=True))
    #: ``reply`` or ``note``.
    mode: str = Field(default="reply", sa_column=Column(String(16), nullable=False))
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    updated_at: datetime = _ts(stamp=True)
    began_at: datetime | None = _ts()
    base_message_id: int | None = Field(default=None, sa_column=Column(Integer))


class AccountState(_Row, table=True):
    """Health of one account as the last poll left it; read by the status line."""

    __tablename__ = "account_state"

    account: str = Field(sa_column=Column(String(128), primary_key=True))
    kind: str = ""
    polling: bool = False
    last_attempt_at: datetime | None = _ts()
    last_ok_at: datetime | None = _ts()
    last_error: str | None = None
    last_error_at: datetime | None = _ts()
    retry_after: datetime | None = _ts()
    #: The process that leads this account's polling and sending (``host pid N (role)``),
    #: and when it last said so (omnitui.sync.leases).
    leader: str | None = Field(default=None, sa_column=Column(String(256)))
    leader_seen_at: datetime | None = _ts()


class Survey(_Row, table=True):
    """A satisfaction survey sent after a resolution, and the customer's answer.

    ``score`` is 1–5 once an answer was recognised (👍 is 5, 👎 is 1); ``answer`` the
    reply's text as received and ``comment`` what it said besides the score."""

    __table_args__ = (Index("ix_survey_customer_sent", "customer_id", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = _fk("conversation.id")
    customer_id: int | None = _fk("customer.id", nullable=True, index=False)
    account: str = Field(sa_column=Column(String(128), nullable=False))
    channel: str = Field(sa_column=Column(String(32), nullable=False))
    #: The reply that carried the survey (None once that row is gone).
    outbox_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("outbox.id", ondelete="SET NULL"), index=True),
    )
    sent_at: datetime = _ts(stamp=True)
    answered_at: datetime | None = _ts()
    score: int | None = None
    answer: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: The customer's message that answered it.
    message_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("message.id", ondelete="SET NULL")),
    )


class Handling(_Row, table=True):
    """Time an agent actively had a conversation open in the console (focused, with
    input in the last two minutes): one row per stretch, for average handling time."""

    __table_args__ = (Index("ix_handling_conversation", "conversation_id", "agent", "seconds"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = _fk("conversation.id", index=False)
    agent: str = Field(default="me", sa_column=Column(String(128), nullable=False))
    started_at: datetime = _ts(stamp=True)
    seconds: float = Field(default=0.0, sa_column=Column(Float, nullable=False))


class ReportFact(_Row, table=True):
    """One conversation's report figures, computed once (omnitui.reports.fact_store).

    Triggers (storage.fact_triggers) delete the row whenever the conversation, one of
    its messages, its status log or its customer's VIP flag changes; ``basis`` names
    the settings it was computed under (SLA calendar, policies, report time zone).
    Instants are epoch seconds; the list columns are compact text."""

    __tablename__ = "report_fact"
    __table_args__ = (Index("ix_report_fact_created", "created"),)

    conversation_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    basis: str = Field(default="", sa_column=Column(String(64), nullable=False, default=""))
    created: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    #: When it was last resolved for good (None while it is not resolved).
    settled: float | None = Field(default=None, sa_column=Column(Float))
    #: The local date of creation in the report time zone (``YYYY-MM-DD``).
    day: str = Field(default="", sa_column=Column(String(10), nullable=False, default=""))
    channel: str = Field(default="", sa_column=Column(String(32), nullable=False, default=""))
    assignee: str | None = Field(default=None, sa_column=Column(String(128)))
    #: The tags as a JSON array.
    tags: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    #: The SLA policy that applies (its name; empty for none).
    policy: str = Field(default="", sa_column=Column(String(128), nullable=False, default=""))
    messages_in: int = 0
    messages_out: int = 0
    replies: int = 0
    #: Seconds agents actively had it open (its ``handling`` rows summed).
    handled: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    #: Times are whole microseconds (exact, and quick for the database to list).
    first_response: int | None = Field(default=None, sa_column=Column(BigInteger))
    first_response_business: int | None = Field(default=None, sa_column=Column(BigInteger))
    #: Next-response intervals: wall-clock and business microseconds of each, by spaces.
    next_responses: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    resolved: bool = False
    reopened: bool = False
    resolution: int | None = Field(default=None, sa_column=Column(BigInteger))
    resolution_business: int | None = Field(default=None, sa_column=Column(BigInteger))
    fcr: bool | None = None
    #: SLA clocks: ``met``, ``breached``, ``due`` (judged against the due time when the
    #: report runs) or None; the due time as epoch seconds.
    first_response_clock: str | None = Field(default=None, sa_column=Column(String(8)))
    first_response_due: float | None = Field(default=None, sa_column=Column(Float))
    resolution_clock: str | None = Field(default=None, sa_column=Column(String(8)))
    resolution_due: float | None = Field(default=None, sa_column=Column(Float))
    #: Spans not resolved: start and end epoch microseconds of each (-1 while it
    #: lasts), by spaces.
    unresolved: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: Inbound messages by local weekday and hour: ``weekday * 100 + hour`` codes.
    hours: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Agent(_Row, table=True):
    """A member of the team (team mode): who a console runs as, what they can take.

    Skills are lists of channels, tags and languages; an empty list means any.
    ``capacity`` caps the open conversations auto-assignment gives them (None: no cap);
    ``vip`` agents take VIP customers; ``admin`` may forget and merge customers;
    ``away`` is set by hand, and ``last_seen_at`` by their console's heartbeat."""

    name: str = Field(sa_column=Column(String(128), primary_key=True))
    email: str = Field(default="", sa_column=Column(String(320), nullable=False, default=""))
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    capacity: int | None = None
    vip: bool = False
    admin: bool = False
    away: bool = False
    last_seen_at: datetime | None = _ts()
    #: When auto-assignment last gave them a conversation (round-robin takes the oldest).
    last_assigned_at: datetime | None = _ts()
    created_at: datetime = _ts(stamp=True)


class Presence(_Row, table=True):
    """An agent's console showing a conversation (``viewing``) or with a reply being
    typed in it (``typing``); fresh while ``seen_at`` is recent (omnitui.desk.presence)."""

    __table_args__ = (Index("ix_presence_conversation", "conversation_id", "seen_at"),)

    agent: str = Field(sa_column=Column(String(128), primary_key=True))
    conversation_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    state: str = Field(default="viewing", sa_column=Column(String(16), nullable=False))
    seen_at: datetime = _ts(stamp=True)


class ChangeLog(_Row, table=True):
    """The change feed of an SQLite store: triggers (storage.live_triggers) add the id of
    each conversation that changed, so a console that sees ``PRAGMA data_version`` move
    reloads only those. PostgreSQL sends the same by ``NOTIFY`` instead."""

    __tablename__ = "change_log"

    seq: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(sa_column=Column(Integer, nullable=False))
    kind: str = Field(default="", sa_column=Column(String(16), nullable=False, default=""))


class _Mapped(Protocol):
    __table__: Table


def table_of(model: type[SQLModel]) -> Table:
    """The SQLAlchemy ``Table`` of a table model (``Conversation.__table__``).

    SQLModel sets ``__table__`` when the class is made; its stubs do not declare it.
    """
    return cast(_Mapped, model).__table__


def now() -> datetime:
    """Alias of :func:`storage.types.utcnow` for callers of this module."""
    return utcnow()

"""Reads for the console, the CLI and exports: keyset-paged inbox, threads, history.

All functions take a SQLAlchemy ``Connection`` (or a Session's connection) and return
plain frozen dataclasses, so callers never hold ORM objects across threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeAlias, overload

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Integer,
    Label,
    Row,
    Select,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)

from storage.models import (
    NO_DUE,
    PAUSED_STATUSES,
    AccountState,
    Attachment,
    Conversation,
    Customer,
    Draft,
    Identity,
    Message,
    Outbox,
    table_of,
)
from storage.types import epoch

C = table_of(Conversation).c
CU = table_of(Customer).c
M = table_of(Message).c
ID = table_of(Identity).c
A = table_of(Attachment).c
O = table_of(Outbox).c  # noqa: E741
AS = table_of(AccountState).c
D = table_of(Draft).c

#: A SELECT of any columns, and one row of its result (strings: typing only).
_AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"
_AnyRow: TypeAlias = "Row[*tuple[Any, ...]]"

ACTIVE_STATUSES = ("open", "pending")

#: Keyset position in the inbox: (urgency_due, recency, id).
InboxKey = tuple[int, int, int]
#: How much of the customer's last message a snippet reads (its first line is shown).
SNIPPET_CHARS = 400


def running_clock(
    status: str,
    first_response_due: datetime | None,
    first_responded_at: datetime | None,
    next_response_due: datetime | None,
    resolution_due: datetime | None,
) -> str | None:
    """Which SLA clock is the most urgent running one: ``first_response``,
    ``next_response`` or ``resolution`` (None when none runs).

    The same rule as ``omnitui.desk.clocks.running_due``: pending and snoozed stop the
    next-response and resolution clocks; the first-response clock runs until the first
    public reply."""
    if status == "resolved":
        return None
    dues: list[tuple[datetime, int, str]] = []
    if first_responded_at is None and first_response_due is not None:
        dues.append((first_response_due, 0, "first_response"))
    if status not in PAUSED_STATUSES:
        if next_response_due is not None:
            dues.append((next_response_due, 1, "next_response"))
        if resolution_due is not None:
            dues.append((resolution_due, 2, "resolution"))
    return min(dues)[2] if dues else None


def first_line(text: str | None) -> str:
    """The first non-blank line of ``text``, stripped, at most 200 characters."""
    return next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")[:200]


def _snippet_col(conversation_id: ColumnElement[int]) -> Label[Any]:
    """The start of the customer's newest message in the conversation (an index seek
    on ``ix_message_conversation``, newest first, to the first inbound one)."""
    return (
        select(func.substr(M.text, 1, SNIPPET_CHARS))
        .where(M.conversation_id == conversation_id, M.direction == "in")
        .order_by(M.sent_at.desc(), M.id.desc())
        .limit(1)
        .scalar_subquery()
        .label("snippet")
    )


def _draft_col(conversation_id: ColumnElement[int], author: str | None) -> Label[bool]:
    """Whether an unsent draft with text waits on the conversation: ``author``'s own
    (a primary-key seek), or anyone's when ``author`` is None. Another agent's draft is
    shown as presence (``◉ bo``, "bo is typing"), not as the viewer's ``✎``."""
    conds = [D.conversation_id == conversation_id, D.body != ""]
    if author is not None:
        conds.append(D.author == author)
    return exists(select(literal(1)).where(*conds)).label("has_draft")


@dataclass(frozen=True)
class InboxFilter:
    """Which conversations the inbox shows.

    ``assignee``: None = anyone, "" = unassigned only, a name = that agent only.
    """

    statuses: tuple[str, ...] = ACTIVE_STATUSES
    channels: tuple[str, ...] = ()
    assignee: str | None = None
    customer_id: int | None = None
    #: Only running clocks due before this epoch second (the breached / due-soon view).
    due_before: int | None = None
    #: Whose drafts ``InboxRow.has_draft`` tells of: this agent's, or anyone's (None).
    drafts_of: str | None = None


@dataclass(frozen=True)
class InboxRow:
    """One inbox line."""

    id: int
    ref: str
    channel: str
    account: str
    customer_id: int
    customer_name: str
    vip: bool
    subject: str
    preview: str
    status: str
    priority: str
    assignee: str | None
    unread: bool
    has_attachments: bool
    due: datetime | None
    last_message_at: datetime
    key: InboxKey
    #: The running clock ``due`` belongs to (``first_response``, ``next_response``,
    #: ``resolution``), None when none runs.
    clock: str | None = None
    #: An unsent reply or note waits in the ``draft`` table.
    has_draft: bool = False
    #: ``conversation.version`` as read: what an action on this row expects.
    version: int | None = None

    @property
    def title(self) -> str:
        """Subject, or (channels without subjects) the first line of the customer's
        newest message."""
        return self.subject or self.preview


def _inbox_columns() -> list[ColumnElement[Any]]:
    return [
        C.id,
        C.ref,
        C.channel,
        C.account,
        C.customer_id,
        CU.name,
        CU.vip,
        C.subject,
        C.preview,
        C.status,
        C.priority,
        C.assignee,
        C.unread,
        C.urgency_due,
        C.recency,
        C.last_message_at,
        _clock_col(),
        C.version,
    ]


def _clock_col() -> Label[Any]:
    """:func:`running_clock` in SQL, so the inbox reads one short string, not four
    timestamps (both backends store them naive UTC, so they compare in order)."""
    fr = and_(C.first_responded_at.is_(None), C.first_response_due.is_not(None))
    paused = C.status.in_(PAUSED_STATUSES)
    nr = and_(~paused, C.next_response_due.is_not(None))
    res = and_(~paused, C.resolution_due.is_not(None))
    return case(
        (or_(C.urgency_due >= NO_DUE, C.status == "resolved"), None),
        (
            and_(
                fr,
                or_(~nr, C.first_response_due <= C.next_response_due),
                or_(~res, C.first_response_due <= C.resolution_due),
            ),
            "first_response",
        ),
        (and_(nr, or_(~res, C.next_response_due <= C.resolution_due)), "next_response"),
        (res, "resolution"),
        else_=None,
    ).label("clock")


def _with_extras(
    q: _AnySelect, conversation_id: ColumnElement[int], drafts_of: str | None
) -> _AnySelect:
    """Add the customer's snippet and the draft flag, computed per returned row."""
    return q.add_columns(_snippet_col(conversation_id), _draft_col(conversation_id, drafts_of))


def _where(flt: InboxFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if flt.statuses:
        conds.append(C.status.in_(flt.statuses))
    if flt.channels:
        conds.append(C.channel.in_(flt.channels))
    if flt.assignee == "":
        conds.append(C.assignee.is_(None))
    elif flt.assignee is not None:
        conds.append(C.assignee == flt.assignee)
    if flt.customer_id is not None:
        conds.append(C.customer_id == flt.customer_id)
    if flt.due_before is not None:
        conds.append(C.urgency_due < flt.due_before)
    return conds


def _row(r: _AnyRow) -> InboxRow:
    due = None if r.urgency_due >= NO_DUE else datetime.fromtimestamp(r.urgency_due, UTC)
    snippet = first_line(r.snippet) if r.snippet is not None else (r.preview or "")
    return InboxRow(
        id=r.id,
        ref=r.ref or "",
        channel=r.channel,
        account=r.account,
        customer_id=r.customer_id,
        customer_name=r.name or "",
        vip=bool(r.vip),
        subject=r.subject or "",
        preview=snippet,
        status=r.status,
        priority=r.priority,
        assignee=r.assignee,
        unread=bool(r.unread),
        has_attachments=False,
        due=due,
        last_message_at=r.last_message_at.replace(tzinfo=UTC)
        if r.last_message_at.tzinfo is None
        else r.last_message_at,
        key=(r.urgency_due, r.recency, r.id),
        clock=r.clock if due is not None else None,
        has_draft=bool(r.has_draft),
        version=r.version,
    )


def _base(flt: InboxFilter) -> _AnySelect:
    return (
        select(*_inbox_columns())
        .select_from(table_of(Conversation).join(table_of(Customer), CU.id == C.customer_id))
        .where(*_where(flt))
    )


_KEY = tuple_(bindparam("key_due"), bindparam("key_recency"), bindparam("key_id"))


def _key_params(key: InboxKey | None) -> dict[str, int]:
    return {} if key is None else {"key_due": key[0], "key_recency": key[1], "key_id": key[2]}


@lru_cache(maxsize=64)
def _ordered(flt: InboxFilter, key_side: str, *, descending: bool, limit: int) -> _AnySelect:
    """The inbox query in key order, built once per filter and shape (the key itself is
    bound at execution). ``key_side``: ``""`` (from the start), ``">"`` (after the
    bound key) or ``"<"`` (before it).

    With several statuses, one index-ordered query per status merged with UNION ALL: an
    ``IN`` list would make SQLite sort every matching row (tens of thousands at 100k
    conversations) for each page."""
    row_key = tuple_(C.urgency_due, C.recency, C.id)
    key_cond = {"": None, ">": row_key > _KEY, "<": row_key < _KEY}[key_side]
    keys = (C.urgency_due, C.recency, C.id)
    order = [k.desc() for k in keys] if descending else list(keys)
    if len(flt.statuses) <= 1:
        q = _base(flt)
        if key_cond is not None:
            q = q.where(key_cond)
        return _with_extras(q, C.id, flt.drafts_of).order_by(*order).limit(limit)
    parts = []
    for status in flt.statuses:
        q = _base(replace(flt, statuses=(status,)))
        if key_cond is not None:
            q = q.where(key_cond)
        sub = q.order_by(*order).limit(limit).subquery()
        parts.append(select(*sub.c))
    merged = union_all(*parts).subquery()
    mkeys = (merged.c.urgency_due, merged.c.recency, merged.c.id)
    morder = [k.desc() for k in mkeys] if descending else list(mkeys)
    # The page first, then the per-row extras for its rows only (not for every row
    # of every part).
    page = select(merged).order_by(*morder).limit(limit).subquery()
    pkeys = (page.c.urgency_due, page.c.recency, page.c.id)
    return _with_extras(select(page), page.c.id, flt.drafts_of).order_by(
        *([k.desc() for k in pkeys] if descending else list(pkeys))
    )


def inbox_page(
    conn: Connection, flt: InboxFilter, *, after: InboxKey | None = None, limit: int = 100
) -> list[InboxRow]:
    """Up to ``limit`` rows in urgency order, starting after ``after``.

    Order: breached first, then soonest SLA due, then newest activity — which is
    ascending ``(urgency_due, recency, id)``, one index range scan (per status).
    """
    q = _ordered(flt, "" if after is None else ">", descending=False, limit=limit)
    return [_row(r) for r in conn.execute(q, _key_params(after))]


def inbox_page_before(
    conn: Connection, flt: InboxFilter, *, before: InboxKey | None = None, limit: int = 100
) -> list[InboxRow]:
    """Up to ``limit`` rows just before ``before`` (or the last rows), in urgency order."""
    q = _ordered(flt, "" if before is None else "<", descending=True, limit=limit)
    rows = [_row(r) for r in conn.execute(q, _key_params(before))]
    rows.reverse()
    return rows


def inbox_at(conn: Connection, flt: InboxFilter, offset: int, limit: int = 100) -> list[InboxRow]:
    """Rows from position ``offset`` (for a jump, e.g. dragging the scrollbar)."""
    q = (
        _with_extras(_base(flt), C.id, flt.drafts_of)
        .order_by(C.urgency_due, C.recency, C.id)
        .offset(offset)
        .limit(limit)
    )
    return [_row(r) for r in conn.execute(q)]


def inbox_count(conn: Connection, flt: InboxFilter) -> int:
    """How many conversations the filter selects."""
    q = select(func.count()).select_from(table_of(Conversation)).where(*_where(flt))
    return int(conn.execute(q).scalar_one())


def inbox_position(conn: Connection, flt: InboxFilter, key: InboxKey) -> int:
    """The index of the row with ``key`` in the filtered inbox."""
    q = (
        select(func.count())
        .select_from(table_of(Conversation))
        .where(*_where(flt), tuple_(C.urgency_due, C.recency, C.id) < tuple_(*key))
    )
    return int(conn.execute(q).scalar_one())


def inbox_key(conn: Connection, flt: InboxFilter, conversation_id: int) -> InboxKey | None:
    """The current inbox key of a conversation, if the filter still selects it."""
    r = conn.execute(
        select(C.urgency_due, C.recency, C.id).where(C.id == conversation_id, *_where(flt))
    ).first()
    return None if r is None else (int(r[0]), int(r[1]), int(r[2]))


def _in_ids(column: ColumnElement[int], dialect: str) -> ColumnElement[bool]:
    """``column`` in the list bound as ``ids``: one array parameter on PostgreSQL
    (``= ANY``), so the statement's text, and the plan psycopg prepares for it, is the
    same for any number of ids; an expanding ``IN`` list on SQLite."""
    if dialect == "postgresql":
        return column == any_(bindparam("ids", type_=ARRAY(Integer)))
    return column.in_(bindparam("ids", expanding=True))


def stored_conversation_ids(conn: Connection, ids: Sequence[int]) -> set[int]:
    """Which of these conversation ids are still stored (not merged away or erased)."""
    if not ids:
        return set()
    q = select(C.id).where(_in_ids(C.id, conn.dialect.name))
    return {r[0] for r in conn.execute(q, {"ids": list(ids)})}


@lru_cache(maxsize=16)
def _rows_by_id(dialect: str, drafts_of: str | None) -> _AnySelect:
    return _with_extras(
        select(*_inbox_columns())
        .select_from(table_of(Conversation).join(table_of(Customer), CU.id == C.customer_id))
        .where(_in_ids(C.id, dialect)),
        C.id,
        drafts_of,
    )


def inbox_rows_by_id(
    conn: Connection, ids: Sequence[int], *, drafts_of: str | None = None
) -> list[InboxRow]:
    """Inbox rows for these conversation ids (search results), in the given order;
    ``drafts_of`` as in :class:`InboxFilter`."""
    if not ids:
        return []
    rows = conn.execute(_rows_by_id(conn.dialect.name, drafts_of), {"ids": list(ids)})
    by_id = {r.id: _row(r) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


@dataclass(frozen=True)
class AttachmentInfo:
    """Attachment metadata (never the content)."""

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ThreadItem:
    """One message of a conversation, with its attachments."""

    id: int
    direction: str
    kind: str
    author: str | None
    from_addr: str
    to_addrs: tuple[str, ...]
    subject: str
    text: str
    sent_at: datetime
    external_id: str
    message_id: str | None
    attachments: tuple[AttachmentInfo, ...] = ()
    delivery: str | None = None
    delivery_error: str | None = None


@overload
def _aware(value: datetime) -> datetime: ...
@overload
def _aware(value: datetime | None) -> datetime | None: ...
def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@lru_cache(maxsize=4)
def _attachments_of(dialect: str) -> _AnySelect:
    return (
        select(A.id, A.message_id, A.filename, A.content_type, A.size, A.sha256)
        .where(_in_ids(A.message_id, dialect))
        .order_by(A.id)
    )


def attachments_for(
    conn: Connection, message_ids: Sequence[int]
) -> dict[int, list[AttachmentInfo]]:
    """Attachment metadata grouped by message id."""
    out: dict[int, list[AttachmentInfo]] = {}
    if not message_ids:
        return out
    for r in conn.execute(_attachments_of(conn.dialect.name), {"ids": list(message_ids)}):
        out.setdefault(r.message_id, []).append(
            AttachmentInfo(r.id, r.filename, r.content_type, r.size, r.sha256)
        )
    return out


def thread(conn: Connection, conversation_id: int, *, limit: int = 500) -> list[ThreadItem]:
    """The messages of a conversation, oldest first (the newest ``limit``)."""
    q = (
        select(
            M.id,
            M.direction,
            M.kind,
            M.author,
            M.from_addr,
            M.to_addrs,
            M.subject,
            M.text,
            M.sent_at,
            M.external_id,
            M.message_id,
            M.has_attachments,
            O.state.label("delivery"),
            O.last_error.label("delivery_error"),
        )
        .select_from(table_of(Message).outerjoin(table_of(Outbox), O.sent_message_id == M.id))
        .where(M.conversation_id == conversation_id)
        .order_by(M.sent_at.desc(), M.id.desc())
        .limit(limit)
    )
    rows = list(conn.execute(q))
    rows.reverse()
    atts = attachments_for(conn, [r.id for r in rows if r.has_attachments])
    return [
        ThreadItem(
            id=r.id,
            direction=r.direction,
            kind=r.kind,
            author=r.author,
            from_addr=r.from_addr,
            to_addrs=tuple(r.to_addrs or ()),
            subject=r.subject,
            text=r.text,
            sent_at=_aware(r.sent_at),
            external_id=r.external_id,
            message_id=r.message_id,
            attachments=tuple(atts.get(r.id, ())),
            delivery=r.delivery,
            delivery_error=r.delivery_error,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class IdentityInfo:
    """An address of a customer."""

    id: int
    channel: str
    address: str
    display_name: str


@dataclass(frozen=True)
class CustomerInfo:
    """A customer with every identity."""

    id: int
    name: str
    vip: bool
    notes: str
    identities: tuple[IdentityInfo, ...]


@dataclass(frozen=True)
class ConversationInfo:
    """A conversation's header fields and its customer."""

    id: int
    ref: str
    account: str
    channel: str
    subject: str
    status: str
    priority: str
    assignee: str | None
    tags: tuple[str, ...]
    created_at: datetime
    first_response_due: datetime | None
    first_responded_at: datetime | None
    next_response_due: datetime | None
    resolution_due: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    due: datetime | None
    customer: CustomerInfo
    unread: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: ``conversation.version`` as read: what an action on this view expects.
    version: int | None = None

    @property
    def clock(self) -> str | None:
        """The running SLA clock ``due`` belongs to (``first_response``,
        ``next_response``, ``resolution``); None when none runs."""
        if self.due is None:
            return None
        return running_clock(
            self.status,
            self.first_response_due,
            self.first_responded_at,
            self.next_response_due,
            self.resolution_due,
        )


def customer_info(conn: Connection, customer_id: int) -> CustomerInfo | None:
    """A customer and their identities."""
    r = conn.execute(select(CU.id, CU.name, CU.vip, CU.notes).where(CU.id == customer_id)).first()
    if r is None:
        return None
    idents = tuple(
        IdentityInfo(i.id, i.channel, i.address, i.display_name)
        for i in conn.execute(
            select(ID.id, ID.channel, ID.address, ID.display_name)
            .where(ID.customer_id == customer_id)
            .order_by(ID.id)
        )
    )
    return CustomerInfo(r.id, r.name, bool(r.vip), r.notes or "", idents)


def conversation_info(conn: Connection, conversation_id: int) -> ConversationInfo | None:
    """Header fields of one conversation, or None if it does not exist."""
    r = conn.execute(select(table_of(Conversation)).where(C.id == conversation_id)).first()
    if r is None:
        return None
    cust = customer_info(conn, r.customer_id)
    assert cust is not None
    return ConversationInfo(
        id=r.id,
        ref=r.ref or "",
        account=r.account,
        channel=r.channel,
        subject=r.subject,
        status=r.status,
        priority=r.priority,
        assignee=r.assignee,
        tags=tuple(r.tags or ()),
        created_at=_aware(r.created_at),
        first_response_due=_aware(r.first_response_due),
        first_responded_at=_aware(r.first_responded_at),
        next_response_due=_aware(r.next_response_due),
        resolution_due=_aware(r.resolution_due),
        resolved_at=_aware(r.resolved_at),
        snoozed_until=_aware(r.snoozed_until),
        due=None if r.urgency_due >= NO_DUE else datetime.fromtimestamp(r.urgency_due, UTC),
        customer=cust,
        unread=bool(r.unread),
        version=r.version,
    )


@dataclass(frozen=True)
class DueRow:
    """A conversation with a running SLA clock due before some instant."""

    id: int
    ref: str
    #: The most urgent running clock's due time, in epoch seconds.
    due: int
    #: The subject, or the preview when there is none.
    subject: str
    channel: str
    priority: str


def due_before(conn: Connection, when: datetime, *, limit: int = 200) -> list[DueRow]:
    """Running SLA clocks due before ``when`` (breached ones included), most urgent
    first (the console's alerts and ``omnitui conv due``)."""
    rows = conn.execute(
        select(C.id, C.ref, C.urgency_due, C.subject, C.preview, C.channel, C.priority)
        .where(C.urgency_due < min(epoch(when), NO_DUE))
        .order_by(C.urgency_due, C.id)
        .limit(limit)
    )
    return [
        DueRow(
            r.id,
            r.ref or "",
            int(r.urgency_due),
            r.subject or r.preview or "",
            r.channel,
            r.priority,
        )
        for r in rows
    ]


def conversation_id_by_ref(conn: Connection, ref: str) -> int | None:
    """The id of the conversation with reference ``ref`` (case-insensitive)."""
    r = conn.execute(select(C.id).where(C.ref == ref.strip().upper())).first()
    return None if r is None else int(r.id)


@dataclass(frozen=True)
class HistoryItem:
    """One past or present conversation of a customer, for the history pane."""

    conversation_id: int
    ref: str
    channel: str
    status: str
    subject: str
    #: The first line of the customer's newest message in it (not our reply).
    preview: str
    last_message_at: datetime
    message_count: int


def customer_history(conn: Connection, customer_id: int, *, limit: int = 200) -> list[HistoryItem]:
    """Every conversation of a customer on every channel, newest activity first."""
    q = (
        select(
            C.id,
            C.ref,
            C.channel,
            C.status,
            C.subject,
            C.preview,
            C.last_message_at,
            C.message_count,
            _snippet_col(C.id),
        )
        .where(C.customer_id == customer_id)
        .order_by(C.recency, C.id.desc())
        .limit(limit)
    )
    return [
        HistoryItem(
            r.id,
            r.ref or "",
            r.channel,
            r.status,
            r.subject,
            first_line(r.snippet) if r.snippet is not None else r.preview,
            _aware(r.last_message_at),
            r.message_count,
        )
        for r in conn.execute(q)
    ]


@dataclass(frozen=True)
class AccountHealth:
    """What the status line shows for one account."""

    account: str
    kind: str
    polling: bool
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    #: The process leading its polling (``host pid N (role)``), if one says so.
    leader: str | None = None


def account_health(conn: Connection) -> list[AccountHealth]:
    """The health of every account that has polled at least once."""
    q = select(
        AS.account,
        AS.kind,
        AS.polling,
        AS.last_ok_at,
        AS.last_error,
        AS.last_error_at,
        AS.leader,
    ).order_by(AS.account)
    return [
        AccountHealth(
            r.account,
            r.kind,
            bool(r.polling),
            _aware(r.last_ok_at),
            r.last_error,
            _aware(r.last_error_at),
            r.leader,
        )
        for r in conn.execute(q)
    ]


def outbox_for_conversation(conn: Connection, conversation_id: int) -> list[dict[str, Any]]:
    """Unsent outbox items of a conversation (state, body, error), oldest first."""
    q = (
        select(O.id, O.state, O.body, O.last_error, O.created_at, O.attempts)
        .where(O.conversation_id == conversation_id, O.state != "sent")
        .order_by(O.id)
    )
    return [dict(r._mapping) for r in conn.execute(q)]

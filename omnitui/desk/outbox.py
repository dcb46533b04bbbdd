"""Undelivered replies: what the outbox holds that is not sent yet, how many of each
state, and the changes an agent makes to one (retry, take back). Shared by
``omnitui outbox``, ``omnitui sync``'s reports and the console's outbox screen; no
Textual, no typer.

The stored states are ``queued → sending → sent | failed | uncertain``. Shown here is
one more that is not stored: **failing**, a ``queued`` reply with ``attempts > 0`` (an
attempt failed and a retry is pending at ``next_attempt_at``); ``queued`` then means a
reply not tried yet. Every change is a conditional UPDATE or DELETE on the state and
attempts read, so a sync that claimed the reply meanwhile keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, and_, case, delete, func, literal_column, select, update
from sqlmodel import col
from sqlmodel import select as select_rows

from omnitui.desk import clocks
from omnitui.desk.lifecycle import customer_vip
from omnitui.desk.outbox_states import (  # noqa: F401 - re-exported: the outbox's words
    PROBLEM_STATES,
    STATES,
    Pending,
    aware,
    local_time,
    problem_line,
    shown_state,
)
from omnitui.desk.settings import ACK_AUTHOR, SURVEY_AUTHOR, DeskError, DeskSettings
from omnitui.errors import OmnituiError
from storage import repository as repo
from storage.models import Conversation, Message, Outbox, table_of
from storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.sql.elements import ColumnClause
    from sqlmodel import Session

#: Stored states of replies not sent yet (an index range on ``ix_outbox_state_due``).
_UNSENT = ("queued", "sending", "failed", "uncertain")

_O = table_of(Outbox).c
_C = table_of(Conversation).c


def undelivered(
    s: Session | Connection,
    *,
    accounts: Iterable[str] | None = None,
    states: Iterable[str] = STATES,
    ids: Iterable[int] | None = None,
    conversation_id: int | None = None,
) -> list[Pending]:
    """Replies not sent yet, oldest first, in the given (shown) ``states``; the
    prepared MIME is never read."""
    wanted = set(states)
    stored = {"queued" if st == "failing" else st for st in wanted} & set(_UNSENT)
    if not stored:
        return []
    q = (
        select(
            _O.id,
            _O.conversation_id,
            _C.ref,
            _O.account,
            _O.channel,
            _O.state,
            _O.attempts,
            _O.next_attempt_at,
            _O.last_error,
            _O.body,
            _O.created_at,
        )
        .select_from(
            table_of(Outbox).outerjoin(table_of(Conversation), _C.id == _O.conversation_id)
        )
        .where(_O.state.in_(sorted(stored)))
        .order_by(_O.created_at, _O.id)
    )
    if accounts is not None:
        q = q.where(_O.account.in_(list(accounts)))
    if ids is not None:
        q = q.where(_O.id.in_(list(ids)))
    if conversation_id is not None:
        q = q.where(_O.conversation_id == conversation_id)
    found = []
    for r in s.execute(q):
        state = shown_state(r.state, r.attempts or 0)
        if state not in wanted:
            continue
        found.append(
            Pending(
                id=r.id,
                conversation_id=r.conversation_id,
                ref=r.ref or "-",
                account=r.account,
                channel=r.channel,
                state=state,
                attempts=r.attempts or 0,
                next_attempt_at=aware(r.next_attempt_at),
                last_error=r.last_error,
                body=r.body or "",
                created_at=aware(r.created_at) or utcnow(),
            )
        )
    return found


# -- counts (the status line) -------------------------------------------------
@dataclass(frozen=True)
class OutboxCounts:
    """How many replies are in each state, and the undelivered ones per account."""

    queued: int = 0
    sending: int = 0
    failing: int = 0
    failed: int = 0
    uncertain: int = 0
    #: Failing, failed or uncertain replies per account (accounts with none left out).
    by_account: dict[str, int] = field(default_factory=dict)
    #: Attempts over every unsent reply: changes with each failed attempt.
    attempts: int = 0

    @property
    def pending(self) -> int:
        """Replies waiting to be sent (queued, sending or failing)."""
        return self.queued + self.sending + self.failing

    @property
    def undelivered(self) -> int:
        """Replies failing, failed or uncertain."""
        return self.failing + self.failed + self.uncertain

    @property
    def total(self) -> int:
        """Every reply not sent yet."""
        return self.queued + self.sending + self.undelivered


def outbox_counts(conn: Connection | Session) -> OutboxCounts:
    """The outbox by state and account: one grouped query over unsent rows."""
    # Inline literals: PostgreSQL matches the GROUP BY expression with the selected one.
    one: ColumnClause[int] = literal_column("1")
    zero: ColumnClause[int] = literal_column("0")
    tried = case((_O.attempts > zero, one), else_=zero)
    q = (
        select(_O.account, _O.state, tried, func.count(), func.coalesce(func.sum(_O.attempts), 0))
        .where(_O.state.in_(_UNSENT))
        .group_by(_O.account, _O.state, tried)
    )
    totals = dict.fromkeys(STATES, 0)
    by_account: dict[str, int] = {}
    attempts = 0
    for account, state, was_tried, n, tries in conn.execute(q):
        shown = "failing" if state == "queued" and was_tried else state
        totals[shown] = totals.get(shown, 0) + int(n)
        attempts += int(tries or 0)
        if shown in PROBLEM_STATES:
            by_account[account] = by_account.get(account, 0) + int(n)
    return OutboxCounts(
        queued=totals["queued"],
        sending=totals["sending"],
        failing=totals["failing"],
        failed=totals["failed"],
        uncertain=totals["uncertain"],
        by_account=by_account,
        attempts=attempts,
    )


def states_of(s: Session | Connection, ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """Stored state and attempts of the given replies (missing ones left out)."""
    wanted = list(ids)
    if not wanted:
        return {}
    q = select(_O.id, _O.state, _O.attempts).where(_O.id.in_(wanted))
    return {r.id: (r.state, r.attempts or 0) for r in s.execute(q)}


# -- changes -------------------------------------------------------------------
class OutboxRefused(OmnituiError):
    """A change that cannot be made; ``reason`` is one of ``missing``, ``sent``,
    ``nothing`` (nothing to retry), ``uncertain`` (needs confirming), ``sending``,
    ``changed`` (the reply changed meanwhile)."""

    def __init__(self, reason: str, item_id: int, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.item_id = item_id


def _current(s: Session, item_id: int) -> Pending:
    found = undelivered(s, ids=[item_id])
    if found:
        return found[0]
    exists = s.execute(select(_O.state).where(_O.id == item_id)).first()
    if exists is None:
        raise OutboxRefused("missing", item_id, f"no reply #{item_id} in the outbox")
    raise OutboxRefused("sent", item_id, f"reply #{item_id} was already sent")


def retry(s: Session, item_id: int, *, actor: str, confirmed: bool = False) -> Pending:
    """Queue a failing, failed or uncertain reply for now (``confirmed`` is needed for
    an uncertain one: it may arrive twice). Returns the reply as it was; the caller
    commits."""
    item = _current(s, item_id)
    if item.state not in PROBLEM_STATES:
        raise OutboxRefused(
            "nothing", item_id, f"reply #{item_id} is {item.state}: nothing to retry"
        )
    if item.state == "uncertain" and not confirmed:
        raise OutboxRefused(
            "uncertain",
            item_id,
            f"reply #{item_id} is uncertain: the server may have it already, and a retry "
            "may deliver it twice",
        )
    now = utcnow()
    result = s.execute(
        update(Outbox)
        .where(
            and_(
                _O.id == item_id,
                _O.state == item.stored_state,
                _O.attempts == item.attempts,
            )
        )
        .values(state="queued", next_attempt_at=now, updated_at=now)
    )
    # An UPDATE's result is a CursorResult (Session.execute is typed for any).
    changed = cast("CursorResult[Any]", result).rowcount
    if changed != 1:
        raise OutboxRefused("changed", item_id, f"reply #{item_id} changed meanwhile")
    repo.log_event(
        s,
        "outbox.retried",
        actor=actor,
        conversation_id=item.conversation_id,
        detail={"outbox_id": item_id, "state": item.state},
    )
    return item


def take_back(
    s: Session,
    item_id: int,
    *,
    actor: str,
    confirmed: bool = False,
    kind: str = "cancelled",
    desk: DeskSettings | None = None,
) -> Pending:
    """Remove a reply not sent yet from the outbox and its ``out`` message from the
    thread (``kind``: ``cancelled``, or ``withdrawn`` to edit it), and with ``desk`` set
    the SLA clocks as if it had never been written (as ``Desk.withdraw_failed`` does).
    Not while it is being sent; ``confirmed`` is needed for an uncertain one. Returns
    the reply (its text); the caller commits."""
    item = _current(s, item_id)
    if item.state == "sending":
        raise OutboxRefused(
            "sending", item_id, f"reply #{item_id} is being sent right now; it cannot be {kind}"
        )
    if item.state == "uncertain" and not confirmed:
        raise OutboxRefused(
            "uncertain", item_id, f"reply #{item_id} is uncertain: the customer may have it already"
        )
    message_id = s.execute(select(_O.sent_message_id).where(_O.id == item_id)).scalar()
    result = s.execute(
        delete(Outbox).where(
            and_(
                _O.id == item_id,
                _O.state == item.stored_state,
                _O.attempts == item.attempts,
            )
        )
    )
    # A DELETE's result is a CursorResult (Session.execute is typed for any).
    gone = cast("CursorResult[Any]", result).rowcount
    if gone != 1:
        raise OutboxRefused("changed", item_id, f"reply #{item_id} changed meanwhile")
    conv = s.get(Conversation, item.conversation_id) if item.conversation_id else None
    if message_id is not None:
        msg = s.get(Message, message_id)
        if msg is not None:
            s.delete(msg)
            if conv is not None:
                conv.message_count = max((conv.message_count or 1) - 1, 0)
    if conv is not None:
        s.flush()
        if desk is not None:
            clocks_after_withdrawal(desk, s, conv)
    repo.log_event(
        s,
        f"outbox.{kind}",
        actor=actor,
        conversation_id=item.conversation_id,
        detail={"outbox_id": item_id, "state": item.state},
    )
    return item


def retry_conversation(s: Session, conversation_id: int, *, actor: str) -> tuple[int, int]:
    """Queue every failing, failed or uncertain reply of a conversation for now;
    returns (how many there were, how many were queued: the others changed meanwhile).
    The caller commits."""
    items = undelivered(s, states=PROBLEM_STATES, conversation_id=conversation_id)
    done = 0
    for item in items:
        try:
            retry(s, item.id, actor=actor, confirmed=True)
        except OutboxRefused:
            continue
        done += 1
    return len(items), done


def retry_failed(settings: DeskSettings, s: Session, conv: Conversation) -> int:
    """An agent's retry of a conversation's failing, failed or uncertain replies (see
    :func:`retry_conversation`); returns how many were queued. Raises DeskError when
    there were none, or all changed meanwhile (being sent)."""
    found, done = retry_conversation(s, conv.id or 0, actor=settings.agent)
    if not found:
        raise DeskError("no failed replies in this conversation")
    if not done:
        raise DeskError("those replies changed meanwhile (being sent?); see O outbox")
    return done


# -- bookkeeping of one reply ----------------------------------------------------
def queue_out(s: Session, conv: Conversation, body: str, author: str, at: datetime) -> Outbox:
    """An outbox item and the ``out`` message that shows it in the thread at once."""
    item = repo.queue_outbox(s, conv, body, author=author)
    msg = repo.add_message(
        s,
        conv,
        external_id=f"outbox:{item.id}",
        direction="out",
        text=body,
        sent_at=at,
        author=author,
        subject=conv.subject,
    )
    item.sent_message_id = msg.id
    return item


def mark_sent(
    s: Session,
    item: Outbox,
    *,
    provider_id: str,
    external_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Record that the channel accepted an outbox item."""
    at = at or utcnow()
    item.state = "sent"
    item.provider_id = provider_id
    item.sent_at = at
    item.updated_at = at
    item.last_error = None
    if item.sent_message_id is not None:
        msg = s.get(Message, item.sent_message_id)
        if msg is not None:
            if external_id:
                msg.external_id = external_id
            if item.message_id_header:
                # A customer's reply to this Message-ID threads here.
                msg.message_id = item.message_id_header
    repo.log_event(
        s,
        "outbox.sent",
        actor=item.author,
        conversation_id=item.conversation_id,
        detail={"outbox_id": item.id, "provider_id": provider_id},
    )


def mark_failed(
    s: Session,
    item: Outbox,
    error: str,
    *,
    retry_at: datetime | None,
    state: str = "failed",
) -> None:
    """Record a failed attempt: back to ``queued`` with ``retry_at``, or ``failed``."""
    now = utcnow()
    item.attempts += 1
    item.last_error = error
    item.updated_at = now
    item.state = "queued" if retry_at is not None else state
    item.next_attempt_at = retry_at
    repo.log_event(
        s,
        "outbox.failed",
        conversation_id=item.conversation_id,
        detail={"outbox_id": item.id, "error": error[:500], "will_retry": retry_at is not None},
    )


def withdraw_failed(settings: DeskSettings, s: Session, conv: Conversation) -> str:
    """Take back the latest reply that failed to send (so it can be edited) and return
    its text. Replies that may have been delivered (``uncertain``) or are being sent
    cannot be withdrawn."""
    item = s.exec(
        select_rows(Outbox)
        .where(
            Outbox.conversation_id == conv.id,
            (col(Outbox.state) == "failed")
            | ((col(Outbox.state) == "queued") & (col(Outbox.attempts) > 0)),
        )
        .order_by(col(Outbox.id).desc())
    ).first()
    if item is None:
        raise DeskError("no failed reply to edit in this conversation")
    body = item.body
    if item.sent_message_id is not None:
        msg = s.get(Message, item.sent_message_id)
        if msg is not None:
            s.delete(msg)
            conv.message_count = max((conv.message_count or 1) - 1, 0)
    repo.log_event(
        s,
        "outbox.withdrawn",
        actor=settings.agent,
        conversation_id=conv.id,
        detail={"outbox_id": item.id, "state": item.state},
    )
    s.delete(item)
    s.flush()
    clocks_after_withdrawal(settings, s, conv)
    return body


def clocks_after_withdrawal(settings: DeskSettings, s: Session, conv: Conversation) -> None:
    """Set the SLA clocks as if a withdrawn reply had never been written (see
    :func:`omnitui.desk.clocks.after_withdrawal`)."""
    replies = s.exec(
        select_rows(Message.sent_at)
        .where(
            Message.conversation_id == conv.id,
            Message.direction == "out",
            col(Message.author).not_in((ACK_AUTHOR, SURVEY_AUTHOR)),
        )
        .order_by(col(Message.sent_at))
    ).all()
    clocks.after_withdrawal(settings, conv, list(replies), vip=customer_vip(s, conv))

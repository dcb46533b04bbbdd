"""Polling accounts and sending the outbox, headless or behind the console.

One round per account: poll from the stored cursors, store the new messages and
the advanced cursors in one transaction, then send the account's due replies.
Failures become the account's status with exponential backoff, never a crash.

One bad item never stops the rest: an item the adapter could not read arrives as a
``RejectedItem`` and is quarantined with its raw payload; when the store refuses a
step, its messages are stored one by one and the refused ones quarantined. Either way
the quarantine rows commit with the advanced cursor. A store in trouble (disk full,
locked, connection lost) is not an item's fault: the step is rolled back whole, the
cursor stays, and the next round tries again. Polling and sending are independent: a
failing poll never holds back the account's replies, nor the reverse.

Any number of processes may run rounds against one store: each outbox item is
claimed by a conditional UPDATE (queued → sending), so exactly one of them sends it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, Engine, func, update
from sqlmodel import Session, col, select

from adapters import registry
from adapters.base import (
    Adapter,
    AdapterError,
    Cursor,
    InboundMessage,
    OutboundMessage,
    PollResult,
    RejectedItem,
    SendResult,
    UncertainDelivery,
    describe_exception,
)
from omnitui.desk import ACK_AUTHOR, SURVEY_AUTHOR, Desk
from omnitui.desk.acknowledgement import needs_writing
from omnitui.desk.message_ids import make_message_id
from omnitui.desk.reply_files import files_of
from omnitui.desk.surveys import is_survey
from omnitui.sync.inbound_clean import storable
from omnitui.sync.inbound_record import INBOUND_JSON, inbound_to_json
from omnitui.sync.leases import LEASE_RETRY_SECONDS, AccountLeases, LeaseError
from storage import quarantine
from storage import repository as repo
from storage.errors import describe_store_error, is_conflict, is_transient
from storage.models import Conversation, Identity, Message, Outbox
from storage.types import utcnow

if TYPE_CHECKING:
    from omnitui.config import AccountConfig

log = logging.getLogger("omnitui.sync")

MAX_BACKOFF = timedelta(minutes=15)
#: Poll steps in one round (each commits); a huge first sync continues next round.
MAX_POLL_STEPS = 1000
#: A reply left in "sending" this long ago was interrupted (crash, kill).
STALE_SENDING = timedelta(minutes=5)
OUTBOX_RETRY_BASE = timedelta(seconds=30)
OUTBOX_MAX_ATTEMPTS = 8
#: Seconds a stopping poller waits for rounds in flight (SIGTERM to exit).
STOP_GRACE = 3.0
#: A batch that lost a race with an agent changing one of its conversations is stored
#: again at once, on the fresh rows, this many times before the round gives up.
CONFLICT_RETRIES = 2
#: Seconds between looks for replies another process queued (one indexed query).
OUTBOX_WATCH_SECONDS = 2.0


@dataclass(frozen=True)
class Outcome:
    """How one account's round went."""

    account: str
    ok: bool
    fetched: int = 0
    sent: int = 0
    #: Replies tried this round, delivered or not (their state changed).
    attempted: int = 0
    #: Items quarantined this round (they did not stop the rest).
    quarantined: int = 0
    error: str | None = None
    #: Not polled: another process leads the account (``host pid N (role)``).
    followed_by: str | None = None
    #: False: no round ran here (followed, or the lease could not be asked for).
    ran: bool = True


class StoreUnavailable(Exception):
    """The store cannot take writes right now (disk full, locked, connection lost):
    nothing of the step was kept, and the next round tries again."""


def backoff(
    failures: int,
    base: float,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential with
    full jitter, at least ``retry_after`` when the server asked for it."""
    rng = rng or random.Random()
    ceiling = min(base * (2 ** max(failures - 1, 0)), MAX_BACKOFF.total_seconds())
    wait = rng.uniform(ceiling / 2, ceiling)
    return max(wait, retry_after or 0.0)


def _problem(stage: str, exc: BaseException) -> str:
    """One line for the account's status: what failed, never an item's content."""
    if isinstance(exc, AdapterError | StoreUnavailable):
        text = str(exc) or type(exc).__name__
    else:
        text = f"unexpected error ({describe_exception(exc)})"
    return f"{stage}: {text}" if stage else text


def item_error(exc: BaseException) -> str:
    """Why the store refused an item: the database's words without data, or where our
    code failed."""
    from sqlalchemy.exc import StatementError

    if isinstance(exc, StatementError):
        return describe_store_error(exc)
    return describe_exception(exc)


def _store_problem(exc: BaseException) -> str:
    return f"store unavailable: {describe_store_error(exc)}"


def _rejected(msg: InboundMessage, error: str) -> RejectedItem:
    """A message the store refused, as a quarantine item: its raw payload when the
    adapter kept one, else the record itself as JSON (so nothing is lost)."""
    raw, raw_type = msg.raw, msg.raw_type
    if not raw:
        raw, raw_type = inbound_to_json(msg), INBOUND_JSON
    folder = msg.source.rsplit("/", 2)[0] if msg.source else ""
    return RejectedItem(
        external_id=msg.external_id,
        raw=raw,
        raw_type=raw_type,
        error=error,
        folder=folder,
        received_at=msg.sent_at,
    )


AdapterBuilder = Callable[["AccountConfig"], Adapter]


def build_adapter(account: AccountConfig) -> Adapter:
    """The adapter for ``account`` from the registry; raises AdapterError if none."""
    spec = registry.spec(account.kind)
    if spec is None:
        kinds = ", ".join(sorted(registry.available())) or "none installed"
        raise AdapterError(
            f"no adapter for kind {account.kind!r} (installed: {kinds})", retryable=False
        )

    from omnitui.secrets import resolve_secret

    def secret(field: str) -> str:
        return resolve_secret(account, field)

    return spec.create(account.name, account.settings, secret)


class SyncService:
    """Polls accounts and sends their outbox through their adapters."""

    def __init__(
        self,
        engine: Engine,
        desk: Desk,
        accounts: tuple[AccountConfig, ...],
        *,
        adapter_builder: AdapterBuilder = build_adapter,
    ) -> None:
        self.engine = engine
        self.desk = desk
        self.accounts = accounts
        self.adapter_builder = adapter_builder
        self._adapters: dict[str, Adapter] = {}
        self._failures: dict[str, int] = {}
        self.on_progress: Callable[[str, int, tuple[int, int]], None] | None = None

    def _account_setting(self, name: str, key: str) -> object:
        for account in self.accounts:
            if account.name == name:
                return account.get(key)
        return None

    def adapter(self, account: AccountConfig) -> Adapter:
        """The (cached) adapter of an account."""
        found = self._adapters.get(account.name)
        if found is None:
            found = self.adapter_builder(account)
            self._adapters[account.name] = found
        return found

    def close(self) -> None:
        """Close every adapter."""
        for adapter in self._adapters.values():
            try:
                adapter.close()
            except Exception:  # noqa: BLE001 - closing must not raise
                log.debug("closing adapter failed", exc_info=True)
        self._adapters.clear()

    # -- one round ---------------------------------------------------------
    def round(self, account: AccountConfig, *, leader: str | None = None) -> Outcome:
        """Poll one account and send its due replies; each half runs whatever the
        other did. ``leader``: the caller holds the account's lease
        (:mod:`omnitui.sync.leases`) and is recorded as its leader, seen now."""
        started = utcnow()
        led = {"leader": leader, "leader_seen_at": started} if leader else {}
        try:
            with Session(self.engine) as s:
                repo.set_account_state(
                    s,
                    account.name,
                    kind=account.kind,
                    polling=True,
                    last_attempt_at=started,
                    **led,
                )
                self.desk.wake_due(s, started)  # snoozes that ran out come back as open
                s.commit()
        except Exception as exc:  # noqa: BLE001 - the store is in trouble: say so, retry
            return self._failed(account, StoreUnavailable(_store_problem(exc)), record=False)
        try:
            adapter = self.adapter(account)
        except Exception as exc:  # noqa: BLE001 - e.g. no adapter for the kind
            return self._failed(account, exc)
        problems: list[str] = []
        failure: Exception | None = None
        fetched = kept = sent = attempted = 0
        try:
            fetched, kept = self._poll(account, adapter)
        except Exception as exc:  # noqa: BLE001 - an account must never crash the loop
            if not isinstance(exc, AdapterError | StoreUnavailable):
                log.error("unexpected error polling %s: %s", account.name, describe_exception(exc))
            problems.append(_problem("", exc))
            failure = exc
        try:
            sent, attempted = self._send_due(account, adapter)
        except Exception as exc:  # noqa: BLE001 - sending failed as a whole
            if is_transient(exc):
                exc = StoreUnavailable(_store_problem(exc))
            if not isinstance(exc, AdapterError | StoreUnavailable):
                log.error("unexpected error sending %s: %s", account.name, describe_exception(exc))
            problems.append(_problem("sending", exc))
            failure = failure or exc
        if failure is not None:
            outcome = self._failed(account, failure, message="; ".join(problems))
            return Outcome(
                account.name,
                False,
                fetched=fetched,
                sent=sent,
                attempted=attempted,
                quarantined=kept,
                error=outcome.error,
            )
        try:
            with Session(self.engine) as s:
                repo.set_account_state(
                    s,
                    account.name,
                    polling=False,
                    last_ok_at=utcnow(),
                    last_error=None,
                    retry_after=None,
                )
                s.commit()
        except Exception as exc:  # noqa: BLE001
            return self._failed(account, StoreUnavailable(_store_problem(exc)), record=False)
        self._failures[account.name] = 0
        return Outcome(
            account.name,
            True,
            fetched=fetched,
            sent=sent,
            attempted=attempted,
            quarantined=kept,
        )

    def _failed(
        self,
        account: AccountConfig,
        exc: Exception,
        *,
        message: str | None = None,
        record: bool = True,
    ) -> Outcome:
        message = message or _problem("", exc)
        failures = self._failures.get(account.name, 0) + 1
        self._failures[account.name] = failures
        retry_after = getattr(exc, "retry_after", None)
        wait = backoff(failures, float(account.poll_seconds), retry_after=retry_after)
        now = utcnow()
        if record:
            try:
                with Session(self.engine) as s:
                    repo.set_account_state(
                        s,
                        account.name,
                        kind=account.kind,
                        polling=False,
                        last_error=message,
                        last_error_at=now,
                        retry_after=now + timedelta(seconds=wait),
                    )
                    s.commit()
            except Exception:  # noqa: BLE001 - the store is down too: the outcome says it
                log.warning("%s: could not record the account's state", account.name)
        return Outcome(account.name, False, error=message)

    def _poll(self, account: AccountConfig, adapter: Adapter) -> tuple[int, int]:
        """Every poll step of one round; (messages stored, items quarantined)."""
        try:
            with Session(self.engine) as s:
                stored = repo.load_cursors(s, account.name)
        except Exception as exc:
            if is_transient(exc):
                raise StoreUnavailable(_store_problem(exc)) from None
            raise
        cursors = {folder: Cursor(folder, state) for folder, state in stored.items()}
        count = kept = fetched = 0
        for result in self._steps(adapter, cursors):
            step_count, step_kept = self._store_step(account, result)
            count += step_count
            kept += step_kept
            if self.on_progress is not None and result.progress is not None:
                step_done, step_total = result.progress
                fetched += step_done
                self.on_progress(account.name, count, (fetched, fetched + step_total - step_done))
        return count, kept

    def _store_step(self, account: AccountConfig, result: PollResult) -> tuple[int, int]:
        """Store one step's messages, quarantined items and cursors in one transaction;
        when the store refuses the batch, store message by message instead."""
        rejected = list(result.rejected)
        messages: list[InboundMessage] = []
        for msg in result.messages:
            try:
                messages.append(storable(msg))
            except Exception as exc:  # noqa: BLE001 - an adapter record we cannot clean
                rejected.append(_rejected(msg, describe_exception(exc)))
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                # The repository flushes where it needs ids, and those flushes put every
                # row a later lookup depends on in place; autoflush would only add more.
                with Session(self.engine, autoflush=False) as s:
                    count = len(self.desk.ingest_many(s, account.name, messages))
                    self._keep(s, account, rejected, "parse")
                    for cursor in result.cursors:
                        repo.save_cursor(s, account.name, cursor.folder, cursor.state)
                    s.commit()
                return count, len(rejected)
            except Exception as exc:  # noqa: BLE001 - find the item(s) at fault below
                if is_conflict(exc) and attempt < CONFLICT_RETRIES:
                    continue  # an agent changed a conversation of the batch: again, fresh
                if is_transient(exc):
                    raise StoreUnavailable(_store_problem(exc)) from None
                log.info(
                    "%s: a batch was refused (%s); storing one by one",
                    account.name,
                    describe_store_error(exc),
                )
                break
        return self._store_one_by_one(account, messages, rejected, result.cursors)

    def _store_one_by_one(
        self,
        account: AccountConfig,
        messages: list[InboundMessage],
        rejected: list[RejectedItem],
        cursors: list[Cursor],
    ) -> tuple[int, int]:
        count = 0
        refused: list[RejectedItem] = []
        for msg in messages:
            try:
                with Session(self.engine, autoflush=False) as s:
                    count += len(self.desk.ingest_many(s, account.name, [msg]))
                    s.commit()
            except Exception as exc:  # noqa: BLE001 - this item, or the store?
                if is_transient(exc):
                    raise StoreUnavailable(_store_problem(exc)) from None
                if self._stored_meanwhile(account, msg):
                    continue  # another process stored it first: not a bad item
                refused.append(_rejected(msg, item_error(exc)))
        try:
            with Session(self.engine, autoflush=False) as s:
                self._keep(s, account, rejected, "parse")
                self._keep(s, account, refused, "store")
                for cursor in cursors:
                    repo.save_cursor(s, account.name, cursor.folder, cursor.state)
                s.commit()
        except Exception as exc:
            if is_transient(exc):
                raise StoreUnavailable(_store_problem(exc)) from None
            raise
        return count, len(rejected) + len(refused)

    def _stored_meanwhile(self, account: AccountConfig, msg: InboundMessage) -> bool:
        try:
            with Session(self.engine) as s:
                ext, mids = repo.known_messages(
                    s, account.name, [msg.external_id], [msg.message_id] if msg.message_id else []
                )
        except Exception:  # noqa: BLE001
            return False
        return msg.external_id in ext or bool(msg.message_id and msg.message_id in mids)

    def _keep(
        self, s: Session, account: AccountConfig, items: list[RejectedItem], stage: str
    ) -> None:
        for item in items:
            quarantine.put(
                s,
                account=account.name,
                kind=account.kind,
                external_id=item.external_id,
                raw=item.raw,
                raw_type=item.raw_type,
                error=item.error,
                folder=item.folder,
                stage=stage,
                received_at=item.received_at,
            )
            log.warning("%s: quarantined %s (%s)", account.name, item.external_id[:80], item.error)

    def _steps(self, adapter: Adapter, cursors: dict[str, Cursor]) -> Iterator[PollResult]:
        """The poll steps of one round. After a first step that says more is waiting (a
        big first sync), the next step is fetched and parsed in a thread while the
        caller stores the current one; cursors still commit only with their messages."""
        result = adapter.poll(cursors)
        yield result
        if not result.more:
            return
        ahead: queue.Queue[PollResult | BaseException | None] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def fetch_ahead(cursors: dict[str, Cursor], last: PollResult) -> None:
            try:
                for _step in range(MAX_POLL_STEPS):
                    if not last.more or stop.is_set():
                        break
                    for cursor in last.cursors:
                        cursors[cursor.folder] = cursor
                    last = adapter.poll(cursors)
                    ahead.put(last)
            except BaseException as exc:  # noqa: BLE001 - handed to the storing side
                ahead.put(exc)
            finally:
                ahead.put(None)

        thread = threading.Thread(
            target=fetch_ahead, args=(dict(cursors), result), daemon=True, name="fetch-ahead"
        )
        thread.start()
        try:
            while True:
                item = ahead.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # let the fetcher finish its step and exit
                with contextlib.suppress(queue.Empty):
                    ahead.get(timeout=0.1)
            thread.join()

    # -- outbox ------------------------------------------------------------
    def send_outbox(self, account: AccountConfig, adapter: Adapter) -> int:
        """Send every due reply of ``account``; returns how many were accepted."""
        return self._send_due(account, adapter)[0]

    def _send_due(self, account: AccountConfig, adapter: Adapter) -> tuple[int, int]:
        """Send every due reply; returns (accepted, attempted)."""
        self.reconcile(account, adapter)
        sent = 0
        now = utcnow()
        with Session(self.engine) as s:
            ids = s.exec(
                select(Outbox.id)
                .where(
                    Outbox.account == account.name,
                    Outbox.state == "queued",
                    (col(Outbox.next_attempt_at).is_(None)) | (col(Outbox.next_attempt_at) <= now),
                )
                .order_by(col(Outbox.id))
            ).all()
        for outbox_id in ids:
            if self._send_one(outbox_id, adapter):
                sent += 1
        return sent, len(ids)

    def reconcile(self, account: AccountConfig, adapter: Adapter) -> None:
        """Settle replies whose fate is unknown: an interrupted ``sending`` becomes
        ``uncertain``; an ``uncertain`` one the channel can confirm becomes ``sent``.
        Nothing is resent blindly: the agent retries the rest (ctrl+t)."""
        stale = utcnow() - STALE_SENDING
        with Session(self.engine) as s:
            items = s.exec(
                select(Outbox).where(
                    Outbox.account == account.name,
                    col(Outbox.state).in_(("sending", "uncertain")),
                )
            ).all()
            for item in items:
                if item.state == "sending" and item.updated_at > stale:
                    continue  # another process may be sending it right now
                if item.state == "sending":
                    item.state = "uncertain"
                    item.last_error = "interrupted while sending; checking the channel"
                confirm = getattr(adapter, "confirm", None)
                if confirm is None:
                    continue
                try:
                    delivered = confirm(outbound_for(s, item))
                except AdapterError:
                    continue
                if delivered:
                    self.desk.mark_sent(
                        s,
                        item,
                        provider_id="confirmed",
                        external_id=f"mid:{item.message_id_header}"
                        if item.message_id_header
                        else None,
                    )
            s.commit()

    def _claim(self, outbox_id: int) -> bool:
        """Take a queued item for sending, atomically: one conditional UPDATE, so of
        any number of processes exactly one gets it."""
        now = utcnow()
        with Session(self.engine) as s:
            result = s.execute(
                update(Outbox)
                .where(
                    col(Outbox.id) == outbox_id,
                    col(Outbox.state) == "queued",
                    (col(Outbox.next_attempt_at).is_(None)) | (col(Outbox.next_attempt_at) <= now),
                )
                .values(state="sending", updated_at=now)
            )
            # An UPDATE's result is a CursorResult (Session.execute is typed for any).
            claimed = cast("CursorResult[Any]", result).rowcount
            s.commit()
        return claimed == 1

    def _unclaim(self, outbox_id: int) -> None:
        """Put a claimed item back in the queue (nothing of it went out)."""
        with Session(self.engine) as s:
            s.execute(
                update(Outbox)
                .where(col(Outbox.id) == outbox_id, col(Outbox.state) == "sending")
                .values(state="queued", updated_at=utcnow())
            )
            s.commit()

    def _send_one(self, outbox_id: int | None, adapter: Adapter) -> bool:
        if outbox_id is None or not self._claim(outbox_id):
            return False  # sent, withdrawn, or taken by another process meanwhile
        try:
            outbound = self._ready(outbox_id, adapter)
        except Exception as exc:
            if not is_conflict(exc):
                raise
            # An agent changed the conversation while the acknowledgement or survey was
            # being written: nothing went out, so it waits for the next round.
            self._unclaim(outbox_id)
            return False
        if outbound is None:
            return False
        return self._deliver(outbox_id, adapter, outbound)

    def _ready(self, outbox_id: int, adapter: Adapter) -> OutboundMessage | None:
        """Write what a claimed item needs before it goes (its acknowledgement text, its
        Message-ID and bytes); None when it is dropped or cannot go."""
        with Session(self.engine) as s:
            item = s.get(Outbox, outbox_id)
            if item is None:
                return None
            if needs_writing(item) and not self.desk.write_acknowledgement(s, item):
                s.commit()  # dropped: its template fails (conversation.ack_skipped)
                return None
            if is_survey(item) and not self.desk.survey_still_wanted(s, item):
                s.commit()  # dropped: the conversation opened again (csat.skipped)
                return None
            late = self.desk.window_closed_since_queued(s, item)
            if late is not None:  # the platform would refuse it, or drop it silently
                self.desk.mark_failed(s, item, late, retry_at=None)
                s.commit()
                return None
            prepare = getattr(adapter, "prepare", None)
            try:
                if prepare is not None and item.mime is None:
                    if item.message_id_header is None:
                        conv = s.get(Conversation, item.conversation_id)
                        address = str(self._account_setting(item.account, "address") or "")
                        item.message_id_header = make_message_id(
                            conv.ref if conv and conv.ref else "",
                            address.rpartition("@")[2],
                            self.desk.signing(),
                        )
                    prepared = prepare(outbound_for(s, item))
                    item.message_id_header = prepared.message_id
                    item.mime = prepared.mime
                outbound = outbound_for(s, item)
            except Exception as exc:  # noqa: BLE001 - this reply cannot be built
                s.rollback()
                item = s.get(Outbox, outbox_id)
                if item is not None:
                    known = isinstance(exc, (NoRecipient, AdapterError))
                    why = str(exc) if known else describe_exception(exc)
                    self.desk.mark_failed(s, item, f"cannot prepare: {why}", retry_at=None)
                    s.commit()
                return None
            item.updated_at = utcnow()
            s.commit()
        return outbound

    def _deliver(self, outbox_id: int, adapter: Adapter, outbound: OutboundMessage) -> bool:
        """Send a readied item and record how it went."""
        try:
            result: SendResult = adapter.send(outbound)
        except UncertainDelivery as exc:
            with Session(self.engine) as s:
                item = s.get(Outbox, outbox_id)
                assert item is not None
                self.desk.mark_failed(s, item, str(exc), retry_at=None, state="uncertain")
                s.commit()
            return False
        except AdapterError as exc:
            with Session(self.engine) as s:
                item = s.get(Outbox, outbox_id)
                assert item is not None
                retry_at = None
                if exc.retryable and item.attempts + 1 < OUTBOX_MAX_ATTEMPTS:
                    wait = backoff(
                        item.attempts + 1,
                        OUTBOX_RETRY_BASE.total_seconds(),
                        retry_after=exc.retry_after,
                    )
                    retry_at = utcnow() + timedelta(seconds=wait)
                self.desk.mark_failed(s, item, str(exc), retry_at=retry_at)
                s.commit()
            return False
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                with Session(self.engine) as s:
                    item = s.get(Outbox, outbox_id)
                    assert item is not None
                    self.desk.mark_sent(
                        s, item, provider_id=result.provider_id, external_id=result.external_id
                    )
                    s.commit()
                return True
            except Exception as exc:
                # It went out: an agent's change to the conversation at this moment must
                # not leave it "sending" (and later "uncertain"). Record it again, fresh.
                if not is_conflict(exc) or attempt == CONFLICT_RETRIES:
                    raise
        return True


class NoRecipient(Exception):
    """The conversation's customer has no address on the conversation's channel."""


def _recipient(s: Session, conv: Conversation) -> tuple[Identity | None, Message | None]:
    """Whom a reply on ``conv`` goes to: the identity of the newest message from the
    conversation's customer, else the customer's own address on the channel; and that
    message (answered, quoted and named in In-Reply-To), if any."""
    mine = select(Identity.id).where(Identity.customer_id == conv.customer_id)
    last_in = s.exec(
        select(Message)
        .where(
            Message.conversation_id == conv.id,
            Message.direction == "in",
            col(Message.identity_id).in_(mine),
        )
        .order_by(col(Message.sent_at).desc())
        .limit(1)
    ).first()
    ident = s.get(Identity, last_in.identity_id) if last_in is not None else None
    if ident is None:
        ident = s.exec(
            select(Identity)
            .where(
                Identity.customer_id == conv.customer_id,
                Identity.channel == repo.identity_channel(conv.channel),
            )
            .order_by(col(Identity.id).desc())
        ).first()
    return ident, last_in


def reply_recipient(s: Session, conv: Conversation) -> str | None:
    """The address a reply on ``conv`` would go to now (None: the customer has none
    on that channel)."""
    ident, _ = _recipient(s, conv)
    return None if ident is None else ident.address


def outbound_for(s: Session, item: Outbox) -> OutboundMessage:
    """The record an adapter needs to deliver an outbox item.

    It goes to the conversation's customer, never to "whoever wrote last": the message
    answered (and quoted, and named in In-Reply-To) is the newest one from one of the
    customer's identities, and without one the customer's own address on the channel.
    """
    conv = s.get(Conversation, item.conversation_id)
    assert conv is not None
    ident, last_in = _recipient(s, conv)
    if ident is None:
        raise NoRecipient(f"the customer of {conv.ref} has no {conv.channel} address")
    to = ident.address
    references: tuple[str, ...] = ()
    if last_in is not None:
        references = tuple(last_in.references or ()) + (
            (last_in.message_id,) if last_in.message_id else ()
        )
    options = item.send_options or {}
    quote = ""
    if last_in is not None and item.channel == "email" and last_in.text:
        when = last_in.sent_at.strftime("%a, %d %b %Y %H:%M UTC")
        quoted = "\n".join(f"> {line}" if line else ">" for line in last_in.text.splitlines())
        quote = f"On {when}, {last_in.from_addr} wrote:\n{quoted}"
    return OutboundMessage(
        outbox_id=item.id or 0,
        quote=quote,
        channel=item.channel,
        to=to,
        text=item.body,
        subject=conv.subject,
        conversation_ref=conv.ref or "",
        thread_key=conv.thread_key,
        reply_to_external_id=last_in.external_id if last_in else None,
        message_id=item.message_id_header,
        in_reply_to=last_in.message_id if last_in else None,
        references=references,
        mime=item.mime,
        auto_reply=item.author in (ACK_AUTHOR, SURVEY_AUTHOR),
        template=options.get("template"),
        template_variables=tuple(sorted((options.get("variables") or {}).items())),
        tag=options.get("tag"),
        attachments=files_of(s, item.sent_message_id),
    )


class LocalSender:
    """An adapter that delivers nowhere: the demo's outbox "sends" locally."""

    kind = "local"

    def poll(self, cursors: Mapping[str, Cursor]) -> Any:  # pragma: no cover - never polled
        """Nothing to fetch."""
        from adapters.base import PollResult

        return PollResult()

    def send(self, message: OutboundMessage) -> SendResult:
        """Accept at once."""
        return SendResult(provider_id=f"local-{message.outbox_id}")

    def close(self) -> None:
        """Nothing to release."""


def send_all_local(engine: Engine, desk: Desk, *, after_id: int) -> int:
    """Deliver with :class:`LocalSender` the replies queued after outbox item
    ``after_id`` (the demo's own, written in this session); no other row is touched."""
    sender = LocalSender()
    service = SyncService(engine, desk, ())
    with Session(engine) as s:
        ids = s.exec(
            select(Outbox.id).where(Outbox.state == "queued", col(Outbox.id) > after_id)
        ).all()
    return sum(1 for i in ids if service._send_one(i, sender))


def newest_outbox_id(engine: Engine) -> int:
    """The highest outbox id so far (0 for none)."""
    with Session(engine) as s:
        return s.exec(select(func.max(Outbox.id))).one() or 0


class Poller:
    """Runs rounds for every account until stopped: one thread per account, each on
    its own schedule. Between rounds an account whose adapter can wait for news
    (IMAP IDLE) waits on the server; the others sleep ``poll_seconds``; failures back
    off with jitter.

    With ``leases`` (:mod:`omnitui.sync.leases`) an account is polled and sent for only
    while this process leads it. An account another process leads is *followed*: no
    round here, its lease asked for again every few seconds (so a console takes over
    when the sync service ends), and ``on_round`` gets one outcome with ``followed_by``
    each time its leader changes. A reply another process queues for an account we
    lead wakes that account (one cheap query every few seconds), so it goes out at
    once rather than at the next poll."""

    def __init__(
        self,
        service: SyncService,
        *,
        on_round: Callable[[Outcome], None] | None = None,
        leases: AccountLeases | None = None,
    ):
        self.service = service
        self.on_round = on_round
        self.leases = leases
        self.stop_event = threading.Event()
        self._wakes: dict[str, threading.Event] = {
            a.name: threading.Event() for a in service.accounts
        }
        #: Accounts followed now → their leader (``host pid N (role)``).
        self.followed: dict[str, str] = {}

    def run(self) -> None:
        """Run until :meth:`stop`; call from a worker thread."""
        threads = {
            account.name: threading.Thread(
                target=self._account_loop, args=(account,), daemon=True, name=f"poll-{account.name}"
            )
            for account in self.service.accounts
        }
        # Replies queued from here on wake their account; earlier ones go in the first round.
        newest = self._newest_outbox_id() if self.leases is not None else None
        for thread in threads.values():
            thread.start()
        if self.leases is not None and threads:
            threading.Thread(
                target=self._watch_outbox, args=(newest,), daemon=True, name="outbox-watch"
            ).start()
        # In short waits: a signal the kernel hands to another thread (SIGTERM) only
        # runs its Python handler when this (main) thread wakes up.
        while not self.stop_event.wait(0.5):
            pass
        # A round in flight (a 25 s long poll, an IMAP FETCH) gets a short grace to end;
        # past it the process may exit anyway: whatever it had not committed is rolled
        # back and fetched again, and a reply caught mid-send turns ``uncertain``.
        deadline = time.monotonic() + STOP_GRACE
        for thread in threads.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        ended = [name for name, thread in threads.items() if not thread.is_alive()]
        if self.leases is not None:
            for name in ended:  # a round still in flight keeps its lease till exit
                self.leases.release(name)
        if len(ended) == len(threads):
            self.service.close()
            if self.leases is not None:
                self.leases.close()

    def _account_loop(self, account: AccountConfig) -> None:
        wake = self._wakes[account.name]
        leader = self.leases.identity if self.leases is not None else None
        while not self.stop_event.is_set():
            refused = self._lead(account)
            if refused is not None:
                self._follow(refused)
                wake.wait(LEASE_RETRY_SECONDS)
                wake.clear()
                continue
            outcome = self.service.round(account, leader=leader)
            if self.on_round is not None:
                self.on_round(outcome)
            if self.stop_event.is_set():
                break
            if not outcome.ok:
                failures = self.service._failures.get(account.name, 1)
                wake.wait(backoff(failures, float(account.poll_seconds)))
                wake.clear()
                continue
            self._wait_for_news(account, wake)
            wake.clear()

    def _lead(self, account: AccountConfig) -> Outcome | None:
        """None when this process leads ``account`` (or leases are not used); else why
        not: followed (``followed_by``) or the lease could not be asked for."""
        if self.leases is None:
            return None
        try:
            if self.leases.try_acquire(account.name):
                if self.followed.pop(account.name, None) is not None:
                    log.info("%s: leading the account now", account.name)
                return None
        except LeaseError as exc:  # the database or the lock directory is in trouble
            return Outcome(account.name, False, error=str(exc), ran=False)
        holder = self.leases.holder(account.name)
        return Outcome(account.name, True, followed_by=holder, ran=False)

    def _follow(self, refused: Outcome) -> None:
        """Report a lease failure, or a leader other than the one reported last."""
        name = refused.account
        if refused.followed_by is not None:
            if self.followed.get(name) == refused.followed_by:
                return
            self.followed[name] = refused.followed_by
        if self.on_round is not None:
            self.on_round(refused)

    def _newest_outbox_id(self) -> int | None:
        try:
            return newest_outbox_id(self.service.engine)
        except Exception:  # noqa: BLE001 - the rounds say when the store is in trouble
            log.debug("reading the outbox failed", exc_info=True)
            return None

    def _watch_outbox(self, last: int | None) -> None:
        """Wake each account we lead that another process queued a reply for (after
        outbox item ``last``)."""
        while not self.stop_event.wait(OUTBOX_WATCH_SECONDS):
            try:
                with Session(self.service.engine) as s:
                    newest = s.exec(select(func.max(Outbox.id))).one() or 0
                    accounts: Iterable[str] = ()
                    if last is not None and newest > last:
                        accounts = s.exec(
                            select(Outbox.account)
                            .where(col(Outbox.id) > last, Outbox.state == "queued")
                            .distinct()
                        ).all()
            except Exception:  # noqa: BLE001 - the rounds say when the store is in trouble
                log.debug("watching the outbox failed", exc_info=True)
                continue
            last = newest
            for name in accounts:
                if name in self._wakes and name not in self.followed:
                    self._wakes[name].set()

    def _wait_for_news(self, account: AccountConfig, wake: threading.Event) -> None:
        adapter = self.service._adapters.get(account.name)
        idle = getattr(adapter, "wait_for_news", None)
        if idle is not None:
            try:
                if idle(
                    float(account.poll_seconds), lambda: self.stop_event.is_set() or wake.is_set()
                ):
                    return
            except AdapterError as exc:
                log.info("%s: waiting for news failed (%s); polling instead", account.name, exc)
                return
        wake.wait(float(account.poll_seconds))

    def wake(self) -> None:
        """Run every account's round now (e.g. a reply was queued)."""
        for event in self._wakes.values():
            event.set()

    def stop(self) -> None:
        """Ask every loop to end."""
        self.stop_event.set()
        self.wake()

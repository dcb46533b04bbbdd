"""Promises of DESIGN.md ("Rules the code keeps") that each need a test failing when they
break: a reply interrupted mid-send is never resent blindly, retries stop at the cap
and back off exponentially, the raw bytes are kept exactly, and the same message
delivered twice is stored once (SQLite and PostgreSQL).

Only public behaviour is used: ``SyncService.round``, ``reconcile``, ``backoff``,
``Desk.ingest_many`` and the rows a user (or the status line) sees.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import (
    AdapterError,
    InboundAttachment,
    OutboundMessage,
    PreparedSend,
    SendResult,
    UncertainDelivery,
)
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import (
    OUTBOX_MAX_ATTEMPTS,
    OUTBOX_RETRY_BASE,
    STALE_SENDING,
    SyncService,
    backoff,
)
from storage.models import AccountState, Attachment, Conversation, Message, Outbox, RawMessage
from tests.support.fake_adapter import RAW, FakeAdapter, FakeChannel, chat_message, email_message

ROOT = Path(__file__).resolve().parents[2]
#: States of a reply that will be tried again (the rewrite may name the second one).
RETRYING = ("queued", "failing")
#: The backoff ceiling DESIGN.md's status line relies on (omnitui.sync.MAX_BACKOFF).
CAP_SECONDS = 15 * 60


def account(poll_seconds: int = 60) -> AccountConfig:
    return AccountConfig(name="chat", kind="fake", poll_seconds=poll_seconds, settings={}, line=1)


def service(engine: Engine, adapter: FakeAdapter, acct: AccountConfig | None = None) -> SyncService:
    return SyncService(engine, Desk(), (acct or account(),), adapter_builder=lambda a: adapter)


def queue_reply(engine: Engine, text: str = "On its way!") -> int:
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).first()
        assert conv is not None
        item = Desk().reply(s, conv, text)
        s.commit()
        assert item.id is not None
        return item.id


def outbox(engine: Engine, outbox_id: int) -> Outbox:
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None
        s.expunge(item)
        return item


def age(engine: Engine, outbox_id: int, by: timedelta) -> None:
    """Time passes for a reply: its last change was ``by`` ago."""
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None
        item.updated_at = datetime.now(UTC) - by
        s.commit()


def due_now(engine: Engine, outbox_id: int) -> None:
    """Time passes until a reply waiting for its retry is due."""
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None
        if item.next_attempt_at is not None:
            item.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
        s.commit()


def conversation_with_a_customer(engine: Engine, channel: FakeChannel) -> None:
    channel.messages.append(chat_message(1))
    outcome = service(engine, FakeAdapter(channel)).round(account())
    assert outcome.ok and outcome.fetched == 1


class ConfirmingAdapter(FakeAdapter):
    """A channel that can tell whether an uncertain reply was delivered."""

    def __init__(self, channel: FakeChannel, delivered: bool | AdapterError) -> None:
        super().__init__(channel)
        self.delivered = delivered
        self.asked: list[OutboundMessage] = []

    def confirm(self, message: OutboundMessage) -> bool:
        self.asked.append(message)
        if isinstance(self.delivered, AdapterError):
            raise self.delivered
        return self.delivered


# -- a reply interrupted mid-send ------------------------------------------------------


def test_a_reply_left_sending_by_a_crash_becomes_uncertain_and_is_never_resent(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    outbox_id = queue_reply(engine)
    # The process dies while the channel has the reply (it may or may not be delivered).
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from omnitui.config import AccountConfig
        from omnitui.desk import Desk
        from omnitui.sync import SyncService
        from storage import open_store
        from tests.support.fake_adapter import FakeAdapter, FakeChannel

        class Dying(FakeAdapter):
            def send(self, message):
                os._exit(9)  # the power goes out mid-send

        acct = AccountConfig(name="chat", kind="fake", settings={{}})
        engine = open_store({db_url!r})
        SyncService(engine, Desk(), (acct,),
                    adapter_builder=lambda a: Dying(FakeChannel())).round(acct)
        """
    )
    died = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert died.returncode == 9, died.stderr
    assert outbox(engine, outbox_id).state == "sending"

    # A restart soon after: another process may still be sending it, so hands off.
    svc = service(engine, FakeAdapter(channel))
    assert svc.round(account()).ok
    assert outbox(engine, outbox_id).state == "sending"
    age(engine, outbox_id, STALE_SENDING - timedelta(seconds=30))
    svc.reconcile(account(), FakeAdapter(channel))
    assert outbox(engine, outbox_id).state == "sending"

    # Once it has been "sending" longer than STALE_SENDING, it was interrupted.
    age(engine, outbox_id, STALE_SENDING + timedelta(seconds=30))
    assert svc.round(account()).ok
    item = outbox(engine, outbox_id)
    assert item.state == "uncertain" and item.last_error
    for _ in range(3):  # never resent blindly, however many rounds run
        svc.round(account())
        due_now(engine, outbox_id)
    assert outbox(engine, outbox_id).state == "uncertain"
    assert channel.sent == []


@pytest.mark.parametrize("state", ["sending", "uncertain"])
def test_an_interrupted_reply_the_channel_confirms_becomes_sent_without_a_resend(
    engine: Engine, state: str
) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    outbox_id = queue_reply(engine)
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None
        item.state = state
        s.commit()
    age(engine, outbox_id, STALE_SENDING + timedelta(minutes=1))
    adapter = ConfirmingAdapter(channel, delivered=True)
    assert service(engine, adapter).round(account()).ok
    assert [m.outbox_id for m in adapter.asked] == [outbox_id]
    item = outbox(engine, outbox_id)
    assert item.state == "sent" and item.sent_at is not None
    assert channel.sent == []  # confirmed, not sent a second time


@pytest.mark.parametrize(
    "answer", [False, AdapterError("IMAP down")], ids=["not-delivered", "cannot-ask"]
)
def test_an_uncertain_reply_the_channel_cannot_confirm_stays_uncertain(
    engine: Engine, answer: bool | AdapterError
) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    outbox_id = queue_reply(engine)
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None
        item.state = "uncertain"
        s.commit()
    other_id = queue_reply(engine, "A second reply")
    adapter = ConfirmingAdapter(channel, delivered=answer)
    outcome = service(engine, adapter).round(account())
    assert outbox(engine, outbox_id).state == "uncertain"
    assert adapter.asked  # the channel was asked
    # The other reply went out all the same.
    assert outcome.sent == 1 and outbox(engine, other_id).state == "sent"
    assert [m.text for m in channel.sent] == ["A second reply"]


def test_a_reply_being_sent_right_now_is_neither_confirmed_nor_resent(engine: Engine) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    outbox_id = queue_reply(engine)
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None
        item.state = "sending"
        s.commit()
    age(engine, outbox_id, timedelta(seconds=5))
    adapter = ConfirmingAdapter(channel, delivered=True)
    service(engine, adapter).round(account())
    assert outbox(engine, outbox_id).state == "sending"
    assert adapter.asked == [] and channel.sent == []


def test_a_reply_another_process_claimed_meanwhile_is_not_sent_twice(engine: Engine) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    first, second = queue_reply(engine, "First"), queue_reply(engine, "Second")

    class Racing(FakeAdapter):
        """While the first reply goes out, another process claims the second."""

        def send(self, message: OutboundMessage) -> SendResult:
            if message.outbox_id == first:
                with Session(engine) as s:
                    other = s.get(Outbox, second)
                    assert other is not None and other.state == "queued"
                    other.state = "sending"
                    other.updated_at = datetime.now(UTC)
                    s.commit()
            return super().send(message)

    outcome = service(engine, Racing(channel)).round(account())
    assert [m.text for m in channel.sent] == ["First"]
    assert outcome.sent == 1
    assert outbox(engine, second).state == "sending"  # the other process's to finish


class Preparing(FakeAdapter):
    """A channel that fixes the Message-ID and the bytes before the first attempt (as
    email does) and checks they are stored before anything goes on the wire."""

    def __init__(self, channel: FakeChannel, engine: Engine) -> None:
        super().__init__(channel)
        self.engine = engine
        self.prepared: list[OutboundMessage] = []
        self.on_wire: list[tuple[str | None, bytes | None, str | None, bytes | None]] = []

    def prepare(self, message: OutboundMessage) -> PreparedSend:
        self.prepared.append(message)
        if message.text == "cannot be built":
            raise ValueError("no such template")
        assert message.message_id is not None
        return PreparedSend(message.message_id, f"MIME of {message.text}".encode())

    def send(self, message: OutboundMessage) -> SendResult:
        with Session(self.engine) as s:  # what a restart after a crash would find
            row = s.get(Outbox, message.outbox_id)
            assert row is not None
            self.on_wire.append((message.message_id, message.mime, row.message_id_header, row.mime))
        return super().send(message)


def test_a_prepared_reply_is_stored_before_sending_and_retried_with_the_same_bytes(
    engine: Engine,
) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    channel.send_errors = [AdapterError("421 try again later")]
    outbox_id = queue_reply(engine, "Refund sent")
    acct = replace(account(), settings={"address": "support@kettle.example"})
    adapter = Preparing(channel, engine)
    desk = Desk(signing_key=b"test key")
    svc = SyncService(engine, desk, (acct,), adapter_builder=lambda a: adapter)
    svc.round(acct)
    due_now(engine, outbox_id)
    assert svc.round(acct).sent == 1
    assert len(adapter.prepared) == 1  # prepared once, before the first attempt
    first, second = adapter.on_wire
    assert first == second  # the retry sends the very same Message-ID and bytes
    message_id, mime, stored_id, stored_mime = first
    assert (stored_id, stored_mime) == (message_id, mime) == (message_id, b"MIME of Refund sent")
    with Session(engine) as s:
        ref = s.exec(select(Conversation.ref)).one()
    # Our Message-ID: on the account's domain, carrying the signed reference.
    assert message_id is not None and message_id.endswith("@kettle.example>")
    assert f".{ref}." in message_id
    assert outbox(engine, outbox_id).message_id_header == message_id


def test_a_reply_that_cannot_be_prepared_fails_alone(engine: Engine) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    bad, good = queue_reply(engine, "cannot be built"), queue_reply(engine, "Fine")
    svc = service(engine, Preparing(channel, engine))
    outcome = svc.round(account())
    assert outcome.sent == 1 and [m.text for m in channel.sent] == ["Fine"]
    failed = outbox(engine, bad)
    assert failed.state == "failed" and failed.attempts == 1
    assert (failed.last_error or "").startswith("cannot prepare: ")
    assert outbox(engine, good).state == "sent"
    svc.round(account())
    assert [m.text for m in channel.sent] == ["Fine"]  # not retried blindly either


def test_a_send_that_may_have_been_delivered_is_uncertain_and_never_retried(
    engine: Engine,
) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    channel.send_errors = [UncertainDelivery("no answer after the final dot")]
    outbox_id = queue_reply(engine)
    svc = service(engine, FakeAdapter(channel))
    outcome = svc.round(account())
    assert outcome.sent == 0
    item = outbox(engine, outbox_id)
    assert item.state == "uncertain" and item.attempts == 1
    assert item.last_error == "no answer after the final dot"
    for _ in range(3):
        svc.round(account())
        due_now(engine, outbox_id)
    assert channel.sent == [] and outbox(engine, outbox_id).state == "uncertain"


def test_stale_sending_is_the_documented_five_minutes() -> None:
    assert timedelta(minutes=5) == STALE_SENDING  # docs/EMAIL.md


# -- retries: the cap and the backoff ----------------------------------------------------


def test_retryable_failures_stop_at_the_attempt_cap(engine: Engine) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    channel.send_errors = [AdapterError("503 service unavailable") for _ in range(100)]
    outbox_id = queue_reply(engine)
    svc = service(engine, FakeAdapter(channel))
    for attempt in range(1, OUTBOX_MAX_ATTEMPTS + 1):
        svc.round(account())
        item = outbox(engine, outbox_id)
        assert item.attempts == attempt
        assert 100 - len(channel.send_errors) == attempt  # one send per due round
        if attempt < OUTBOX_MAX_ATTEMPTS:
            assert item.state in RETRYING and item.next_attempt_at is not None
        due_now(engine, outbox_id)
    item = outbox(engine, outbox_id)
    assert item.state == "failed" and item.next_attempt_at is None
    assert item.last_error == "503 service unavailable"
    for _ in range(3):  # given up: no more attempts, however many rounds run
        svc.round(account())
        due_now(engine, outbox_id)
    assert 100 - len(channel.send_errors) == OUTBOX_MAX_ATTEMPTS
    assert outbox(engine, outbox_id).attempts == OUTBOX_MAX_ATTEMPTS


def test_a_reply_is_not_retried_before_its_backoff_is_over(engine: Engine) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    channel.send_errors = [AdapterError("502 bad gateway")]
    outbox_id = queue_reply(engine)
    svc = service(engine, FakeAdapter(channel))
    svc.round(account())
    assert outbox(engine, outbox_id).state in RETRYING
    for _ in range(3):
        assert svc.round(account()).sent == 0
    assert channel.sent == [] and outbox(engine, outbox_id).attempts == 1
    due_now(engine, outbox_id)
    assert svc.round(account()).sent == 1
    assert outbox(engine, outbox_id).state == "sent"


def test_reply_retries_back_off_exponentially(engine: Engine) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    channel.send_errors = [AdapterError("503 service unavailable") for _ in range(4)]
    outbox_id = queue_reply(engine)
    svc = service(engine, FakeAdapter(channel))
    waits: list[float] = []
    for _ in range(4):
        before = datetime.now(UTC)
        svc.round(account())
        item = outbox(engine, outbox_id)
        assert item.next_attempt_at is not None
        waits.append((item.next_attempt_at - before).total_seconds())
        due_now(engine, outbox_id)
    # Full jitter in [ceiling/2, ceiling] and a ceiling that doubles from the base.
    base = OUTBOX_RETRY_BASE.total_seconds()
    for attempt, wait in enumerate(waits, 1):
        ceiling = base * 2 ** (attempt - 1)
        assert ceiling / 2 - 1 <= wait <= ceiling + 1, (attempt, waits)


def test_a_permanent_failure_is_not_retried(engine: Engine) -> None:
    channel = FakeChannel()
    conversation_with_a_customer(engine, channel)
    channel.send_errors = [AdapterError("chat not found", retryable=False), AdapterError("x")]
    outbox_id = queue_reply(engine)
    svc = service(engine, FakeAdapter(channel))
    svc.round(account())
    item = outbox(engine, outbox_id)
    assert item.state == "failed" and item.attempts == 1 and item.next_attempt_at is None
    due_now(engine, outbox_id)
    svc.round(account())
    assert len(channel.send_errors) == 1  # never tried again


def test_poll_failures_back_off_exponentially_and_success_resets(engine: Engine) -> None:
    channel = FakeChannel(poll_error=AdapterError("connection refused"))
    acct = account(poll_seconds=60)
    svc = service(engine, FakeAdapter(channel), acct)

    def wait_after_round() -> float:
        before = datetime.now(UTC)
        outcome = svc.round(acct)
        with Session(engine) as s:
            state = s.get(AccountState, "chat")
            assert state is not None and state.retry_after is not None
        assert not outcome.ok
        return (state.retry_after - before).total_seconds()

    def assert_doubling(rounds: int) -> None:
        for failures in range(1, rounds + 1):
            ceiling = 60 * 2 ** (failures - 1)
            assert ceiling / 2 - 1 <= wait_after_round() <= ceiling + 1, failures

    assert_doubling(4)
    channel.poll_error = None
    assert svc.round(acct).ok
    channel.poll_error = AdapterError("connection refused")
    assert_doubling(3)  # counting starts again from the first failure


@pytest.mark.parametrize("failures", [0, 1, 2, 3, 4, 5, 6, 7, 12, 50])
def test_backoff_doubles_per_failure_with_full_jitter_up_to_the_cap(failures: int) -> None:
    base = 30.0
    ceiling = min(base * 2 ** max(failures - 1, 0), CAP_SECONDS)
    waits = [backoff(failures, base, rng=random.Random(seed)) for seed in range(200)]
    assert all(ceiling / 2 <= w <= ceiling for w in waits)
    # Jittered across the whole window, not a fixed value.
    assert min(waits) < ceiling * 0.55 and max(waits) > ceiling * 0.95


def test_a_short_base_gives_short_waits() -> None:
    # Seconds are not rounded up: a sub-second base (tests, fast local servers) stays so.
    waits = [backoff(1, 0.5, rng=random.Random(seed)) for seed in range(50)]
    assert all(0.25 <= w <= 0.5 for w in waits)


def test_backoff_honours_retry_after_only_when_longer() -> None:
    rng = random.Random(7)
    assert backoff(1, 30, retry_after=3600, rng=rng) == 3600
    assert backoff(20, 30, retry_after=CAP_SECONDS * 4, rng=rng) == CAP_SECONDS * 4
    short = backoff(3, 30, retry_after=1, rng=rng)
    assert 60 <= short <= 120  # a shorter retry_after does not cut the backoff
    assert 15 <= backoff(1, 30, retry_after=None, rng=rng) <= 30


def test_backoff_without_a_generator_is_random() -> None:
    waits = {backoff(5, 30) for _ in range(20)}
    assert len(waits) > 1 and all(240 <= w <= 480 for w in waits)


# -- raw bytes and duplicates ------------------------------------------------------------


def raw_of(engine: Engine, external_id: str) -> RawMessage:
    with Session(engine) as s:
        msg = s.exec(select(Message).where(Message.external_id == external_id)).one()
        raw = s.get(RawMessage, msg.id)
        assert raw is not None
        s.expunge(raw)
        return raw


def test_the_raw_rfc822_bytes_are_stored_exactly(engine: Engine) -> None:
    msg = email_message()
    with Session(engine) as s:
        (new_id,) = Desk().ingest_many(s, "mail", [msg])
        s.commit()
    raw = raw_of(engine, "mid:<raw-1@example.com>")
    assert raw.message_id == new_id
    assert raw.data == RAW  # byte for byte: NUL, CR, 8-bit, invalid UTF-8, dots
    assert raw.content_type == "message/rfc822"


def test_a_synced_message_keeps_its_raw_bytes_while_its_text_is_cleaned(engine: Engine) -> None:
    payload = b'{"update_id": 10, "message": {"text": "caf\\u00e9 \\u0000"}}\n'
    chat = replace(chat_message(1), raw=payload, raw_type="application/json")
    dirty = email_message(text="Body with a NUL \x00 and a bare CR \r here")
    channel = FakeChannel([chat, dirty])
    assert service(engine, FakeAdapter(channel)).round(account()).ok
    assert raw_of(engine, "5001:1").data == payload
    assert raw_of(engine, "5001:1").content_type == "application/json"
    assert raw_of(engine, "mid:<raw-1@example.com>").data == RAW
    with Session(engine) as s:
        mail = s.exec(select(Message).where(Message.external_id.startswith("mid:"))).one()
    assert "\x00" not in mail.text and "\r" not in mail.text  # cleaned for every backend


def test_the_same_inbound_message_twice_is_stored_once(engine: Engine) -> None:
    msg = email_message()
    desk = Desk()
    with Session(engine) as s:
        assert len(desk.ingest_many(s, "mail", [msg])) == 1
        s.commit()
    with Session(engine) as s:  # delivered again later: nothing new
        assert desk.ingest_many(s, "mail", [msg]) == []
        s.commit()
    with Session(engine) as s:  # twice in one poll
        twice = email_message(2)
        assert len(desk.ingest_many(s, "mail", [twice, twice])) == 1
        s.commit()
    with Session(engine) as s:
        rows = s.exec(select(Message.account, Message.external_id)).all()
        raws = s.exec(select(RawMessage.message_id)).all()
    assert sorted(rows) == [
        ("mail", "mid:<raw-1@example.com>"),
        ("mail", "mid:<raw-2@example.com>"),
    ]
    assert len(raws) == 2


def test_a_chat_message_redelivered_is_stored_once(engine: Engine) -> None:
    desk = Desk()
    for _ in range(2):
        with Session(engine) as s:
            desk.ingest_many(s, "chat", [chat_message(1), chat_message(2)])
            s.commit()
    with Session(engine) as s:
        ids = s.exec(select(Message.external_id).order_by(Message.external_id)).all()
    assert ids == ["5001:1", "5001:2"]


def test_the_same_mail_under_another_external_id_is_stored_once(engine: Engine) -> None:
    # The same Message-ID seen in another folder, or after the folder was renumbered.
    first = email_message(external_id="uid:INBOX/1/1")
    again = email_message(external_id="uid:Archive/7/3")
    desk = Desk()
    with Session(engine) as s:
        assert len(desk.ingest_many(s, "mail", [first])) == 1
        s.commit()
    with Session(engine) as s:
        assert desk.ingest_many(s, "mail", [again]) == []
        s.commit()
    with Session(engine) as s:
        assert len(s.exec(select(Message.id)).all()) == 1


def test_the_same_external_id_on_two_accounts_is_two_messages(engine: Engine) -> None:
    desk = Desk()
    with Session(engine) as s:
        assert len(desk.ingest_many(s, "chat-a", [chat_message(1)])) == 1
        assert len(desk.ingest_many(s, "chat-b", [chat_message(1)])) == 1
        s.commit()
    with Session(engine) as s:
        accounts = s.exec(select(Message.account).order_by(Message.account)).all()
    assert accounts == ["chat-a", "chat-b"]


def test_attachments_are_stored_with_their_size_and_checksum(engine: Engine) -> None:
    import hashlib

    content = b"%PDF-1.7 invoice \x00\xff"
    msg = email_message(
        attachments=(
            InboundAttachment("invoice.pdf", "application/pdf", len(content), content=content),
            InboundAttachment("photo.jpg", "image/jpeg", 123456, remote_ref="file_1"),
            InboundAttachment("known.txt", "text/plain", 3, sha256="ab" * 32, content=b"abc"),
            InboundAttachment("unknown.bin", "application/octet-stream", 0, remote_ref="f2"),
        )
    )
    with Session(engine) as s:
        Desk().ingest_many(s, "mail", [msg])
        s.commit()
    with Session(engine) as s:
        atts = {a.filename: a for a in s.exec(select(Attachment)).all()}
    pdf, photo, known = atts["invoice.pdf"], atts["photo.jpg"], atts["known.txt"]
    assert (pdf.size, pdf.sha256, pdf.content) == (
        len(content),
        hashlib.sha256(content).hexdigest(),
        content,
    )
    # Not downloaded yet: the size the channel announced, no checksum, no bytes.
    assert (photo.size, photo.sha256, photo.content) == (123456, "", None)
    assert known.sha256 == "ab" * 32 and known.size == 3
    assert atts["unknown.bin"].size == 0  # a size the channel did not give stays unknown

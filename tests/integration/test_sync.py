"""The sync service: messages and cursors commit together, failures become status,
the outbox sends once with backoff."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, AuthError
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.desk.outbox import outbox_counts
from omnitui.sync import SyncService, backoff
from storage import queries
from storage.models import AccountState, Conversation, Message, Outbox, SyncCursor
from tests.support.fake_adapter import FakeAdapter, FakeChannel, chat_message


def account(name: str = "chat") -> AccountConfig:
    return AccountConfig(name=name, kind="fake", poll_seconds=60, settings={}, line=1)


def service(engine: Engine, channel: FakeChannel, desk: Desk | None = None) -> SyncService:
    return SyncService(
        engine, desk or Desk(), (account(),), adapter_builder=lambda acct: FakeAdapter(channel)
    )


def messages(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message)).all())


def test_round_ingests_and_advances_cursor(engine: Engine) -> None:
    channel = FakeChannel([chat_message(i) for i in range(5)])
    svc = service(engine, channel)
    outcome = svc.round(account())
    assert outcome.ok and outcome.fetched == 5
    channel.messages.append(chat_message(5))
    outcome = svc.round(account())
    assert outcome.ok and outcome.fetched == 1
    assert len(messages(engine)) == 6
    with Session(engine) as s:
        cursor = s.exec(select(SyncCursor)).one()
        assert cursor.state == {"offset": 6}
        state = s.get(AccountState, "chat")
        assert state is not None and state.last_ok_at is not None and state.last_error is None


def test_crash_before_commit_loses_and_duplicates_nothing(engine: Engine) -> None:
    channel = FakeChannel([chat_message(i) for i in range(6)])

    class Crashing(Desk):
        def ingest_many(self, s, acct, msgs):  # type: ignore[no-untyped-def]
            super().ingest_many(s, acct, msgs[:3])  # half the batch is written, then…
            raise KeyboardInterrupt("power cut")  # the process dies: nothing catches it

    with pytest.raises(KeyboardInterrupt):
        service(engine, channel, Crashing()).round(account())
    assert messages(engine) == []  # nothing half-stored
    with Session(engine) as s:
        assert s.exec(select(SyncCursor)).all() == []  # cursor not advanced
    outcome = service(engine, channel).round(account())
    assert outcome.ok and outcome.fetched == 6
    assert len(messages(engine)) == 6


def test_a_message_the_store_refuses_is_quarantined_and_the_rest_are_stored(
    engine: Engine,
) -> None:
    channel = FakeChannel([chat_message(i) for i in range(6)])

    class Picky(Desk):
        def ingest_many(self, s, acct, msgs):  # type: ignore[no-untyped-def]
            if any(m.external_id == "5001:3" for m in msgs):
                raise ValueError("refused: secret customer text")
            return super().ingest_many(s, acct, msgs)

    outcome = service(engine, channel, Picky()).round(account())
    assert outcome.ok and outcome.fetched == 5 and outcome.quarantined == 1
    assert sorted(m.external_id for m in messages(engine)) == [f"5001:{i}" for i in (0, 1, 2, 4, 5)]
    from storage.models import Quarantine

    with Session(engine) as s:
        (item,) = s.exec(select(Quarantine)).all()
        assert item.external_id == "5001:3" and item.stage == "store"
        assert b"message 3" in item.raw  # the record itself is kept: nothing is lost
        assert "ValueError" in item.error and "secret" not in item.error
        assert s.exec(select(SyncCursor)).one().state == {"offset": 6}


def test_redelivered_messages_are_not_duplicated(engine: Engine) -> None:
    channel = FakeChannel([chat_message(i) for i in range(3)], ignore_cursor=True)
    svc = service(engine, channel)
    first = svc.round(account())
    assert first.ok and first.fetched == 3
    again = svc.round(account())
    assert again.ok and again.fetched == 0
    assert len(messages(engine)) == 3


def test_poll_failure_is_account_status_with_backoff(engine: Engine) -> None:
    channel = FakeChannel(poll_error=AdapterError("rate limited", retry_after=120))
    outcome = service(engine, channel).round(account())
    assert not outcome.ok and outcome.error == "rate limited"
    with engine.connect() as conn:
        (health,) = queries.account_health(conn)
    assert health.last_error == "rate limited" and not health.polling
    with Session(engine) as s:
        state = s.get(AccountState, "chat")
        assert state is not None and state.retry_after is not None
        assert (state.retry_after - datetime.now(UTC)).total_seconds() >= 110


def test_auth_failure_is_reported_clearly(engine: Engine) -> None:
    channel = FakeChannel(poll_error=AuthError("login failed: wrong password"))
    outcome = service(engine, channel).round(account())
    assert outcome.error == "login failed: wrong password"


def _queue_reply(engine: Engine, text: str = "On its way!") -> int:
    desk = Desk()
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).first()
        assert conv is not None
        item = desk.reply(s, conv, text)
        s.commit()
        assert item.id is not None
        return item.id


def test_outbox_sends_once_on_the_customers_channel(engine: Engine) -> None:
    channel = FakeChannel([chat_message(1)])
    svc = service(engine, channel)
    assert svc.round(account()).ok
    outbox_id = _queue_reply(engine)
    sending = svc.round(account())
    assert sending.ok and sending.sent == 1
    again = svc.round(account())
    assert again.ok and again.sent == 0
    (sent,) = channel.sent
    assert sent.to == "5001" and sent.thread_key == "5001" and sent.text == "On its way!"
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None and item.state == "sent" and item.provider_id == "p1"
        out = s.get(Message, item.sent_message_id)
        assert out is not None and out.external_id == "out:1"


def test_retryable_send_failure_backs_off_then_succeeds(engine: Engine) -> None:
    channel = FakeChannel([chat_message(1)], send_errors=[AdapterError("502 bad gateway")])
    svc = service(engine, channel)
    assert svc.round(account()).ok
    outbox_id = _queue_reply(engine)
    assert svc.round(account()).sent == 0
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None
        assert item.state == "queued" and item.attempts == 1
        assert item.last_error == "502 bad gateway"
        assert item.next_attempt_at is not None and item.next_attempt_at > datetime.now(UTC)
        item.next_attempt_at = datetime.now(UTC)  # time passes
        s.commit()
    retried = svc.round(account())
    assert retried.ok and retried.sent == 1
    assert len(channel.sent) == 1


def test_permanent_send_failure_is_visible(engine: Engine) -> None:
    channel = FakeChannel(
        [chat_message(1)], send_errors=[AdapterError("chat not found", retryable=False)]
    )
    svc = service(engine, channel)
    assert svc.round(account()).ok
    _queue_reply(engine)
    svc.round(account())
    with engine.connect() as conn:
        assert outbox_counts(conn).failed == 1  # what the status line counts
        conv_id = conn.execute(select(Conversation.id)).scalar_one()
        items = queries.thread(conn, conv_id)
    out = [i for i in items if i.direction == "out"][0]
    assert out.delivery == "failed" and out.delivery_error == "chat not found"


@pytest.mark.parametrize("failures", [1, 3, 10, 30])
def test_backoff_grows_is_capped_and_honours_retry_after(failures: int) -> None:
    import random

    rng = random.Random(1)
    wait = backoff(failures, 60, rng=rng)
    assert 0 < wait <= 15 * 60
    assert backoff(failures, 60, retry_after=3600, rng=rng) == 3600


def test_big_sync_fetches_ahead_and_a_failure_keeps_what_was_stored(engine: Engine) -> None:
    channel = FakeChannel(
        [chat_message(i, user=str(5000 + i % 7)) for i in range(50)], step=10, fail_at_poll=4
    )
    svc = service(engine, channel)
    outcome = svc.round(account())
    assert not outcome.ok and "connection reset" in (outcome.error or "")
    stored = len(messages(engine))
    assert stored == 30  # steps 1-3 committed with their cursors; step 4 failed
    channel.fail_at_poll = None
    outcome = svc.round(account())
    assert outcome.ok and outcome.fetched == 20
    assert len(messages(engine)) == 50
    ids = [m.external_id for m in messages(engine)]
    assert len(set(ids)) == 50

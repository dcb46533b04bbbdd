"""The sync racing an agent on a conversation (optimistic concurrency, issue 16): a
batch that loses the race is stored again at once; a reply whose bookkeeping loses it
before going out waits in the queue for the next round (never stuck "sending"), and one
that went out is recorded as sent however the race falls: never sent twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import Conversation, Message, Outbox
from tests.support.fake_adapter import FakeAdapter, FakeChannel, chat_message

ACCOUNT = AccountConfig(name="chat", kind="fake", poll_seconds=60, settings={}, line=1)


class RacingDesk(Desk):
    """A desk whose named method loses a race with an agent ``times`` times."""

    def __init__(self, method: str, times: int = 1) -> None:
        super().__init__()
        self._method, self._left = method, times

    def __getattribute__(self, name: str) -> Any:
        found = super().__getattribute__(name)
        if name == super().__getattribute__("_method") and self._left > 0:

            def racing(*args: Any, **kwargs: Any) -> Any:
                self._left -= 1
                found(*args, **kwargs)  # the work was done, then the UPDATE found 0 rows
                raise StaleDataError("UPDATE statement on table 'conversation' matched 0 rows")

            return racing
        return found


def _service(engine: Engine, desk: Desk, channel: FakeChannel) -> SyncService:
    adapter = FakeAdapter(channel)
    return SyncService(engine, desk, (ACCOUNT,), adapter_builder=lambda a: adapter)


def _queue_reply(engine: Engine) -> int:
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        item = Desk(agent="ana").reply(s, conv, "On its way")
        s.commit()
        assert item is not None
    with Session(engine) as s:
        return s.exec(select(Outbox.id)).one()  # type: ignore[return-value]


def test_a_batch_that_loses_a_race_is_stored_again_at_once(engine: Engine) -> None:
    channel = FakeChannel(messages=[chat_message(1), chat_message(2)])
    outcome = _service(engine, RacingDesk("ingest_many"), channel).round(ACCOUNT)
    assert outcome.ok and outcome.fetched == 2 and outcome.quarantined == 0
    with Session(engine) as s:
        assert len(s.exec(select(Message)).all()) == 2


def test_a_reply_readied_during_a_race_waits_for_the_next_round(engine: Engine) -> None:
    channel = FakeChannel(messages=[chat_message(1)])
    _service(engine, Desk(), channel).round(ACCOUNT)
    outbox_id = _queue_reply(engine)
    racing = _service(engine, RacingDesk("window_closed_since_queued"), channel)
    racing.round(ACCOUNT)
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None and item.state == "queued"  # not stuck "sending"
    assert channel.sent == []
    racing.round(ACCOUNT)
    assert len(channel.sent) == 1
    with Session(engine) as s:
        assert s.get(Outbox, outbox_id).state == "sent"  # type: ignore[union-attr]


def test_a_reply_sent_during_a_race_is_recorded_sent_once(engine: Engine) -> None:
    channel = FakeChannel(messages=[chat_message(1)])
    _service(engine, Desk(), channel).round(ACCOUNT)
    outbox_id = _queue_reply(engine)
    racing = _service(engine, RacingDesk("mark_sent", times=2), channel)
    racing.round(ACCOUNT)
    racing.round(ACCOUNT)
    assert len(channel.sent) == 1
    with Session(engine) as s:
        assert s.get(Outbox, outbox_id).state == "sent"  # type: ignore[union-attr]

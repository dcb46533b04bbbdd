"""What one sync round promises, each found unguarded by a mutation sample
(bench/mutation.py): the status line's state, failures as outcomes (never exceptions),
poll and send reported independently, bad items quarantined with the cursor, store
trouble never blamed on the items, and each account resuming from its own cursor."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from adapters.base import AdapterError, Cursor, OutboundMessage, PollResult, RejectedItem
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.desk.lifecycle import snooze
from omnitui.sync import SyncService
from storage.models import AccountState, Conversation, Message, Outbox, Quarantine, SyncCursor
from tests.support.fake_adapter import FakeAdapter, FakeChannel, chat_message


def account(name: str = "chat") -> AccountConfig:
    return AccountConfig(name=name, kind="fake", poll_seconds=60, settings={}, line=1)


def service(
    engine: Engine,
    adapter: FakeAdapter,
    acct: AccountConfig | None = None,
    desk: Desk | None = None,
) -> SyncService:
    return SyncService(
        engine, desk or Desk(), (acct or account(),), adapter_builder=lambda a: adapter
    )


def state(engine: Engine, name: str = "chat") -> AccountState:
    with Session(engine) as s:
        found = s.get(AccountState, name)
        assert found is not None
        s.expunge(found)
        return found


def rows(engine: Engine, model: type) -> list:
    with Session(engine) as s:
        return list(s.exec(select(model)).all())


# -- the status line -------------------------------------------------------------------


def test_the_account_shows_polling_during_a_round_and_healthy_after(engine: Engine) -> None:
    seen: list[bool] = []

    class Watching(FakeAdapter):
        def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
            seen.append(state(engine).polling)  # what the console reads meanwhile
            return super().poll(cursors)

    channel = FakeChannel([chat_message(1)], poll_error=AdapterError("timed out"))
    svc = service(engine, Watching(channel))
    assert not svc.round(account()).ok
    failed = state(engine)
    assert not failed.polling and failed.last_error == "timed out" and failed.retry_after
    channel.poll_error = None
    assert svc.round(account()).ok
    assert seen == [True, True]
    healthy = state(engine)
    assert not healthy.polling and healthy.last_error is None and healthy.retry_after is None
    assert healthy.last_ok_at is not None and healthy.last_attempt_at is not None


def test_each_round_wakes_snoozes_that_ran_out(engine: Engine) -> None:
    channel = FakeChannel([chat_message(1)])
    svc = service(engine, FakeAdapter(channel))
    assert svc.round(account()).ok
    desk = Desk()
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        snooze(desk, s, conv, datetime.now(UTC) + timedelta(hours=1))
        s.commit()
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        conv.snoozed_until = datetime.now(UTC) - timedelta(minutes=1)  # the hour passed
        s.commit()
    assert svc.round(account()).ok
    (conv,) = rows(engine, Conversation)
    assert conv.status == "open"


# -- failures are outcomes, poll and send apart -------------------------------------------


def test_a_store_that_refuses_everything_fails_the_round_without_raising(
    engine: Engine,
) -> None:
    channel = FakeChannel([chat_message(1)])

    def refuse(*_args: object, **_kw: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        outcome = service(engine, FakeAdapter(channel)).round(account())
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
    assert outcome is not None and not outcome.ok
    assert (outcome.error or "").startswith("store unavailable")
    assert outcome.fetched == 0 and rows(engine, Message) == []


def test_an_account_without_an_adapter_fails_with_the_reason(engine: Engine) -> None:
    def no_adapter(acct: AccountConfig) -> FakeAdapter:
        raise AdapterError("no adapter for kind 'fax' (installed: email)", retryable=False)

    svc = SyncService(engine, Desk(), (account(),), adapter_builder=no_adapter)
    outcome = svc.round(account())
    assert outcome is not None and not outcome.ok
    assert "no adapter for kind 'fax'" in (outcome.error or "")
    assert "no adapter" in (state(engine).last_error or "")


def test_a_failed_poll_reports_nothing_fetched_or_sent(engine: Engine) -> None:
    channel = FakeChannel(poll_error=AdapterError("connection refused"))
    outcome = service(engine, FakeAdapter(channel)).round(account())
    assert not outcome.ok
    assert (outcome.fetched, outcome.sent, outcome.attempted, outcome.quarantined) == (0, 0, 0, 0)


class ConfirmBreaks(FakeAdapter):
    """Sending fails as a whole: asking about an uncertain reply crashes."""

    def confirm(self, message: OutboundMessage) -> bool:
        raise RuntimeError("confirm crashed")


def _uncertain_reply(engine: Engine) -> None:
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        item = Desk().reply(s, conv, "Did this go out?")
        item.state = "uncertain"
        s.commit()


def test_sending_that_fails_as_a_whole_fails_the_round_though_the_poll_worked(
    engine: Engine,
) -> None:
    channel = FakeChannel([chat_message(1)])
    assert service(engine, FakeAdapter(channel)).round(account()).ok
    _uncertain_reply(engine)
    channel.messages.append(chat_message(2))
    outcome = service(engine, ConfirmBreaks(channel)).round(account())
    assert not outcome.ok and outcome.fetched == 1  # the poll's work is kept and counted
    assert (outcome.error or "").startswith("sending: ")
    assert len(rows(engine, Message)) == 3  # two in, one reply


def test_a_failing_poll_and_a_failing_send_are_both_reported(engine: Engine) -> None:
    channel = FakeChannel([chat_message(1)])
    assert service(engine, FakeAdapter(channel)).round(account()).ok
    _uncertain_reply(engine)
    channel.poll_error = AdapterError("IMAP down")
    outcome = service(engine, ConfirmBreaks(channel)).round(account())
    assert not outcome.ok
    poll_part, send_part = (outcome.error or "").split("; ")
    assert poll_part == "IMAP down" and send_part.startswith("sending: ")
    assert state(engine).last_error == outcome.error


def test_store_trouble_while_sending_reads_as_store_unavailable(engine: Engine) -> None:
    class LockedOnSent(Desk):
        def mark_sent(self, s, item, **kw):  # type: ignore[no-untyped-def]
            raise OperationalError("UPDATE …", {}, sqlite3.OperationalError("database is locked"))

    channel = FakeChannel([chat_message(1)])
    assert service(engine, FakeAdapter(channel)).round(account()).ok
    with Session(engine) as s:
        Desk().reply(s, s.exec(select(Conversation)).one(), "On its way")
        s.commit()
    outcome = service(engine, FakeAdapter(channel), desk=LockedOnSent()).round(account())
    assert not outcome.ok
    assert (outcome.error or "").startswith("sending: store unavailable"), outcome.error


# -- bad items and store trouble --------------------------------------------------------


class Rejecting(FakeAdapter):
    """A poll that also hands back an item it could not read."""

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        result = super().poll(cursors)
        if result.messages:
            result.rejected.append(
                RejectedItem(
                    external_id="5001:bad",
                    raw=b'{"update_id": 99, "message": "?"}',
                    error="KeyError: 'chat'",
                    folder="updates",
                )
            )
        return result


def test_items_the_adapter_could_not_read_are_quarantined_with_the_cursor(
    engine: Engine,
) -> None:
    channel = FakeChannel([chat_message(1), chat_message(2)])
    outcome = service(engine, Rejecting(channel)).round(account())
    assert outcome.ok and outcome.fetched == 2 and outcome.quarantined == 1
    (item,) = rows(engine, Quarantine)
    assert item.external_id == "5001:bad" and item.stage == "parse"
    assert item.raw == b'{"update_id": 99, "message": "?"}' and item.error == "KeyError: 'chat'"
    assert rows(engine, SyncCursor)[0].state == {"offset": 2}


def test_a_record_that_cannot_be_cleaned_is_quarantined_and_the_rest_stored(
    engine: Engine,
) -> None:
    broken = replace(chat_message(2), sender=None)  # an adapter bug: no sender at all
    channel = FakeChannel([chat_message(1), broken, chat_message(3)])
    outcome = service(engine, FakeAdapter(channel)).round(account())
    assert outcome.ok and outcome.fetched == 2 and outcome.quarantined == 1
    assert sorted(m.external_id for m in rows(engine, Message)) == ["5001:1", "5001:3"]
    (item,) = rows(engine, Quarantine)
    assert item.external_id == "5001:2" and item.stage == "parse" and item.raw


def test_store_trouble_in_a_step_is_not_blamed_on_its_items(engine: Engine) -> None:
    class Locked(Desk):
        def ingest_many(self, s, acct, msgs):  # type: ignore[no-untyped-def]
            raise OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))

    channel = FakeChannel([chat_message(1), chat_message(2)])
    outcome = service(engine, FakeAdapter(channel), desk=Locked()).round(account())
    assert not outcome.ok and (outcome.error or "").startswith("store unavailable")
    assert rows(engine, Quarantine) == [] and rows(engine, SyncCursor) == []
    assert rows(engine, Message) == []
    again = service(engine, FakeAdapter(channel)).round(account())
    assert again.ok and again.fetched == 2


# -- every account on its own cursor ------------------------------------------------------


def test_each_account_resumes_from_its_own_cursor(engine: Engine) -> None:
    a = FakeChannel([chat_message(i, user="7001") for i in range(5)])
    b = FakeChannel([chat_message(i, user="8001") for i in range(2)])
    accounts = (account("chat-a"), account("chat-b"))
    adapters = {"chat-a": FakeAdapter(a), "chat-b": FakeAdapter(b)}
    svc = SyncService(engine, Desk(), accounts, adapter_builder=lambda acct: adapters[acct.name])
    first = [svc.round(acct) for acct in accounts]
    assert [(o.ok, o.fetched) for o in first] == [(True, 5), (True, 2)]
    b.messages.append(chat_message(2, user="8001"))
    assert [svc.round(acct).fetched for acct in accounts] == [0, 1]
    with Session(engine) as s:
        cursors = {c.account: c.state for c in s.exec(select(SyncCursor)).all()}
    assert cursors == {"chat-a": {"offset": 5}, "chat-b": {"offset": 3}}


def test_outbox_items_of_another_account_are_left_to_it(engine: Engine) -> None:
    a = FakeChannel([chat_message(1, user="7001")])
    b = FakeChannel([chat_message(1, user="8001")])
    accounts = (account("chat-a"), account("chat-b"))
    adapters = {"chat-a": FakeAdapter(a), "chat-b": FakeAdapter(b)}
    svc = SyncService(engine, Desk(), accounts, adapter_builder=lambda acct: adapters[acct.name])
    for acct in accounts:
        assert svc.round(acct).ok
    with Session(engine) as s:
        for conv in s.exec(select(Conversation)).all():
            Desk().reply(s, conv, f"Reply on {conv.account}")
        s.commit()
    assert svc.round(accounts[0]).sent == 1
    assert [m.text for m in a.sent] == ["Reply on chat-a"] and b.sent == []
    with Session(engine) as s:
        states = {o.account: o.state for o in s.exec(select(Outbox)).all()}
    assert states == {"chat-a": "sent", "chat-b": "queued"}

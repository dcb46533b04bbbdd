"""Two agents, one conversation, on SQLite and PostgreSQL: optimistic concurrency on
``conversation.version`` (omnitui.desk.conflicts). Two agents resolving, assigning or
merging at once never lose an update silently: the loser is told what changed and
nothing of theirs is written; acting again on the fresh version keeps both changes.
Bookkeeping (opening a conversation, a snooze running out) never makes an agent's
action fail, a customer's message racing an agent's resolve loses neither, and an
``omnitui conv`` command that loses a race says what changed in one line (exit 1)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, text, update
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select

from omnitui.config import AccountConfig
from omnitui.desk import ConversationChanged, Desk
from omnitui.desk import ingest as ingest_module
from omnitui.desk import lifecycle as lifecycle_module
from omnitui.desk.conflicts import changed
from omnitui.desk.customers import merge_customers
from omnitui.sync import SyncService
from storage.errors import is_transient
from storage.models import Conversation, Event, Message, Quarantine, RefAlias, table_of
from storage.types import utcnow
from tests.support.fake_adapter import FakeAdapter, FakeChannel, chat_message

ANA, BO = Desk(agent="ana"), Desk(agent="bo")


def new_conversation(engine: Engine, user: str = "5001") -> int:
    """A conversation of customer ``user`` with one message (as the sync stores it)."""
    with Session(engine) as s:
        ids = Desk().ingest_many(s, "chat", [replace(chat_message(1, user), sent_at=utcnow())])
        s.commit()
        message = s.get(Message, ids[0])
        assert message is not None and message.conversation_id is not None
        return message.conversation_id


def version(engine: Engine, conversation_id: int) -> int:
    with Session(engine) as s:
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        return conv.version


def act(engine: Engine, conversation_id: int, fn: Callable[[Session, Conversation], Any]) -> None:
    """One agent's action in its own transaction."""
    with Session(engine) as s:
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        fn(s, conv)
        s.commit()


def together(*actions: Callable[[], None]) -> list[BaseException | None]:
    """Run ``actions`` in threads started at one moment; what each raised (None: ran)."""
    gate = threading.Barrier(len(actions))
    results: list[BaseException | None] = [None] * len(actions)

    def run(i: int, action: Callable[[], None]) -> None:
        try:
            gate.wait(timeout=30)
            action()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "an agent's write hung"
    return results


def test_an_assign_from_the_version_before_a_resolve_is_refused_then_applies_on_the_new(
    engine: Engine,
) -> None:
    cid = new_conversation(engine)
    seen = version(engine, cid)  # what both agents' screens show
    act(engine, cid, lambda s, c: ANA.resolve(s, c, expected_version=seen))

    with pytest.raises(ConversationChanged) as refused, Session(engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None
        BO.assign(s, conv, "bo", expected_version=seen)
        s.commit()
    assert "changed meanwhile: ana resolved it" in refused.value.summary
    assert refused.value.console_line().endswith("reloaded; press again to apply yours")
    with Session(engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None and conv.assignee is None and conv.status == "resolved"

    # Bo's console reloaded: pressing again applies to the version now shown.
    act(engine, cid, lambda s, c: BO.assign(s, c, "bo", expected_version=version(engine, cid)))
    with Session(engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None
        assert (conv.status, conv.assignee) == ("resolved", "bo")


def test_a_resolve_and_an_assign_racing_inside_their_writes_lose_nothing(engine: Engine) -> None:
    """No version given (the CLI): both read the row, both write at once; the row's
    version makes the second write fail instead of overwriting the first."""
    cid = new_conversation(engine)
    sessions = [Session(engine), Session(engine)]
    try:
        convs = [s.get(Conversation, cid) for s in sessions]
        assert convs[0] is not None and convs[1] is not None

        def resolve() -> None:
            ANA.resolve(sessions[0], convs[0])
            sessions[0].commit()

        def assign() -> None:
            BO.assign(sessions[1], convs[1], "bo")
            sessions[1].commit()

        results = together(resolve, assign)
    finally:
        for s in sessions:
            s.close()
    lost = [r for r in results if r is not None]
    assert len(lost) == 1 and isinstance(lost[0], StaleDataError), results
    assert is_transient(lost[0])  # a sync step that loses such a race runs again
    with Session(engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None
        winner = ("resolved", None) if results[0] is None else ("open", "bo")
        assert (conv.status, conv.assignee) == winner
        said = changed(s, cid, me="nobody").summary
    assert said.startswith(f"{conv.ref} changed meanwhile: ")
    assert ("ana resolved it" if results[0] is None else "bo assigned it to bo") in said

    # The loser acts again on what it now reads: both changes stand.
    if results[0] is None:
        act(engine, cid, lambda s, c: BO.assign(s, c, "bo"))
    else:
        act(engine, cid, lambda s, c: ANA.resolve(s, c))
    with Session(engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None
        assert (conv.status, conv.assignee) == ("resolved", "bo")


def test_two_merges_of_one_conversation_into_two_targets_merge_it_once(engine: Engine) -> None:
    targets = [new_conversation(engine, "5002"), new_conversation(engine, "5003")]
    source = new_conversation(engine, "5001")  # the newest: its id is the highest
    with Session(engine) as s:
        src = s.get(Conversation, source)
        assert src is not None and src.ref is not None
        source_ref, seen = src.ref, src.version
    sessions = [Session(engine), Session(engine)]
    try:
        loaded = [
            (s.get(Conversation, source), s.get(Conversation, target))
            for s, target in zip(sessions, targets, strict=True)
        ]

        def merge(i: int, desk: Desk) -> Callable[[], None]:
            def run() -> None:
                src, dst = loaded[i]
                assert src is not None and dst is not None
                desk.merge_conversations(sessions[i], src, dst, expected_version=seen)
                sessions[i].commit()

            return run

        results = together(merge(0, ANA), merge(1, BO))
    finally:
        for s in sessions:
            s.close()
    lost = [r for r in results if r is not None]
    assert len(lost) == 1, results
    assert isinstance(lost[0], StaleDataError | ConversationChanged), results
    into = targets[0] if results[0] is None else targets[1]
    other = targets[1] if results[0] is None else targets[0]
    with Session(engine) as s:
        assert s.get(Conversation, source) is None
        counts = dict(
            s.exec(
                select(Message.conversation_id, func.count())
                .where(col(Message.conversation_id).in_(targets))
                .group_by(col(Message.conversation_id))
            ).all()
        )
        assert counts == {into: 2, other: 1}  # the source's message moved once
        alias = s.get(RefAlias, source_ref)
        assert alias is not None and alias.conversation_id == into
        merged = s.exec(select(Event).where(Event.kind == "conversation.merged")).all()
        assert [e.conversation_id for e in merged] == [into]
        told = changed(s, source, ref=source_ref, me="nobody")
        winner = "ana" if results[0] is None else "bo"
        into_ref = s.get(Conversation, into).ref  # type: ignore[union-attr]
    assert told.summary.startswith(f"{source_ref} was merged into {into_ref} by {winner}")
    assert told.merged_into == into


def test_opening_a_conversation_is_no_conflict_for_another_agents_resolve(
    engine: Engine,
) -> None:
    cid = new_conversation(engine)
    seen = version(engine, cid)
    with Session(engine) as s:
        assert ANA.mark_read(s, cid)
        s.commit()
    assert version(engine, cid) == seen
    act(engine, cid, lambda s, c: BO.resolve(s, c, expected_version=seen))
    with Session(engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None and (conv.status, conv.unread) == ("resolved", False)
        assert not ANA.mark_read(s, cid)  # already read: nothing to write


def test_a_customer_merge_moves_the_version_of_the_conversations_it_moves(
    engine: Engine,
) -> None:
    kept, moved = new_conversation(engine, "5001"), new_conversation(engine, "5002")
    seen = {cid: version(engine, cid) for cid in (kept, moved)}
    with Session(engine) as s:
        convs = {cid: s.get(Conversation, cid) for cid in (kept, moved)}
        keep_id, other_id = convs[kept].customer_id, convs[moved].customer_id  # type: ignore[union-attr]
        assert keep_id is not None and other_id is not None
        merge_customers(s, keep_id, other_id, actor="ana")
        s.flush()
        # The session's own copy follows, so its later writes are no conflict.
        assert convs[moved].version == seen[moved] + 1  # type: ignore[union-attr]
        convs[moved].priority = "high"  # type: ignore[union-attr]
        s.commit()
    assert version(engine, kept) == seen[kept]
    assert version(engine, moved) == seen[moved] + 2

    with pytest.raises(ConversationChanged) as refused, Session(engine) as s:
        conv = s.get(Conversation, moved)
        assert conv is not None
        BO.assign(s, conv, "bo", expected_version=seen[moved])
    assert "ana merged its customer with another" in refused.value.summary


def test_a_snooze_running_out_as_an_agent_acts_yields_to_the_agent(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = new_conversation(engine)
    start = utcnow()
    act(engine, cid, lambda s, c: ANA.snooze(s, c, start.replace(year=start.year + 1)))
    due = start.replace(year=start.year + 2)  # the wake-up runs "then"
    real = lifecycle_module.apply_status
    raced: list[bool] = []

    def agent_first(*args: Any, **kw: Any) -> Any:
        # Between the wake-up's read and its write, Bo assigns the conversation.
        if not raced:
            raced.append(True)
            act(engine, cid, lambda s, c: BO.assign(s, c, "bo"))
        return real(*args, **kw)

    monkeypatch.setattr(lifecycle_module, "apply_status", agent_first)
    with Session(engine) as s:
        assert Desk().wake_due(s, due) == []  # left to the agent, and no error
        s.commit()
    monkeypatch.undo()
    with Session(engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None and (conv.status, conv.assignee) == ("snoozed", "bo")
        seen = conv.version
        assert Desk().wake_due(s, due) == [cid]  # woken next time
        s.commit()
    assert version(engine, cid) == seen + 1  # a wake-up is a change agents see
    with pytest.raises(ConversationChanged) as refused, Session(engine) as s:
        conv = s.get(Conversation, cid)
        assert conv is not None
        ANA.resolve(s, conv, expected_version=seen)
    assert "its snooze ended" in refused.value.summary


def test_a_customer_message_racing_an_agents_resolve_loses_neither(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = new_conversation(engine)
    # The first message is stored already (skipped), the second is new.
    channel = FakeChannel(messages=[chat_message(1), replace(chat_message(2), sent_at=utcnow())])
    account = AccountConfig(name="chat", kind="fake", poll_seconds=60, settings={}, line=1)
    svc = SyncService(engine, Desk(), (account,), adapter_builder=lambda a: FakeAdapter(channel))
    real = ingest_module.write
    agents: list[str] = []

    def agents_act_meanwhile(*args: Any, **kw: Any) -> Any:
        # Between each read of the conversation by the sync and its write (the batch,
        # and any retry within the round), an agent changes it: Ana resolves it, then
        # others assign it.
        if racing:
            agents.append("ana" if not agents else f"agent{len(agents)}")
            if len(agents) == 1:
                act(engine, cid, lambda s, c: ANA.resolve(s, c))
            else:
                act(engine, cid, lambda s, c: BO.assign(s, c, agents[-1]))
        return real(*args, **kw)

    monkeypatch.setattr(ingest_module, "write", agents_act_meanwhile)
    racing = True
    first = svc.round(account)
    racing = False
    # Every attempt lost its race: the step rolled back whole, nothing was blamed on the
    # message (never quarantined as one the store refuses), and the next round stores it.
    assert not first.ok and "changed meanwhile" in (first.error or ""), first
    assert svc.round(account).ok
    with Session(engine) as s:
        assert s.exec(select(Quarantine)).all() == []  # never blamed on the message
        texts = s.exec(
            select(Message.text).where(Message.conversation_id == cid).order_by(col(Message.id))
        ).all()
        assert texts == ["message 1", "message 2"]  # stored once, in its conversation
        statuses = s.exec(
            select(Event.actor, Event.detail)
            .where(Event.conversation_id == cid, Event.kind == "conversation.status")
            .order_by(col(Event.id))
        ).all()
        # Ana's resolve stands in the history, and the customer's message reopened it.
        assert [(a, d["to"]) for a, d in statuses] == [("ana", "resolved"), ("customer", "open")]
        conv = s.get(Conversation, cid)
        assert conv is not None and conv.status == "open" and conv.unread
        assert conv.assignee == (agents[-1] if len(agents) > 1 else None)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_cli_command_losing_the_race_says_what_changed_and_exits_1(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    """``omnitui conv resolve`` reads the conversation, then its write waits for another
    agent's uncommitted change (a row lock: PostgreSQL only, where the wait can be seen
    in pg_locks) and finds it changed when that commits."""
    cid = new_conversation(engine)
    ref = conv_ref(engine, cid)
    config = tmp_path / "config.toml"
    config.write_text('[agent]\nname = "ana"\n', encoding="utf-8")
    with engine.connect() as sam:
        other = sam.begin()
        sam_pid = sam.execute(text("SELECT pg_backend_pid()")).scalar_one()
        c = table_of(Conversation).c
        sam.execute(
            update(table_of(Conversation))
            .where(c.id == cid)
            .values(assignee="sam", version=c.version + 1)
        )
        sam.execute(
            insert(table_of(Event)).values(
                kind="conversation.assigned",
                actor="sam",
                conversation_id=cid,
                detail={"from": None, "to": "sam"},
                at=utcnow(),
            )
        )
        cli = subprocess.Popen(
            [sys.executable, "-m", "omnitui", "--config", str(config), "--db", db_url]
            + ["conv", "resolve", ref],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            waiting_for(engine, sam_pid, cli)
        finally:
            other.commit()
        out, err = cli.communicate(timeout=60)
    assert cli.returncode == 1, (out, err)
    assert err.startswith(f"omnitui: {ref} changed meanwhile: sam assigned it to sam ")
    assert err.count("\n") == 1 and "Traceback" not in err
    with Session(engine) as s:
        found = s.get(Conversation, cid)
        assert found is not None and (found.status, found.assignee) == ("open", "sam")

    again = subprocess.run(
        [sys.executable, "-m", "omnitui", "--config", str(config), "--db", db_url]
        + ["conv", "resolve", ref],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    with Session(engine) as s:
        found = s.get(Conversation, cid)
        assert found is not None and (found.status, found.assignee) == ("resolved", "sam")


def conv_ref(engine: Engine, conversation_id: int) -> str:
    with Session(engine) as s:
        found = s.get(Conversation, conversation_id)
        assert found is not None and found.ref is not None
        return found.ref


def waiting_for(engine: Engine, pid: int, process: subprocess.Popen[str]) -> None:
    """Until a session waits for one of backend ``pid``'s locks (the command's write
    waiting for the other agent's change), within 60 s."""
    blocked = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with engine.connect() as conn:
            if conn.execute(blocked, {"pid": pid}).scalar():
                return
        time.sleep(0.05)
    raise AssertionError("the command never waited for the other agent's change")

"""Live updates, presence and drafts per agent on a real store (SQLite file and
PostgreSQL): what one agent's process writes, another's console hears about at once,
naming the conversation; a dropped PostgreSQL connection is survived; who else is on a
conversation is known, and goes stale when their console stops saying so; two agents'
drafts of one conversation never overwrite each other, and a reply whose draft was
overtaken knows what came since."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import Engine, text
from sqlmodel import Session

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk, drafts, presence
from storage import open_store
from storage.changes import ChangeFeed, Changes
from storage.models import Agent, Conversation, Message, Presence
from storage.types import utcnow


def _customer_writes(engine: Engine, n: int, user: str = "5001") -> int:
    msg = InboundMessage(
        external_id=f"{user}:{n}",
        channel="telegram",
        sender=Sender("telegram", user, f"User {user}"),
        sent_at=utcnow(),
        text=f"message {n}",
        thread_key=user,
    )
    with Session(engine) as s:
        stored = Desk().ingest_many(s, "chat", [msg])
        s.commit()
        message = s.get(Message, stored[0])
        assert message is not None and message.conversation_id is not None
        return message.conversation_id


def _wait(feed: ChangeFeed, seconds: float = 3.0) -> Changes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = feed.wait(0.5)
        if got is not None:
            return got
    raise AssertionError("no change was heard")


def test_another_process_writing_is_heard_with_the_conversation(db_url: str) -> None:
    engine = open_store(db_url)
    cid = _customer_writes(engine, 1)
    feed = ChangeFeed(engine)
    try:
        assert feed.wait(0.3) is None  # opened: nothing new yet
        # Another process (another agent's console or the sync service) resolves it.
        code = (
            "from sqlmodel import Session\n"
            "from storage import open_store\n"
            "from storage.models import Conversation\n"
            f"e = open_store({db_url!r})\n"
            "with Session(e) as s:\n"
            f"    c = s.get(Conversation, {cid}); c.status = 'resolved'; s.commit()\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        started = time.monotonic()
        got = _wait(feed)
        assert time.monotonic() - started < 1.0
        assert cid in got.ids and "conversation" in got.kinds and not got.everything
        assert feed.wait(0.3) is None  # told once
    finally:
        feed.close()
        engine.dispose()


def test_a_new_message_a_draft_and_presence_are_each_heard(db_url: str) -> None:
    engine = open_store(db_url)
    cid = _customer_writes(engine, 1)
    feed = ChangeFeed(engine)
    try:
        feed.wait(0.2)
        _customer_writes(engine, 2)  # joins the same conversation
        assert cid in _wait(feed).by_kind["conversation"]
        with Session(engine) as s:
            drafts.save(s, cid, "reply", "Hello", "ana")
            s.commit()
        assert _wait(feed).by_kind.get("draft") == frozenset({cid})
        with Session(engine) as s:
            presence.show(s, "bo", cid, "typing")
            s.commit()
        assert _wait(feed).by_kind.get("presence") == frozenset({cid})
    finally:
        feed.close()
        engine.dispose()


def test_a_dropped_postgresql_connection_reports_everything_then_keeps_listening(
    db_url: str,
) -> None:
    engine = open_store(db_url)
    cid = _customer_writes(engine, 1)
    feed = ChangeFeed(engine)
    try:
        feed.wait(0.2)
        if engine.dialect.name == "postgresql":
            pid = feed._conn.info.backend_pid
            with engine.begin() as conn:
                conn.execute(text(f"SELECT pg_terminate_backend({pid})"))
            # The loss is noticed, the feed reconnects and says "reload everything".
            deadline = time.monotonic() + 10
            got = None
            while time.monotonic() < deadline and got is None:
                got = feed.wait(0.5)
            assert got is not None and got.everything
        _customer_writes(engine, 2)
        assert cid in _wait(feed).ids
    finally:
        feed.close()
        engine.dispose()


def test_a_console_far_behind_on_sqlite_reloads_everything(tmp_path) -> None:  # noqa: ANN001
    engine = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    feed = ChangeFeed(engine)
    try:
        feed.wait(0.2)
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO change_log (conversation_id, kind) VALUES (:c, 'conversation')"),
                [{"c": n} for n in range(1, 700)],
            )
        assert _wait(feed).everything
    finally:
        feed.close()
        engine.dispose()


def test_presence_shows_others_and_goes_stale(engine: Engine) -> None:
    cid = _customer_writes(engine, 1)
    other = _customer_writes(engine, 1, user="6002")
    with Session(engine) as s:
        s.add(Agent(name="ana"))
        s.commit()
        presence.show(s, "ana", cid, "viewing")
        presence.show(s, "bo", cid, "typing")
        s.commit()
        seen = presence.watchers(s, "ana")
        assert seen == {cid: (presence.Watcher("bo", "typing"),)}  # never oneself
        assert presence.watchers(s, "bo") == {cid: (presence.Watcher("ana", "viewing"),)}
        # Opening another conversation leaves the first.
        presence.show(s, "ana", other, "viewing")
        s.commit()
        assert presence.watchers(s, "bo") == {other: (presence.Watcher("ana", "viewing"),)}
        # A console that stopped beating is not shown after FRESH.
        later = utcnow() + presence.FRESH + timedelta(seconds=1)
        assert presence.watchers(s, "bo", now=later) == {}
        presence.heartbeat(s, "ana")
        s.commit()
        agent = s.get(Agent, "ana")
        assert agent is not None and agent.last_seen_at is not None
        presence.leave(s, "ana")
        s.commit()
        assert presence.watchers(s, "bo") == {}
        assert s.get(Presence, ("bo", cid)) is not None


def test_two_agents_drafts_of_one_conversation_are_both_kept(engine: Engine) -> None:
    cid = _customer_writes(engine, 1)
    with Session(engine) as s:
        drafts.save(s, cid, "reply", "Ana's answer", "ana")
        drafts.save(s, cid, "note", "Bo's note", "bo")
        s.commit()
    assert drafts.load(engine, cid, "ana").body == "Ana's answer"  # type: ignore[union-attr]
    assert drafts.load(engine, cid, "bo").body == "Bo's note"  # type: ignore[union-attr]
    assert drafts.unsent(engine, "ana")[0] == 1
    with Session(engine) as s:
        drafts.discard(s, cid, "bo")  # Bo sent theirs: Ana's stays
        s.commit()
    assert drafts.load(engine, cid, "ana") is not None
    assert drafts.load(engine, cid, "bo") is None


def test_what_came_after_a_draft_began_is_listed(engine: Engine) -> None:
    cid = _customer_writes(engine, 1)
    with Session(engine) as s:
        base = drafts.newest_message_id(s, cid)
        drafts.save(s, cid, "reply", "We are on it", "ana")
        s.commit()
    assert drafts.load(engine, cid, "ana").base_message_id == base  # type: ignore[union-attr]
    with Session(engine) as s:
        assert drafts.changes_since(s, cid, "ana", base) == []
        conv = s.get(Conversation, cid)
        assert conv is not None
        Desk(agent="ana").note(s, conv, "my own note")  # one's own: not a change
        Desk(agent="bo").reply(s, conv, "Bo answered first")
        s.commit()
    _customer_writes(engine, 2)
    with Session(engine) as s:
        since = drafts.changes_since(s, cid, "ana", base)
    assert [(c.who, c.direction, c.text) for c in since] == [
        ("bo", "out", "Bo answered first"),
        ("the customer (5001)", "in", "message 2"),
    ]

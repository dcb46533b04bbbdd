"""Auto-assignment on a real store (SQLite and PostgreSQL), through ``Desk.ingest_many``
and ``omnitui sync --once``: who gets a new conversation, the load read from the store,
the rotation kept in ``agent.last_assigned_at``, and the SLA clocks untouched by any
assignment."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from adapters.base import InboundMessage, Sender
from omnitui.config.assignment import Assignment
from omnitui.desk import Desk
from storage import open_store
from storage.models import Agent, Conversation, Event
from storage.types import utcnow
from tests.support.cli_run import command
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.mail_delivery import deliver
from tests.support.mail_delivery import mail as raw_mail

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ROUND_ROBIN = Assignment(strategy="round_robin")
LEAST_LOADED = Assignment(strategy="least_loaded")


def mail(n: int, frm: str | None = None, **kw: Any) -> InboundMessage:
    fields: dict[str, Any] = {
        "external_id": f"INBOX/1/{n}",
        "channel": "email",
        "sender": Sender("email", frm or f"customer{n}@example.com", f"Customer {n}"),
        "sent_at": T0 + timedelta(minutes=n),
        "text": f"message {n}",
        "subject": f"Question {n}",
        "message_id": f"<m{n}@example.com>",
    }
    return InboundMessage(**(fields | kw))


def add_agents(engine: Engine, *agents: Agent) -> None:
    """The team, written directly (``omnitui agent add`` is not needed here)."""
    with Session(engine) as s:
        for a in agents:
            if a.last_seen_at is None and not a.away:
                a.last_seen_at = utcnow()  # a console is open
            s.add(a)
        s.commit()


def assignees(engine: Engine) -> list[str | None]:
    with Session(engine) as s:
        rows = s.exec(select(Conversation).order_by(col(Conversation.id))).all()
        return [c.assignee for c in rows]


def ingest(engine: Engine, desk: Desk, msgs: list[InboundMessage], account: str = "mail") -> None:
    with Session(engine) as s:
        desk.ingest_many(s, account, msgs)
        s.commit()


def test_round_robin_goes_round_the_team_within_and_across_batches(engine: Engine) -> None:
    add_agents(engine, Agent(name="ana"), Agent(name="bo"), Agent(name="cy"))
    desk = Desk(assignment=ROUND_ROBIN)
    ingest(engine, desk, [mail(1), mail(2)])
    ingest(engine, desk, [mail(3)])
    ingest(engine, desk, [mail(4), mail(5)])
    assert assignees(engine) == ["ana", "bo", "cy", "ana", "bo"]
    with Session(engine) as s:
        stamps = {a.name: a.last_assigned_at for a in s.exec(select(Agent)).all()}
        assert None not in stamps.values()
        assert stamps["cy"] < stamps["ana"] < stamps["bo"]  # so cy is next
        assigned = select(Event).where(Event.kind == "conversation.assigned")
        events = s.exec(assigned.order_by(col(Event.id))).all()
    assert len(events) == 5 and {e.actor for e in events} == {"auto-assign"}
    assert events[0].detail["assignee"] == "ana" and events[0].detail["strategy"] == "round_robin"
    assert events[0].detail["reason"].startswith("round robin over 3")


def test_least_loaded_counts_open_and_pending_conversations_in_the_store(engine: Engine) -> None:
    add_agents(engine, Agent(name="ana"), Agent(name="bo", capacity=2))
    desk = Desk(assignment=LEAST_LOADED)
    ingest(engine, desk, [mail(1), mail(2), mail(3), mail(4)])
    with Session(engine) as s:
        convs = s.exec(select(Conversation).order_by(col(Conversation.id))).all()
        # ana: one pending, two resolved (not load); bo: one open, one snoozed (not load).
        for conv, (who, status) in zip(
            convs,
            [("ana", "pending"), ("ana", "resolved"), ("bo", "open"), ("bo", "snoozed")],
            strict=True,
        ):
            conv.assignee, conv.status = who, status
        s.commit()
    ingest(engine, desk, [mail(5), mail(6), mail(7)])
    # Loads 1 and 1: ana, whose last assignment is older; then bo (1 against 2), who is
    # then at capacity; then ana. Counting resolved or snoozed ones would change that.
    assert assignees(engine)[4:] == ["ana", "bo", "ana"]


def test_capacity_and_away_agents_leave_a_conversation_unassigned(engine: Engine) -> None:
    long_ago = utcnow() - timedelta(hours=2)
    add_agents(
        engine,
        Agent(name="ana", capacity=0),
        Agent(name="bo", last_seen_at=long_ago),  # console closed two hours ago
        Agent(name="cy", away=True),
        Agent(name="di", channels=["telegram"]),
    )
    ingest(engine, Desk(assignment=ROUND_ROBIN), [mail(1)])
    assert assignees(engine) == [None]
    with Session(engine) as s:
        (skipped,) = s.exec(select(Event).where(Event.kind == "conversation.assign_skipped"))
    assert skipped.detail["reason"] == "nobody eligible: 2 away, 1 full, 1 unskilled"


def test_vip_customers_go_to_the_named_agents(engine: Engine) -> None:
    add_agents(engine, Agent(name="ana"), Agent(name="zoe"))
    desk = Desk(assignment=Assignment(strategy="round_robin", vip_agents=("zoe",)))
    ingest(engine, desk, [mail(1)])  # ana: first by rotation
    with Session(engine) as s:
        customer = s.exec(select(Conversation)).one().customer_id
        assert customer is not None
        desk.set_vip(s, customer, True)
        s.commit()
    ingest(engine, desk, [mail(2, frm="customer1@example.com", subject="Another thing")])
    ingest(engine, desk, [mail(3)])
    assert assignees(engine) == ["ana", "zoe", "ana"]


def test_a_follow_up_stays_with_its_agent_even_when_they_are_away(engine: Engine) -> None:
    add_agents(engine, Agent(name="ana"), Agent(name="bo"))
    desk = Desk(assignment=ROUND_ROBIN)
    ingest(engine, desk, [mail(1, frm="mei@example.com")])
    with Session(engine) as s:
        ana = s.get(Agent, "ana")
        assert ana is not None
        ana.away = True
        s.commit()
    follow_up = mail(2, frm="mei@example.com", in_reply_to="<m1@example.com>")
    ingest(engine, desk, [follow_up])
    assert assignees(engine) == ["ana"]


def test_a_routing_rule_that_assigns_wins_over_auto_assignment(engine: Engine) -> None:
    from omnitui.desk.routing import routing_from_config

    add_agents(engine, Agent(name="ana"))
    routing = routing_from_config({"rules": [{"match": {"subject": "refund"}, "assign": "sam"}]})
    desk = Desk(assignment=ROUND_ROBIN, routing=routing)
    ingest(engine, desk, [mail(1, subject="refund please"), mail(2)])
    assert assignees(engine) == ["sam", "ana"]


def test_off_reads_no_agent_and_assigns_nothing(engine: Engine) -> None:
    add_agents(engine, Agent(name="ana"))
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        ingest(engine, Desk(), [mail(1), mail(2)])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert assignees(engine) == [None, None]
    assert statements and not [q for q in statements if "agent" in q.lower()]


def clocks(engine: Engine) -> tuple[Any, ...]:
    with Session(engine) as s:
        c = s.exec(select(Conversation)).one()
        return (c.first_response_due, c.next_response_due, c.resolution_due, c.urgency_due)


def test_assigning_and_reassigning_keep_the_sla_clocks(engine: Engine) -> None:
    add_agents(engine, Agent(name="ana"), Agent(name="bo"))
    ingest(engine, Desk(), [mail(1)])
    unassigned = clocks(engine)
    assert unassigned[0] is not None and unassigned[2] is not None
    desk = Desk(agent="lead")
    for who in ("ana", "bo", None, "ana"):
        with Session(engine) as s:
            conv = s.exec(select(Conversation)).one()
            desk.assign(s, conv, who)
            s.commit()
        assert clocks(engine) == unassigned
    # And an auto-assigned conversation has the clocks it would have had unassigned.
    ingest(engine, Desk(assignment=ROUND_ROBIN), [mail(2)], account="other")
    with Session(engine) as s:
        auto = s.exec(select(Conversation).where(Conversation.account == "other")).one()
        assert auto.assignee is not None
        assert auto.first_response_due == unassigned[0] + timedelta(minutes=1)


def test_two_accounts_ingesting_at_once_both_assign_and_the_stamp_never_goes_back(
    db_url: str,
) -> None:
    """Overlapping transactions may pick the same agent (a tie the docs accept); they
    never fail, never deadlock, and ``last_assigned_at`` keeps the later stamp."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs one write transaction at a time: nothing overlaps")
    engine = open_store(db_url)
    try:
        add_agents(engine, Agent(name="ana"), Agent(name="bo"))
        desk = Desk(assignment=ROUND_ROBIN)
        first = Session(engine)
        desk.ingest_many(first, "mail-a", [mail(1)])  # holds ana's row until it commits
        errors: list[BaseException] = []

        def second() -> None:
            try:
                ingest(engine, desk, [mail(2)], account="mail-b")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1)
        first.commit()
        first.close()
        thread.join(timeout=30)
        assert not thread.is_alive() and errors == []
        assert None not in assignees(engine)
        ingest(engine, desk, [mail(3)], account="mail-a")
        assert len(set(assignees(engine))) == 2  # the rotation goes on afterwards
    finally:
        engine.dispose()


# -- end to end: omnitui sync --once against Dovecot -----------------------------------
def test_sync_once_assigns_new_mail_by_the_config(imap_server: Dovecot, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'team.sqlite'}"
    engine = open_store(db)
    add_agents(engine, Agent(name="ana"), Agent(name="bo"), Agent(name="cy", away=True))
    engine.dispose()
    deliver(imap_server, *(raw_mail(n, frm=f"c{n} <c{n}@example.com>") for n in range(3)))
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[assignment]\nstrategy = "round_robin"\naway_after = "15m"\n\n'
        '[[accounts]]\nname = "support-mail"\nkind = "email"\n'
        f'imap_host = "127.0.0.1"\nimap_port = {imap_server.port}\nimap_security = "plain"\n'
        f'username = "{USER}"\naddress = "support@kettle.example"\npassword_env = "MAIL_PW"\n'
    )
    env = {"MAIL_PW": PASSWORD, "XDG_DATA_HOME": str(tmp_path / "data")}
    done = command(cfg, db, {**os.environ, **env})("sync", "--once")
    assert done.returncode == 0, done.stderr
    engine = open_store(db)
    try:
        assert assignees(engine) == ["ana", "bo", "ana"]
    finally:
        engine.dispose()

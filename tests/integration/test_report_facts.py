"""Stored report figures (``report_fact``) on SQLite and PostgreSQL: computed once,
forgotten by the store's own triggers whenever anything they come from changes, never
written for a conversation that changed while they were computed, and a report from
stored figures is always the report computed afresh from the conversations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk
from omnitui.desk.handling import record_handling
from omnitui.reports.compute import previous_since
from omnitui.reports.fact_store import basis_of, fact_row, missing, refresh, write_facts
from omnitui.reports.loader import C, load_where
from omnitui.reports.memory_store import build_report
from omnitui.reports.service import compute_report
from storage.models import Conversation, Customer, Message, ReportFact, Survey, table_of

M = table_of(Message).c
H = timedelta(hours=1)
NOW = datetime.now(UTC).replace(microsecond=0)
SINCE, UNTIL = NOW - timedelta(days=30), NOW + H
SLA: dict[str, Any] = {}


def _arrive(desk: Desk, s: Session, n: int, at: datetime, text: str = "help") -> Conversation:
    msg = desk.ingest(
        s,
        "mail",
        InboundMessage(
            external_id=f"m{n}:{at.timestamp()}",
            channel="email",
            sender=Sender("email", f"c{n}@example.com", f"Customer {n}"),
            sent_at=at,
            text=text,
            subject=f"question {n}",
        ),
    )
    assert msg is not None
    conv = s.get(Conversation, msg.conversation_id)
    assert conv is not None
    return conv


def _facts(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(table_of(ReportFact).c.conversation_id)).scalars())


def _report(engine: Engine, desk: Desk, **kw: Any) -> dict[str, Any]:
    with Session(engine) as s:
        return compute_report(
            s, since=SINCE, until=UNTIL, now=NOW + 2 * H, settings=desk, sla=SLA, **kw
        )


def _fresh(engine: Engine, desk: Desk, **kw: Any) -> dict[str, Any]:
    """The same report computed from the conversations, nothing stored."""
    with engine.connect() as conn:
        records = [r for r, _ in load_where(conn, [C.created_at < UNTIL])]
    return build_report(records, since=SINCE, until=UNTIL, now=NOW + 2 * H, settings=desk, **kw)


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    # Comments name conversations by reference, which hand-built stores lack.
    out = dict(report)
    out["csat"] = {k: v for k, v in report["csat"].items() if k != "comments"}
    return out


def _history(engine: Engine, desk: Desk) -> list[int]:
    ids = []
    with Session(engine) as s:
        for n in range(4):
            conv = _arrive(desk, s, n, NOW - timedelta(days=3 + n))
            desk.reply(s, conv, "on it", at=NOW - timedelta(days=3 + n) + H)
            assert conv.id is not None
            ids.append(conv.id)
        s.commit()
    return ids


def test_figures_are_computed_once_and_reused(engine: Engine) -> None:
    desk = Desk()
    ids = _history(engine, desk)
    first = _report(engine, desk)
    assert _facts(engine) == set(ids)
    with engine.connect() as conn:
        basis = basis_of(desk, SLA, UTC)
        before = previous_since(SINCE, UNTIL)
        assert missing(conn, before=before, since=SINCE, until=UNTIL, basis=basis) == []
    assert _report(engine, desk) == first
    assert _comparable(first) == _comparable(_fresh(engine, desk))


def test_every_change_forgets_the_figures_and_the_next_report_is_exact(engine: Engine) -> None:
    desk = Desk()
    a, b, c, d = _history(engine, desk)
    changes = [
        ("a reply", a, lambda s, conv: desk.reply(s, conv, "more", at=NOW - H)),
        ("a note", b, lambda s, conv: desk.note(s, conv, "internal", at=NOW - H)),
        ("resolved", c, lambda s, conv: desk.set_status(s, conv, "resolved", at=NOW - H)),
        ("reopened", c, lambda s, conv: desk.set_status(s, conv, "open", at=NOW - H / 2)),
        ("assigned", d, lambda s, conv: desk.assign(s, conv, "sam")),
        ("tagged", d, lambda s, conv: desk.edit_tags(s, conv, add=["billing"])),
        ("priority", a, lambda s, conv: desk.set_priority(s, conv, "urgent")),
    ]
    _report(engine, desk)
    for what, cid, change in changes:
        with Session(engine) as s:
            conv = s.get(Conversation, cid)
            assert conv is not None
            change(s, conv)
            s.commit()
        assert cid not in _facts(engine), what
        report = _report(engine, desk, by="agent")
        assert _comparable(report) == _comparable(_fresh(engine, desk, by="agent")), what
        assert cid in _facts(engine), what


def test_handling_a_customer_vip_flag_and_a_message_edit_forget_the_figures(
    engine: Engine,
) -> None:
    desk = Desk()
    a, b, c, _ = _history(engine, desk)
    _report(engine, desk)
    with Session(engine) as s:
        assert record_handling(s, a, "sam", NOW - H, 60.0)
        s.commit()
    assert a not in _facts(engine)
    _report(engine, desk)
    with Session(engine) as s:  # the same stretch, extended
        assert record_handling(s, a, "sam", NOW - H, 90.0)
        s.commit()
    assert a not in _facts(engine)
    assert _report(engine, desk)["aht_seconds"] == 90.0
    with Session(engine) as s:
        conv = s.get(Conversation, b)
        assert conv is not None
        customers = table_of(Customer)
        s.execute(update(customers).where(customers.c.id == conv.customer_id).values(vip=True))
        s.commit()
    assert b not in _facts(engine)
    _report(engine, desk)
    with Session(engine) as s:
        first = s.execute(select(func.min(M.id)).where(M.conversation_id == c)).scalar_one()
        s.execute(update(table_of(Message)).where(M.id == first).values(sent_at=NOW - 2 * H))
        s.commit()
    assert c not in _facts(engine)
    report = _report(engine, desk)
    assert _comparable(report) == _comparable(_fresh(engine, desk))


def test_other_settings_compute_the_figures_again(engine: Engine) -> None:
    desk = Desk()
    _history(engine, desk)
    _report(engine, desk)
    with engine.connect() as conn:
        tokyo = {"timezone": "Asia/Tokyo"}
        other = basis_of(desk, tokyo, UTC)
        ids = missing(
            conn, before=previous_since(SINCE, UNTIL), since=SINCE, until=UNTIL, basis=other
        )
    assert len(ids) == 4


def test_a_conversation_changed_while_its_figures_were_computed_gets_none(
    engine: Engine,
) -> None:
    desk = Desk()
    a, b, _, _ = _history(engine, desk)
    with engine.connect() as conn:
        loaded = load_where(conn, [C.id.in_([a, b])])
    rows = [fact_row(r, desk, UTC, "basis") | {"key": key} for r, key in loaded]
    with Session(engine) as s:  # another agent replies meanwhile
        conv = s.get(Conversation, a)
        assert conv is not None
        desk.reply(s, conv, "anything else?", at=NOW - H)
        s.commit()
    with engine.begin() as conn:
        write_facts(conn, rows, checked=True)
    assert _facts(engine) == {b}


def test_surveys_are_read_each_time(engine: Engine) -> None:
    desk = Desk()
    a, b, _, _ = _history(engine, desk)
    assert _report(engine, desk)["csat"]["surveys"] == 0
    with Session(engine) as s:
        s.add(Survey(conversation_id=a, account="mail", channel="email", sent_at=NOW - H))
        s.add(
            Survey(
                conversation_id=b,
                account="mail",
                channel="email",
                sent_at=NOW - H,
                answered_at=NOW,
                score=5,
                answer="5 lovely",
                comment="lovely",
            )
        )
        s.commit()
    csat = _report(engine, desk)["csat"]
    assert (csat["surveys"], csat["answers"], csat["score"], csat["response_rate"]) == (
        2,
        1,
        1.0,
        0.5,
    )
    assert [c["comment"] for c in csat["comments"]] == ["lovely"]


def test_refresh_reports_progress_per_step(engine: Engine) -> None:
    desk = Desk()
    ids = _history(engine, desk)
    seen: list[tuple[int, int]] = []
    with engine.connect() as conn:
        assert (
            refresh(
                conn,
                ids,
                settings=desk,
                tz=UTC,
                basis="b",
                progress=lambda d, t: seen.append((d, t)),
            )
            == 4
        )
    assert seen == [(4, 4)]


def test_a_change_while_the_figures_are_kept_is_computed_again(engine: Engine) -> None:
    """A reply landing right after a step of figures was kept forgets them again; the
    report computes them once more instead of leaving the conversation out."""
    desk = Desk()
    a, *_ = _history(engine, desk)
    landed: list[int] = []

    def progress(done: int, total: int) -> None:  # runs after each step's commit
        if not landed:
            with Session(engine) as s:
                conv = s.get(Conversation, a)
                assert conv is not None
                desk.reply(s, conv, "one more thing", at=NOW - H)
                s.commit()
            landed.append(a)

    with Session(engine) as s:
        report = compute_report(
            s,
            since=SINCE,
            until=UNTIL,
            now=NOW + 2 * H,
            settings=desk,
            sla=SLA,
            progress=progress,
        )
    assert landed and report["conversations"]["created"] == 4
    assert "uncounted" not in report
    assert report["messages"]["out"] == 5
    assert _comparable(report) == _comparable(_fresh(engine, desk))


def test_two_reports_keeping_the_same_figures_at_once_both_succeed(engine: Engine) -> None:
    desk = Desk()
    ids = _history(engine, desk)
    with engine.connect() as conn:
        loaded = load_where(conn, [C.id.in_(ids)])
    rows = [fact_row(r, desk, UTC, "basis") | {"key": key} for r, key in loaded]
    with engine.begin() as first:
        write_facts(first, rows, checked=True)
    with engine.begin() as second:  # the same rows again: replaced, not refused
        write_facts(second, rows, checked=True)
    assert _facts(engine) == set(ids)


def test_merging_keeps_handling_time_and_each_conversation_its_own_history(
    engine: Engine,
) -> None:
    desk = Desk()
    a, b, *_ = _history(engine, desk)
    with Session(engine) as s:
        for cid, seconds in ((a, 600.0), (b, 60.0)):
            assert record_handling(s, cid, "sam", NOW - H, seconds)
            conv = s.get(Conversation, cid)
            assert conv is not None
        source = s.get(Conversation, a)
        assert source is not None
        desk.set_status(s, source, "resolved", at=NOW - 2 * H)
        s.commit()
    with Session(engine) as s:
        source, target = s.get(Conversation, a), s.get(Conversation, b)
        assert source is not None and target is not None
        desk.merge_conversations(s, source, target)
        s.commit()
    report = _report(engine, desk)
    # The merged-in conversation's resolution is not the target's: it is open.
    assert report["conversations"] == {"created": 3, "resolved": 0, "reopened": 0}
    assert report["aht_seconds"] == 660.0
    assert _comparable(report) == _comparable(_fresh(engine, desk))


def _chat(desk: Desk, s: Session, n: int, at: datetime, text: str) -> Message:
    msg = desk.ingest(
        s,
        "tg",
        InboundMessage(
            external_id=f"tg:{n}",
            channel="telegram",
            sender=Sender("telegram", "5007", "Customer 7"),
            sent_at=at,
            text=text,
            thread_key="5007",
        ),
    )
    assert msg is not None
    return msg


def test_a_survey_answer_starts_no_next_response_wait(engine: Engine) -> None:
    """The customer answers the survey ("5"), then writes again days later: the next
    response is counted from that message, not from the answer."""
    desk = Desk()
    t = NOW - timedelta(days=10)
    with Session(engine) as s:
        first = _chat(desk, s, 1, t, "my kettle leaks")
        conv = s.get(Conversation, first.conversation_id)
        assert conv is not None
        desk.reply(s, conv, "fixed", at=t + H)
        answer = _chat(desk, s, 2, t + 3 * H, "5")
        later = _chat(desk, s, 3, t + 5 * 24 * H, "the kettle broke again")
        assert answer.conversation_id == later.conversation_id == conv.id
        s.add(
            Survey(
                conversation_id=conv.id,
                account="tg",
                channel="telegram",
                sent_at=t + 2 * H,
                answered_at=t + 3 * H,
                score=5,
                message_id=answer.id,
            )
        )
        desk.reply(s, conv, "sorry, sending a new one", at=t + 5 * 24 * H + H)
        s.commit()
    report = _report(engine, desk)
    assert report["next_response_seconds"] == {"median": 3600.0, "p90": 3600.0}


def test_the_sync_service_keeps_the_figures_ready(engine: Engine) -> None:
    import threading

    from omnitui.reports.warm import keep_warm, warm_once

    desk = Desk()
    ids = _history(engine, desk)
    assert warm_once(engine, desk, SLA, NOW, limit=3) == 3  # the newest first
    assert warm_once(engine, desk, SLA, NOW, limit=3) == 1
    assert warm_once(engine, desk, SLA, NOW) == 0
    assert _facts(engine) == set(ids)
    stop = threading.Event()
    stop.set()  # a stopped loop returns at once
    keep_warm(engine, desk, SLA, stop)
    errors: list[str] = []

    class Broken:
        def connect(self) -> Any:
            raise OSError("disk gone")

    stop = threading.Event()
    loop = threading.Thread(
        target=keep_warm, args=(Broken(), desk, SLA, stop), kwargs={"on_error": errors.append}
    )
    loop.start()
    stop.wait(0.3)
    stop.set()
    loop.join(5)
    assert not loop.is_alive()
    # Said once (not every retry), naming the failure, not its text.
    assert len(errors) == 1 and errors[0].startswith("report figures not computed: OSError")

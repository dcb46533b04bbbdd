"""The decide step of ingest (omnitui.desk.ingest_plan): pure, no store.

Threading, routing, SLA clocks, the auto-generated tag, reopening, acknowledgements
and "mentions" are decided over plain records; these tests build the records by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import InboundMessage, Sender
from omnitui.desk import AUTO_TAG, Desk
from omnitui.desk.ingest_plan import Deduped, dedupe, plan_batch, should_acknowledge
from omnitui.desk.records import ConvRecord, SenderRecord
from omnitui.desk.routing import routing_from_config
from omnitui.desk.threads import Candidates
from storage.models import NO_DUE

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ACK = {"channels": ["email", "telegram"], "text": "Hi {{ customer.first_name }}"}


def chat(n: int, user: str = "5001", *, at: datetime = NOW, **kw: object) -> InboundMessage:
    return InboundMessage(
        external_id=f"tg:{n}",
        channel="telegram",
        sender=Sender("telegram", user, f"User {user}"),
        sent_at=at,
        text=f"message {n}",
        thread_key=user,
        **kw,  # type: ignore[arg-type]
    )


def mail(n: int, frm: str = "ana@example.com", **kw: object) -> InboundMessage:
    fields: dict[str, object] = {
        "external_id": f"mail:{n}",
        "channel": "email",
        "sender": Sender("email", frm, "Ana"),
        "sent_at": NOW,
        "text": f"mail {n}",
        "subject": f"Question {n}",
        "message_id": f"<m{n}@example.com>",
    }
    fields.update(kw)
    return InboundMessage(**fields)  # type: ignore[arg-type]


def sender(customer: int) -> SenderRecord:
    return SenderRecord(identity_id=customer * 10, customer_id=customer, display_name="x")


def stored(conv_id: int, customer: int, **kw: object) -> ConvRecord:
    fields: dict[str, object] = {
        "key": conv_id,
        "id": conv_id,
        "ref": f"C-{1000 + conv_id}",
        "account": "acct",
        "channel": "telegram",
        "customer_id": customer,
        "thread_key": str(5000 + customer),
        "subject": "",
        "created_at": NOW - timedelta(days=1),
        "message_count": 1,
    }
    fields.update(kw)
    return ConvRecord(**fields)  # type: ignore[arg-type]


def plan(desk: Desk, msgs: list[InboundMessage], customers: list[int], cands=None, **kw):  # noqa: ANN001, ANN201
    return plan_batch(
        desk,
        "acct",
        Deduped(messages=msgs),
        [sender(c) for c in customers],
        cands or Candidates(),
        vip=kw.pop("vip", {}),
        recently_acknowledged=kw.pop("recently_acknowledged", set()),
        now=kw.pop("now", NOW),
    )


# -- dedupe -------------------------------------------------------------------------
def test_dedupe_skips_stored_and_repeated_messages_and_keeps_edits() -> None:
    msgs = [
        mail(1),
        mail(2, message_id="<m1@example.com>"),  # same mail in another folder
        chat(1),
        chat(1),
        chat(7, edited=True),  # an edit of a stored message
        chat(8, edited=True),  # an "edit" of one never stored: a new message
    ]
    out = dedupe(msgs, {"tg:7"}, set())
    assert [m.external_id for m in out.messages] == ["mail:1", "tg:1", "tg:8"]
    assert out.edits == [("tg:7", "message 7")]


@given(
    st.lists(st.tuples(st.integers(0, 6), st.booleans()), max_size=20), st.sets(st.integers(0, 6))
)
def test_dedupe_stores_each_external_id_once_in_order(
    items: list[tuple[int, bool]], seen: set[int]
) -> None:
    msgs = [chat(n, edited=edited) for n, edited in items]
    out = dedupe(msgs, {f"tg:{n}" for n in seen}, set())
    ids = [m.external_id for m in out.messages]
    assert len(ids) == len(set(ids))
    assert not {f"tg:{n}" for n in seen} & set(ids)
    firsts = list(dict.fromkeys(f"tg:{n}" for n, _e in items if n not in seen))
    assert ids == firsts
    assert all(ext in {f"tg:{n}" for n in seen} | set(ids) for ext, _t in out.edits)


# -- placement ------------------------------------------------------------------------
def test_a_chat_batch_of_one_customer_starts_one_conversation() -> None:
    out = plan(Desk(), [chat(1), chat(2), chat(3)], [1, 1, 1])
    assert len(out.created) == 1
    conv = out.created[0]
    assert [p.conv for p in out.placed] == [conv, conv, conv]
    assert [p.new for p in out.placed] == [True, False, False]
    assert conv.message_count == 3 and conv.preview == "message 3"
    assert conv.first_response_due == NOW + timedelta(hours=1)  # default chat policy
    assert conv.urgency_due != NO_DUE


def test_a_chat_message_joins_the_latest_conversation_and_reopens_it() -> None:
    old = stored(7, 1, thread_key="5001", status="resolved", resolved_at=NOW - timedelta(days=1))
    cands = Candidates(by_id={7: old}, chats=[7])
    out = plan(Desk(), [chat(1)], [1], cands)
    assert out.created == [] and out.placed[0].conv is old
    assert old.status == "open" and old.resolved_at is None
    assert [(e.kind, e.actor, e.detail) for e in out.events] == [
        ("conversation.status", "customer", {"from": "resolved", "to": "open"})
    ]


def test_a_conversation_resolved_long_ago_is_not_reopened() -> None:
    old = stored(7, 1, thread_key="5001", status="resolved", resolved_at=NOW - timedelta(days=9))
    out = plan(Desk(), [chat(1)], [1], Candidates(by_id={7: old}, chats=[7]))
    assert len(out.created) == 1 and old.status == "resolved"


def test_another_customers_reference_starts_a_new_conversation_that_mentions_it() -> None:
    theirs = stored(7, 2, channel="email", thread_key=None)
    out = plan(Desk(), [mail(1, subject="Re: [C-1007] refund")], [1], Candidates(by_id={7: theirs}))
    assert len(out.created) == 1 and out.placed[0].conv is not theirs
    conv, _msg, refs = out.mentions[0]
    assert conv is out.created[0] and refs == ["C-1007"]
    assert conv.message_count == 2  # the message and the "mentions" note


def test_a_reply_by_header_joins_the_customers_conversation() -> None:
    mine = stored(7, 1, channel="email", thread_key=None)
    cands = Candidates(by_id={7: mine}, by_message_id={"<m0@example.com>": 7})
    out = plan(Desk(), [mail(1, in_reply_to="<m0@example.com>")], [1], cands)
    assert out.created == [] and out.placed[0].conv is mine and mine.message_count == 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 3), st.booleans()), min_size=1, max_size=15),
    st.sets(st.integers(1, 3)),
)
def test_every_message_is_placed_once_and_only_with_its_own_customer(
    batch: list[tuple[int, bool]], has_chat: set[int]
) -> None:
    """Chat messages go to their sender's conversation, never another customer's; each
    customer has one conversation per chat after the batch."""
    convs = {c: stored(c, c, thread_key=f"u{c}") for c in has_chat}
    cands = Candidates(by_id={c.id: c for c in convs.values()}, chats=sorted(convs))  # type: ignore[misc]
    msgs = [chat(i, f"u{c}", auto_generated=auto) for i, (c, auto) in enumerate(batch)]
    out = plan(Desk(), msgs, [c for c, _a in batch], cands)
    assert len(out.placed) == len(batch)
    for p, (customer, _auto) in zip(out.placed, batch, strict=True):
        assert p.conv.customer_id == customer
    per_customer = {p.conv.customer_id: p.conv.key for p in out.placed}
    assert all(p.conv.key == per_customer[p.conv.customer_id] for p in out.placed)
    assert {c.customer_id for c in out.created} == {c for c, _a in batch} - has_chat
    before = {c.key: 1 for c in convs.values()}
    for conv in out.conversations():
        placed = sum(1 for p in out.placed if p.conv is conv)
        assert conv.message_count == before.get(conv.key, 0) + placed
        auto = any(a for (c, a) in batch if c == conv.customer_id)
        assert (AUTO_TAG in conv.tags) == auto


# -- routing, VIP, acknowledgement ---------------------------------------------------
def test_routing_applies_to_new_conversations_and_is_logged() -> None:
    desk = Desk(
        routing=routing_from_config({"rules": [{"match": {"channel": "email"}, "assign": "sam"}]})
    )
    out = plan(desk, [mail(1)], [1], vip={1: True})
    conv = out.created[0]
    assert conv.assignee == "sam" and conv.priority == "high"  # VIP priority
    assert [e.kind for e in out.events] == ["conversation.routed"]


def test_one_acknowledgement_per_customer_per_period() -> None:
    desk = Desk(routing=routing_from_config({"acknowledge": {**ACK, "per_sender": "1d"}}))
    out = plan(desk, [mail(1), mail(2, frm="bo@example.com"), mail(3)], [1, 2, 1])
    assert [c.customer_id for c in out.acknowledge] == [1, 2]
    assert all(c.acknowledged_at == NOW for c in out.acknowledge)
    again = plan(desk, [mail(4)], [1], recently_acknowledged={1})
    assert again.acknowledge == []


def test_no_acknowledgement_for_robots_old_mail_or_our_own_address() -> None:
    desk = Desk(
        routing=routing_from_config({"acknowledge": {**ACK, "max_age": "2h"}}),
        own_addresses=frozenset({"support@example.com"}),
    )
    conv = stored(9, 1, channel="email", thread_key=None)
    ok = mail(1)
    assert should_acknowledge(desk, conv, ok, now=NOW, acknowledged=set())
    assert not should_acknowledge(
        desk, conv, mail(2, auto_generated=True), now=NOW, acknowledged=set()
    )
    old = mail(3, sent_at=NOW - timedelta(hours=3))
    assert not should_acknowledge(desk, conv, old, now=NOW, acknowledged=set())
    ours = mail(4, frm="Support@Example.com")
    assert not should_acknowledge(desk, conv, ours, now=NOW, acknowledged=set())
    assert not should_acknowledge(
        Desk(), conv, ok, now=NOW, acknowledged=set()
    )  # no [routing.acknowledge]


def test_only_the_surveyed_customer_answers_a_survey_and_never_our_own_address() -> None:
    from omnitui.config.csat import Csat
    from omnitui.desk.ingest_plan import answer_for
    from omnitui.desk.records import SurveyRecord

    desk = Desk(csat=Csat(enabled=True), own_addresses=frozenset({"support@shop.example"}))
    conv = stored(1, 7, status="resolved")
    survey = SurveyRecord(
        id=1, conversation_id=1, customer_id=7, channel="email", sent_at=NOW - timedelta(hours=1)
    )
    waiting = {1: survey}
    ana = mail(1, text="5 thanks!")
    assert answer_for(desk, waiting, {1: conv}, conv, ana, customer_id=7) is not None
    colleague = mail(2, frm="bob@example.com", text="5 thanks!")
    assert answer_for(desk, waiting, {1: conv}, conv, colleague, customer_id=8) is None
    agent = mail(3, frm="Support@Shop.example", text="5 great, closing this")
    assert answer_for(desk, waiting, {1: conv}, conv, agent, customer_id=7) is None

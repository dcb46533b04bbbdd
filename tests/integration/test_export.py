"""The export record contract (DESIGN.md), field by field."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import InboundAttachment, InboundMessage, Sender
from omnitui.desk import Desk
from omnitui.desk.identities import parse_customer_address
from omnitui.export import export_records, write_jsonl
from storage import repository as repo
from storage.models import Conversation, Outbox

NOW = datetime.now(UTC)


@pytest.fixture
def store(engine: Engine) -> Engine:
    desk = Desk()
    with Session(engine) as s:
        mail = desk.ingest(
            s,
            "support-mail",
            InboundMessage(
                external_id="INBOX/1/1",
                channel="email",
                sender=Sender("email", "mei@example.jp", "田中 芽衣"),
                sent_at=NOW - timedelta(hours=6),
                subject="ケトル 壊れた ☕",
                to=("support@x.example",),
                text="The kettle leaks 😢",
                message_id="<m1@example.jp>",
                attachments=(
                    InboundAttachment("photo.jpg", "image/jpeg", 0, content=b"\xff\xd8xyz"),
                ),
            ),
        )
        conv = s.get(Conversation, mail.conversation_id)  # type: ignore[union-attr]
        desk.reply(s, conv, "Sorry! Replacement on its way.", at=NOW - timedelta(hours=5))  # type: ignore[arg-type]
        desk.note(s, conv, "refund approved by Sam", at=NOW - timedelta(hours=5))  # type: ignore[arg-type]
        chat = desk.ingest(
            s,
            "shop-telegram",
            InboundMessage(
                external_id="5003:1",
                channel="telegram",
                sender=Sender("telegram", "5003", "Mei"),
                sent_at=NOW - timedelta(minutes=10),
                text="any news?",
                thread_key="5003",
            ),
        )
        # The agent linked Mei's Telegram account to her email customer.
        tg = s.get(Conversation, chat.conversation_id)  # type: ignore[union-attr]
        ident = repo.find_identity(s, "telegram", "5003")
        old_customer = ident.customer_id  # type: ignore[union-attr]
        ident.customer_id = conv.customer_id  # type: ignore[union-attr,assignment]
        tg.customer_id = conv.customer_id  # type: ignore[union-attr]
        s.flush()
        repo.forget_customer(s, old_customer)  # type: ignore[arg-type]
        desk.ingest(
            s,
            "shop-twilio",
            InboundMessage(
                external_id="SM1",
                channel="sms",
                sender=Sender("sms", "+15550001111", "Bob"),
                sent_at=NOW - timedelta(days=3),
                text="hello",
            ),
        )
        s.commit()
    return engine


def records(engine: Engine, **kw) -> list[dict]:  # noqa: ANN003
    with Session(engine) as s:
        return list(export_records(s, **kw))


def test_record_shape_matches_the_contract(store: Engine) -> None:
    recs = records(store)
    assert len(recs) == 3
    for rec in recs:
        assert isinstance(rec["ref"], str) and rec["ref"].startswith("C-")
        for key in ("account", "channel", "status", "priority", "subject"):
            assert isinstance(rec[key], str)
        assert isinstance(rec["tags"], list)
        cust = rec["customer"]
        assert isinstance(cust["id"], int) and isinstance(cust["name"], str)
        assert isinstance(cust["vip"], bool)
        assert all(set(i) >= {"channel", "address"} for i in cust["identities"])
        sla = rec["sla"]
        for key in ("first_response_due", "next_response_due", "resolution_due"):
            assert sla[key] is None or datetime.fromisoformat(sla[key]).tzinfo is not None
        assert isinstance(sla["breached"], bool)
        for m in rec["messages"]:
            assert m["direction"] in ("in", "out", "note")
            assert datetime.fromisoformat(m["sent_at"]).utcoffset() is not None
            for key in ("external_id", "from", "text"):
                assert isinstance(m[key], str)
            assert m["message_id"] is None or isinstance(m["message_id"], str)
            assert isinstance(m["to"], list) and isinstance(m["attachments"], list)
            if m["direction"] == "out":
                assert m["delivery"] in DELIVERY_STATES
            else:
                assert "delivery" not in m


DELIVERY_STATES = ("queued", "sending", "sent", "failing", "failed", "uncertain")


@pytest.mark.parametrize(
    ("state", "attempts", "error", "shown", "shown_error"),
    [
        ("queued", 0, None, "queued", None),
        ("sending", 1, None, "sending", None),
        ("sent", 1, None, "sent", None),
        ("queued", 2, "421 try later", "failing", "421 try later"),
        ("failed", 5, "550 no such user", "failed", "550 no such user"),
        ("uncertain", 1, "connection lost after DATA", "uncertain", "connection lost after DATA"),
    ],
)
def test_each_reply_carries_its_delivery_as_the_outbox_shows_it(
    store: Engine, state: str, attempts: int, error: str | None, shown: str, shown_error: str | None
) -> None:
    """A migration or an audit reads from the export whether each reply reached the
    customer: never "ok" for one that did not."""
    with Session(store) as s:
        (item,) = s.exec(select(Outbox)).all()
        item.state, item.attempts, item.last_error = state, attempts, error
        s.add(item)
        s.commit()
    mail = next(r for r in records(store) if r["channel"] == "email")
    (out,) = [m for m in mail["messages"] if m["direction"] == "out"]
    assert (out["delivery"], out["delivery_error"]) == (shown, shown_error)


def test_a_reply_sent_outside_the_outbox_is_delivered(store: Engine) -> None:
    """An outgoing message with no outbox row (seen in the platform's own history)."""
    with Session(store) as s:
        for item in s.exec(select(Outbox)).all():
            s.delete(item)
        s.commit()
    mail = next(r for r in records(store) if r["channel"] == "email")
    (out,) = [m for m in mail["messages"] if m["direction"] == "out"]
    assert (out["delivery"], out["delivery_error"]) == ("sent", None)


def test_each_conversation_carries_its_history_oldest_first(store: Engine) -> None:
    """Who created, replied, noted, assigned and resolved it, and when: an audit or a
    move to another helpdesk keeps the history, not only the final status."""
    with Session(store) as s:
        conv = next(c for c in s.exec(select(Conversation)).all() if c.channel == "email")
        Desk(agent="ana").assign(s, conv, "bo")
        Desk(agent="bo").resolve(s, conv)
        s.commit()
    mail = next(r for r in records(store) if r["channel"] == "email")
    events = mail["events"]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert all(datetime.fromisoformat(e["at"]).utcoffset() is not None for e in events)
    kinds = [(e["kind"], e["actor"]) for e in events]
    assert kinds[0] == ("conversation.created", "system")
    assert ("conversation.assigned", "ana") in kinds
    status = [e for e in events if e["kind"] == "conversation.status"]
    assert status[-1]["actor"] == "bo" and status[-1]["detail"]["to"] == "resolved"
    assert kinds.index(("conversation.assigned", "ana")) < events.index(status[-1])
    chat = next(r for r in records(store) if r["channel"] == "telegram")
    assert all(e["kind"] != "conversation.assigned" for e in chat["events"])


def test_messages_attachments_and_directions(store: Engine) -> None:
    mail = next(r for r in records(store) if r["channel"] == "email")
    assert [m["direction"] for m in mail["messages"]] == ["in", "out", "note"]
    first = mail["messages"][0]
    assert first["message_id"] == "<m1@example.jp>" and first["to"] == ["support@x.example"]
    (att,) = first["attachments"]
    assert att == {
        "filename": "photo.jpg",
        "content_type": "image/jpeg",
        "size": 5,
        "sha256": hashlib.sha256(b"\xff\xd8xyz").hexdigest(),
    }


@pytest.mark.parametrize(
    "address", ["mei@example.jp", "MEI@example.jp", "telegram:5003", "email:mei@example.jp"]
)
def test_customer_filter_spans_channels(store: Engine, address: str) -> None:
    recs = records(store, customer=address)
    assert {r["channel"] for r in recs} == {"email", "telegram"}


def test_customer_filter_by_phone(store: Engine) -> None:
    recs = records(store, customer="+1 555 000 1111")
    assert [r["channel"] for r in recs] == ["sms"]
    assert records(store, customer="nobody@example.com") == []


def test_since_filter(store: Engine) -> None:
    recs = records(store, since=NOW - timedelta(days=1))
    assert {r["channel"] for r in recs} == {"email", "telegram"}


def test_breached_flag(store: Engine) -> None:
    by_channel = {r["channel"]: r for r in records(store)}
    assert by_channel["email"]["sla"]["breached"] is False  # answered in 1h of 4h
    assert by_channel["sms"]["sla"]["breached"] is True  # 3 days without an answer
    assert by_channel["telegram"]["sla"]["breached"] is False  # 10 minutes old


def test_jsonl_keeps_unicode_readable(store: Engine) -> None:
    out = io.StringIO()
    assert write_jsonl(records(store), out) == 3
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "ケトル 壊れた ☕" in out.getvalue() and "😢" in out.getvalue()
    assert all(json.loads(line)["ref"] for line in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@b.example", ("email", "a@b.example")),
        ("+15551234567", ("sms", "+15551234567")),
        ("phone:+15551234567", ("sms", "+15551234567")),
        ("matrix:@mei:example.org", ("matrix", "@mei:example.org")),
        ("mastodon:@mei@social.example", ("mastodon", "@mei@social.example")),
    ],
)
def test_parse_customer_address(text: str, expected: tuple[str, str]) -> None:
    assert parse_customer_address(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "nonsense", "fax:123"])
def test_parse_customer_address_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_customer_address(text)

"""The agent desk on a real store (SQLite and PostgreSQL): SLA clocks on a business
calendar with pauses, snooze, priority, tags, assignment, merge and split, customer
identity, routing rules and the acknowledgement auto-reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from adapters.base import InboundMessage, OutboundMessage, Sender
from adapters.email.smtp_sender import compose
from omnitui.desk import ACK_AUTHOR, AUTO_TAG, Desk, WorkflowError
from omnitui.desk.conversation_ops import (
    assign,
    edit_tags,
    find_by_ref,
    merge_conversations,
    set_priority,
    split_message,
)
from omnitui.desk.customers import merge_customers, set_notes, set_vip
from omnitui.desk.lifecycle import change_status, parse_snooze, snooze, wake_due
from omnitui.desk.routing import RoutingConfigError, routing_from_config
from omnitui.desk.sla import calendar_from_config, policies_from_config
from omnitui.export import export_records
from storage.models import Conversation, Customer, Event, Identity, Message, Outbox

NY = ZoneInfo("America/New_York")
SLA = {
    "timezone": "America/New_York",
    "holidays": "US",
    "hours": {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
    "policies": [
        {"name": "vip", "match": {"vip": True}, "first_response": "1h", "resolution": "8h"},
        {"name": "urgent", "match": {"priority": "urgent"}, "first_response": "30m"},
        {
            "name": "email",
            "match": {"channel": "email"},
            "first_response": "4h",
            "next_response": "2h",
            "resolution": "16h",
        },
        {"name": "chat", "match": {}, "first_response": "1h", "business_hours": False},
    ],
}


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def business_desk(**routing: object) -> Desk:
    return Desk(
        policies=policies_from_config(SLA),
        calendar=calendar_from_config(SLA),
        routing=routing_from_config(routing),
    )


def mail(n: int, at: datetime, *, frm: str = "ana@example.com", **kw: object) -> InboundMessage:
    fields: dict = {
        "external_id": f"INBOX/1/{n}",
        "channel": "email",
        "sender": Sender("email", frm, kw.pop("name", "Ana Lima")),  # type: ignore[arg-type]
        "sent_at": at.astimezone(UTC),
        "text": kw.pop("text", f"message {n}"),
        "subject": kw.pop("subject", "Grinder broke"),
        "message_id": f"<m{n}@example.com>",
    }
    fields.update(kw)
    return InboundMessage(**fields)


def sms(n: int, at: datetime, number: str = "+15550001111") -> InboundMessage:
    return InboundMessage(
        external_id=f"SM{n}",
        channel="sms",
        sender=Sender("sms", number, ""),
        sent_at=at.astimezone(UTC),
        text=f"text {n}",
        thread_key=number,
    )


def conv_of(s: Session, msg: Message | None) -> Conversation:
    assert msg is not None
    conv = s.get(Conversation, msg.conversation_id)
    assert conv is not None
    return conv


# -- SLA on the business calendar -------------------------------------------------
def test_first_response_due_skips_thanksgiving_and_weekends(session: Session) -> None:
    desk = business_desk()
    wed = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 25, 16))))
    assert wed.first_response_due == ny(2026, 11, 27, 12)
    sat = conv_of(session, desk.ingest(session, "mail", mail(2, ny(2026, 11, 7, 10), frm="b@x.io")))
    assert sat.first_response_due == ny(2026, 11, 9, 13)


def test_the_clock_starts_when_the_message_reached_the_channel(session: Session) -> None:
    """A mail polled hours late is due from its arrival, not from the poll."""
    desk = business_desk()
    arrived = ny(2026, 11, 23, 9)  # polled much later: ingest happens "now"
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, arrived)))
    assert conv.first_response_due == ny(2026, 11, 23, 13)


def test_pending_stops_next_response_and_resolution_but_not_first_response(
    session: Session,
) -> None:
    desk = business_desk()
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    desk.reply(session, conv, "On it", at=ny(2026, 11, 23, 10))
    desk.ingest(session, "mail", mail(2, ny(2026, 11, 23, 11), in_reply_to="<m1@example.com>"))
    assert conv.next_response_due == ny(2026, 11, 23, 13)
    resolution = conv.resolution_due
    assert resolution == ny(2026, 11, 24, 17)  # 16 business hours from Mon 09:00

    # Pending at 12:00 (1h of next response left), back at Tuesday 10:00.
    change_status(desk, session, conv, "pending", at=ny(2026, 11, 23, 12))
    assert conv.paused_at == ny(2026, 11, 23, 12)
    change_status(desk, session, conv, "open", at=ny(2026, 11, 24, 10))
    assert conv.paused_at is None
    assert conv.next_response_due == ny(2026, 11, 24, 11)
    # Resolution had 13h of business time left at the pause: Tue 10:00 + 13h → Wed 15:00.
    assert conv.resolution_due == ny(2026, 11, 25, 15)


def test_first_response_is_met_by_a_public_reply_not_a_note(session: Session) -> None:
    desk = business_desk()
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    desk.note(session, conv, "checking with the warehouse", at=ny(2026, 11, 23, 9, 30))
    assert conv.first_responded_at is None
    desk.reply(session, conv, "Replacement on its way", at=ny(2026, 11, 23, 10))
    assert conv.first_responded_at == ny(2026, 11, 23, 10)


def test_a_customer_message_reopens_and_restarts_resolution(session: Session) -> None:
    desk = business_desk()
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    desk.reply(session, conv, "Fixed", at=ny(2026, 11, 23, 10))
    desk.resolve(session, conv)
    desk.ingest(
        session, "mail", mail(2, ny(2026, 11, 24, 9), subject=f"Re: [{conv.ref}] Grinder broke")
    )
    assert conv.status == "open"
    assert conv.resolution_due == ny(2026, 11, 25, 17)


def test_a_priority_change_picks_the_policy_again(session: Session) -> None:
    desk = business_desk()
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    set_priority(desk, session, conv, "urgent")
    assert conv.first_response_due == ny(2026, 11, 23, 9, 30)
    with pytest.raises(WorkflowError, match="unknown priority"):
        set_priority(desk, session, conv, "asap")


def test_vip_customers_get_the_vip_policy_and_jump_the_queue(session: Session) -> None:
    desk = business_desk()
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    set_vip(desk, session, conv.customer_id, True)  # type: ignore[arg-type]
    assert conv.first_response_due == ny(2026, 11, 23, 10)
    # The next conversation of this VIP starts with priority high (routing default).
    later = conv_of(
        session, desk.ingest(session, "mail", mail(2, ny(2026, 11, 24, 9), subject="New"))
    )
    assert later.id != conv.id and later.priority == "high"


# -- snooze ----------------------------------------------------------------------------
def test_snooze_hides_until_the_time_then_wakes_open(session: Session) -> None:
    desk = business_desk()
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    desk.reply(session, conv, "Let me check", at=ny(2026, 11, 23, 9, 10))
    snooze(desk, session, conv, ny(2026, 11, 23, 15), at=ny(2026, 11, 23, 10))
    assert conv.status == "snoozed"
    assert wake_due(desk, session, ny(2026, 11, 23, 14)) == []
    assert wake_due(desk, session, ny(2026, 11, 23, 15, 1)) == [conv.id]
    assert conv.status == "open" and conv.snoozed_until is None
    # Resolution: 15h left at 10:00, resumed at 15:00 → Tue 09:00 + 13h → Wed 14:00.
    assert conv.resolution_due == ny(2026, 11, 25, 14)


def test_snooze_until_reply_wakes_on_the_customer_message(session: Session) -> None:
    desk = business_desk()
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    snooze(desk, session, conv, None, at=ny(2026, 11, 23, 10))
    assert wake_due(desk, session, ny(2026, 12, 30, 9)) == []
    desk.ingest(session, "mail", mail(2, ny(2026, 11, 23, 11), in_reply_to="<m1@example.com>"))
    assert conv.status == "open"


def test_snooze_presets() -> None:
    now = ny(2026, 11, 25, 16, 30)  # a Wednesday
    assert parse_snooze("1h", now, NY) == now + timedelta(hours=1)
    assert parse_snooze("tomorrow", now, NY) == ny(2026, 11, 26, 9)
    assert parse_snooze("next-week", now, NY) == ny(2026, 11, 30, 9)
    assert parse_snooze("friday", now, NY) == ny(2026, 11, 27, 9)
    assert parse_snooze("reply", now, NY) is None
    assert parse_snooze("2026-12-01 14:00", now, NY) == ny(2026, 12, 1, 14)
    assert parse_snooze("2026-12-01", now, NY) == ny(2026, 12, 1, 9)
    with pytest.raises(WorkflowError, match="snooze for a duration"):
        parse_snooze("later-ish", now, NY)


def test_snoozing_into_the_past_or_a_resolved_conversation_is_refused(session: Session) -> None:
    desk = business_desk()
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    with pytest.raises(WorkflowError, match="past"):
        snooze(desk, session, conv, ny(2026, 11, 23, 8), at=ny(2026, 11, 23, 9))
    desk.resolve(session, conv)
    with pytest.raises(WorkflowError, match="resolved"):
        snooze(desk, session, conv, None)


# -- tags, assignment -----------------------------------------------------------------
def test_tags_and_assignment_are_recorded(session: Session) -> None:
    desk = business_desk()
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    assert edit_tags(desk, session, conv, add=["Billing", "#refund", "billing"]) == [
        "billing",
        "refund",
    ]
    assert edit_tags(desk, session, conv, remove=["billing"]) == ["refund"]
    with pytest.raises(WorkflowError):
        edit_tags(desk, session, conv, add=["two words"])
    assign(desk, session, conv, "sam")
    assert conv.assignee == "sam"
    assign(desk, session, conv, "")
    assert conv.assignee is None
    session.flush()
    kinds = [e.kind for e in session.exec(select(Event).where(Event.conversation_id == conv.id))]
    assert kinds.count("conversation.tags") == 2 and kinds.count("conversation.assigned") == 2


# -- merge and split ----------------------------------------------------------------
def test_merge_moves_everything_and_the_old_reference_still_leads_there(
    session: Session,
) -> None:
    desk = business_desk()
    a = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    b = conv_of(
        session, desk.ingest(session, "mail", mail(2, ny(2026, 11, 23, 10), subject="Also"))
    )
    desk.reply(session, a, "Answer on A", at=ny(2026, 11, 23, 11))
    a_ref, a_id = a.ref, a.id
    merge_conversations(desk, session, a, b)
    session.commit()
    assert session.get(Conversation, a_id) is None
    assert find_by_ref(session, a_ref).id == b.id  # type: ignore[union-attr]
    assert b.message_count == 3
    assert session.exec(select(Outbox).where(Outbox.conversation_id == b.id)).first() is not None
    assert b.first_response_due == ny(2026, 11, 23, 14)  # B was not answered yet
    # A customer answering in A's email thread lands in B.
    reply = desk.ingest(
        session, "mail", mail(3, ny(2026, 11, 23, 12), in_reply_to="<m1@example.com>")
    )
    assert reply is not None and reply.conversation_id == b.id
    with pytest.raises(WorkflowError):
        merge_conversations(desk, session, b, b)


def test_split_moves_one_customer_message_into_a_new_conversation(session: Session) -> None:
    desk = business_desk()
    first = desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9)))
    second = desk.ingest(
        session,
        "mail",
        mail(2, ny(2026, 11, 23, 10), in_reply_to="<m1@example.com>", text="Also: invoice?"),
    )
    old = conv_of(session, first)
    assert second is not None and second.conversation_id == old.id
    new = split_message(desk, session, second)
    assert new.id != old.id and second.conversation_id == new.id
    assert old.message_count == 1 and new.message_count == 1
    assert new.first_response_due == ny(2026, 11, 23, 14)
    assert new.preview == "Also: invoice?"
    # The new conversation was made by the agent who split it, not by the sync.
    made = session.exec(
        select(Event.kind, Event.actor).where(Event.conversation_id == new.id)
    ).all()
    assert {kind: actor for kind, actor in made if kind.startswith("conversation.")} == {
        "conversation.created": desk.agent,
        "conversation.split": desk.agent,
    }
    with pytest.raises(WorkflowError, match="only message"):
        split_message(desk, session, second)


# -- customers ------------------------------------------------------------------------
def test_the_same_phone_on_sms_and_a_whatsapp_bridge_is_one_customer(session: Session) -> None:
    desk = business_desk()
    desk.ingest(session, "sms", sms(1, ny(2026, 11, 23, 9)))
    bridged = InboundMessage(
        external_id="$ev1",
        channel="matrix",
        sender=Sender("matrix", "@whatsapp_15550001111:bridge.example", "Ana", "+15550001111"),
        sent_at=ny(2026, 11, 23, 10).astimezone(UTC),
        text="hi from whatsapp",
        thread_key="!room:bridge.example",
    )
    desk.ingest(session, "matrix", bridged)
    idents = session.exec(select(Identity)).all()
    assert len(idents) == 2 and len({i.customer_id for i in idents}) == 1


def test_a_phone_claimed_by_two_customers_is_never_linked_automatically(
    session: Session,
) -> None:
    desk = business_desk()
    users = ("@whatsapp_15550001111:a.example", "@wa_15550001111:b.example")
    # Two customers first (bridge servers not yet trusted), then both vouched for.
    for n, (user, phone) in enumerate(
        [(u, None) for u in users] + [(u, "+15550001111") for u in users]
    ):
        desk.ingest(
            session,
            "matrix",
            InboundMessage(
                external_id=f"$e{n}",
                channel="matrix",
                sender=Sender("matrix", user, "", phone),
                sent_at=ny(2026, 11, 23, 9, n).astimezone(UTC),
                text="hello",
                thread_key=f"!r{n % 2}:x",
            ),
        )
    desk.ingest(session, "sms", sms(1, ny(2026, 11, 23, 12)))
    owners = {i.customer_id for i in session.exec(select(Identity)).all()}
    assert len(owners) == 3
    session.flush()
    assert session.exec(select(Event).where(Event.kind == "customer.link_conflict")).first()


def test_an_email_address_and_a_mastodon_handle_alike_are_not_linked(session: Session) -> None:
    desk = business_desk()
    desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9), frm="ana@example.social"))
    desk.ingest(
        session,
        "masto",
        InboundMessage(
            external_id="n1",
            channel="mastodon",
            sender=Sender("mastodon", "ana@example.social", "Ana"),
            sent_at=ny(2026, 11, 23, 10).astimezone(UTC),
            text="@support hi",
            thread_key="s1",
        ),
    )
    assert len({i.customer_id for i in session.exec(select(Identity)).all()}) == 2


def test_merging_customers_moves_identities_conversations_and_keeps_vip(
    session: Session,
) -> None:
    desk = business_desk()
    a = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    b = conv_of(session, desk.ingest(session, "sms", sms(2, ny(2026, 11, 23, 10))))
    set_vip(desk, session, b.customer_id, True)  # type: ignore[arg-type]
    set_notes(desk, session, b.customer_id, "prefers SMS")  # type: ignore[arg-type]
    keep, gone = a.customer_id, b.customer_id
    counts = merge_customers(session, keep, gone)  # type: ignore[arg-type]
    session.commit()
    assert counts == {"identities": 1, "conversations": 1}
    assert session.get(Customer, gone) is None
    kept = session.get(Customer, keep)
    assert kept is not None and kept.vip and kept.notes == "prefers SMS"
    records = list(export_records(session, customer="ana@example.com"))
    assert {r["channel"] for r in records} == {"email", "sms"}
    merged = session.exec(select(Event).where(Event.kind == "customer.merged")).all()
    assert len(merged) == 1 and merged[0].detail["from_customer_id"] == gone


# -- routing and acknowledgement -------------------------------------------------------
ACK = {
    "channels": ["email", "sms"],
    "max_age": "1000d",
    "text": "Hi {{ customer.first_name | default('there') }}, we have your message "
    "({{ conversation.ref }}).",
}


def test_routing_rules_apply_on_arrival_in_order(session: Session) -> None:
    desk = business_desk(
        rules=[
            {"match": {"subject": ["refund", "chargeback"]}, "add_tags": ["billing"]},
            {"match": {"from": "*@bigcorp.com"}, "set_priority": "high", "assign": "sam"},
            {"match": {"channel": "email"}, "add_tags": ["mail"], "stop": True},
            {"match": {"channel": "email"}, "add_tags": ["never"]},
        ]
    )
    conv = conv_of(
        session,
        desk.ingest(
            session, "mail", mail(1, ny(2026, 11, 23, 9), frm="CFO@BigCorp.com", subject="Refund")
        ),
    )
    assert conv.tags == ["billing", "mail"]
    assert (conv.priority, conv.assignee) == ("high", "sam")


def test_routing_config_errors_name_the_key() -> None:
    with pytest.raises(RoutingConfigError, match=r"routing.rules\[0\].match.colour"):
        routing_from_config({"rules": [{"match": {"colour": "red"}}]})
    with pytest.raises(RoutingConfigError, match=r"routing.rules\[0\].set_priority"):
        routing_from_config({"rules": [{"match": {"channel": "sms"}, "set_priority": "p1"}]})
    with pytest.raises(RoutingConfigError, match="routing.acknowledge.channels"):
        routing_from_config({"acknowledge": {"channels": ["fax"], "text": "x"}})


def test_acknowledgement_goes_once_with_the_reference(session: Session) -> None:
    desk = business_desk(acknowledge=ACK)
    conv = conv_of(session, desk.ingest(session, "mail", mail(1, datetime.now(UTC))))
    desk.ingest(session, "mail", mail(2, datetime.now(UTC), in_reply_to="<m1@example.com>"))
    acks = session.exec(select(Outbox).where(Outbox.author == ACK_AUTHOR)).all()
    assert len(acks) == 1
    assert acks[0].body == ""  # written when sent
    assert desk.write_acknowledgement(session, acks[0])
    assert acks[0].body == f"Hi Ana, we have your message ({conv.ref})."
    # It is not an agent's first response, and the inbox still shows the customer.
    assert conv.first_responded_at is None
    assert conv.preview == "message 2"


def test_no_acknowledgement_to_auto_generated_or_old_mail(session: Session) -> None:
    desk = business_desk(acknowledge=dict(ACK, max_age="2h"))
    desk.ingest(session, "mail", mail(1, datetime.now(UTC), auto_generated=True))
    desk.ingest(session, "mail", mail(2, datetime.now(UTC) - timedelta(days=3), frm="b@x.io"))
    desk.ingest(
        session,
        "tg",
        InboundMessage(
            external_id="tg:1",
            channel="telegram",
            sender=Sender("telegram", "5001", "Mei"),
            sent_at=datetime.now(UTC),
            text="hi",
            thread_key="5001",
        ),
    )
    assert session.exec(select(Outbox)).all() == []
    tagged = session.exec(select(Conversation)).all()
    assert any(AUTO_TAG in (c.tags or []) for c in tagged)


def test_an_acknowledgement_email_says_it_is_automatic() -> None:
    out = OutboundMessage(
        outbox_id=1,
        channel="email",
        to="ana@example.com",
        text="We have it",
        auto_reply=True,
        quote="> original",
    )
    raw = compose(out, "support@example.com", "<x@example.com>").decode()
    assert "Auto-Submitted: auto-replied" in raw
    assert "X-Auto-Response-Suppress: All" in raw
    assert "> original" not in raw


@pytest.mark.parametrize(
    ("headers", "auto"),
    [
        ("From: Ana <ana@example.com>", False),
        ("From: Ana <ana@example.com>\nAuto-Submitted: no", False),
        ("From: Ana <ana@example.com>\nAuto-Submitted: auto-replied", True),
        ("From: news@example.com\nPrecedence: bulk", True),
        ("From: list@example.com\nList-Id: <dev.example.com>", True),
        ("From: Mail Delivery System <MAILER-DAEMON@mx.example.com>", True),
        ("From: shop <no-reply@shop.example>", True),
        ("From: x@example.com\nReturn-Path: <>", True),
    ],
)
def test_which_mail_is_never_acknowledged(headers: str, auto: bool) -> None:
    """RFC 3834 and the usual list/bulk headers: robots never get an auto-reply."""
    from email import message_from_string

    from adapters.email.parse import is_auto_generated

    assert is_auto_generated(message_from_string(headers + "\n\nbody")) is auto


def test_a_merged_away_reference_in_a_subject_leads_to_the_target_and_is_never_reused(
    session: Session,
) -> None:
    desk = business_desk()
    target = conv_of(session, desk.ingest(session, "mail", mail(1, ny(2026, 11, 23, 9))))
    source = conv_of(
        session, desk.ingest(session, "mail", mail(2, ny(2026, 11, 23, 10), frm="b@x.io"))
    )
    old_ref = source.ref
    merge_conversations(desk, session, source, target)  # the newest conversation goes
    session.commit()
    fresh = conv_of(
        session, desk.ingest(session, "mail", mail(3, ny(2026, 11, 23, 11), frm="c@x.io"))
    )
    assert fresh.ref != old_ref
    answer = desk.ingest(
        session, "mail", mail(4, ny(2026, 11, 23, 12), frm="b@x.io", subject=f"Re: [{old_ref}] x")
    )
    assert answer is not None and answer.conversation_id == target.id


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("9999-12-31T23:59:59-14:00", "too far ahead"),
        ("99999999999d", "at most 100 years"),
        ("0001-01-01", "in the past"),
        ("2020-01-01 10:00", "in the past"),
    ],
)
def test_a_snooze_too_far_or_in_the_past_is_one_clear_error(text: str, why: str) -> None:
    """The console and the CLI share this parser: neither may crash on a wild date."""
    with pytest.raises(WorkflowError, match=why):
        parse_snooze(text, datetime(2026, 11, 25, 12, tzinfo=UTC), NY)

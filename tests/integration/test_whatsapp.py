"""WhatsApp through Twilio, contract tests against the documented REST shapes
(``tests/support/whatsapp_fake.py``) through the SyncService and the store: inbound
messages once across pages and redelivery, media announced and fetched, one bad record
quarantined, one customer per number across SMS and WhatsApp, free text and template
sends, WhatsApp's error codes, rate limits and secrets."""

from __future__ import annotations

import base64
import json
import logging
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, AuthError, OutboundMessage, UncertainDelivery
from adapters.twilio import MAX_LOOKBACK_DAYS, TwilioAdapter
from adapters.whatsapp import WhatsAppAdapter, WhatsAppSpec
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage import repository as repo
from storage.models import (
    AccountState,
    Attachment,
    Conversation,
    Customer,
    Identity,
    Message,
    Outbox,
    Quarantine,
    SyncCursor,
)
from tests.support.twilio_fake import OURS as SMS_NUMBER
from tests.support.twilio_fake import SID, TODAY, TOKEN, FakeTwilio, sms
from tests.support.whatsapp_fake import (
    CUSTOMER,
    MEDIA_HOST,
    OURS,
    TEMPLATE,
    FakeWhatsApp,
    twilio_error,
    wa_message,
)

NAME = "shop-whatsapp"


def adapter(api: FakeWhatsApp, today: date = TODAY, **settings: Any) -> WhatsAppAdapter:
    return WhatsAppAdapter(
        NAME,
        {"account_sid": SID, "from_number": OURS, "api_base": "https://api.test", **settings},
        lambda f: TOKEN,
        transport=httpx.MockTransport(api.handler),
        today=today,
    )


def account() -> AccountConfig:
    return AccountConfig(name=NAME, kind="whatsapp", settings={})


def service(engine: Engine, api: FakeWhatsApp, today: date = TODAY) -> SyncService:
    api.by_day = True  # the listing honours DateSent>, as Twilio's does
    return SyncService(engine, Desk(), (account(),), adapter_builder=lambda a: adapter(api, today))


def stored(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).order_by(Message.id)).all())


def queue_reply(engine: Engine, text: str, options: dict[str, Any] | None = None) -> int:
    with Session(engine) as s:
        item = Desk().reply(s, s.exec(select(Conversation)).one(), text)
        if options is not None:
            item.send_options = options
        s.commit()
        assert item.id is not None
        return item.id


def outbox(engine: Engine, item_id: int) -> Outbox:
    with Session(engine) as s:
        item = s.get(Outbox, item_id)
        assert item is not None
        return item


def test_inbound_messages_over_pages_arrive_once(engine: Engine) -> None:
    api = FakeWhatsApp(
        [
            wa_message(1, "hi"),
            wa_message(2, "is my order on its way?"),
            wa_message(3, "ours", direction="outbound-api"),
            wa_message(4, "Grüße 👋", profile=None),
            wa_message(5, "again"),
        ]
    )
    svc = service(engine, api)
    assert svc.round(account()).fetched == 4
    listing = [q for q in api.queries if q.url.path.endswith("/Messages.json")]
    assert listing[0].url.params["To"] == OURS
    assert listing[0].url.params["DateSent>"] == "2026-11-22"  # yesterday and today
    assert [q.url.params.get("Page") for q in listing] == [None, "1", "2"]  # next_page_uri
    assert svc.round(account()).fetched == 0  # the same days polled again: no repeats
    msgs = stored(engine)
    assert [m.text for m in msgs] == ["hi", "is my order on its way?", "Grüße 👋", "again"]
    assert all(m.external_id.startswith("SM") for m in msgs)
    with Session(engine) as s:
        (conv,) = s.exec(select(Conversation)).all()
        (ident,) = s.exec(select(Identity)).all()
        customer = s.get(Customer, ident.customer_id)
    assert conv.channel == "whatsapp" and conv.thread_key == CUSTOMER
    assert (ident.channel, ident.address, ident.phone) == ("whatsapp", CUSTOMER, CUSTOMER)
    assert ident.display_name == "Ada" and customer is not None and customer.name == "Ada"


def test_an_sms_customer_and_a_whatsapp_message_from_the_same_number_are_one_customer(
    engine: Engine,
) -> None:
    texts = FakeTwilio([sms(1, "text from my phone", frm=CUSTOMER)])
    sms_account = AccountConfig(name="shop-sms", kind="twilio", settings={})
    phone = TwilioAdapter(
        "shop-sms",
        {"account_sid": SID, "from_number": SMS_NUMBER, "api_base": "https://api.test"},
        lambda f: TOKEN,
        transport=httpx.MockTransport(texts.handler),
        today=TODAY,
    )
    chats = FakeWhatsApp([wa_message(7, "and on WhatsApp", frm=CUSTOMER)])
    svc = SyncService(
        engine,
        Desk(),
        (sms_account, account()),
        adapter_builder=lambda a: phone if a.kind == "twilio" else adapter(chats),
    )
    assert svc.round(sms_account).fetched == 1
    assert svc.round(account()).fetched == 1
    with Session(engine) as s:
        (customer,) = s.exec(select(Customer)).all()
        idents = sorted((i.channel, i.address) for i in s.exec(select(Identity)).all())
        channels = sorted(c.channel for c in s.exec(select(Conversation)).all())
        assert {i.customer_id for i in s.exec(select(Identity)).all()} == {customer.id}
    assert idents == [("sms", CUSTOMER), ("whatsapp", CUSTOMER)]
    assert channels == ["sms", "whatsapp"]


def test_media_are_announced_and_fetched_on_demand(engine: Engine) -> None:
    api = FakeWhatsApp([wa_message(1, "the broken part", media=2)])
    api.media = {f"/SM{1:032d}/Media/ME1": b"\xff\xd8jpeg"}
    service(engine, api).round(account())
    with Session(engine) as s:
        atts = s.exec(select(Attachment).order_by(Attachment.id)).all()
        refs = [a.remote_ref for a in atts]
        assert all(a.content is None for a in atts)  # announced, not downloaded
    assert len(refs) == 2 and all(r and r.endswith(f"/Media.json#{n}") for n, r in enumerate(refs))
    api.queries.clear()
    assert adapter(api).fetch_attachment(refs[1] or "") == b"\xff\xd8jpeg"
    on_twilio = [q for q in api.queries if q.url.host == "api.test"]
    off_twilio = [q for q in api.queries if q.url.host == MEDIA_HOST]
    assert on_twilio and all(q.headers["Authorization"].startswith("Basic ") for q in on_twilio)
    assert len(off_twilio) == 1 and "Authorization" not in off_twilio[0].headers


def test_a_bad_record_is_quarantined_while_the_rest_arrive(engine: Engine) -> None:
    no_sender = {**wa_message(2, "who am I?"), "from": "whatsapp:someone"}
    api = FakeWhatsApp([wa_message(1, "first"), no_sender, wa_message(3, "third")])
    outcome = service(engine, api).round(account())
    assert outcome.ok and outcome.quarantined == 1
    assert [m.text for m in stored(engine)] == ["first", "third"]
    with Session(engine) as s:
        (kept,) = s.exec(select(Quarantine)).all()
    assert kept.external_id == f"SM{2:032d}" and kept.account == NAME
    assert json.loads(kept.raw)["body"] == "who am I?"  # the raw record, to retry later
    assert "who am I" not in kept.error and "someone" not in kept.error
    wa = adapter(api)
    with pytest.raises(ValueError):  # still unusable from its raw alone
        wa.reparse(kept.external_id, kept.raw, kept.raw_type, kept.folder)
    fixed = json.dumps({**json.loads(kept.raw), "from": "whatsapp:+15550001111"}).encode()
    (again,) = wa.reparse(kept.external_id, fixed, kept.raw_type, kept.folder)
    assert (again.channel, again.sender.phone, again.text) == (
        "whatsapp",
        "+15550001111",
        "who am I?",
    )


def test_a_reply_is_whatsapp_text_from_our_sender(engine: Engine) -> None:
    api = FakeWhatsApp([wa_message(1, "hi")])
    svc = service(engine, api)
    svc.round(account())
    item_id = queue_reply(engine, "On its way, arriving Friday!")
    assert svc.round(account()).sent == 1
    (form,) = api.sent
    assert form == {
        "From": [OURS],
        "To": [f"whatsapp:{CUSTOMER}"],
        "Body": ["On its way, arriving Friday!"],
    }
    assert outbox(engine, item_id).provider_id == "SMout1"


def test_a_long_reply_goes_in_pieces_twilio_takes(engine: Engine) -> None:
    api = FakeWhatsApp([wa_message(1, "hi")])
    svc = service(engine, api)
    svc.round(account())
    queue_reply(engine, "word " * 700)
    svc.round(account())
    assert len(api.sent) == 3 and all(len(f["Body"][0]) <= 1600 for f in api.sent)


def test_a_template_send_posts_content_sid_and_variables_and_no_body(engine: Engine) -> None:
    api = FakeWhatsApp([wa_message(1, "hi")])
    api.closed.add(CUSTOMER)
    svc = service(engine, api)
    svc.round(account())
    options = {"template": TEMPLATE, "template_name": "order_update"}
    item_id = queue_reply(
        engine, "(template order_update)", {**options, "variables": {"1": "Ada", "2": "Friday"}}
    )
    assert svc.round(account()).sent == 1
    (form,) = api.sent
    assert form["ContentSid"] == [TEMPLATE] and "Body" not in form
    assert json.loads(form["ContentVariables"][0]) == {"1": "Ada", "2": "Friday"}
    assert form["From"] == [OURS] and form["To"] == [f"whatsapp:{CUSTOMER}"]
    assert outbox(engine, item_id).state == "sent"


def test_outside_the_window_free_text_fails_once_with_one_line(engine: Engine) -> None:
    api = FakeWhatsApp([wa_message(1, "hi")])
    api.closed.add(CUSTOMER)
    svc = service(engine, api)
    svc.round(account())
    item_id = queue_reply(engine, "Are you still there?")
    svc.round(account())
    item = outbox(engine, item_id)
    assert item.state == "failed" and item.next_attempt_at is None  # never retried
    error = item.last_error or ""
    assert "\n" not in error and "63016" in error
    assert "24-hour window" in error and "template" in error
    svc.round(account())
    assert len(api.sent) == 1  # not sent again


def test_a_send_rate_limit_backs_off_and_retries(engine: Engine) -> None:
    api = FakeWhatsApp([wa_message(1, "hi")])
    svc = service(engine, api)
    svc.round(account())
    item_id = queue_reply(engine, "Thanks!")
    api.send_fail.append(
        twilio_error(63018, 429, "Rate limit exceeded for Channel", **{"Retry-After": "90"})
    )
    assert svc.round(account()).sent == 0
    item = outbox(engine, item_id)
    assert item.state == "queued" and item.attempts == 1  # still to go, later
    assert item.next_attempt_at is not None and item.updated_at is not None
    assert "rate limited" in (item.last_error or "") and "63018" in (item.last_error or "")


def test_a_poll_rate_limit_backs_the_account_off(engine: Engine) -> None:
    api = FakeWhatsApp(
        [wa_message(1, "hi")],
        fail=[twilio_error(20429, 429, "Too Many Requests", **{"Retry-After": "120"})],
    )
    outcome = service(engine, api).round(account())
    assert not outcome.ok and "rate limited" in (outcome.error or "")
    with Session(engine) as s:
        state = s.get(AccountState, NAME)
        assert state is not None and state.retry_after and state.last_error_at
        assert (state.retry_after - state.last_error_at).total_seconds() >= 120


@pytest.mark.parametrize(
    ("answer", "kind", "retryable", "words"),
    [
        (twilio_error(20003, 401, "Authenticate"), AuthError, False, "credentials refused"),
        (twilio_error(21211, 400, "The 'To' number is not valid."), AdapterError, False, "21211"),
        (twilio_error(63007, 400, "no Channel"), AdapterError, False, "not a WhatsApp sender"),
        (twilio_error(63018, 400, "Rate limit exceeded"), AdapterError, True, "rate limited"),
        (twilio_error(20429, 429, "Too Many Requests"), AdapterError, True, "rate limited"),
        (httpx.Response(503, text="busy"), AdapterError, True, "503"),
    ],
)
def test_send_errors_by_twilio_code(
    answer: httpx.Response, kind: type[AdapterError], retryable: bool, words: str
) -> None:
    api = FakeWhatsApp(fail=[answer])
    with pytest.raises(kind) as info:
        adapter(api).send(OutboundMessage(outbox_id=1, channel="whatsapp", to=CUSTOMER, text="x"))
    assert info.value.retryable is retryable and words in str(info.value)
    assert "\n" not in str(info.value)


def test_a_transport_error_after_connecting_is_uncertain_not_resent() -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset")

    wa = WhatsAppAdapter(
        NAME,
        {"account_sid": SID, "from_number": OURS, "api_base": "https://api.test"},
        lambda f: TOKEN,
        transport=httpx.MockTransport(drop),
    )
    with pytest.raises(UncertainDelivery):
        wa.send(OutboundMessage(outbox_id=1, channel="whatsapp", to=CUSTOMER, text="x"))


def test_the_token_is_in_no_error() -> None:
    basic = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()

    def echo(request: httpx.Request) -> httpx.Response:
        header = request.headers["Authorization"]
        return twilio_error(20003, 401, f"refused {header} {TOKEN} {SID}:{TOKEN}")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused; auth={TOKEN} {basic}")

    message = OutboundMessage(outbox_id=1, channel="whatsapp", to=CUSTOMER, text="x")
    for handler in (echo, refuse):
        wa = WhatsAppAdapter(
            NAME,
            {"account_sid": SID, "from_number": OURS, "api_base": "https://api.test"},
            lambda f: TOKEN,
            transport=httpx.MockTransport(handler),
        )
        for call in (wa.poll, lambda _m, wa=wa: wa.send(message)):
            with pytest.raises(AdapterError) as info:
                call({})
            assert TOKEN not in str(info.value) and basic not in str(info.value)
            assert "refused" in str(info.value)


def test_doctor_finds_the_sender_and_sends_nothing() -> None:
    api = FakeWhatsApp()
    settings = {"account_sid": SID, "from_number": OURS, "api_base": "https://api.test"}
    found = {f.part: f for f in _checks(api, settings)}
    assert found["receive"].ok and found["send"].ok
    assert "WhatsApp sender of this account (ONLINE); nothing sent" in found["send"].detail
    assert not api.sent


def test_doctor_fails_send_for_a_number_that_is_no_whatsapp_sender() -> None:
    api = FakeWhatsApp(senders=[])
    settings = {"account_sid": SID, "from_number": OURS, "api_base": "https://api.test"}
    found = {f.part: f for f in _checks(api, settings)}
    assert found["receive"].ok and not found["send"].ok
    assert "is not a WhatsApp sender of this account" in found["send"].detail


def _checks(api: FakeWhatsApp, settings: dict[str, Any]) -> list[Any]:
    def build(name: str, given: Any, secret: Any) -> WhatsAppAdapter:
        return WhatsAppAdapter(name, given, secret, transport=httpx.MockTransport(api.handler))

    spec = WhatsAppSpec("whatsapp", build, secret_fields=("auth_token",))
    return spec.checks(NAME, settings, lambda f: TOKEN)


def test_doctor_notes_the_sandbox_and_fails_a_sender_that_is_not_online() -> None:
    sandbox = {
        "account_sid": SID,
        "from_number": "whatsapp:+14155238886",
        "api_base": "https://api.test",
    }
    found = {f.part: f for f in _checks(FakeWhatsApp(), sandbox)}
    assert found["send"].ok and "Sandbox" in found["send"].detail
    offline = FakeWhatsApp(senders=[{"sid": "XE1", "sender_id": OURS, "status": "OFFLINE"}])
    settings = {"account_sid": SID, "from_number": OURS, "api_base": "https://api.test"}
    found = {f.part: f for f in _checks(offline, settings)}
    assert not found["send"].ok and "OFFLINE, not ONLINE" in found["send"].detail


def test_files_are_refused_in_one_line_before_anything_is_sent() -> None:
    from adapters.base import OutboundAttachment

    api = FakeWhatsApp()
    photo = OutboundAttachment("a.jpg", "image/jpeg", b"\xff\xd8")
    message = OutboundMessage(1, "whatsapp", CUSTOMER, "see photo", attachments=(photo,))
    with pytest.raises(AdapterError, match="files cannot be sent") as info:
        adapter(api).send(message)
    assert not info.value.retryable and not api.sent


# -- the days a poll asks for (Twilio's poll: from the cursor, at most 31 days back) ---------


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def polled(engine: Engine) -> str:
    with Session(engine) as s:
        return str(
            s.exec(select(SyncCursor).where(SyncCursor.account == NAME)).one().state["polled"]
        )


def first_days(api: FakeWhatsApp) -> list[str]:
    return [
        q.url.params["DateSent>"]
        for q in api.queries
        if q.url.path.endswith("/Messages.json")
        and q.method == "GET"
        and "Page" not in q.url.params
    ]


def test_messages_sent_while_the_desk_was_off_for_days_arrive_once(engine: Engine) -> None:
    api = FakeWhatsApp([wa_message(1, "friday", day=days_ago(3))])
    assert service(engine, api, today=days_ago(3)).round(account()).fetched == 1
    assert polled(engine) == days_ago(3).isoformat()
    api.messages += [
        wa_message(2, "saturday", day=days_ago(2)),
        wa_message(3, "saturday, later", day=days_ago(2)),
        wa_message(4, "ours", day=days_ago(2), direction="outbound-api"),
        wa_message(5, "sunday", day=days_ago(1)),
        wa_message(6, "monday", day=TODAY),
    ]
    monday = service(engine, api)
    assert monday.round(account()).fetched == 4
    assert first_days(api) == [days_ago(4).isoformat(), days_ago(4).isoformat()]
    assert polled(engine) == TODAY.isoformat()
    assert monday.round(account()).fetched == 0
    assert first_days(api)[-1] == days_ago(1).isoformat()
    msgs = stored(engine)
    assert [m.text for m in msgs] == ["friday", "saturday", "saturday, later", "sunday", "monday"]
    assert len({m.external_id for m in msgs}) == len(msgs)  # none stored twice
    assert not [q for q in api.queries if "/Calls" in q.url.path]  # WhatsApp has no calls


def test_a_gap_over_the_look_back_is_capped_with_a_warning(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    api = FakeWhatsApp(
        [
            wa_message(1, "too old", day=days_ago(MAX_LOOKBACK_DAYS + 1)),
            wa_message(2, "at the cap", day=days_ago(MAX_LOOKBACK_DAYS)),
            wa_message(3, "today", day=TODAY),
        ]
    )
    with Session(engine) as s:
        repo.save_cursor(s, NAME, "messages", {"polled": days_ago(60).isoformat()})
        s.commit()
    with caplog.at_level(logging.WARNING, logger="adapters.twilio"):
        assert service(engine, api).round(account()).fetched == 2
    assert first_days(api) == [days_ago(MAX_LOOKBACK_DAYS).isoformat()]
    assert [m.text for m in stored(engine)] == ["at the cap", "today"]
    assert f"{NAME}: last polled {days_ago(60)}, over {MAX_LOOKBACK_DAYS} days ago" in caplog.text
    assert polled(engine) == TODAY.isoformat()

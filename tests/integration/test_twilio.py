"""Twilio contract tests: an in-process fake of the documented REST shapes (per-day
filters, next_page_uri paging, inbound/outbound directions, calls, form-encoded sends,
error codes 21211/20003/20429)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, AuthError
from adapters.twilio import TwilioAdapter, sms_segments
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import Conversation, Customer, Identity, Message
from tests.support.twilio_fake import OURS, SID, TODAY, TOKEN, FakeTwilio, call, sms


def adapter(api: FakeTwilio) -> TwilioAdapter:
    return TwilioAdapter(
        "shop-twilio",
        {"account_sid": SID, "from_number": OURS, "api_base": "https://api.test"},
        lambda f: TOKEN,
        transport=httpx.MockTransport(api.handler),
        today=TODAY,
    )


def account() -> AccountConfig:
    return AccountConfig(name="shop-twilio", kind="twilio", settings={})


def service(engine: Engine, api: FakeTwilio) -> SyncService:
    return SyncService(engine, Desk(), (account(),), adapter_builder=lambda a: adapter(api))


def stored(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).order_by(Message.id)).all())


def test_inbound_sms_over_pages_arrive_once(engine: Engine) -> None:
    api = FakeTwilio(
        [
            sms(1, "hi"),
            sms(2, "is the kettle back?"),
            sms(3, "ours", direction="outbound-api"),
            sms(4, "Grüße 👋"),
        ]
    )
    svc = service(engine, api)
    assert svc.round(account()).fetched == 3
    first = api.queries[0]
    assert first.url.params["DateSent>"] == "2026-11-22"  # yesterday and today
    assert first.url.params["To"] == OURS
    assert svc.round(account()).fetched == 0  # the same day polled again: no repeats
    assert [m.text for m in stored(engine)] == ["hi", "is the kettle back?", "Grüße 👋"]


def test_calls_join_the_same_customer_as_sms(engine: Engine) -> None:
    api = FakeTwilio([sms(1, "call me")], [call(1, "no-answer", 0), call(2, "completed", 125)])
    service(engine, api).round(account())
    msgs = stored(engine)
    assert [(m.kind, m.text) for m in msgs] == [
        ("message", "call me"),
        ("call", "Missed call (no-answer)"),
        ("call", "Call (2:05)"),
    ]
    with Session(engine) as s:
        assert len(s.exec(select(Customer)).all()) == 1
        assert s.exec(select(Identity)).one().address == "+15557654321"
        channels = sorted(c.channel for c in s.exec(select(Conversation)).all())
    assert channels == ["phone", "sms"]


def test_voicemail_with_its_transcription(engine: Engine) -> None:
    api = FakeTwilio([], [call(3, "completed", 50)])
    api.voicemails.add(f"CA{3:032d}")
    service(engine, api).round(account())
    (msg,) = stored(engine)
    assert msg.kind == "voicemail"
    assert msg.text == "Voicemail (0:42): Hi, it's Tom, the machine is leaking."


def test_reply_is_an_sms_from_our_number(engine: Engine) -> None:
    api = FakeTwilio([sms(1, "hi")])
    svc = service(engine, api)
    svc.round(account())
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        Desk().reply(s, conv, "Back in stock on Friday!")
        s.commit()
    assert svc.round(account()).sent == 1
    (form,) = api.sent
    assert form == {"To": ["+15557654321"], "From": [OURS], "Body": ["Back in stock on Friday!"]}


def test_very_long_reply_goes_as_several_messages(engine: Engine) -> None:
    api = FakeTwilio([sms(1, "hi")])
    svc = service(engine, api)
    svc.round(account())
    with Session(engine) as s:
        Desk().reply(s, s.exec(select(Conversation)).one(), "word " * 500)
        s.commit()
    svc.round(account())
    assert len(api.sent) == 2 and all(len(f["Body"][0]) <= 1600 for f in api.sent)


def test_invalid_number_is_a_permanent_failure_with_twilios_reason() -> None:
    from adapters.base import OutboundMessage

    api = FakeTwilio()
    with pytest.raises(AdapterError) as info:
        adapter(api).send(OutboundMessage(outbox_id=1, channel="sms", to="5557654321", text="x"))
    assert not info.value.retryable and "21211" in str(info.value)


def test_auth_rate_limit_and_server_errors() -> None:
    auth = FakeTwilio(
        fail=[httpx.Response(401, json={"code": 20003, "message": "Authenticate", "status": 401})]
    )
    with pytest.raises(AuthError):
        adapter(auth).poll({})
    limited = FakeTwilio(
        fail=[
            httpx.Response(
                429,
                json={"code": 20429, "message": "Too Many Requests"},
                headers={"Retry-After": "3"},
            )
        ]
    )
    with pytest.raises(AdapterError) as info:
        adapter(limited).poll({})
    assert info.value.retry_after == 3
    for bad in (httpx.Response(503, text="busy"), httpx.Response(200, json={"messages": "x"})):
        with pytest.raises(AdapterError) as info:
            adapter(FakeTwilio(fail=[bad])).poll({})
        assert info.value.retryable


def test_errors_never_show_the_token() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused; auth={TOKEN}")

    broken = TwilioAdapter(
        "t",
        {"account_sid": SID, "api_base": "https://api.test"},
        lambda f: TOKEN,
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(AdapterError) as info:
        broken.poll({})
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello!", (1, "GSM-7")),
        ("x" * 160, (1, "GSM-7")),
        ("x" * 161, (2, "GSM-7")),
        ("€" * 80, (1, "GSM-7")),  # extended characters count double: 160 units
        ("€" * 81, (2, "GSM-7")),
        ("Grüße", (1, "GSM-7")),
        ("こんにちは", (1, "UCS-2")),
        ("😀" * 35, (1, "UCS-2")),
        ("😀" * 36, (2, "UCS-2")),
    ],
)
def test_segment_count(text: str, expected: tuple[int, str]) -> None:
    assert sms_segments(text) == expected


def test_doctor_check() -> None:
    api = FakeTwilio()
    a = adapter(api)
    assert a.request("GET", f"/2010-04-01/Accounts/{SID}.json")["status"] == "active"

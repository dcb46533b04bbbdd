"""Twilio contract tests: an in-process fake of the documented REST shapes (per-day
filters, next_page_uri paging, inbound/outbound directions, calls, form-encoded sends,
error codes 21211/20003/20429)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters import twilio
from adapters.base import AdapterError, AuthError
from adapters.twilio import MAX_LOOKBACK_DAYS, TwilioAdapter, sms_segments
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage import repository as repo
from storage.models import Conversation, Customer, Identity, Message, SyncCursor
from tests.support.twilio_fake import OURS, SID, TODAY, TOKEN, FakeTwilio, call, sms


def adapter(api: FakeTwilio, today: date = TODAY, **settings: Any) -> TwilioAdapter:
    return TwilioAdapter(
        "shop-twilio",
        {"account_sid": SID, "from_number": OURS, "api_base": "https://api.test", **settings},
        lambda f: TOKEN,
        transport=httpx.MockTransport(api.handler),
        today=today,
    )


def account() -> AccountConfig:
    return AccountConfig(name="shop-twilio", kind="twilio", settings={})


def service(engine: Engine, api: FakeTwilio, today: date = TODAY) -> SyncService:
    api.by_day = True  # the listing honours DateSent> / StartTime>, as Twilio's does
    return SyncService(engine, Desk(), (account(),), adapter_builder=lambda a: adapter(api, today))


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


# -- the days a poll asks for: from the cursor, at most MAX_LOOKBACK_DAYS back ---------------


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def set_polled(engine: Engine, day: date, name: str = "shop-twilio") -> None:
    with Session(engine) as s:
        repo.save_cursor(s, name, "messages", {"polled": day.isoformat()})
        s.commit()


def polled(engine: Engine, name: str = "shop-twilio") -> str:
    with Session(engine) as s:
        row = s.exec(select(SyncCursor).where(SyncCursor.account == name)).one()
    return str(row.state["polled"])


def listed(api: FakeTwilio, resource: str, key: str) -> list[str]:
    """The first day each listing (not its further pages) asked for."""
    return [
        q.url.params[key]
        for q in api.queries
        if q.url.path.endswith(f"/{resource}.json")
        and q.method == "GET"
        and "Page" not in q.url.params
    ]


def test_a_desk_off_over_the_weekend_fetches_the_days_in_between_once(engine: Engine) -> None:
    api = FakeTwilio([sms(1, "thursday", day=days_ago(4)), sms(2, "friday", day=days_ago(3))])
    friday = service(engine, api, today=days_ago(3))  # the desk's last poll: Friday
    assert friday.round(account()).fetched == 2  # Thursday and Friday
    assert polled(engine) == days_ago(3).isoformat()
    api.messages += [  # while the desk is off
        sms(3, "saturday", day=days_ago(2)),
        sms(4, "saturday again", day=days_ago(2)),
        sms(5, "sunday", day=days_ago(1)),
        sms(6, "monday", day=TODAY),
    ]
    api.calls += [call(1, "no-answer", 0, day=days_ago(2)), call(2, "completed", 65, day=TODAY)]

    monday = service(engine, api)  # back on Monday: from Thursday (the cursor's day before)
    outcome = monday.round(account())
    assert listed(api, "Messages", "DateSent>")[-1] == days_ago(4).isoformat()
    assert listed(api, "Calls", "StartTime>")[-1] == days_ago(4).isoformat()
    assert outcome.fetched == 6  # Saturday to Monday: 4 SMS and 2 calls
    assert polled(engine) == TODAY.isoformat()
    assert monday.round(account()).fetched == 0  # from Sunday now: all known
    assert listed(api, "Messages", "DateSent>")[-1] == days_ago(1).isoformat()

    msgs = stored(engine)
    assert [m.text for m in msgs if m.kind == "message"] == [
        "thursday",
        "friday",
        "saturday",
        "saturday again",
        "sunday",
        "monday",
    ]
    assert [m.text for m in msgs if m.kind == "call"] == ["Missed call (no-answer)", "Call (1:05)"]
    assert len({m.external_id for m in msgs}) == len(msgs) == 8  # none stored twice
    pages = [q for q in api.queries if "Messages" in q.url.path and q.url.params.get("Page")]
    on_monday = [q.url.params["DateSent>"] for q in pages[:2]]  # next_page_uri keeps the filter
    assert on_monday == [days_ago(4).isoformat()] * 2


def test_a_cursor_older_than_the_look_back_is_capped_with_a_warning(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    api = FakeTwilio(
        [
            sms(1, "too old", day=days_ago(45)),
            sms(2, "at the cap", day=days_ago(MAX_LOOKBACK_DAYS)),
            sms(3, "last week", day=days_ago(7)),
            sms(4, "today", day=TODAY),
        ],
        [call(1, "completed", 30, day=days_ago(40)), call(2, "busy", 0, day=days_ago(20))],
    )
    set_polled(engine, days_ago(60))
    with caplog.at_level(logging.WARNING, logger="adapters.twilio"):
        assert service(engine, api).round(account()).fetched == 4
    floor = days_ago(MAX_LOOKBACK_DAYS).isoformat()
    assert listed(api, "Messages", "DateSent>") == [floor]
    assert listed(api, "Calls", "StartTime>") == [floor]
    assert [m.text for m in stored(engine)] == [
        "at the cap",
        "last week",
        "today",
        "Missed call (busy)",
    ]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        f"shop-twilio: last polled {days_ago(60)}, over {MAX_LOOKBACK_DAYS} days ago: asking "
        f"Twilio from {floor} only; messages and calls before that are not fetched"
    )
    assert polled(engine) == TODAY.isoformat()


def test_first_poll_and_odd_cursors_ask_for_yesterday_and_today(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from adapters.base import Cursor

    a = adapter(FakeTwilio())
    yesterday = (days_ago(1), TODAY)
    assert a.first_day({}) == yesterday
    assert a.first_day({"messages": Cursor("messages", {"polled": "2027-01-05"})}) == yesterday
    assert a.first_day({"messages": Cursor("messages", {"polled": TODAY.isoformat()})}) == yesterday
    with caplog.at_level(logging.WARNING, logger="adapters.twilio"):
        for odd in ("yesterday", 20261120, "2026-11-31"):
            assert a.first_day({"messages": Cursor("messages", {"polled": odd})}) == yesterday
    assert len(caplog.records) == 3 and "unreadable Twilio cursor" in caplog.text


def test_the_wider_range_still_pages_and_halves(engine: Engine) -> None:
    api = FakeTwilio(
        [sms(n, "z" * 3000, day=days_ago(n % 5)) for n in range(1, 31)]
        + [sms(99, "before the range", day=days_ago(5))],
        page_size=100,
    )
    api.by_day = True

    def paged(request: httpx.Request) -> httpx.Response:
        api.page_size = int(request.url.params.get("PageSize", api.page_size))
        return api.handler(request)

    phone = TwilioAdapter(
        "shop-twilio",
        {
            "account_sid": SID,
            "from_number": OURS,
            "api_base": "https://api.test",
            "max_response_bytes": 64 * 1024,
        },
        lambda f: TOKEN,
        transport=httpx.MockTransport(paged),
        today=TODAY,
    )
    set_polled(engine, days_ago(3))
    svc = SyncService(engine, Desk(), (account(),), adapter_builder=lambda a: phone)
    assert svc.round(account()).fetched == 30
    sizes = [q.url.params.get("PageSize") for q in api.queries if "Messages" in q.url.path]
    assert sizes[:3] == ["100", "50", "25"] and phone.pages.size == 12
    assert len(stored(engine)) == 30


def test_a_listing_cut_at_the_page_cap_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(twilio, "MAX_PAGES", 2)
    api = FakeTwilio([sms(n, f"n{n}") for n in range(1, 6)], page_size=2, calls=[])
    with caplog.at_level(logging.WARNING, logger="adapters.twilio"):
        result = adapter(api, calls=False).poll({})
    assert len(result.messages) == 4
    assert "Twilio Messages: stopped after 2 pages (4 records)" in caplog.text

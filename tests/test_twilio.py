"""Twilio contract tests: an in-process fake of the documented REST shapes (per-day
filters, next_page_uri paging, inbound/outbound directions, calls, form-encoded sends,
error codes 21211/20003/20429)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from urllib.parse import parse_qs

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

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-auth-token"
OURS = "+15551230000"
TODAY = date(2026, 11, 23)


def sms(n: int, body: str, *, frm: str = "+15557654321", direction: str = "inbound") -> dict:
    return {
        "sid": f"SM{n:032d}",
        "from": frm if direction == "inbound" else OURS,
        "to": OURS if direction == "inbound" else frm,
        "body": body,
        "direction": direction,
        "status": "received",
        "num_segments": "1",
        "date_sent": f"Mon, 23 Nov 2026 09:{n % 60:02d}:00 +0000",
    }


def call(n: int, status: str, duration: int, frm: str = "+15557654321") -> dict:
    sid = f"CA{n:032d}"
    return {
        "sid": sid,
        "from": frm,
        "to": OURS,
        "status": status,
        "direction": "inbound",
        "duration": str(duration),
        "start_time": f"Mon, 23 Nov 2026 08:{n:02d}:00 +0000",
        "subresource_uris": {
            "recordings": f"/2010-04-01/Accounts/{SID}/Calls/{sid}/Recordings.json"
        },
    }


@dataclass
class FakeTwilio:
    messages: list[dict] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)
    sent: list[dict[str, list[str]]] = field(default_factory=list)
    queries: list[httpx.Request] = field(default_factory=list)
    fail: list[httpx.Response] = field(default_factory=list)
    page_size: int = 2
    voicemails: set[str] = field(default_factory=set)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(request)
        assert request.headers["Authorization"].startswith("Basic ")
        if self.fail:
            return self.fail.pop(0)
        base = f"/2010-04-01/Accounts/{SID}"
        path = request.url.path
        if path in (f"{base}/Messages.json", f"{base}/Calls.json") and request.method == "GET":
            key = "messages" if "Messages" in path else "calls"
            day_key = "DateSent>" if key == "messages" else "StartTime>"
            assert request.url.params.get(day_key) or request.url.params.get("Page")
            items = self.messages if key == "messages" else self.calls
            page = int(request.url.params.get("Page", 0))
            chunk = items[page * self.page_size : (page + 1) * self.page_size]
            more = (page + 1) * self.page_size < len(items)
            next_uri = f"{path}?Page={page + 1}&PageToken=PA{page + 1}" if more else None
            return httpx.Response(200, json={key: chunk, "page": page, "next_page_uri": next_uri})
        if path == f"{base}/Messages.json" and request.method == "POST":
            form = parse_qs(request.content.decode())
            self.sent.append(form)
            if not form["To"][0].startswith("+"):
                return httpx.Response(
                    400,
                    json={
                        "code": 21211,
                        "status": 400,
                        "more_info": "https://www.twilio.com/docs/errors/21211",
                        "message": f"The 'To' number {form['To'][0]} is not a valid phone number.",
                    },
                )
            return httpx.Response(201, json={"sid": f"SMout{len(self.sent)}", "status": "queued"})
        if path.endswith("/Recordings.json") and "/Calls/" in path:
            call_sid = path.split("/Calls/")[1].split("/")[0]
            recs = [{"sid": "RE1", "duration": "42"}] if call_sid in self.voicemails else []
            return httpx.Response(200, json={"recordings": recs, "next_page_uri": None})
        if path.endswith("/Recordings/RE1/Transcriptions.json"):
            return httpx.Response(
                200,
                json={
                    "transcriptions": [
                        {
                            "sid": "TR1",
                            "status": "completed",
                            "transcription_text": "Hi, it's Tom, the machine is leaking.",
                        }
                    ]
                },
            )
        if path == f"{base}.json":
            return httpx.Response(
                200, json={"sid": SID, "friendly_name": "Kettle", "status": "active"}
            )
        if path == f"{base}/IncomingPhoneNumbers.json":  # doctor: the number is ours
            ours = {"phone_number": OURS, "capabilities": {"sms": True, "voice": True}}
            found = [ours] if request.url.params.get("PhoneNumber") == OURS else []
            return httpx.Response(200, json={"incoming_phone_numbers": found})
        return httpx.Response(404, json={"code": 20404, "message": "Not found", "status": 404})


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

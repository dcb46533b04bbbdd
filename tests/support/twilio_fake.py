"""A fake Twilio REST API (Messages, Calls, Recordings, Transcriptions, the account and
its numbers) for an ``httpx.MockTransport``, and SMS and call records shaped as Twilio
documents them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

SID = "AC0123456789abcdef0123456789abcdef"


TOKEN = "twilio-auth-token"


OURS = "+15551230000"


TODAY = date(2026, 11, 23)


def rfc2822(day: date, hour: int, minute: int) -> str:
    """``Mon, 23 Nov 2026 09:01:00 +0000``, as Twilio writes dates."""
    return format_datetime(datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC))


def sms(
    n: int,
    body: str,
    *,
    frm: str = "+15557654321",
    direction: str = "inbound",
    day: date = TODAY,
) -> dict:
    return {
        "sid": f"SM{n:032d}",
        "from": frm if direction == "inbound" else OURS,
        "to": OURS if direction == "inbound" else frm,
        "body": body,
        "direction": direction,
        "status": "received",
        "num_segments": "1",
        "date_sent": rfc2822(day, 9, n % 60),
    }


def call(
    n: int, status: str, duration: int, frm: str = "+15557654321", *, day: date = TODAY
) -> dict:
    sid = f"CA{n:032d}"
    return {
        "sid": sid,
        "from": frm,
        "to": OURS,
        "status": status,
        "direction": "inbound",
        "duration": str(duration),
        "start_time": rfc2822(day, 8, n % 60),
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
    #: Honour the day filter (``DateSent>``, ``StartTime>``: that UTC day or later) as
    #: Twilio does; off by default for tests whose adapter's today is the real one.
    by_day: bool = False

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
            params = request.url.params
            assert params.get(day_key) or params.get("Page")
            items = self.messages if key == "messages" else self.calls
            since = params.get(day_key, "")
            if self.by_day and since:
                date_key = "date_sent" if key == "messages" else "start_time"
                items = [i for i in items if _day_of(i, date_key) >= since]
            page = int(params.get("Page", 0))
            chunk = items[page * self.page_size : (page + 1) * self.page_size]
            more = (page + 1) * self.page_size < len(items)
            query = {day_key: since} if since else {}
            query |= {"Page": str(page + 1), "PageToken": f"PA{page + 1}"}
            next_uri = f"{path}?{urlencode(query)}" if more else None
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


def _day_of(record: Any, key: str) -> str:
    """The UTC day (``YYYY-MM-DD``) of a record's RFC 2822 date; ``9999-12-31`` (always
    listed) when it has none."""
    value = record.get(key) if isinstance(record, dict) else None
    try:
        return parsedate_to_datetime(value).astimezone(UTC).date().isoformat()
    except (TypeError, ValueError, IndexError, OverflowError):
        return "9999-12-31"

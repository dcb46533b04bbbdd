"""A fake of Twilio's REST API as a WhatsApp sender sees it, for an
``httpx.MockTransport``: ``Messages.json`` with ``whatsapp:+…`` addresses (paged by
``next_page_uri``), the Media subresource (a 302 to ``https://`` storage), template
sends, WhatsApp's error codes, and the Senders API ``doctor`` reads.

Shapes from Twilio's documentation:

- Message resource (``from``/``to`` as ``whatsapp:+E.164``, ``num_media``,
  ``subresource_uris.media``, ``direction``, RFC 2822 dates):
  https://www.twilio.com/docs/messaging/api/message-resource
- Media subresource (``media_list``, each ``uri``; the content a redirect away):
  https://www.twilio.com/docs/messaging/api/media-resource
- Sending templates: ``ContentSid`` and ``ContentVariables`` (a JSON object), without
  ``Body``: https://www.twilio.com/docs/content/send-templates-created-with-the-content-template-builder
- Errors (``{"code", "message", "more_info", "status"}``):
  63016 outside the 24-hour window https://www.twilio.com/docs/api/errors/63016,
  63007 no channel for the From address https://www.twilio.com/docs/api/errors/63007,
  63018 channel rate limit https://www.twilio.com/docs/api/errors/63018,
  20429 too many requests, 20003 authenticate, 21211 invalid To number.
  (Twilio may also report 63016 later, on the message's ``error_code``; this fake
  answers it at once, the way a refused create is reported.)
- Senders API (``GET /v2/Channels/Senders?Channel=whatsapp``: ``senders`` with
  ``sender_id`` ``whatsapp:+…`` and ``status``, and ``meta``):
  https://www.twilio.com/docs/whatsapp/api/senders

``profile_name`` is the WhatsApp profile name (the webhook's ``ProfileName``); records
without it are as common, and the adapter takes either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import parse_qs

import httpx

from tests.support.twilio_fake import SID, TODAY, FakeTwilio, rfc2822

OURS = "whatsapp:+15551230000"
CUSTOMER = "+15557654321"
BASE = f"/2010-04-01/Accounts/{SID}"
TEMPLATE = "HX0123456789abcdef0123456789abcdef"
MEDIA_HOST = "media.test"


def wa_message(
    n: int,
    body: str,
    *,
    frm: str = CUSTOMER,
    direction: str = "inbound",
    media: int = 0,
    profile: str | None = "Ada",
    day: date = TODAY,
) -> dict:
    """A WhatsApp message record as ``Messages.json`` lists it."""
    sid = f"SM{n:032d}"
    record: dict = {
        "sid": sid,
        "account_sid": SID,
        "from": "whatsapp:" + frm if direction == "inbound" else OURS,
        "to": OURS if direction == "inbound" else "whatsapp:" + frm,
        "body": body,
        "direction": direction,
        "status": "received" if direction == "inbound" else "delivered",
        "num_media": str(media),
        "num_segments": "1",
        "api_version": "2010-04-01",
        "date_sent": rfc2822(day, 9, n % 60),
        "error_code": None,
        "subresource_uris": {"media": f"{BASE}/Messages/{sid}/Media.json"},
    }
    if profile is not None:
        record["profile_name"] = profile
    return record


def twilio_error(code: int, status: int, message: str, **headers: str) -> httpx.Response:
    """An error answer in Twilio's documented shape."""
    return httpx.Response(
        status,
        headers=headers,
        json={
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


@dataclass
class FakeWhatsApp(FakeTwilio):
    """Twilio for one WhatsApp sender. ``closed``: customer numbers whose 24-hour
    window is closed (free text is refused with 63016); ``senders``: the account's
    WhatsApp senders for the Senders API; ``media``: stored media by path on
    :data:`MEDIA_HOST`."""

    closed: set[str] = field(default_factory=set)
    senders: list[dict] = field(
        default_factory=lambda: [{"sid": "XE" + "0" * 32, "sender_id": OURS, "status": "ONLINE"}]
    )
    media: dict[str, bytes] = field(default_factory=dict)
    #: Answers for the next sends (``POST Messages.json``) only, before any other.
    send_fail: list[httpx.Response] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.url.host == MEDIA_HOST:  # Twilio's media storage: no credentials
            self.queries.append(request)
            return httpx.Response(200, content=self.media.get(path, b""))
        if path == f"{BASE}/Messages.json" and request.method == "GET":
            assert request.url.params.get("To", OURS) == OURS
        if path == f"{BASE}/Messages.json" and request.method == "POST" and not self.fail:
            self.queries.append(request)
            return self._create(request)
        if path.endswith("/Media.json") and "/Messages/" in path and not self.fail:
            self.queries.append(request)
            sid = path.split("/Messages/")[1].split("/")[0]
            count = next((int(m["num_media"]) for m in self.messages if m.get("sid") == sid), 0)
            listing = [
                {"sid": f"ME{i}", "content_type": "image/jpeg", "uri": f"{path[:-5]}/ME{i}.json"}
                for i in range(count)
            ]
            return httpx.Response(200, json={"media_list": listing, "next_page_uri": None})
        if "/Media/ME" in path and not self.fail:
            self.queries.append(request)
            return httpx.Response(
                302, headers={"Location": f"https://{MEDIA_HOST}{path.split('/Messages')[1]}"}
            )
        if path == "/v2/Channels/Senders" and not self.fail:
            self.queries.append(request)
            assert request.url.params.get("Channel") == "whatsapp"
            meta = {"page": 0, "page_size": 100, "key": "senders", "next_page_url": None}
            return httpx.Response(200, json={"senders": self.senders, "meta": meta})
        return super().handler(request)

    def _create(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"].startswith("Basic ")
        form = parse_qs(request.content.decode())
        self.sent.append(form)
        if self.send_fail:
            return self.send_fail.pop(0)
        if form.get("From") != [OURS]:
            return twilio_error(
                63007, 400, "Twilio could not find a Channel with the specified From address"
            )
        to = form["To"][0]
        if not to.startswith("whatsapp:+") or not to[10:].isdigit():
            return twilio_error(21211, 400, f"The 'To' number {to} is not a valid phone number.")
        if "ContentSid" in form:
            assert "Body" not in form
            json.loads(form.get("ContentVariables", ["{}"])[0])  # a JSON object, or a 400
        elif to.removeprefix("whatsapp:") in self.closed:
            return twilio_error(
                63016,
                400,
                "Failed to send freeform message because you are outside the allowed window. "
                "If you are using WhatsApp, please use a Message Template.",
            )
        sid = f"SMout{len(self.sent)}"
        return httpx.Response(201, json={"sid": sid, "status": "queued", "to": to, "from": OURS})

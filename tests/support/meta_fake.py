"""A fake Meta Graph API (a Page's Messenger / Instagram conversations, the Send API,
message attachments on a CDN) for an ``httpx.MockTransport``, built from the shapes
Meta documents:

- Conversations API: ``GET /{page-id}/conversations?platform=…`` answers
  ``{"data": [{"id", "updated_time"}], "paging": {"cursors": {"before", "after"},
  "next": <URL with access_token>}}``, newest first; ``/{conversation-id}/messages``
  the same with ``id, created_time, from, to, message, attachments``
  (https://developers.facebook.com/docs/messenger-platform/conversations,
  https://developers.facebook.com/docs/graph-api/reference/conversation/messages,
  cursor paging: https://developers.facebook.com/docs/graph-api/results).
- Attachments: ``{"data": [{"id", "mime_type", "name", "size", "image_data": {"url",
  "preview_url", …}, "video_data": {"url", …}, "file_url"}]}``
  (https://developers.facebook.com/docs/graph-api/reference/message/attachments).
- Send API: ``POST /{page-id}/messages`` with ``recipient``, ``messaging_type``,
  ``message`` (and ``tag``), answering ``{"recipient_id", "message_id"}``
  (https://developers.facebook.com/docs/messenger-platform/reference/send-api).
- Files with the Send API: ``POST /{page-id}/messages`` as multipart/form-data, the
  form fields ``recipient`` and ``message`` JSON-encoded (``{"attachment": {"type":
  "image|audio|video|file", "payload": {"is_reusable": …}}}``), the file in ``filedata``;
  up to 25 MB (https://developers.facebook.com/docs/messenger-platform/send-messages/saving-assets);
  Instagram takes image (PNG, JPEG, 8 MB), video and audio (25 MB)
  (https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message);
  a refused upload is error 100 / subcode 2018047 "Upload attachment failure"
  (https://developers.facebook.com/docs/messenger-platform/error-codes).
- Errors: ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``
  (https://developers.facebook.com/docs/messenger-platform/error-codes), rate limits with
  the ``X-App-Usage`` / ``X-Page-Usage`` / ``X-Business-Use-Case-Usage`` headers
  (``estimated_time_to_regain_access`` in minutes;
  https://developers.facebook.com/docs/graph-api/overview/rate-limiting/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.multipart_form import FormFile, is_form, read_form

API = "https://graph.test/v21.0"
PAGE = "1122334455"
IG_ACCOUNT = "17841400000000001"
TOKEN = "EAAGpagetokenSECRET0123456789"
CUSTOMER = "6543210987654321"
CDN = "https://scontent.cdn.test"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def stamp(minutes: int) -> str:
    """A Graph time ``minutes`` after :data:`T0` (``2026-11-23T09:00:00+0000``)."""
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S+0000")


def message(
    n: int,
    text: str,
    *,
    minute: int | None = None,
    frm: str = CUSTOMER,
    name: str = "Ada Lovelace",
    attachments: list[dict] | None = None,
    username: bool = False,
) -> dict:
    """A message of the ``/messages`` edge, as Graph writes it."""
    sender = {"username": name, "id": frm} if username else {"name": name, "id": frm}
    item: dict = {
        "id": f"m_{n:04d}",
        "created_time": stamp(n if minute is None else minute),
        "from": sender,
        "to": {"data": [{"name": "Kettle Shop", "id": PAGE if frm != PAGE else CUSTOMER}]},
        "message": text,
    }
    if attachments:
        item["attachments"] = {"data": attachments}
    return item


def image(n: int) -> dict:
    return {
        "id": f"att_{n}",
        "mime_type": "image/png",
        "name": f"photo-{n}.png",
        "size": 7,
        "image_data": {
            "width": 1,
            "height": 1,
            "url": f"{CDN}/v/photo-{n}.png?oh=sig",
            "preview_url": f"{CDN}/v/p-{n}.png",
        },
    }


def graph_error(
    code: int,
    text: str,
    *,
    subcode: int | None = None,
    status: int = 400,
    kind: str = "OAuthException",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A Graph error answer."""
    error: dict = {"message": text, "type": kind, "code": code, "fbtrace_id": "AbCdEf123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return httpx.Response(status, json={"error": error}, headers=headers)


def buc_usage(minutes: int) -> dict[str, str]:
    """The Business Use Case header of a throttled page."""
    usage = {
        PAGE: [
            {
                "type": "messenger",
                "call_count": 100,
                "total_cputime": 30,
                "total_time": 40,
                "estimated_time_to_regain_access": minutes,
            }
        ]
    }
    return {"X-Business-Use-Case-Usage": json.dumps(usage)}


@dataclass
class FakeGraph:
    """Conversations (id -> messages) of one page; records what it was asked and sent."""

    conversations: dict[str, list[dict]] = field(default_factory=dict)
    platform: str = "messenger"
    page_size: int = 2
    sent: list[dict] = field(default_factory=list)
    queries: list[httpx.Request] = field(default_factory=list)
    fail: list[httpx.Response] = field(default_factory=list)
    #: Errors for sends only (the poll is not affected).
    send_fail: list[httpx.Response] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    cdn_requests: list[httpx.Request] = field(default_factory=list)
    #: The file of each multipart send, in the order they came (None for text).
    uploads: list[FormFile] = field(default_factory=list)
    #: Extra raw entries of the conversation listing (malformed ones).
    odd_listing: list[object] = field(default_factory=list)
    #: The listing's ``updated_time`` of a conversation, when not its newest message's.
    listed_times: dict[str, str] = field(default_factory=dict)

    def updated(self, cid: str) -> str:
        if cid in self.listed_times:
            return self.listed_times[cid]
        return max(m.get("created_time", "") for m in self.conversations[cid])

    def _page(self, request: httpx.Request, items: list, path: str) -> httpx.Response:
        size = int(request.url.params.get("limit", self.page_size))
        size = min(size, self.page_size)
        start = int(request.url.params.get("after", "0") or 0)
        chunk = items[start : start + size]
        body: dict = {"data": chunk}
        if chunk:
            end = start + len(chunk)
            body["paging"] = {"cursors": {"before": str(start), "after": str(end)}}
            if end < len(items):
                query = dict(request.url.params)
                query.update(access_token=TOKEN, after=str(end), limit=str(size))
                body["paging"]["next"] = str(httpx.URL(f"{API}{path}", params=query))
        return httpx.Response(200, json=body)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "graph.test":
            return self._cdn(request)
        self.queries.append(request)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert "access_token" not in request.url.params  # the token stays out of URLs
        path = request.url.path.removeprefix("/v21.0")
        if request.method == "POST" and path == f"/{PAGE}/messages":
            return self._send(request)
        if self.fail:
            return self.fail.pop(0)
        fields = request.url.params.get("fields", "")
        if path == f"/{PAGE}/conversations":
            assert request.url.params["platform"] == self.platform
            ordered = sorted(self.conversations, key=self.updated, reverse=True)
            listing = [{"id": c, "updated_time": self.updated(c)} for c in ordered]
            return self._page(request, [*self.odd_listing, *listing], path)
        if path.endswith("/messages") and path.count("/") == 2:
            cid = path.split("/")[1]
            if cid not in self.conversations:
                return graph_error(100, "Unsupported get request.", subcode=33)
            items = sorted(
                self.conversations[cid], key=lambda m: str(m.get("created_time")), reverse=True
            )
            return self._page(request, items, path)
        if path == f"/{PAGE}":
            body: dict = {"id": PAGE, "name": "Kettle Shop"}
            if "instagram_business_account" in fields:
                body["instagram_business_account"] = {"id": IG_ACCOUNT, "username": "kettleshop"}
            return httpx.Response(200, json=body)
        if path == "/me":
            return httpx.Response(200, json={"id": PAGE, "name": "Kettle Shop"})
        for items in self.conversations.values():
            for item in items:
                if path == f"/{item.get('id')}" and fields == "attachments":
                    return httpx.Response(
                        200, json={"id": item["id"], "attachments": item.get("attachments", {})}
                    )
        return graph_error(100, "Unsupported get request.", subcode=33)

    def _send(self, request: httpx.Request) -> httpx.Response:
        if is_form(request):
            return self._send_file(request)
        body = json.loads(request.content)
        self.sent.append(body)
        if self.send_fail:
            return self.send_fail.pop(0)
        return self._sent(body)

    def _send_file(self, request: httpx.Request) -> httpx.Response:
        """A Send API call with a file: the JSON form fields decoded into ``sent``, the
        file into ``uploads``; an attachment the platform refuses is error 2018047."""
        fields, files = read_form(request)
        body: dict = {
            k: v if k in ("messaging_type", "tag") else json.loads(v) for k, v in fields.items()
        }
        self.sent.append(body)
        assert [f.field for f in files] == ["filedata"], "one file, in filedata"
        self.uploads.append(files[0])
        if self.send_fail:
            return self.send_fail.pop(0)
        attachment = body["message"]["attachment"]
        kind, size = attachment["type"], len(files[0].content)
        allowed = (
            {"image", "video", "audio"}
            if self.platform == "instagram"
            else {"image", "video", "audio", "file"}
        )
        limit = 8 << 20 if self.platform == "instagram" and kind == "image" else 25 << 20
        if kind not in allowed or size > limit or "is_reusable" not in attachment["payload"]:
            return graph_error(
                100, "(#100) Upload attachment failure.", subcode=2018047, kind="OAuthException"
            )
        return self._sent(body)

    def _sent(self, body: dict) -> httpx.Response:
        return httpx.Response(
            200,
            json={"recipient_id": body["recipient"]["id"], "message_id": f"m_out{len(self.sent)}"},
        )

    def _cdn(self, request: httpx.Request) -> httpx.Response:
        self.cdn_requests.append(request)
        data = self.files.get(request.url.path)
        return httpx.Response(200, content=data) if data is not None else httpx.Response(404)

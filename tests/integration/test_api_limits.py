"""Size limits and server-supplied URLs of the HTTP API channels (security findings 4
and 9): answers are read under ``max_response_bytes`` (streamed, gzip included, never
more held), a poll whose answer is too large asks again with smaller pages, an item over
``max_item_bytes`` is quarantined cut to that size, attachments are capped by
``max_attachment_bytes``, a Telegram ``file_path`` or a media URL cannot point anywhere
else, a bad ``api_base`` or limit is a one-line error, and credentials a server echoes
never reach an error."""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError
from adapters.http_api import (
    AnswerTooLarge,
    LimitedClient,
    credentials_of,
    error_for,
    scrub,
)
from adapters.mastodon import MastodonAdapter
from adapters.matrix import MatrixAdapter
from adapters.telegram import TelegramAdapter
from adapters.twilio import TwilioAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import Message, Quarantine
from tests.support import trickle_http
from tests.support.mastodon_fake import TOKEN as MD_TOKEN
from tests.support.mastodon_fake import FakeMastodon, mention
from tests.support.telegram_fake import TOKEN as TG_TOKEN
from tests.support.telegram_fake import FakeBotApi, update
from tests.support.twilio_fake import SID, FakeTwilio, sms
from tests.support.twilio_fake import TOKEN as TW_TOKEN

MB = 1 << 20


def telegram(
    handler: Callable[[httpx.Request], httpx.Response], **settings: Any
) -> TelegramAdapter:
    return TelegramAdapter(
        "shop-telegram",
        {"api_base": "https://api.test", "long_poll_seconds": 0, **settings},
        lambda _f: TG_TOKEN,
        transport=httpx.MockTransport(handler),
    )


def twilio(handler: Callable[[httpx.Request], httpx.Response], **settings: Any) -> TwilioAdapter:
    return TwilioAdapter(
        "shop-twilio",
        {"api_base": "https://twilio.test", "account_sid": SID, **settings},
        lambda _f: TW_TOKEN,
        transport=httpx.MockTransport(handler),
        today=date(2026, 11, 23),
    )


def mastodon(
    handler: Callable[[httpx.Request], httpx.Response], **settings: Any
) -> MastodonAdapter:
    return MastodonAdapter(
        "shop-mastodon",
        {"api_base": "https://social.example", **settings},
        lambda _f: MD_TOKEN,
        transport=httpx.MockTransport(handler),
    )


# -- answers over max_response_bytes -------------------------------------------------------


def test_an_endless_answer_is_cut_at_the_limit_and_never_held_whole() -> None:
    limit = 2 * MB
    with trickle_http.serve(trickle_http.flood()) as server:
        client = LimitedClient(max_bytes=limit, timeout=30)
        tracemalloc.start()
        try:
            with pytest.raises(httpx.TransportError) as info:
                client.get(server.url)
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            client.close()
    assert str(info.value).startswith("answer over the 2 MB limit (max_response_bytes)")
    assert peak < limit + MB, f"held {peak:,} bytes for a {limit:,}-byte limit"


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 104857600"
    with trickle_http.serve(trickle_http.raw(head, b"")) as server:
        adapter = telegram(lambda r: httpx.Response(500), api_base=server.url)
        adapter._http = LimitedClient()  # the real network, not the test transport
        with pytest.raises(AnswerTooLarge) as info:
            adapter.call("getMe", {})
        adapter.close()
    assert str(info.value) == (
        "Telegram getMe: answer of 104,857,600 bytes is over the 10 MB limit (max_response_bytes)"
    )


def test_a_gzip_bomb_is_cut_at_the_limit_while_decompressing() -> None:
    bomb = gzip.compress(b"[" + b" " * (64 * MB) + b"]", 9)
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip"
    head += f"\r\nContent-Length: {len(bomb)}"
    with trickle_http.serve(trickle_http.raw(head, bomb)) as server:
        client = LimitedClient(max_bytes=MB)
        tracemalloc.start()
        try:
            with pytest.raises(httpx.TransportError, match="over the 1 MB limit"):
                client.get(server.url)
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            client.close()
    assert len(bomb) < MB and peak < 3 * MB, f"held {peak:,} bytes"


def test_a_gzip_answer_under_the_limit_reads_as_usual() -> None:
    body = json.dumps({"ok": True, "result": {"username": "shop_bot"}}).encode()
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip"
    packed = gzip.compress(body)
    with trickle_http.serve(
        trickle_http.raw(f"{head}\r\nContent-Length: {len(packed)}", packed)
    ) as s:
        client = LimitedClient()
        response = client.post(f"{s.url}/bot{TG_TOKEN}/getMe")
        client.close()
    assert response.json()["result"]["username"] == "shop_bot"
    assert "content-encoding" not in response.headers


def paging_bot(updates: list[dict[str, Any]]) -> tuple[FakeBotApi, Callable[..., httpx.Response]]:
    """The fake Bot API, honouring ``limit`` as the real one does."""
    api = FakeBotApi(updates)

    def handler(request: httpx.Request) -> httpx.Response:
        response = api.handler(request)
        if request.url.path.endswith("/getUpdates") and response.status_code == 200:
            body = json.loads(response.content)
            body["result"] = body["result"][: json.loads(request.content)["limit"]]
            return httpx.Response(200, json=body)
        return response

    return api, handler


def test_the_page_halves_until_the_answer_fits_and_comes_back_once_the_backlog_is_taken() -> None:
    # 30 updates of ~3.2 KB: 100 or 50 a page are ~96 KB, 25 are ~80 KB, 12 are ~38 KB.
    api, handler = paging_bot([update(10 + i, 1 + i, "x" * 3000) for i in range(30)])
    adapter = telegram(handler, max_response_bytes=48 * 1024)
    first = adapter.poll({})
    limits = [p["limit"] for m, p in api.calls if m == "getUpdates"]
    assert limits == [100, 50, 25, 12]
    assert len(first.messages) == 12 and first.more
    offset = first.cursors[0].state["offset"]
    second = adapter.poll({"updates": first.cursors[0]})
    assert len(second.messages) == 12 and second.more
    third = adapter.poll({"updates": second.cursors[0]})
    assert len(third.messages) == 6 and not third.more
    assert offset == 22 and adapter.pages.size == 100  # the backlog is taken: full pages again


def test_one_update_over_the_response_limit_is_a_clear_account_error(engine: Engine) -> None:
    api, handler = paging_bot([update(10, 1, "x" * 70_000)])
    acct = AccountConfig(name="shop-telegram", kind="telegram", settings={})
    svc = SyncService(
        engine,
        Desk(),
        (acct,),
        adapter_builder=lambda a: telegram(handler, max_response_bytes=64 * 1024),
    )
    outcome = svc.round(acct)
    assert not outcome.ok and outcome.error is not None and "\n" not in outcome.error
    assert outcome.error.startswith("Telegram getUpdates: answer of ")
    assert "over the 65,536 bytes limit (max_response_bytes)" in outcome.error
    assert "even one update a page; raise max_response_bytes" in outcome.error
    assert [p["limit"] for m, p in api.calls if m == "getUpdates"][-1] == 1


def test_mastodon_and_twilio_pages_halve_too() -> None:
    md = FakeMastodon([mention(n, "<p>" + "y" * 3000 + "</p>") for n in range(1, 31)])
    adapter = mastodon(md.handler, max_response_bytes=64 * 1024)
    assert len(adapter.poll({}).messages) == 30
    asked = [int(r.url.params["limit"]) for r in md.requests if "limit" in r.url.params]
    assert asked[:3] == [40, 20, 10] and adapter.pages.size == 40

    tw = FakeTwilio([sms(n, "z" * 3000) for n in range(1, 31)], page_size=100)

    def paged(request: httpx.Request) -> httpx.Response:
        tw.page_size = int(request.url.params.get("PageSize", tw.page_size))
        return tw.handler(request)

    phone = twilio(paged, max_response_bytes=64 * 1024)
    assert len(phone.poll({}).messages) == 30
    sizes = [r.url.params.get("PageSize") for r in tw.queries if "Messages" in r.url.path]
    assert sizes[:3] == ["100", "50", "25"] and phone.pages.size == 12


# -- items over max_item_bytes ---------------------------------------------------------------


def test_an_update_over_the_item_limit_is_quarantined_cut_to_it(engine: Engine) -> None:
    api = FakeBotApi([update(10, 1, "first"), update(11, 2, "x" * 50_000), update(12, 3, "third")])
    acct = AccountConfig(name="shop-telegram", kind="telegram", settings={})
    svc = SyncService(
        engine,
        Desk(),
        (acct,),
        adapter_builder=lambda a: telegram(api.handler, max_item_bytes=10_000),
    )
    outcome = svc.round(acct)
    assert outcome.ok and outcome.fetched == 2 and outcome.quarantined == 1
    with Session(engine) as s:
        assert [m.text for m in s.exec(select(Message).order_by(Message.id))] == ["first", "third"]
        (kept,) = s.exec(select(Quarantine)).all()
    assert kept.external_id == "update:11" and kept.raw_type == "text/plain"
    assert kept.raw[:10_000] == json.dumps(api_update(11, 2), ensure_ascii=False).encode()[:10_000]
    assert kept.raw[10_000:].startswith(b"\n[omnitui: cut to the first 10,000 bytes of ")
    assert "over the 10,000 bytes limit (max_item_bytes)" in kept.error
    assert "xxxx" not in kept.error
    assert [p.get("offset") for m, p in api.calls if m == "getUpdates"][-1] is None
    svc.round(acct)
    assert [p.get("offset") for m, p in api.calls if m == "getUpdates"][-1] == 13


def api_update(update_id: int, message_id: int) -> dict[str, Any]:
    return update(update_id, message_id, "x" * 50_000)


def test_twilio_and_mastodon_items_over_the_limit_are_rejected_not_dropped() -> None:
    tw = FakeTwilio([sms(1, "short"), sms(2, "z" * 20_000)])
    result = twilio(tw.handler, max_item_bytes=5_000).poll({})
    assert [m.text for m in result.messages] == ["short"]
    (rejected,) = result.rejected
    assert rejected.external_id == f"SM{2:032d}" and len(rejected.raw) < 5_100
    assert "max_item_bytes" in rejected.error

    md = FakeMastodon([mention(1, "<p>hi</p>"), mention(2, "<p>" + "y" * 20_000 + "</p>")])
    result = mastodon(md.handler, max_item_bytes=5_000).poll({})
    assert len(result.messages) == 1
    (rejected,) = result.rejected
    assert rejected.external_id == "notification:1002" and "max_item_bytes" in rejected.error


# -- attachments -------------------------------------------------------------------------------


def test_a_telegram_file_over_the_attachment_limit_is_not_downloaded() -> None:
    api = FakeBotApi()
    adapter = telegram(api.handler, max_attachment_bytes=4)  # the fake's file is 5 bytes
    with pytest.raises(AdapterError, match=r"file of 5 bytes is over the 4 bytes limit"):
        adapter.fetch_attachment("big")
    assert [m for m, _p in api.calls] == ["getFile"]


def test_a_telegram_download_longer_than_announced_stops_at_the_limit() -> None:
    api = FakeBotApi()

    def lying(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/file/"):
            return httpx.Response(200, content=b"\xff" * 10_000)  # said 5 bytes
        return api.handler(request)

    with pytest.raises(AnswerTooLarge) as info:
        telegram(lying, max_attachment_bytes=1000).fetch_attachment("big")
    assert "over the 1,000 bytes limit (max_attachment_bytes)" in str(info.value)
    assert TG_TOKEN not in str(info.value)


@pytest.mark.parametrize(
    "path",
    [
        "../../../../etc/passwd",
        "/etc/passwd",
        "photos/../../x",
        "photos/%2e%2e/%2e%2e/x",
        "photos\\..\\..\\x",
        "https://evil.test/x",
        "//evil.test/x",
        "file:///etc/passwd",
        "photos/./file_1.jpg",
        "photos/file 1.jpg",
        "photos/file_1.jpg?x=1",
        "",
        7,
    ],
)
def test_a_telegram_file_path_that_could_leave_the_file_area_is_refused(path: Any) -> None:
    api = FakeBotApi()
    requested: list[str] = []

    def hostile(request: httpx.Request) -> httpx.Response:
        requested.append(request.url.path)
        if request.url.path.endswith("/getFile"):
            result = {"file_id": "f", "file_size": 5, "file_path": path}
            return httpx.Response(200, json={"ok": True, "result": result})
        return api.handler(request)

    with pytest.raises(AdapterError) as info:
        telegram(hostile).fetch_attachment("f")
    assert not info.value.retryable
    assert len(requested) == 1, f"fetched {requested[1:]}"
    if path:
        assert "refused a file_path" in str(info.value)


def test_a_plain_telegram_file_path_is_downloaded_from_the_file_area() -> None:
    api = FakeBotApi()
    adapter = telegram(api.handler)
    assert adapter.fetch_attachment("big") == b"\xff\xd8jpg"
    url = adapter.file_url("photos/file_1.jpg")
    assert str(url) == f"https://api.test/file/bot{TG_TOKEN}/photos/file_1.jpg"


def mms_twilio(storage_url: str) -> tuple[FakeTwilio, list[httpx.Request], TwilioAdapter]:
    base = f"/2010-04-01/Accounts/{SID}"
    message = {
        **sms(1, "see photo"),
        "num_media": "1",
        "subresource_uris": {"media": f"{base}/Messages/{'SM' + '0' * 31 + '1'}/Media.json"},
    }
    tw = FakeTwilio([message])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if request.url.host == "media.example":
            return httpx.Response(200, content=b"PNG...")
        if path.endswith("/Media.json"):
            uri = f"{path.removesuffix('.json')}/ME1.json"
            return httpx.Response(200, json={"media_list": [{"sid": "ME1", "uri": uri}]})
        if path.endswith("/Media/ME1"):
            return httpx.Response(302, headers={"Location": storage_url})
        return tw.handler(request)

    return tw, seen, twilio(handler)


def test_twilio_mms_media_are_announced_and_fetched_without_credentials_off_twilio() -> None:
    _tw, seen, adapter = mms_twilio("https://media.example/abc.png")
    (message,) = adapter.poll({}).messages
    (attachment,) = message.attachments
    assert attachment.remote_ref is not None and attachment.remote_ref.endswith("Media.json#0")
    assert adapter.fetch_attachment(attachment.remote_ref) == b"PNG..."
    on_twilio = [r for r in seen if r.url.host == "twilio.test"]
    off_twilio = [r for r in seen if r.url.host == "media.example"]
    assert all(r.headers["Authorization"].startswith("Basic ") for r in on_twilio)
    assert len(off_twilio) == 1 and "Authorization" not in off_twilio[0].headers


@pytest.mark.parametrize(
    "target", ["http://media.example/abc.png", "https://user:pw@media.example/x", "ftp://x/y"]
)
def test_twilio_media_redirects_off_https_are_refused(target: str) -> None:
    _tw, seen, adapter = mms_twilio(target)
    (message,) = adapter.poll({}).messages
    with pytest.raises(AdapterError) as info:
        adapter.fetch_attachment(message.attachments[0].remote_ref or "")
    assert not info.value.retryable and "pw" not in str(info.value)
    assert not [r for r in seen if r.url.host == "media.example"]


@pytest.mark.parametrize(
    "ref",
    [
        "/2010-04-01/Accounts/ACother/Messages/SM1/Media.json#0",
        f"/2010-04-01/Accounts/{SID}/Messages/../../x/Media.json#0",
        "https://evil.test/Media.json#0",
        f"/2010-04-01/Accounts/{SID}/Messages/SM1/Media.json#x",
    ],
)
def test_twilio_media_references_outside_the_account_are_refused(ref: str) -> None:
    _tw, seen, adapter = mms_twilio("https://media.example/abc.png")
    with pytest.raises(AdapterError, match="not a media reference of this account"):
        adapter.fetch_attachment(ref)
    assert seen == []


def test_mastodon_media_come_from_https_without_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"GIF89a")

    adapter = mastodon(handler)
    assert adapter.fetch_attachment("https://files.social.example/media/1.gif") == b"GIF89a"
    assert "Authorization" not in seen[0].headers
    for bad in ("http://files.social.example/1.gif", "https://u:p@files.example/1", "nope"):
        with pytest.raises(AdapterError):
            adapter.fetch_attachment(bad)
    assert len(seen) == 1
    local = MastodonAdapter(
        "m",
        {"api_base": "http://127.0.0.1:8080"},
        lambda _f: MD_TOKEN,
        transport=httpx.MockTransport(handler),
    )
    assert local.fetch_attachment("http://127.0.0.1:8080/system/1.gif") == b"GIF89a"


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base",
    ["http://[::1", "ftp://api.test", "https://", "api.telegram.org", "https://u:sekrit@h.test"],
)
@pytest.mark.parametrize("kind", ["telegram", "twilio", "mastodon", "matrix"])
def test_a_bad_api_base_is_a_one_line_error_when_the_adapter_is_built(kind: str, base: str) -> None:
    build = {
        "telegram": TelegramAdapter,
        "twilio": TwilioAdapter,
        "mastodon": MastodonAdapter,
        "matrix": MatrixAdapter,  # the check is the shared base class's
    }
    with pytest.raises(AdapterError) as info:
        build[kind]("acct", {"api_base": base, "account_sid": SID}, lambda _f: "t")  # type: ignore[operator]
    message = str(info.value)
    assert message.startswith("acct: api_base ") and "is not usable: " in message
    assert "\n" not in message and "sekrit" not in message and not info.value.retryable


def test_a_missing_api_base_or_a_bad_limit_is_a_one_line_error(engine: Engine) -> None:
    with pytest.raises(AdapterError, match=r"^m: api_base is missing"):
        MastodonAdapter("m", {}, lambda _f: "t")
    with pytest.raises(AdapterError, match=r"^t: max_response_bytes must be a positive number"):
        TelegramAdapter("t", {"max_response_bytes": "ten"}, lambda _f: "t")
    acct = AccountConfig(
        name="shop-telegram", kind="telegram", settings={"api_base": "http://[::1"}
    )
    outcome = SyncService(engine, Desk(), (acct,)).round(acct)
    assert outcome.error == (
        "shop-telegram: api_base 'http://[::1' is not usable: Invalid port: ':1'"
    )


# -- credentials in error text ------------------------------------------------------------------


def test_every_form_of_a_credential_is_scrubbed() -> None:
    pair = f"{SID}:{TW_TOKEN}"
    basic = base64.b64encode(pair.encode()).decode()
    request = httpx.Request(
        "GET",
        f"https://user:pa55word@api.test/bot{TG_TOKEN}/getMe",
        headers={"Authorization": f"Basic {basic}"},
    )
    found = credentials_of(request)
    assert {basic, pair, TW_TOKEN, "user:pa55word", "pa55word", TG_TOKEN} <= set(found)
    echoed = (
        f"auth {basic} pair {pair} token {TW_TOKEN} url https://user:pa55word@api.test/bot{TG_TOKEN}/x"
        " Authorization: Bearer syt_abc123DEF456ghi and ?access_token=abc123&x=1"
    )
    cleaned = scrub(echoed, found)
    for leaked in (basic, TW_TOKEN, "pa55word", TG_TOKEN, "syt_abc123DEF456ghi", "abc123&"):
        assert leaked not in cleaned, cleaned
    assert scrub("Basic authentication is required; basic plan") == (
        "Basic authentication is required; basic plan"
    )


def test_an_echoed_basic_auth_header_never_reaches_the_error() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        header = request.headers["Authorization"]
        pair = base64.b64decode(header.split()[1]).decode()
        message = f"bad request {header} ({pair}) token={pair.split(':')[1]}"
        return httpx.Response(400, json={"code": 21211, "message": message})

    with pytest.raises(AdapterError) as info:
        twilio(echo).request("GET", f"/2010-04-01/Accounts/{SID}.json")
    basic = base64.b64encode(f"{SID}:{TW_TOKEN}".encode()).decode()
    assert basic not in str(info.value) and TW_TOKEN not in str(info.value)
    assert str(info.value).startswith(f"Twilio GET {SID}.json: 400 bad request Basic ***")
    response = httpx.Response(
        500,
        request=httpx.Request(
            "GET", "https://x.test", headers={"Authorization": "Bearer tok-123456789"}
        ),
    )
    assert "tok-123456789" not in str(error_for("X", response, None, "said Bearer tok-123456789"))

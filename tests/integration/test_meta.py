"""Messenger and Instagram contract tests: an in-process fake of the Graph API's
documented shapes (conversations and messages with cursor paging and token-carrying
``next`` URLs, attachments on a CDN, the Send API, Graph error objects and usage
headers), through the real SyncService and store."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import (
    AdapterError,
    AuthError,
    Cursor,
    OutboundMessage,
    SecretGetter,
    UncertainDelivery,
)
from adapters.meta import (
    INSTAGRAM_SPEC,
    MESSENGER_SPEC,
    InstagramAdapter,
    MetaAdapter,
    MetaSpec,
)
from omnitui.config import AccountConfig
from omnitui.desk import Desk, ReplyWindowClosed
from omnitui.desk.account_rule import AccountRule
from omnitui.sync import SyncService
from omnitui.sync.quarantine_retry import retry
from storage.models import AccountState, Conversation, Identity, Message, Quarantine
from tests.support.meta_fake import (
    API,
    CDN,
    CUSTOMER,
    IG_ACCOUNT,
    PAGE,
    T0,
    TOKEN,
    FakeGraph,
    buc_usage,
    graph_error,
    image,
    message,
    stamp,
)

OTHER = "7777000011112222"


def adapter(api: FakeGraph, kind: str = "messenger", **settings: object) -> MetaAdapter:
    cls = InstagramAdapter if kind == "instagram" else MetaAdapter
    return cls(
        f"shop-{kind}",
        {"api_base": API, "page_id": PAGE, **settings},
        lambda field: TOKEN,
        transport=httpx.MockTransport(api.handler),
    )


def account(kind: str = "messenger") -> AccountConfig:
    return AccountConfig(name=f"shop-{kind}", kind=kind, settings={})


def service(engine: Engine, api: FakeGraph, kind: str = "messenger") -> SyncService:
    return SyncService(
        engine, Desk(), (account(kind),), adapter_builder=lambda a: adapter(api, kind)
    )


def stored(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).order_by(Message.sent_at, Message.id)).all())


def reply(engine: Engine, text: str, desk: Desk | None = None, at: datetime | None = None) -> None:
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        (desk or Desk()).reply(s, conv, text, at=at)
        s.commit()


def window_desk(human_agent: bool) -> Desk:
    """A desk that knows the account's kind and settings (it asks the spec's window)."""
    rule = AccountRule("messenger", {"api_base": API, "page_id": PAGE, "human_agent": human_agent})
    return Desk(accounts={"shop-messenger": rule})


def test_messages_arrive_once_across_pages_and_repeated_polls(engine: Engine) -> None:
    api = FakeGraph(
        {
            "t_1": [message(1, "hi"), message(2, "ours", frm=PAGE), message(3, "kettle?")],
            "t_2": [message(4, "a", frm=OTHER, name="Bob"), message(5, "b", frm=OTHER)],
            "t_3": [message(6, "hello from three", frm="5550001")],
        }
    )
    svc = service(engine, api)
    assert svc.round(account()).fetched == 5
    assert [m.text for m in stored(engine)] == ["hi", "kettle?", "a", "b", "hello from three"]
    # paging followed by the cursor, never by the token-carrying next URL
    listing = [q for q in api.queries if q.url.path.endswith("/conversations")]
    assert [q.url.params.get("after") for q in listing] == [None, "2"]
    assert svc.round(account()).fetched == 0
    api.conversations["t_2"].append(message(7, "one more", frm=OTHER))
    before = len(api.queries)
    assert svc.round(account()).fetched == 1
    # only the changed conversation (and the cursor's boundary) is read again
    read = {q.url.path for q in api.queries[before:] if q.url.path.endswith("/messages")}
    assert "/v21.0/t_1/messages" not in read and "/v21.0/t_2/messages" in read
    with Session(engine) as s:
        convs = s.exec(select(Conversation)).all()
        assert {c.thread_key for c in convs} == {"t_1", "t_2", "t_3"}
        ada = s.exec(select(Identity).where(Identity.address == CUSTOMER)).one()
        assert ada.channel == "messenger"
    first = stored(engine)[0]
    assert first.external_id == "m_0001" and first.sent_at.replace(tzinfo=UTC) == datetime(
        2026, 11, 23, 9, 1, tzinfo=UTC
    )


def test_a_long_conversation_is_paged_until_older_than_the_cursor(engine: Engine) -> None:
    api = FakeGraph({"t_1": [message(n, f"m{n}", minute=n * 10) for n in range(1, 8)]})
    svc = service(engine, api)
    assert svc.round(account()).fetched == 7  # four pages of two
    api.conversations["t_1"].append(message(30, "late", minute=300))
    before = len(api.queries)
    assert svc.round(account()).fetched == 1
    pages = [q for q in api.queries[before:] if q.url.path.endswith("/t_1/messages")]
    # page 1 (late, m7) and page 2, which reaches back past the cursor (less 5 minutes)
    assert len(pages) == 2


def test_instagram_skips_our_ig_account_and_names_the_sender(engine: Engine) -> None:
    api = FakeGraph(
        {
            "aWdfdGhyZWFk": [
                message(1, "is it vegan?", name="ada.l", username=True),
                message(2, "yes!", frm=IG_ACCOUNT, name="kettleshop", username=True),
            ]
        },
        platform="instagram",
    )
    assert service(engine, api, "instagram").round(account("instagram")).fetched == 1
    (msg,) = stored(engine)
    assert msg.text == "is it vegan?"
    with Session(engine) as s:
        assert s.exec(select(Conversation)).one().channel == "instagram"
        ident = s.exec(select(Identity)).one()
        assert (ident.channel, ident.address) == ("instagram", CUSTOMER)


def test_a_malformed_message_is_quarantined_and_the_rest_arrive(engine: Engine) -> None:
    bad = message(2, "no sender")
    del bad["from"]
    api = FakeGraph({"t_1": [message(1, "first"), bad, message(3, "third")]})
    api.odd_listing = [{"id": "t_odd"}]  # a listed conversation without updated_time
    svc = service(engine, api)
    outcome = svc.round(account())
    assert outcome.ok and outcome.fetched == 2 and outcome.quarantined == 2
    assert [m.text for m in stored(engine)] == ["first", "third"]
    with Session(engine) as s:
        kept = {q.external_id: q for q in s.exec(select(Quarantine)).all()}
    assert "m_0002" in kept and json.loads(kept["m_0002"].raw)["message"]["message"] == "no sender"
    assert TOKEN not in str([q.error for q in kept.values()])
    # the cursor moved on: the next round fetches nothing and keeps nothing new
    again = svc.round(account())
    assert again.ok and again.fetched == 0
    # still unusable from its raw alone: retry keeps it
    results = retry(engine, Desk(), (account(),), reader=lambda a: adapter(api))
    assert {r.external_id: r.result for r in results}["m_0002"] == "failed"


def test_attachments_are_fetched_on_demand_without_the_token(engine: Engine) -> None:
    api = FakeGraph({"t_1": [message(1, "", attachments=[image(1)])]})
    api.files["/v/photo-1.png"] = b"\x89PNG..."
    service(engine, api).round(account())
    (msg,) = stored(engine)
    with Session(engine) as s:
        from storage.models import Attachment

        (att,) = s.exec(select(Attachment).where(Attachment.message_id == msg.id)).all()
        assert (att.filename, att.content_type, att.remote_ref) == (
            "photo-1.png",
            "image/png",
            "m_0001#0",
        )
    assert adapter(api).fetch_attachment("m_0001#0") == b"\x89PNG..."
    (cdn,) = api.cdn_requests
    assert "Authorization" not in cdn.headers and TOKEN not in str(cdn.url)
    plain = image(2)
    plain["image_data"]["url"] = "http://scontent.cdn.test/v/x.png"
    api.conversations["t_1"].append(message(2, "", attachments=[plain]))
    with pytest.raises(AdapterError, match="not https"):
        adapter(api).fetch_attachment("m_0002#0")
    assert CDN


def test_reply_is_a_response_to_the_psid(engine: Engine) -> None:
    api = FakeGraph({"t_1": [message(1, "hi")]})
    svc = service(engine, api)
    svc.round(account())
    reply(engine, "Back in stock on Friday!")
    assert svc.round(account()).sent == 1
    assert api.sent == [
        {
            "recipient": {"id": CUSTOMER},
            "messaging_type": "RESPONSE",
            "message": {"text": "Back in stock on Friday!"},
        }
    ]


def hours_ago(hours: float) -> tuple[int, datetime]:
    """A message time ``hours`` before now, as minutes after T0 and as a time (the send
    checks the reply window against the clock)."""
    minute = int((datetime.now(UTC) - T0 - timedelta(hours=hours)).total_seconds() // 60)
    return minute, T0 + timedelta(minutes=minute)


def test_after_24_hours_a_human_agent_reply_goes_tagged(engine: Engine) -> None:
    minute, hi = hours_ago(30)
    api = FakeGraph({"t_1": [message(1, "hi", minute=minute)]})
    desk = window_desk(human_agent=True)
    svc = SyncService(engine, desk, (account(),), adapter_builder=lambda a: adapter(api))
    svc.round(account())
    reply(engine, "Sorry for the wait", desk, at=hi + timedelta(hours=30))
    assert svc.round(account()).sent == 1
    (body,) = api.sent
    assert body["messaging_type"] == "MESSAGE_TAG" and body["tag"] == "HUMAN_AGENT"
    assert body["recipient"] == {"id": CUSTOMER}


def test_without_human_agent_the_desk_refuses_after_24_hours(engine: Engine) -> None:
    minute, hi = hours_ago(23)
    api = FakeGraph({"t_1": [message(1, "hi", minute=minute)]})
    desk = window_desk(human_agent=False)
    svc = SyncService(engine, desk, (account(),), adapter_builder=lambda a: adapter(api))
    svc.round(account())
    with pytest.raises(ReplyWindowClosed, match="HUMAN_AGENT permission would allow 7 days"):
        reply(engine, "too late", desk, at=hi + timedelta(hours=25))
    reply(engine, "in time", desk, at=hi + timedelta(hours=23))
    assert svc.round(account()).sent == 1
    assert api.sent[0]["messaging_type"] == "RESPONSE" and "tag" not in api.sent[0]


def test_long_replies_are_split_per_platform() -> None:
    api = FakeGraph()
    out = OutboundMessage(outbox_id=1, channel="messenger", to=CUSTOMER, text="word " * 900)
    adapter(api).send(out)
    assert len(api.sent) == 3 and all(len(b["message"]["text"]) <= 2000 for b in api.sent)
    api.sent.clear()
    adapter(api, "instagram").send(OutboundMessage(1, "instagram", CUSTOMER, "ü" * 1200))
    assert all(len(b["message"]["text"].encode()) <= 1000 for b in api.sent)
    assert "".join(b["message"]["text"] for b in api.sent) == "ü" * 1200


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80006])
def test_rate_limits_back_off_for_the_usage_headers_time(code: int) -> None:
    api = FakeGraph(
        fail=[graph_error(code, "Application request limit reached", headers=buc_usage(7))]
    )
    with pytest.raises(AdapterError) as info:
        adapter(api).poll({})
    assert info.value.retryable and info.value.retry_after == 7 * 60
    assert f"code {code}" in str(info.value)


def test_rate_limit_through_the_sync_service_sets_retry_after(engine: Engine) -> None:
    headers = {"X-App-Usage": json.dumps({"call_count": 100, "total_cputime": 9, "total_time": 9})}
    headers |= {
        "X-Page-Usage": json.dumps({"call_count": 100, "estimated_time_to_regain_access": 30})
    }
    api = FakeGraph(fail=[graph_error(32, "Page request limit reached", headers=headers)])
    outcome = service(engine, api).round(account())
    assert not outcome.ok and "rate limited" in (outcome.error or "")
    with Session(engine) as s:
        state = s.get(AccountState, "shop-messenger")
        assert state is not None and state.retry_after is not None and state.last_error_at
        waited = state.retry_after.replace(tzinfo=UTC) - state.last_error_at.replace(tzinfo=UTC)
    assert waited.total_seconds() >= 30 * 60


def test_expired_token_is_an_auth_error_without_the_token() -> None:
    text = f"Error validating access token: Session has expired (token {TOKEN})"
    api = FakeGraph(fail=[graph_error(190, text, subcode=463)])
    with pytest.raises(AuthError) as info:
        adapter(api).poll({})
    assert TOKEN not in str(info.value) and "190/463" in str(info.value)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (
            graph_error(10, "This message is sent outside of allowed window.", subcode=2018278),
            "window",
        ),
        (
            graph_error(551, "This person isn't available right now.", subcode=1545041),
            "cannot be messaged",
        ),
        (
            graph_error(
                200, "Requires pages_messaging permission", kind="OAuthException", status=403
            ),
            "permission",
        ),
    ],
)
def test_permanent_send_failures_are_one_clear_line(error: httpx.Response, words: str) -> None:
    api = FakeGraph(send_fail=[error])
    with pytest.raises(AdapterError) as info:
        adapter(api).send(OutboundMessage(1, "messenger", CUSTOMER, "hello"))
    assert not info.value.retryable and words in str(info.value)
    assert "\n" not in str(info.value)


def test_a_broken_connection_after_sending_is_uncertain() -> None:
    def cut(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError(f"connection reset (Authorization: Bearer {TOKEN})")

    broken = MetaAdapter(
        "m", {"api_base": API, "page_id": PAGE}, lambda f: TOKEN, transport=httpx.MockTransport(cut)
    )
    with pytest.raises(UncertainDelivery) as info:
        broken.send(OutboundMessage(1, "messenger", CUSTOMER, "hello"))
    assert TOKEN not in str(info.value)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused {request.url}?access_token={TOKEN}")

    down = MetaAdapter(
        "m",
        {"api_base": API, "page_id": PAGE},
        lambda f: TOKEN,
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(AdapterError) as info2:
        down.send(OutboundMessage(1, "messenger", CUSTOMER, "hello"))
    assert not isinstance(info2.value, UncertainDelivery) and info2.value.retryable
    assert TOKEN not in str(info2.value)


def test_the_token_never_appears_in_an_error_the_server_echoes() -> None:
    nxt = f"{API}/{PAGE}/conversations?access_token={TOKEN}&after=2"
    echo = httpx.Response(
        400, json={"error": {"message": f"Invalid cursor in {nxt}", "code": 100, "type": "X"}}
    )
    api = FakeGraph(fail=[echo])
    with pytest.raises(AdapterError) as info:
        adapter(api).poll({})
    assert TOKEN not in str(info.value) and not info.value.retryable


def test_a_cursor_from_a_previous_run_reads_only_newer_conversations() -> None:
    api = FakeGraph({"t_old": [message(1, "old")], "t_new": [message(50, "new")]})
    since = Cursor("conversations", {"since": "2026-11-23T09:30:00+00:00"})
    result = adapter(api).poll({"conversations": since})
    assert [m.text for m in result.messages] == ["new"]
    assert result.cursors[0].state == {
        "since": "2026-11-23T09:50:00+00:00",
        "taken": {"t_new": "2026-11-23T09:50:00+00:00"},
    }
    assert stamp(50) == "2026-11-23T09:50:00+0000"


def test_a_backlog_is_taken_in_steps_without_a_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    import adapters.meta as meta

    monkeypatch.setattr(meta, "STEP", 2)
    api = FakeGraph({f"t_{n}": [message(n, f"c{n}", frm=f"90{n}")] for n in range(1, 6)})
    a = adapter(api)
    cursors: dict[str, Cursor] = {}
    texts: list[str] = []
    for _ in range(5):
        result = a.poll(cursors)
        texts += [m.text for m in result.messages]
        cursors = {c.folder: c for c in result.cursors}
        if not result.more:
            break
    # oldest first; a step's last conversation is read again by the next (absorbed
    # by the store), none is skipped
    assert list(dict.fromkeys(texts)) == ["c1", "c2", "c3", "c4", "c5"]


def spec_on(kind: str, handler: Callable[[httpx.Request], httpx.Response]) -> MetaSpec:
    """The kind's spec with its adapters on the fake (``doctor`` as a user runs it)."""
    cls = InstagramAdapter if kind == "instagram" else MetaAdapter

    def build(name: str, settings: Mapping[str, Any], secret: SecretGetter) -> MetaAdapter:
        return cls(name, settings, secret, transport=httpx.MockTransport(handler))

    return MetaSpec(kind, build, secret_fields=("page_token",))


def test_doctor_checks_both_directions_and_sends_nothing() -> None:
    api = FakeGraph({"t_1": [message(1, "hi")]})
    settings = {"api_base": API, "page_id": PAGE}
    receive, send = spec_on("messenger", api.handler).checks("shop", settings, lambda f: TOKEN)
    assert receive.ok and send.ok and "nothing sent" in send.detail, (receive, send)
    api.platform = "instagram"
    receive, send = spec_on("instagram", api.handler).checks("shop", settings, lambda f: TOKEN)
    assert receive.ok and send.ok and "kettleshop" in receive.detail
    assert api.sent == []
    assert MESSENGER_SPEC.secret_fields == INSTAGRAM_SPEC.secret_fields == ("page_token",)


def test_doctor_says_when_the_token_is_another_pages() -> None:
    api = FakeGraph()

    def other_me(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/me"):
            return httpx.Response(200, json={"id": "999", "name": "Someone else"})
        return api.handler(request)

    settings = {"api_base": API, "page_id": PAGE}
    receive, send = spec_on("messenger", other_me).checks("shop", settings, lambda f: TOKEN)
    assert receive.ok and not send.ok and "999" in send.detail


def test_doctor_fails_both_lines_on_a_refused_token() -> None:
    api = FakeGraph(fail=[graph_error(190, "Invalid OAuth access token.")])
    settings = {"api_base": API, "page_id": PAGE}
    receive, send = spec_on("messenger", api.handler).checks("shop", settings, lambda f: TOKEN)
    assert not receive.ok and not send.ok and "190" in receive.detail


def test_a_message_over_max_item_bytes_is_quarantined_cut(engine: Engine) -> None:
    api = FakeGraph({"t_1": [message(1, "small"), message(2, "x" * 5000)]})
    result = adapter(api, max_item_bytes=2000).poll({})
    assert [m.text for m in result.messages] == ["small"]
    (big,) = result.rejected
    assert big.external_id == "m_0002" and "max_item_bytes" in big.error
    assert len(big.raw) < 2200 and big.raw_type == "text/plain"


def test_a_page_too_large_is_asked_again_smaller() -> None:
    api = FakeGraph({"t_1": [message(n, "y" * 300) for n in range(1, 5)]}, page_size=4)
    result = adapter(api, max_response_bytes=1500).poll({})
    assert sorted(m.external_id for m in result.messages) == [f"m_{n:04d}" for n in range(1, 5)]
    limits = [q.url.params["limit"] for q in api.queries if q.url.path.endswith("/messages")]
    assert limits[:2] == ["25", "12"] and limits[-1] == "1"  # halved until it fits


def test_instagram_without_a_linked_account_says_so() -> None:
    api = FakeGraph(platform="instagram")
    original = api.handler

    def unlinked(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("fields", "").startswith("instagram_business_account"):
            return httpx.Response(200, json={"id": PAGE})
        return original(request)

    ig = InstagramAdapter(
        "ig",
        {"api_base": API, "page_id": PAGE},
        lambda f: TOKEN,
        transport=httpx.MockTransport(unlinked),
    )
    with pytest.raises(AdapterError) as info:
        ig.poll({})
    assert "no linked Instagram professional account" in str(info.value)
    assert not info.value.retryable


def test_a_conversation_graph_refuses_is_quarantined_and_the_rest_arrive(engine: Engine) -> None:
    api = FakeGraph({"t_1": [message(1, "first")], "t_2": [message(3, "third", frm=OTHER)]})
    api.odd_listing = [{"id": "t_gone", "updated_time": stamp(2)}]  # messages: code 100
    svc = service(engine, api)
    outcome = svc.round(account())
    assert outcome.ok and outcome.fetched == 2 and outcome.quarantined == 1
    with Session(engine) as s:
        (kept,) = s.exec(select(Quarantine)).all()
    assert kept.external_id.startswith("conversation:t_gone@") and "code 100" in kept.error
    assert svc.round(account()).fetched == 0

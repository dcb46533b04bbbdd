"""WeChat (WeCom Customer Service) contract tests: the in-process fake of
``tests/support/wechat_fake.py`` (the official documentation's shapes: gettoken,
kf/sync_msg pages with has_more / next_cursor, customer/batchget, send_msg,
media/get, errcodes) behind the real adapter, the SyncService and the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, AuthError, OutboundMessage, UncertainDelivery
from adapters.wechat import SPEC, WeChatAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import (
    AccountState,
    Attachment,
    Conversation,
    Customer,
    Identity,
    Message,
    Outbox,
    Quarantine,
    RawMessage,
)
from tests.support.wechat_fake import (
    CORP_ID,
    CUSTOMER,
    OPEN_KFID,
    OTHER,
    SECRET,
    FakeWeCom,
    err,
    event,
    item,
    text,
)

SETTINGS = {"corp_id": CORP_ID, "open_kfid": OPEN_KFID, "api_base": "https://qyapi.test"}


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def adapter(api: FakeWeCom, clock: Clock | None = None, **settings: object) -> WeChatAdapter:
    return WeChatAdapter(
        "shop-wechat",
        {**SETTINGS, **settings},
        lambda field: SECRET,
        transport=httpx.MockTransport(api.handler),
        clock=clock or Clock(),
    )


def account() -> AccountConfig:
    return AccountConfig(name="shop-wechat", kind="wechat", settings={})


def service(engine: Engine, built: WeChatAdapter) -> SyncService:
    return SyncService(engine, Desk(), (account(),), adapter_builder=lambda a: built)


def stored(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).order_by(Message.id)).all())


def gettokens(api: FakeWeCom) -> int:
    return sum(1 for q in api.queries if q.url.path == "/cgi-bin/gettoken")


# -- receiving --------------------------------------------------------------------------


def test_messages_arrive_once_across_pages_and_redelivery(engine: Engine) -> None:
    api = FakeWeCom([text(n, f"message {n}") for n in range(5)], page_size=2)
    svc = service(engine, adapter(api))
    assert svc.round(account()).fetched == 5
    # One poll read the three pages while has_more was 1, each from the last next_cursor.
    assert [s.get("cursor") for s in api.syncs] == [None, "cur2", "cur4"]
    assert all(s["limit"] == 1000 and s["open_kfid"] == OPEN_KFID for s in api.syncs)
    api.messages.append(text(5, "one more"))
    assert svc.round(account()).fetched == 1
    assert api.syncs[-1]["cursor"] == "cur5"  # the stored next_cursor
    api.replay = True  # WeChat sends everything again: the store keeps one of each
    svc.round(account())
    assert [m.text for m in stored(engine)] == [f"message {n}" for n in range(5)] + ["one more"]
    assert {m.external_id for m in stored(engine)} == {f"from_msgid_{n:06d}" for n in range(6)}


def test_chinese_text_names_and_emoji_are_kept_intact(engine: Engine) -> None:
    said = [
        "你好，我的订单还没到",
        "谢谢！🙏🏻👨‍👩‍👧",
        "Order #10086 还没到 — can you check? Спасибо 🚚",
    ]
    api = FakeWeCom([text(n, t) for n, t in enumerate(said)], nicknames={CUSTOMER: "王小明🌸"})
    service(engine, adapter(api)).round(account())
    msgs = stored(engine)
    assert [m.text for m in msgs] == said
    with Session(engine) as s:
        assert s.exec(select(Customer)).one().name == "王小明🌸"
        identity = s.exec(select(Identity)).one()
        assert (identity.channel, identity.address) == ("wechat", CUSTOMER)
        raw = s.get(RawMessage, msgs[0].id)
        assert raw is not None
        assert json.loads(raw.data)["text"]["content"] == said[0]
    assert msgs[0].sent_at.replace(tzinfo=UTC) == datetime(2026, 12, 3, 5, 0, 0, tzinfo=UTC)


def test_one_conversation_per_customer(engine: Engine) -> None:
    api = FakeWeCom([text(1, "hi"), text(2, "hello", user=OTHER), text(3, "still there?")])
    service(engine, adapter(api)).round(account())
    with Session(engine) as s:
        convs = s.exec(select(Conversation).order_by(Conversation.id)).all()
        assert [(c.channel, c.thread_key) for c in convs] == [
            ("wechat", CUSTOMER),
            ("wechat", OTHER),
        ]


def test_a_bad_item_is_quarantined_and_the_rest_arrive(engine: Engine) -> None:
    no_customer = {"msgid": "from_msgid_bad", "origin": 3, "msgtype": "text", "text": {}}
    api = FakeWeCom([text(1, "first"), no_customer, "garbage", text(2, "last")], page_size=10)
    svc = service(engine, adapter(api))
    outcome = svc.round(account())
    assert outcome.ok and outcome.fetched == 2 and outcome.quarantined == 2
    assert [m.text for m in stored(engine)] == ["first", "last"]
    with Session(engine) as s:
        kept = s.exec(select(Quarantine).order_by(Quarantine.id)).all()
        assert kept[0].external_id == "from_msgid_bad"
        assert json.loads(kept[0].raw) == no_customer
        assert "Unusable" in kept[0].error and "first" not in kept[0].error
    svc.round(account())
    assert api.syncs[-1]["cursor"] == "cur4"  # moved past the bad ones


def test_events_and_our_agents_messages(engine: Engine) -> None:
    api = FakeWeCom(
        [
            event(1, "enter_session", external_userid=CUSTOMER, scene="123", welcome_code="W1"),
            text(2, "我想退货"),
            text(3, "好的，我来处理", origin=5),  # an agent in the WeCom client
            event(4, "servicer_status_change", servicer_userid="zhangsan", status=1),
            event(5, "msg_send_fail", external_userid=CUSTOMER, fail_msgid="msgout1", fail_type=10),
        ],
        page_size=10,
    )
    service(engine, adapter(api)).round(account())
    msgs = stored(engine)
    assert [(m.direction, m.text) for m in msgs] == [
        ("in", "我想退货"),
        ("note", "WeChat did not deliver our message msgout1 (fail_type 10)"),
    ]
    with Session(engine) as s:  # a note never moves the customer's last message
        conv = s.exec(select(Conversation)).one()
        assert conv.last_inbound_at == msgs[0].sent_at


def test_media_are_announced_and_downloaded_on_demand(engine: Engine) -> None:
    api = FakeWeCom(
        [
            item(1, "image", {"media_id": "2iSLeVyqzk4eX0IB5kTi9Ljfa2rt9dwfq5WKRQ4Nvvgw"}),
            item(
                2,
                "location",
                {
                    "latitude": 23.106,
                    "longitude": 113.32,
                    "name": "广州塔",
                    "address": "广州市海珠区阅江西路222号",
                },
            ),
            item(3, "link", {"title": "订单详情", "desc": "", "url": "https://shop.example/o/1"}),
            item(4, "channels_live", {"nickname": "x"}),
        ],
        page_size=10,
        media={"2iSLeVyqzk4eX0IB5kTi9Ljfa2rt9dwfq5WKRQ4Nvvgw": b"\xff\xd8jpeg"},
    )
    built = adapter(api)
    service(engine, built).round(account())
    msgs = stored(engine)
    assert [m.text for m in msgs] == [
        "",
        "Location: 广州塔, 广州市海珠区阅江西路222号 (23.106, 113.32)",
        "订单详情\nhttps://shop.example/o/1",
        "(a WeChat message of type 'channels_live' that omnitui cannot show; its original is kept)",
    ]
    with Session(engine) as s:
        att = s.exec(select(Attachment)).one()
        assert (att.filename, att.content_type, att.content) == ("image.jpg", "image/jpeg", None)
        assert att.remote_ref is not None
    assert built.fetch_attachment(att.remote_ref) == b"\xff\xd8jpeg"
    with pytest.raises(AdapterError) as gone:
        built.fetch_attachment("expired-media-id")
    assert "40007" in str(gone.value) and not gone.value.retryable


def test_a_file_over_the_limit_is_refused() -> None:
    api = FakeWeCom(media={"big": b"x" * 5000})
    with pytest.raises(AdapterError) as info:
        adapter(api, max_attachment_bytes=1000).fetch_attachment("big")
    assert "max_attachment_bytes" in str(info.value)


def test_customer_names_are_asked_once_and_never_block(engine: Engine) -> None:
    api = FakeWeCom(
        [text(1, "hi"), text(2, "hello", user=OTHER), text(3, "again")],
        nicknames={CUSTOMER: "张三", OTHER: "李四"},
        page_size=10,
    )
    built = adapter(api)
    svc = service(engine, built)
    svc.round(account())
    assert api.lookups == [
        {"external_userid_list": [CUSTOMER, OTHER], "need_enter_session_context": 0}
    ]
    api.messages.append(text(4, "one more"))
    svc.round(account())
    assert len(api.lookups) == 1  # already known
    with Session(engine) as s:
        assert sorted(c.name for c in s.exec(select(Customer)).all()) == ["张三", "李四"]

    failing = FakeWeCom([text(1, "hi")], nicknames={CUSTOMER: "张三"})
    failing.fail["/cgi-bin/kf/customer/batchget"] = [err(45009, "api freq out of limit")]
    result = adapter(failing).poll({})
    assert [m.text for m in result.messages] == ["hi"]
    assert result.messages[0].sender.display_name == ""


# -- the access token -------------------------------------------------------------------


def test_token_is_cached_then_renewed_when_expired_or_refused(engine: Engine) -> None:
    api = FakeWeCom([text(1, "hi")])
    clock = Clock()
    built = adapter(api, clock)
    svc = service(engine, built)
    svc.round(account())
    svc.round(account())
    assert gettokens(api) == 1
    api.expired.add(api.tokens[-1])  # 42001 from sync_msg: renewed and asked again
    api.messages.append(text(2, "after expiry"))
    assert svc.round(account()).fetched == 1
    assert gettokens(api) == 2
    clock.now += 7200 - 300  # its lifetime less the margin: asked before WeChat refuses it
    svc.round(account())
    assert gettokens(api) == 3
    get = next(q for q in api.queries if q.url.path == "/cgi-bin/gettoken")
    assert dict(get.url.params) == {"corpid": CORP_ID, "corpsecret": SECRET}


def test_a_token_refused_twice_is_an_auth_error() -> None:
    api = FakeWeCom()
    api.fail["/cgi-bin/kf/sync_msg"] = [err(40014, "invalid access_token")] * 2
    with pytest.raises(AuthError) as info:
        adapter(api).poll({})
    assert gettokens(api) == 2 and "40014" in str(info.value)


@pytest.mark.parametrize(
    ("corp_id", "secret", "code"),
    [(CORP_ID, "wrong-secret", "40001"), ("ww-not-ours", SECRET, "40013")],
)
def test_a_wrong_secret_or_corp_id_is_one_auth_line(corp_id: str, secret: str, code: str) -> None:
    built = WeChatAdapter(
        "shop-wechat",
        {**SETTINGS, "corp_id": corp_id},
        lambda field: secret,
        transport=httpx.MockTransport(FakeWeCom().handler),
    )
    with pytest.raises(AuthError) as info:
        built.poll({})
    assert code in str(info.value) and "\n" not in str(info.value)
    assert secret not in str(info.value)


# -- errors ------------------------------------------------------------------------------


def test_rate_limits_and_busy_back_off(engine: Engine) -> None:
    api = FakeWeCom([text(1, "hi")])
    api.fail["/cgi-bin/kf/sync_msg"] = [err(45009, "api freq out of limit")]
    svc = service(engine, adapter(api))
    before = datetime.now(UTC)
    outcome = svc.round(account())
    assert not outcome.ok and "45009" in (outcome.error or "")
    with Session(engine) as s:
        state = s.exec(select(AccountState)).one()
        assert state.retry_after is not None
        assert state.retry_after.replace(tzinfo=UTC) >= before + timedelta(seconds=60)
    assert stored(engine) == []
    assert svc.round(account()).fetched == 1  # the cursor stayed: nothing skipped
    for code in (-1, 45033):
        busy = FakeWeCom()
        busy.fail["/cgi-bin/kf/sync_msg"] = [err(code, "system busy")]
        with pytest.raises(AdapterError) as info:
            adapter(busy).poll({})
        assert info.value.retryable


def test_untrusted_ip_is_one_clear_permanent_line() -> None:
    api = FakeWeCom()
    api.fail["/cgi-bin/gettoken"] = [err(60020, "not allow to access from your ip")]
    with pytest.raises(AdapterError) as info:
        adapter(api).poll({})
    line = str(info.value)
    assert not info.value.retryable and "\n" not in line
    assert "60020" in line and "203.0.113.9" in line and "trusted IPs" in line


def test_no_secret_or_token_in_any_error() -> None:
    echo = httpx.Response(
        502,
        text="bad gateway for /cgi-bin/gettoken?corpid=x&corpsecret=" + SECRET,
    )
    api = FakeWeCom()
    api.fail["/cgi-bin/gettoken"] = [echo]
    with pytest.raises(AdapterError) as info:
        adapter(api).poll({})
    assert SECRET not in str(info.value) and info.value.retryable

    api = FakeWeCom()
    broken = False

    def maybe_refuse(request: httpx.Request) -> httpx.Response:
        if broken:
            raise httpx.ReadError(f"reset while reading {request.url}")
        return api.handler(request)

    built = WeChatAdapter(
        "shop-wechat", SETTINGS, lambda field: SECRET, transport=httpx.MockTransport(maybe_refuse)
    )
    built.access_token()
    token = api.tokens[-1]
    broken = True
    with pytest.raises(AdapterError) as info:
        built.poll({})
    assert token not in str(info.value) and "access_token=***" in str(info.value)

    api = FakeWeCom()
    api.fail["/cgi-bin/kf/send_msg"] = [
        {"errcode": 40058, "errmsg": f"invalid param touser, token {SECRET}"}
    ]
    with pytest.raises(AdapterError) as info:
        adapter(api).send(OutboundMessage(outbox_id=1, channel="wechat", to=CUSTOMER, text="x"))
    assert SECRET not in str(info.value) and "40058" in str(info.value)


# -- sending -----------------------------------------------------------------------------


def test_reply_is_a_text_message_to_the_customer(engine: Engine) -> None:
    api = FakeWeCom([text(1, "你好，我的订单还没到")])
    svc = service(engine, adapter(api))
    svc.round(account())
    with Session(engine) as s:
        Desk().reply(s, s.exec(select(Conversation)).one(), "您好！订单已发货，请查收 📦")
        s.commit()
    assert svc.round(account()).sent == 1
    assert api.sent == [
        {
            "touser": CUSTOMER,
            "open_kfid": OPEN_KFID,
            "msgtype": "text",
            "text": {"content": "您好！订单已发货，请查收 📦"},
        }
    ]
    with Session(engine) as s:
        assert s.exec(select(Outbox)).one().provider_id == "msgout1"


def test_a_long_reply_goes_in_pieces_under_2048_bytes() -> None:
    api = FakeWeCom()
    body = "请耐心等待。" * 300  # 5,400 bytes of UTF-8
    adapter(api).send(OutboundMessage(outbox_id=1, channel="wechat", to=CUSTOMER, text=body))
    pieces = [s["text"]["content"] for s in api.sent]
    assert len(pieces) == 3
    assert all(len(p.encode("utf-8")) <= 2048 for p in pieces)
    assert "".join(pieces) == body


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (95001, "5 messages already sent"),
        (95002, "more than 48 hours"),
        (95018, "session's state"),
    ],
)
def test_window_and_limit_refusals_are_one_permanent_line(code: int, words: str) -> None:
    api = FakeWeCom()
    api.fail["/cgi-bin/kf/send_msg"] = [err(code, "send msg limit")]
    with pytest.raises(AdapterError) as info:
        adapter(api).send(OutboundMessage(outbox_id=1, channel="wechat", to=CUSTOMER, text="x"))
    line = str(info.value)
    assert not info.value.retryable and not isinstance(info.value, UncertainDelivery)
    assert str(code) in line and words in line and "\n" not in line


def test_a_refused_second_piece_is_uncertain() -> None:
    api = FakeWeCom()
    api.fail["/cgi-bin/kf/send_msg"] = [
        {"errcode": 0, "errmsg": "ok", "msgid": "first"},
        err(95001, "send msg count limit"),
    ]
    with pytest.raises(UncertainDelivery) as info:
        adapter(api).send(
            OutboundMessage(outbox_id=1, channel="wechat", to=CUSTOMER, text="长" * 1000)
        )
    assert "1 earlier part" in str(info.value)


# -- doctor --------------------------------------------------------------------------------


def test_doctor_finds_the_account_and_sends_nothing() -> None:
    api = FakeWeCom()
    built = adapter(api)
    findings = SPEC.findings(built, SPEC.probe(built))
    assert [(f.part, f.ok) for f in findings] == [("receive", True), ("send", True)]
    assert "售后客服" in findings[0].detail and "nothing sent" in findings[1].detail
    assert api.sent == [] and api.syncs == []
    other = adapter(api, open_kfid="wkNotOurs000")
    findings = SPEC.findings(other, SPEC.probe(other))
    assert [f.ok for f in findings] == [False, False]
    assert "wkNotOurs000" in findings[0].detail and OPEN_KFID in findings[0].detail


def test_no_secret_or_token_in_httpx_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeWeCom([text(1, "hi")])
    with caplog.at_level("DEBUG"):
        adapter(api).poll({})
    logged = caplog.text
    assert "/cgi-bin/gettoken" in logged and "/cgi-bin/kf/sync_msg" in logged
    assert SECRET not in logged
    assert api.tokens and all(token not in logged for token in api.tokens)

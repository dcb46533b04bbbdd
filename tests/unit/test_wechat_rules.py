"""WeChat's rules without the network: the 48-hour / 5-message reply window, replies cut
to 2,048 bytes of UTF-8 between characters, the account's settings, and reading
``kf/sync_msg`` items (every odd item is a message, skipped on purpose, or refused with
an error that names none of its content)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, InboundMessage
from adapters.json_items import Unusable, rejected
from adapters.wechat import SPEC, WeChatAdapter
from adapters.wechat_items import normalise, reply_window, split_utf8
from tests.support.wechat_fake import CORP_ID, OPEN_KFID, SECRET, FakeWeCom

LAST = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
USER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"


# -- the reply window --------------------------------------------------------------------


def test_open_with_the_messages_and_time_left() -> None:
    window = reply_window(LAST, 2, LAST + timedelta(hours=1, minutes=50))
    assert (window.state, window.remaining) == ("open", 3)
    assert window.until == LAST + timedelta(hours=48)
    assert window.reason == "WeChat: 3 of 5 messages left, 46 h 10 min"
    assert window.allows_text


def test_closed_at_exactly_48_hours() -> None:
    just_before = reply_window(LAST, 0, LAST + timedelta(hours=48) - timedelta(seconds=1))
    assert just_before.state == "open" and just_before.reason.endswith("left, under 1 min")
    at = reply_window(LAST, 0, LAST + timedelta(hours=48))
    assert at.state == "closed" and not at.allows_text
    assert "48 h" in at.reason


def test_closed_once_the_fifth_message_is_sent() -> None:
    fourth = reply_window(LAST, 4, LAST + timedelta(minutes=5))
    assert (fourth.state, fourth.remaining) == ("open", 1)
    fifth = reply_window(LAST, 5, LAST + timedelta(minutes=5))
    assert (fifth.state, fifth.remaining) == ("closed", 0)
    assert "5 messages" in fifth.reason
    assert reply_window(LAST, 9, LAST).state == "closed"


def test_closed_until_the_customer_writes() -> None:
    window = reply_window(None, 0, LAST)
    assert window.state == "closed" and "has not written" in window.reason


def test_the_spec_gives_the_same_window_with_naive_times() -> None:
    naive = LAST.replace(tzinfo=None)
    window = SPEC.reply_window({}, naive, 1, naive + timedelta(hours=47))
    assert (window.state, window.remaining) == ("open", 4)
    assert window.reason == "WeChat: 4 of 5 messages left, 1 h 0 min"


# -- splitting -------------------------------------------------------------------------------


def test_text_within_the_limit_is_one_piece() -> None:
    assert split_utf8("你好") == ["你好"]
    assert split_utf8("") == [""]
    exact = "好" * 682 + "ab"  # 2,048 bytes
    assert split_utf8(exact) == [exact]


def test_a_character_is_never_cut_at_the_byte_limit() -> None:
    text = "a" * 2047 + "你好"  # the limit falls inside 你
    pieces = split_utf8(text)
    assert pieces == ["a" * 2047, "你好"]
    emoji = "😀" * 600  # 4 bytes each: 512 fit
    assert [len(p) for p in split_utf8(emoji)] == [512, 88]


def test_cuts_prefer_a_sentence_end() -> None:
    first = "这是第一句话。" * 90  # 1,890 bytes
    pieces = split_utf8(first + "第二部分" * 100)
    assert pieces[0] == first


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000), st.integers(4, 300))
def test_pieces_fit_and_keep_every_character(text: str, limit: int) -> None:
    pieces = split_utf8(text, limit)
    assert all(len(p.encode("utf-8")) <= limit for p in pieces)
    kept = text.encode("utf-8", "replace").decode("utf-8")
    assert "".join("".join(p.split()) for p in pieces) == "".join(kept.split())


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings_", "words"),
    [
        ({"open_kfid": "wk1"}, "corp_id is missing"),
        ({"corp_id": "ww1"}, "open_kfid is missing"),
        ({"corp_id": "ww 1", "open_kfid": "wk1"}, "corp_id is missing or not a WeChat id"),
        ({"corp_id": "ww1", "open_kfid": "wk1", "api_base": "ftp://x"}, "api_base"),
        ({"corp_id": "ww1", "open_kfid": "wk1", "timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_bad_settings_are_one_line(settings_: dict[str, Any], words: str) -> None:
    with pytest.raises(AdapterError) as info:
        WeChatAdapter("shop-wechat", settings_, lambda field: "s3cret")
    assert words in str(info.value) and "\n" not in str(info.value)
    assert not info.value.retryable


def test_the_default_server_is_wecoms() -> None:
    built = WeChatAdapter("w", {"corp_id": "ww1", "open_kfid": "wk1"}, lambda field: "s3cret")
    assert built.api_base == "https://qyapi.weixin.qq.com"
    assert SPEC.secret_fields == ("secret",)
    built.close()


# -- reading items ----------------------------------------------------------------------------


def item(msgtype: str, body: Any, **extra: Any) -> dict[str, Any]:
    return {
        "msgid": "m1",
        "external_userid": USER,
        "send_time": 1796274000,
        "origin": 3,
        "msgtype": msgtype,
        msgtype: body,
        **extra,
    }


def test_each_kind_of_customer_message() -> None:
    def read(msgtype: str, body: Any) -> InboundMessage:
        found = normalise(item(msgtype, body), {USER: "小红"})
        assert found is not None
        return found

    assert read("text", {"content": "你好"}).sender.display_name == "小红"
    voice = read("voice", {"media_id": "MEDIA_v"})
    assert [(a.filename, a.content_type, a.remote_ref) for a in voice.attachments] == [
        ("voice.amr", "audio/amr", "MEDIA_v")
    ]
    assert read("location", {"latitude": "23.1", "longitude": 113}).text == "Location: (23.1, 113)"
    assert read("miniprogram", {"title": "商城", "appid": "wx<b>1"}).text == (
        "Mini program: 商城 (wxb1)"
    )
    assert "'unknown<x>'" not in read("unknown<x>", {}).text
    assert "type 'unknownx'" in read("unknown<x>", {}).text


def test_what_is_skipped_and_what_is_refused() -> None:
    assert normalise(item("text", {"content": "ours"}, origin=5)) is None
    assert (
        normalise(
            {
                "msgid": "e1",
                "origin": 4,
                "msgtype": "event",
                "event": {"event_type": "enter_session", "external_userid": USER},
            }
        )
        is None
    )
    for bad in (
        "x",
        {"origin": 3},
        item("text", {}, external_userid=None),
        item("image", {"media_id": ""}),
        item("text", {}, origin=9),
    ):
        with pytest.raises(Unusable):
            normalise(bad)


surrogate = st.integers(0xD800, 0xDFFF).map(chr)
odd_text = st.one_of(
    st.text(max_size=10), st.sampled_from(["", " ", "\x00", "\ud800", "NaN", "1e999", "event"])
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
)
junk = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(odd_text, inner, max_size=3)
    ),
    max_leaves=6,
)
msgtypes = st.sampled_from(
    [
        "text",
        "image",
        "voice",
        "video",
        "file",
        "location",
        "link",
        "miniprogram",
        "business_card",
        "event",
        "msgmenu",
        "channels_shop_order",
        "merged_msg",
    ]
)
items = st.one_of(
    junk,
    st.fixed_dictionaries(
        {},
        optional={
            "msgid": st.one_of(st.just("m1"), junk),
            "external_userid": st.one_of(st.just(USER), junk),
            "origin": st.one_of(st.sampled_from([3, 4, 5, "3"]), junk),
            "send_time": st.one_of(st.integers(-(2**40), 2**40), junk),
            "msgtype": st.one_of(msgtypes, junk),
            "text": st.one_of(st.fixed_dictionaries({"content": odd_text}), junk),
            "image": st.one_of(st.fixed_dictionaries({"media_id": odd_text}), junk),
            "location": junk,
            "link": junk,
            "event": st.one_of(
                st.fixed_dictionaries(
                    {
                        "event_type": st.one_of(
                            st.sampled_from(
                                ["enter_session", "msg_send_fail", "user_recall_msg", "x"]
                            ),
                            junk,
                        )
                    },
                    optional={
                        "external_userid": st.one_of(st.just(USER), junk),
                        "fail_msgid": junk,
                        "fail_type": junk,
                    },
                ),
                junk,
            ),
        },
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items)
def test_every_odd_item_is_a_message_skipped_or_refused(raw: Any) -> None:
    try:
        found = normalise(raw, {USER: "小红"})
    except Exception as exc:  # noqa: BLE001 - what the adapter quarantines
        entry = rejected(raw, exc, folder="sync_msg")
        assert entry.raw and entry.error.split(" ")[0] == type(exc).__name__
        for value in raw.values() if isinstance(raw, dict) else []:
            if isinstance(value, str) and len(value) >= 4 and value.isalpha():
                assert value not in entry.error
        return
    if found is None:
        return
    assert found.external_id and found.sender.address and found.channel == "wechat"
    assert found.sent_at.tzinfo is not None and isinstance(found.text, str)
    assert json.loads(found.raw.decode("utf-8", "surrogatepass")) is not None
    assert found.direction in ("in", "note")


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(items, max_size=6))
def test_a_poll_of_odd_items_never_fails_and_moves_the_cursor(page: list[Any]) -> None:
    api = FakeWeCom(list(page), page_size=10, nicknames={USER: "小红"})
    built = WeChatAdapter(
        "w",
        {"corp_id": CORP_ID, "open_kfid": OPEN_KFID, "api_base": "https://qyapi.test"},
        lambda field: SECRET,
        transport=httpx.MockTransport(api.handler),
    )
    result = built.poll({})
    skipped = len(page) - len(result.messages) - len(result.rejected)
    assert skipped >= 0
    assert all(r.raw and r.folder == "sync_msg" for r in result.rejected)
    assert result.cursors[0].state == {"next_cursor": f"cur{len(page)}"}
    built.close()

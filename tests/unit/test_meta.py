"""Messenger and Instagram, pure parts: the reply window (24 hours; 7 days with
HUMAN_AGENT), the settings' one-line errors, Graph errors and usage headers, and
Hypothesis over odd messages (each one a message, skipped, or rejected — never an
exception)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import registry
from adapters.base import AdapterError, AuthError, Cursor
from adapters.meta import (
    INSTAGRAM_SPEC,
    MESSENGER_SPEC,
    InstagramAdapter,
    MetaAdapter,
    graph_error,
    graph_time,
    usage_wait,
)

LAST = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SPECS = [MESSENGER_SPEC, INSTAGRAM_SPEC]
API = "https://graph.test/v21.0"
PAGE = "1122334455"


# -- the reply window ----------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
@pytest.mark.parametrize("human_agent", [False, True])
def test_the_first_24_hours_are_open(spec: Any, human_agent: bool) -> None:
    for after in (timedelta(0), timedelta(hours=23, minutes=59, seconds=59)):
        window = spec.reply_window({"human_agent": human_agent}, LAST, 0, LAST + after)
        assert window.state == "open" and window.until == LAST + timedelta(hours=24)
        assert window.tag is None and window.allows_text


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_at_exactly_24_hours_without_human_agent_it_is_closed(spec: Any) -> None:
    window = spec.reply_window({}, LAST, 3, LAST + timedelta(hours=24))
    assert window.state == "closed" and not window.allows_text
    assert "24-hour" in window.reason and "HUMAN_AGENT permission would allow 7 days" in (
        window.reason
    )
    assert "\n" not in window.reason


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_human_agent_tags_replies_from_24_hours_until_7_days(spec: Any) -> None:
    on = {"human_agent": True}
    for after in (timedelta(hours=24), timedelta(days=6, hours=23, minutes=59)):
        window = spec.reply_window(on, LAST, 0, LAST + after)
        assert window.state == "tagged" and window.tag == "HUMAN_AGENT"
        assert window.until == LAST + timedelta(days=7) and window.allows_text
    closed = spec.reply_window(on, LAST, 0, LAST + timedelta(days=7))
    assert closed.state == "closed" and "7-day" in closed.reason and closed.tag is None


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_no_inbound_message_is_closed(spec: Any) -> None:
    window = spec.reply_window({"human_agent": True}, None, 0, LAST)
    assert window.state == "closed" and "not written" in window.reason


def test_a_naive_time_is_taken_as_utc_and_the_reason_names_the_platform() -> None:
    naive = LAST.replace(tzinfo=None)
    window = INSTAGRAM_SPEC.reply_window({}, naive, 0, LAST + timedelta(hours=1))
    assert window.state == "open" and window.reason.startswith("Instagram:")
    assert "2026-11-24 09:00 UTC" in window.reason


def test_the_kinds_are_registered_with_their_secret() -> None:
    for kind in ("messenger", "instagram"):
        spec = registry.spec(kind)
        assert spec is not None and spec.kind == kind and spec.secret_fields == ("page_token",)


# -- settings ------------------------------------------------------------------------------


def build(**overrides: Any) -> MetaAdapter:
    values: dict[str, Any] = {"api_base": API, "page_id": PAGE, **overrides}
    return MetaAdapter("shop", {k: v for k, v in values.items() if v is not None}, lambda f: "t")


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"page_id": None}, "page_id is missing"),
        ({"page_id": "my-page"}, "page_id is missing or not"),
        ({"page_id": "../me"}, "page_id"),
        ({"page_id": True}, "page_id"),
        ({"human_agent": "yes"}, "human_agent must be true or false"),
        ({"api_base": "ftp://graph.facebook.com"}, "api_base"),
        ({"api_base": "https://u:p@graph.facebook.com/v21.0"}, "user name or password"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_bad_settings_are_one_line(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(AdapterError) as info:
        build(**overrides)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert not info.value.retryable and str(info.value).startswith("shop: ")


def test_defaults() -> None:
    adapter = MetaAdapter("shop", {"page_id": 1122334455}, lambda f: "t")
    assert adapter.api_base == "https://graph.facebook.com/v21.0"
    assert adapter.page_id == PAGE and adapter.human_agent is False


# -- errors and usage headers --------------------------------------------------------------


def answer(status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    response = httpx.Response(status, json={"error": error}, headers=headers)
    response.request = httpx.Request("GET", f"{API}/{PAGE}")
    return graph_error("Messenger GET", response, {"error": error}, ["sekrit-token"])


def test_graph_error_codes() -> None:
    assert isinstance(answer(400, {"code": 190, "message": "expired sekrit-token"}), AuthError)
    assert "sekrit-token" not in str(answer(400, {"code": 190, "message": "sekrit-token"}))
    limited = answer(400, {"code": 613, "message": "slow down"})
    assert limited.retryable and limited.retry_after is None
    assert answer(500, {"code": 2, "message": "temporary"}).retryable
    assert answer(400, {"code": 1, "message": "unknown"}).retryable
    assert not answer(400, {"code": 100, "message": "bad parameter"}).retryable
    assert not answer(403, {"code": 10, "message": "no permission"}).retryable
    assert "Retry-After" and answer(429, {}, {"Retry-After": "12"}).retry_after == 12


def test_usage_headers_in_minutes_the_largest_wins() -> None:
    headers = httpx.Headers(
        {
            "X-App-Usage": json.dumps({"call_count": 100, "total_time": 5}),
            "X-Page-Usage": json.dumps({"call_count": 99, "estimated_time_to_regain_access": 2}),
            "X-Business-Use-Case-Usage": json.dumps(
                {PAGE: [{"type": "pages", "estimated_time_to_regain_access": 11}]}
            ),
        }
    )
    assert usage_wait(headers) == 11 * 60
    assert usage_wait(httpx.Headers({"X-Page-Usage": "not json"})) is None
    assert usage_wait(httpx.Headers({"X-App-Usage": json.dumps({"call_count": 100})})) is None


def test_graph_times() -> None:
    assert graph_time("2026-11-23T09:00:00+0000") == LAST
    assert graph_time(int(LAST.timestamp())) == LAST
    assert graph_time(str(int(LAST.timestamp()))) == LAST
    for odd in (None, "", "yesterday", True, 10**30, -1, [], {}):
        assert graph_time(odd) is None
    # off the calendar once in UTC (OverflowError), or before Graph's times begin
    for odd in ("9999-12-31T23:59:59-1400", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z"):
        assert graph_time(odd) is None
    assert graph_time("9999-12-31T23:59:59+0000") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


# -- Hypothesis: odd messages are messages, skipped, or rejected ----------------------------

surrogate = st.integers(0xD800, 0xDFFF).map(chr)
odd_text = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["", " ", "\x00", "\ud800", "../x", "a/b", "m_1?x", "1e999", "NaN"]),
    st.lists(st.one_of(surrogate, st.characters()), min_size=1, max_size=4).map("".join),
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), odd_text)
odd_time = st.one_of(
    scalar,
    st.sampled_from(["2026-11-23T09:00:00+0000", "2026-13-45T99:00:00+0000", "1790000000"]),
)
person = st.one_of(
    scalar,
    st.fixed_dictionaries(
        {}, optional={"id": st.one_of(scalar, st.just("6543")), "name": scalar, "username": scalar}
    ),
)
attachment = st.one_of(
    scalar,
    st.fixed_dictionaries(
        {},
        optional={
            "name": scalar,
            "mime_type": scalar,
            "size": scalar,
            "image_data": st.one_of(scalar, st.fixed_dictionaries({"url": scalar})),
            "video_data": st.one_of(scalar, st.fixed_dictionaries({"url": scalar})),
            "file_url": scalar,
        },
    ),
)
odd_message = st.one_of(
    scalar,
    st.lists(scalar, max_size=2),
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(scalar, st.just("m_good")),
            "created_time": odd_time,
            "from": person,
            "to": st.one_of(scalar, st.fixed_dictionaries({"data": st.lists(person, max_size=2)})),
            "message": scalar,
            "attachments": st.one_of(
                scalar, st.fixed_dictionaries({"data": st.lists(attachment, max_size=2)})
            ),
        },
    ),
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(messages=st.lists(odd_message, max_size=5), instagram=st.booleans())
def test_odd_messages_never_escape_as_exceptions(messages: list[Any], instagram: bool) -> None:
    body = json.dumps({"data": messages}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/conversations"):
            data = [{"id": "t_1", "updated_time": "2026-11-23T09:00:00+0000"}]
            return httpx.Response(200, json={"data": data})
        if path.endswith("/t_1/messages"):
            return httpx.Response(200, content=body)
        return httpx.Response(200, json={"id": PAGE, "instagram_business_account": {"id": "17"}})

    cls = InstagramAdapter if instagram else MetaAdapter
    adapter = cls(
        "fuzz",
        {"api_base": API, "page_id": PAGE},
        lambda f: "tok",
        transport=httpx.MockTransport(handler),
    )
    result = adapter.poll({"conversations": Cursor("conversations")})
    assert len(result.messages) + len(result.rejected) <= len(messages)
    for msg in result.messages:
        assert msg.thread_key == "t_1" and msg.sender.address not in (PAGE, "17")
        assert msg.channel == adapter.kind and msg.external_id
        assert adapter.reparse(msg.external_id, msg.raw, msg.raw_type, "conversations") == [msg]
    for item in result.rejected:
        assert item.raw and item.error and "tok" not in item.error
        with pytest.raises(Exception):  # noqa: B017, PT011 - still unusable from its raw
            adapter.reparse(item.external_id, item.raw, item.raw_type, item.folder)
    assert result.cursors[0].state == {
        "since": "2026-11-23T09:00:00+00:00",
        "taken": {"t_1": "2026-11-23T09:00:00+00:00"},
    }

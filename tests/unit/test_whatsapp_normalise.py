"""Normalising WhatsApp records, fuzzed with Hypothesis through the adapter's real
``poll()`` (an in-process transport, no socket): whatever a page holds, each record is
a message, skipped (not inbound), or quarantined, and no exception escapes."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.whatsapp import WhatsAppAdapter, phone_of

SID = "AC0123456789abcdef0123456789abcdef"
BASE = f"/2010-04-01/Accounts/{SID}"
OURS = "whatsapp:+15551230000"

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
junk = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
odd_text = st.one_of(
    st.text(max_size=40),
    st.just("\x00\x1b[31mred\u202e"),
    st.just("\ud800 lone surrogate"),
    st.just("whatsapp:"),
)
number = st.one_of(
    st.just("whatsapp:+15557654321"),
    st.just("+15557654321"),
    st.just("whatsapp:+1 555"),
    st.just("whatsapp:someone"),
    st.from_regex(r"whatsapp:\+[0-9]{4,17}", fullmatch=True),
    st.integers(10**4, 10**17),  # a number sent as a JSON number
    odd_text,
    junk,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, junk)


record = st.fixed_dictionaries(
    {
        "sid": maybe(st.from_regex(r"SM[0-9a-f]{32}", fullmatch=True)),
        "direction": st.one_of(st.just("inbound"), st.sampled_from(["outbound-api"]), junk),
        "from": number,
    },
    optional={
        "to": maybe(st.just(OURS)),
        "body": maybe(odd_text),
        "profile_name": maybe(odd_text),
        "num_media": maybe(st.integers(-3, 50).map(str)),
        "date_sent": maybe(
            st.sampled_from(
                ["Mon, 23 Nov 2026 09:00:00 +0000", "Mon, 23 Nov 99999 09:00:00 +0000", "soon"]
            )
        ),
        "subresource_uris": maybe(
            st.fixed_dictionaries({"media": maybe(st.just(f"{BASE}/Messages/SM1/Media.json"))})
        ),
    },
)
item = st.one_of(record, record, record, junk)


def poll(records: list[Any]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        page = json.dumps({"messages": records, "next_page_uri": None})  # \ud800 escaped
        return httpx.Response(
            200, content=page.encode(), headers={"Content-Type": "application/json"}
        )

    adapter = WhatsAppAdapter(
        "fuzz-wa",
        {"account_sid": SID, "from_number": OURS, "api_base": "https://api.test"},
        lambda _f: "wa-test-auth-token",
        transport=httpx.MockTransport(handler),
        today=date(2026, 11, 23),
    )
    try:
        return adapter, adapter.poll({})
    finally:
        adapter.close()


def verdict(record: Any) -> str:
    if not isinstance(record, dict):
        return "reject"
    if record.get("direction") != "inbound":
        return "skip"
    sid = record.get("sid")
    if not (isinstance(sid, str) and sid.isascii() and sid.isalnum()):
        return "reject"
    sender = record.get("from")
    if isinstance(sender, int | float) and not isinstance(sender, bool):
        sender = str(sender)  # read leniently, as every Twilio field is
    if not isinstance(sender, str) or phone_of(sender.strip()) is None:
        return "reject"
    return "message"


def wire(value: Any) -> Any:
    """What the records look like after a trip through JSON (as the adapter sees them)."""
    return json.loads(json.dumps(value))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(item, max_size=6))
def test_every_record_is_a_message_skipped_or_quarantined(records: list[Any]) -> None:
    records = wire(records)
    adapter, result = poll(records)
    verdicts = [verdict(r) for r in records]
    expected = [r["sid"] for r, v in zip(records, verdicts, strict=True) if v == "message"]
    assert [m.external_id for m in result.messages] == expected
    assert len(result.rejected) == verdicts.count("reject")
    for msg in result.messages:
        assert msg.channel == "whatsapp" and msg.sender.channel == "whatsapp"
        assert msg.sender.address == msg.sender.phone == msg.thread_key
        assert phone_of(msg.sender.address) == msg.sender.address
        assert msg.sent_at.tzinfo is not None and len(msg.sender.display_name) <= 200
        assert len(msg.attachments) <= 10
        (again,) = adapter.reparse(msg.external_id, msg.raw, msg.raw_type, "messages")
        assert (again.external_id, again.text, again.sender) == (
            msg.external_id,
            msg.text,
            msg.sender,
        )
    for rejected in result.rejected:
        assert rejected.raw and rejected.folder == "messages" and rejected.error

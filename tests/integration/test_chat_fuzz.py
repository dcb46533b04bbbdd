"""One bad item never stops the rest: the chat and social adapters (Telegram, Matrix,
Mastodon, Twilio) fuzzed with Hypothesis through their real ``poll()``.

Each strategy builds JSON shaped like the provider's documented answer (getUpdates
result list, a Matrix /sync body, a Mastodon notifications page, Twilio Messages.json
and Calls.json pages) with fields missing, ``null``, of the wrong type, huge integers,
unknown kinds, lone surrogates (``\\ud800`` in the JSON text) and nested junk. A fake
transport serves it, and the tests check that every item comes out as a message, is
skipped on purpose, or is rejected with its raw JSON and an error naming none of its
content, and that the cursor moves past all of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, Cursor, InboundMessage, PollResult, RejectedItem
from adapters.mastodon import MastodonAdapter
from adapters.matrix import MatrixAdapter
from adapters.telegram import TelegramAdapter
from adapters.twilio import TwilioAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from omnitui.sync.quarantine_retry import retry
from storage.models import Message, Quarantine, SyncCursor

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the fake transport ----------------------------------------------------------------


def answer(body: Any, status: int = 200) -> httpx.Response:
    """A JSON answer as a server writes it: ASCII, lone surrogates as ``\\ud800``."""
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def wire(value: Any) -> Any:
    """``value`` as the adapter reads it back (a surrogate pair becomes one character)."""
    return json.loads(json.dumps(value))


Handler = Callable[[httpx.Request], httpx.Response]


def transport(handler: Handler) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


# -- generic junk ----------------------------------------------------------------------

surrogate = st.integers(0xD800, 0xDFFF).map(chr)
odd_text = st.one_of(
    st.text(max_size=12),
    st.lists(st.one_of(surrogate, st.characters()), min_size=1, max_size=6).map("".join),
    st.sampled_from(["", " ", "\x00", "\ud800", "a\udfffb", "<b>x</b>", "²", "NaN", "1e999"]),
)
huge_int = st.one_of(
    st.integers(-(2**31), 2**31),
    st.integers(-(2**80), 2**80),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, -1, 0]),
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    huge_int,
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
)
junk = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(odd_text, inner, max_size=3)
    ),
    max_leaves=8,
)


def _nest(depth: int) -> Any:
    value: Any = "bottom"
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


deep = st.integers(20, 300).map(_nest)
any_junk = st.one_of(junk, deep)


def weighted(*choices: tuple[st.SearchStrategy[Any], int]) -> st.SearchStrategy[Any]:
    """One of the strategies, each ``weight`` times as likely (Hypothesis draws the
    branches of ``one_of`` evenly, so a branch is repeated under distinct wrappers)."""
    return st.one_of(
        *[strategy.map(lambda v: v) for strategy, weight in choices for _ in range(weight)]
    )


def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``good``, sometimes junk of any type."""
    return weighted((good, 3), (any_junk, 1))


def fields(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(required, optional=optional)


# -- what every poll must satisfy --------------------------------------------------------

ERROR_FORMAT = re.compile(r"[A-Za-z_]\w*( in [\w./-]+:\d+ \(<?\w+>?\))?")
PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:()<> -]*")


def strings_in(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def assert_error_has_no_content(rejected: RejectedItem, item: Any) -> None:
    assert ERROR_FORMAT.fullmatch(rejected.error), rejected.error
    for text in strings_in(item):
        if len(text) >= 3 and not PLAIN_WORD.fullmatch(text):
            assert text not in rejected.error


def take_rejected(result: PollResult, expected: Any) -> RejectedItem:
    """Remove and return the rejected item whose raw JSON is ``expected``."""
    for n, item in enumerate(result.rejected):
        if json.loads(item.raw) == expected:
            return result.rejected.pop(n)
    raise AssertionError(f"not rejected: {expected!r:.300}")


def check_rejections(result: PollResult, expected: list[Any], folder: str) -> None:
    """Every expected item is rejected once with its JSON and a clean error; no others."""
    for item in list(result.rejected):
        assert item.folder == folder
        assert item.raw_type == "application/json"
        assert item.external_id
    for item in expected:
        rejected = take_rejected(result, item)
        assert_error_has_no_content(rejected, item)
    assert result.rejected == []


def check_messages(messages: list[InboundMessage]) -> None:
    for msg in messages:
        assert msg.external_id
        assert msg.sender.address
        assert isinstance(msg.text, str)
        assert isinstance(msg.sent_at, datetime) and msg.sent_at.tzinfo is not None
        assert msg.raw and json.loads(msg.raw) is not None
        for att in msg.attachments:
            assert att.size >= 0


def ident(value: Any) -> str | None:
    """The test's own reading of a provider id: an integer, or a non-blank string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# =====================================================================================
# Telegram: getUpdates
# =====================================================================================

TG_TOKEN = "123456:fuzz-token"


def telegram(updates: Any) -> TelegramAdapter:
    def handler(request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[1]
        if method == "deleteWebhook":
            return answer({"ok": True, "result": True})
        assert method == "getUpdates"
        return answer({"ok": True, "result": updates})

    return TelegramAdapter(
        "fuzz-telegram",
        {"api_base": "https://api.test", "long_poll_seconds": 0},
        lambda _field: TG_TOKEN,
        transport=transport(handler),
    )


tg_id = st.one_of(st.integers(-(10**13), 10**13), st.integers(1, 10**6))
tg_user = fields(
    {},
    {
        "id": maybe(tg_id),
        "is_bot": maybe(st.booleans()),
        "first_name": maybe(odd_text),
        "last_name": maybe(odd_text),
        "username": maybe(odd_text),
    },
)
tg_chat = fields({}, {"id": maybe(tg_id), "type": maybe(st.just("private")), "title": odd_text})
tg_photo = fields(
    {"file_id": maybe(odd_text)},
    {"file_size": maybe(st.one_of(huge_int, st.integers(0, 10**6).map(str))), "width": junk},
)
tg_document = fields(
    {},
    {
        "file_id": maybe(odd_text),
        "file_name": maybe(odd_text),
        "mime_type": maybe(odd_text),
        "file_size": maybe(huge_int),
    },
)
tg_date = st.one_of(
    st.integers(1_600_000_000, 1_900_000_000), huge_int, st.integers(0, 10**10).map(str)
)
tg_message = fields(
    {"message_id": maybe(st.integers(1, 10**9))},
    {
        "from": maybe(tg_user),
        "chat": maybe(tg_chat),
        "date": maybe(tg_date),
        "text": maybe(odd_text),
        "caption": maybe(odd_text),
        "photo": maybe(st.lists(maybe(tg_photo), max_size=3)),
        "document": maybe(tg_document),
        "sticker": junk,
        "entities": junk,
    },
)
# Usable at its core (ids and chat), anything around it.
tg_message_core = fields(
    {"message_id": st.integers(1, 10**9), "chat": fields({"id": tg_id}, {"type": junk})},
    {
        "from": maybe(tg_user),
        "date": maybe(tg_date),
        "text": maybe(odd_text),
        "caption": maybe(odd_text),
        "photo": maybe(st.lists(maybe(tg_photo), max_size=3)),
        "document": maybe(tg_document),
        "sticker": junk,
    },
)
tg_update_id = st.integers(0, 10**12)
tg_update = weighted(
    (fields({"update_id": tg_update_id, "message": tg_message_core}, {}), 4),
    (fields({"update_id": maybe(tg_update_id), "edited_message": tg_message_core}, {}), 1),
    (fields({"update_id": maybe(tg_update_id), "message": maybe(tg_message)}, {}), 2),
    (
        fields(
            {"update_id": tg_update_id},
            {
                "channel_post": junk,
                "callback_query": junk,
                "my_chat_member": junk,
                "poll": junk,
            },
        ),
        1,
    ),
    (any_junk, 1),
)


def tg_update_id_of(update: Any) -> int | None:
    if isinstance(update, dict):
        value = update.get("update_id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def tg_expect(update: Any) -> tuple[str, Any]:
    """``("skip", None)``, ``("reject", None)`` or ``("message", (id, edited, msg))``."""
    if not isinstance(update, dict):
        return "reject", None
    kind = next((k for k in ("message", "edited_message") if k in update), None)
    if kind is None:
        return "skip", None
    message = update[kind]
    if not isinstance(message, dict):
        return "reject", None
    sender = message.get("from")
    if isinstance(sender, dict) and sender.get("is_bot") is True:
        return "skip", None
    chat = message.get("chat")
    chat_id = ident(chat.get("id")) if isinstance(chat, dict) else None
    message_id = ident(message.get("message_id"))
    if chat_id is None or message_id is None:
        return "reject", None
    return "message", (f"{chat_id}:{message_id}", kind == "edited_message", message)


@FUZZ
@given(
    updates=st.one_of(st.lists(tg_update, max_size=8), st.lists(tg_update, max_size=8), junk),
    offset=st.sampled_from([0, 1, 10**6]),
)
def test_telegram_poll_takes_every_update_it_can(updates: Any, offset: int) -> None:
    updates = wire(updates)
    adapter = telegram(updates)
    try:
        cursors = {"updates": Cursor("updates", {"offset": offset})}
        if not isinstance(updates, list):
            with pytest.raises(AdapterError):
                adapter.poll(cursors)
            return
        result = adapter.poll(cursors)
    finally:
        adapter.close()
    check_messages(result.messages)
    expected_messages, expected_rejected = [], []
    for update in updates:
        verdict, detail = tg_expect(update)
        if verdict == "message":
            expected_messages.append(detail)
        elif verdict == "reject":
            expected_rejected.append(update)
    assert [(m.external_id, m.edited) for m in result.messages] == [
        (external_id, edited) for external_id, edited, _ in expected_messages
    ]
    for msg, (_, _, message) in zip(result.messages, expected_messages, strict=True):
        assert json.loads(msg.raw) == message
    ids = [i for i in map(tg_update_id_of, updates) if i is not None]
    [cursor] = result.cursors
    assert cursor.folder == "updates"
    assert all(cursor.state["offset"] > i for i in ids if i >= 0)
    for item in result.rejected:
        update_id = tg_update_id_of(json.loads(item.raw))
        if update_id is not None:
            assert item.external_id == f"update:{update_id}"
        else:
            assert item.external_id.startswith("sha256:")
    check_rejections(result, expected_rejected, "updates")


def tg_item(update_id: int, message_id: int, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": {"id": 5001, "is_bot": False, "first_name": "Mei"},
            "chat": {"id": 5001, "type": "private"},
            "date": 1795000000 + message_id,
            "text": text,
            **extra,
        },
    }


def test_telegram_one_bad_update_between_two_good_ones() -> None:
    bad = {"update_id": 11, "message": {"message_id": 2, "text": "no chat: who is this?"}}
    adapter = telegram([tg_item(10, 1, "first"), bad, tg_item(12, 3, "third")])
    result = adapter.poll({})
    assert [m.text for m in result.messages] == ["first", "third"]
    [rejected] = result.rejected
    assert rejected.external_id == "update:11"
    assert json.loads(rejected.raw) == bad
    assert rejected.folder == "updates"
    assert "who is this" not in rejected.error
    assert rejected.error.startswith("Unusable in adapters/telegram.py:")
    assert result.cursors == [Cursor("updates", {"offset": 13})]


def test_telegram_odd_but_readable_messages_are_stored() -> None:
    updates = [
        tg_item(20, 1, "lone \ud800 surrogate"),
        tg_item(21, 2, "null sender", **{"from": None}),
        tg_item(22, 3, "", photo=["x", {"file_id": "p1", "file_size": "2048"}, None]),
        tg_item(23, 4, "date far away", date=10**20),
        tg_item(24, 5, "date as text", date="1795000000"),
        {"update_id": 25, "callback_query": {"id": "1"}},
    ]
    result = telegram(updates).poll({})
    assert [m.external_id for m in result.messages] == [f"5001:{n}" for n in range(1, 6)]
    assert result.messages[1].sender.address == "5001"
    assert result.messages[2].attachments[0].size == 2048
    assert result.messages[4].sent_at.year == 2026
    assert json.loads(result.messages[0].raw)["text"] == "lone \ud800 surrogate"
    assert result.rejected == []
    assert result.cursors[0].state == {"offset": 26}


def test_telegram_reparse() -> None:
    adapter = telegram([])
    good = tg_item(30, 7, "hello again")
    [msg] = adapter.reparse("update:30", json.dumps(good).encode(), "application/json", "updates")
    assert (msg.external_id, msg.text) == ("5001:7", "hello again")
    ignored = {"update_id": 31, "channel_post": {"message_id": 1}}
    assert adapter.reparse("update:31", json.dumps(ignored).encode(), "", "updates") == []
    bot = tg_item(32, 8, "from a bot")
    bot["message"]["from"]["is_bot"] = True
    assert adapter.reparse("update:32", json.dumps(bot).encode(), "", "updates") == []
    still_bad = {"update_id": 33, "message": {"text": "no ids"}}
    with pytest.raises(ValueError):
        adapter.reparse("update:33", json.dumps(still_bad).encode(), "", "updates")
    # What a poll rejects, reparse reads the same way (from the quarantined raw).
    rejected = telegram([still_bad]).poll({}).rejected[0]
    with pytest.raises(ValueError):
        adapter.reparse(rejected.external_id, rejected.raw, rejected.raw_type, rejected.folder)


# =====================================================================================
# Matrix: /sync
# =====================================================================================

MX_BOT = "@shop:test.local"


def matrix(body: Any, chunk: Any = ()) -> MatrixAdapter:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/sync"):
            return answer(body)
        if "/join/" in path:
            return answer({"room_id": "!joined:test.local"})
        if path.endswith("/messages"):
            return answer({"chunk": list(chunk) if isinstance(chunk, tuple) else chunk})
        raise AssertionError(path)

    return MatrixAdapter(
        "fuzz-matrix",
        {"api_base": "https://matrix.test", "user_id": MX_BOT, "long_poll_seconds": 0},
        lambda _field: "matrix-token",
        transport=transport(handler),
    )


mx_text = st.one_of(st.just("m.text"), st.just("m.notice"), st.just("m.image"), odd_text)
mx_relation = st.one_of(
    fields(
        {"rel_type": maybe(st.just("m.replace"))},
        {"event_id": maybe(st.just("$original:test.local"))},
    ),
    fields({"m.in_reply_to": maybe(fields({"event_id": odd_text}, {}))}, {}),
    odd_text,
    st.lists(junk, max_size=2),
    st.none(),
)
mx_content = fields(
    {},
    {
        "msgtype": maybe(mx_text),
        "body": maybe(odd_text),
        "m.relates_to": mx_relation,
        "m.new_content": maybe(fields({"body": maybe(odd_text)}, {})),
        "format": junk,
    },
)
mx_event_id = st.from_regex(r"\$[A-Za-z0-9]{6}:test\.local", fullmatch=True)
mx_sender = st.sampled_from(["@mei:test.local", "@ana:wa.test", MX_BOT])
mx_ts = st.one_of(st.integers(1_600_000_000_000, 1_900_000_000_000), huge_int, odd_text)
mx_event_rest = {
    "origin_server_ts": maybe(mx_ts),
    "content": maybe(mx_content),
    "unsigned": junk,
    "room_id": st.just("!other:test.local"),
}
# A message event usable at its core (type, id, sender), anything around it.
mx_message_core = fields(
    {"type": st.just("m.room.message"), "event_id": mx_event_id, "sender": mx_sender},
    mx_event_rest,
)
mx_event_any = fields(
    {},
    {
        "type": maybe(st.sampled_from(["m.room.message", "m.reaction", "m.room.encrypted"])),
        "event_id": maybe(mx_event_id),
        "sender": maybe(mx_sender),
        **mx_event_rest,
    },
)
mx_edit_core = fields(
    {
        "type": st.just("m.room.message"),
        "event_id": mx_event_id,
        "sender": mx_sender,
        "content": fields(
            {
                "m.relates_to": fields(
                    {"rel_type": st.just("m.replace")}, {"event_id": maybe(mx_event_id)}
                ),
                "m.new_content": maybe(fields({}, {"body": maybe(odd_text)})),
            },
            {"msgtype": maybe(mx_text), "body": maybe(odd_text)},
        ),
    },
    {"origin_server_ts": maybe(mx_ts)},
)
mx_event = weighted((mx_message_core, 4), (mx_edit_core, 1), (mx_event_any, 2), (any_junk, 1))
mx_member = fields(
    {"type": st.just("m.room.member")},
    {
        "state_key": maybe(st.just("@mei:test.local")),
        "content": maybe(fields({"displayname": maybe(odd_text)}, {})),
    },
)
mx_timeline = fields(
    {"events": weighted((st.lists(mx_event, min_size=1, max_size=5), 6), (any_junk, 1))},
    {"limited": maybe(st.booleans()), "prev_batch": maybe(st.just("t1-prev"))},
)
mx_room = weighted(
    (
        fields(
            {"timeline": weighted((mx_timeline, 6), (any_junk, 1))},
            {"state": maybe(fields({"events": maybe(st.lists(maybe(mx_member), max_size=3))}, {}))},
        ),
        8,
    ),
    (any_junk, 1),
)
mx_room_id = st.one_of(
    st.from_regex(r"![a-z]{4}:test\.local", fullmatch=True), st.text(min_size=1, max_size=5)
)
mx_rooms = fields(
    {
        "join": weighted(
            (st.dictionaries(mx_room_id, mx_room, min_size=1, max_size=3), 8), (any_junk, 1)
        )
    },
    {"invite": maybe(st.dictionaries(odd_text, junk, max_size=2))},
)
mx_body = fields(
    {
        "next_batch": weighted((st.just("s2_next"), 8), (junk, 1)),
        "rooms": weighted((mx_rooms, 8), (any_junk, 1)),
    },
    {"account_data": junk, "presence": junk},
)


def mx_room_events(room: Any) -> list[Any] | None:
    if not isinstance(room, dict):
        return None
    timeline = room.get("timeline")
    if not timeline:
        return []
    if not isinstance(timeline, dict):
        return None
    events = timeline.get("events")
    if not events:
        return []
    return events if isinstance(events, list) else None


def mx_expect(room_id: str, event: Any) -> tuple[str, Any]:
    if not isinstance(event, dict):
        return "reject", event
    if event.get("type") != "m.room.message" or event.get("sender") == MX_BOT:
        return "skip", None
    stored = event if "room_id" in event else {**event, "room_id": room_id}
    sender, event_id = event.get("sender"), event.get("event_id")
    if not (isinstance(sender, str) and sender and isinstance(event_id, str) and event_id):
        return "reject", stored
    content = event.get("content") if isinstance(event.get("content"), dict) else {}
    relation = content.get("m.relates_to")
    relation = relation if isinstance(relation, dict) else {}
    original = relation.get("event_id")
    if (
        relation.get("rel_type") == "m.replace"
        and isinstance(content.get("m.new_content"), dict)
        and isinstance(original, str)
        and original
    ):
        return "message", (original, True, room_id, event)
    return "message", (event_id, False, room_id, event)


@FUZZ
@given(
    body=weighted((mx_body, 8), (any_junk, 1)),
    since=st.sampled_from([None, "s1_prev"]),
    chunk=maybe(st.lists(mx_event, max_size=3)),
)
def test_matrix_poll_takes_every_event_it_can(body: Any, since: str | None, chunk: Any) -> None:
    body, chunk = wire(body), wire(chunk)
    adapter = matrix(body, chunk)
    cursors = {"sync": Cursor("sync", {"since": since})} if since else {}
    rooms = body.get("rooms") or {} if isinstance(body, dict) else None
    whole_is_bad = (
        not isinstance(body, dict)
        or not isinstance(body.get("next_batch"), str)
        or not utf8(body["next_batch"])
        or not isinstance(rooms, dict)
        or not isinstance(rooms.get("join") or {}, dict)
    )
    try:
        if whole_is_bad:
            with pytest.raises(AdapterError):
                adapter.poll(cursors)
            return
        result = adapter.poll(cursors)
    finally:
        adapter.close()
    check_messages(result.messages)
    assert rooms is not None
    expected_messages, expected_rejected = [], []
    for room_id, room in (rooms.get("join") or {}).items():
        events = mx_room_events(room)
        if events is None:
            expected_rejected.append({"room_id": room_id, "room": room})
            continue
        timeline = room.get("timeline") or {}
        if (
            timeline.get("limited") is True
            and since
            and isinstance(timeline.get("prev_batch"), str)
        ):
            if utf8(room_id) and utf8(timeline["prev_batch"]):
                events = list(reversed(chunk if isinstance(chunk, list) else [])) + events
            else:
                gap = {"from": timeline["prev_batch"], "to": since}
                expected_rejected.append({"room_id": room_id, "gap": gap})
        for event in events:
            verdict, detail = mx_expect(room_id, event)
            if verdict == "message":
                expected_messages.append(detail)
            elif verdict == "reject":
                expected_rejected.append(detail)
    assert [(m.external_id, m.edited, m.thread_key) for m in result.messages] == [
        (external_id, edited, room_id) for external_id, edited, room_id, _ in expected_messages
    ]
    for msg, (*_, event) in zip(result.messages, expected_messages, strict=True):
        assert json.loads(msg.raw) == event
    assert result.cursors == [Cursor("sync", {"since": body["next_batch"]})]
    for item in result.rejected:
        raw = json.loads(item.raw)
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        if isinstance(event_id, str) and event_id:
            assert item.external_id == event_id
        else:
            assert item.external_id.startswith("sha256:")
    check_rejections(result, expected_rejected, "sync")


def mx_item(n: int, body: str, **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": f"$e{n}:test.local",
        "sender": "@mei:test.local",
        "origin_server_ts": 1795000000000 + n,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def mx_sync(*events: Any, room: str = "!dm:test.local") -> dict[str, Any]:
    return {"next_batch": "s9", "rooms": {"join": {room: {"timeline": {"events": list(events)}}}}}


def test_matrix_one_bad_event_between_two_good_ones() -> None:
    bad = {"type": "m.room.message", "event_id": "$bad:test.local", "content": {"body": "anon"}}
    result = matrix(mx_sync(mx_item(1, "first"), bad, mx_item(3, "third"))).poll({})
    assert [m.text for m in result.messages] == ["first", "third"]
    [rejected] = result.rejected
    assert rejected.external_id == "$bad:test.local"
    assert json.loads(rejected.raw) == {**bad, "room_id": "!dm:test.local"}
    assert rejected.folder == "sync"
    assert "anon" not in rejected.error
    assert result.cursors == [Cursor("sync", {"since": "s9"})]


def test_matrix_odd_but_readable_events_are_stored() -> None:
    events = [
        mx_item(1, "relation as text", **{"m.relates_to": "$x"}),
        mx_item(2, "relation as list", **{"m.relates_to": ["$x"]}),
        mx_item(3, "relation null", **{"m.relates_to": None}),
        {**mx_item(4, ""), "content": "not an object"},
        {**mx_item(5, "ts as text"), "origin_server_ts": "1795000000005"},
        {**mx_item(6, "ts huge"), "origin_server_ts": 10**30},
        mx_item(
            7,
            "edit without target",
            **{"m.relates_to": {"rel_type": "m.replace"}, "m.new_content": {"body": "x"}},
        ),
        mx_item(8, "surrogate \udc80 in body"),
    ]
    result = matrix(mx_sync(*events)).poll({})
    assert [m.external_id for m in result.messages] == [f"$e{n}:test.local" for n in range(1, 9)]
    assert result.messages[3].text == "(message)"
    assert result.messages[4].sent_at.year == 2026
    assert not result.messages[6].edited
    assert result.rejected == []


def test_matrix_an_invite_that_cannot_be_joined_does_not_stop_the_sync() -> None:
    joins = []

    def handler(request: httpx.Request) -> httpx.Response:
        if "/join/" in request.url.path:
            joins.append(request.url.raw_path.decode())
            return answer({"errcode": "M_FORBIDDEN", "error": "withdrawn"}, 403)
        body = mx_sync(mx_item(1, "hello"))
        invite = {"type": "m.room.member", "state_key": MX_BOT}
        invite["content"] = {"membership": "invite", "is_direct": True}
        body["rooms"]["invite"] = {"!gone:test.local": {"invite_state": {"events": [invite]}}}
        return answer(body)

    adapter = MatrixAdapter(
        "m",
        {"api_base": "https://matrix.test", "user_id": MX_BOT},
        lambda _f: "t",
        transport=transport(handler),
    )
    assert [m.text for m in adapter.poll({}).messages] == ["hello"]
    assert joins == ["/_matrix/client/v3/join/%21gone%3Atest.local"]


def test_matrix_reparse() -> None:
    adapter = matrix({})
    good = {**mx_item(1, "hi"), "room_id": "!dm:test.local"}
    [msg] = adapter.reparse("$e1:test.local", json.dumps(good).encode(), "application/json", "sync")
    assert (msg.external_id, msg.text, msg.thread_key) == ("$e1:test.local", "hi", "!dm:test.local")
    reaction = {**good, "type": "m.reaction"}
    assert adapter.reparse("$e1:test.local", json.dumps(reaction).encode(), "", "sync") == []
    rejected = matrix(mx_sync({**mx_item(2, "x"), "sender": None})).poll({}).rejected[0]
    with pytest.raises(ValueError):
        adapter.reparse(rejected.external_id, rejected.raw, rejected.raw_type, rejected.folder)
    # The same raw, once the event has its sender (as after a fix upstream), reads fine.
    fixed = {**json.loads(rejected.raw), "sender": "@mei:test.local"}
    [msg] = adapter.reparse(rejected.external_id, json.dumps(fixed).encode(), "", "sync")
    assert msg.thread_key == "!dm:test.local"


def test_matrix_reparse_of_a_quarantined_room_or_gap() -> None:
    adapter = matrix({})
    body = {"next_batch": "s9", "rooms": {"join": {"!dm:test.local": {"timeline": 7}}}}
    [rejected] = matrix(body).poll({}).rejected
    assert json.loads(rejected.raw) == {"room_id": "!dm:test.local", "room": {"timeline": 7}}
    with pytest.raises(ValueError):
        adapter.reparse(rejected.external_id, rejected.raw, rejected.raw_type, rejected.folder)
    readable = {"room_id": "!dm:test.local", "room": {"timeline": {"events": [mx_item(1, "hi")]}}}
    [msg] = adapter.reparse("sha256:x", json.dumps(readable).encode(), "", "sync")
    assert (msg.text, msg.thread_key) == ("hi", "!dm:test.local")
    gap = {"room_id": "!dm:test.local", "gap": {"from": "t1", "to": "s1"}}
    with pytest.raises(ValueError):
        adapter.reparse("sha256:y", json.dumps(gap).encode(), "", "sync")


def test_matrix_a_gap_that_cannot_be_read_is_quarantined_and_the_rest_taken() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/messages"):
            return answer({"errcode": "M_FORBIDDEN", "error": "not in room"}, 403)
        body = mx_sync(mx_item(1, "after the gap"))
        body["rooms"]["join"]["!dm:test.local"]["timeline"].update(limited=True, prev_batch="t1")
        return answer(body)

    adapter = MatrixAdapter(
        "m",
        {"api_base": "https://matrix.test", "user_id": MX_BOT},
        lambda _f: "t",
        transport=transport(handler),
    )
    result = adapter.poll({"sync": Cursor("sync", {"since": "s1"})})
    assert [m.text for m in result.messages] == ["after the gap"]
    [gap] = result.rejected
    assert json.loads(gap.raw) == {"room_id": "!dm:test.local", "gap": {"from": "t1", "to": "s1"}}
    assert gap.error.startswith("AuthError") or gap.error.startswith("AdapterError")
    assert result.cursors == [Cursor("sync", {"since": "s9"})]


# =====================================================================================
# Mastodon: /api/v1/notifications
# =====================================================================================


def mastodon(pages: list[Any]) -> MastodonAdapter:
    served = iter(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/notifications"
        return answer(next(served, []))

    return MastodonAdapter(
        "fuzz-mastodon",
        {"api_base": "https://social.test"},
        lambda _field: "mastodon-token",
        transport=transport(handler),
    )


md_account = fields(
    {},
    {
        "id": maybe(st.just("77")),
        "acct": maybe(st.sampled_from(["mei", "ana@other.example", "x"])),
        "display_name": maybe(odd_text),
    },
)
md_media = fields(
    {},
    {
        "id": maybe(st.just("9")),
        "type": maybe(st.sampled_from(["image", "video", "unknown"])),
        "url": maybe(odd_text),
        "description": maybe(odd_text),
    },
)
md_created = st.one_of(
    st.just("2026-11-23T10:00:00.000Z"), st.just("2026-11-23T10:00:00"), odd_text
)
md_status_rest = {
    "created_at": maybe(md_created),
    "content": maybe(st.one_of(odd_text, st.just("<p>Hi <b>there</b></p>"))),
    "visibility": maybe(st.sampled_from(["direct", "public"])),
    "account": maybe(md_account),
    "media_attachments": maybe(st.lists(maybe(md_media), max_size=2)),
}
md_status = fields({}, {"id": maybe(st.integers(1, 10**18).map(str)), **md_status_rest})
md_id_value = st.one_of(st.integers(1, 10**18).map(str), st.integers(1, 10**6))
md_account_core = fields(
    {"acct": st.sampled_from(["mei", "ana@other.example"])}, {"display_name": maybe(odd_text)}
)
# A mention usable at its core (ids, status, account), anything around it.
md_mention_core = fields(
    {
        "id": md_id_value,
        "type": st.just("mention"),
        "status": fields({"id": st.integers(1, 10**18).map(str)}, md_status_rest),
    },
    {"created_at": maybe(md_created), "account": weighted((md_account_core, 3), (junk, 1))},
)
md_notification_any = fields(
    {"id": maybe(md_id_value)},
    {
        "type": maybe(st.sampled_from(["mention", "favourite", "follow"])),
        "created_at": maybe(md_created),
        "account": maybe(md_account),
        "status": maybe(md_status),
    },
)
md_notification = weighted((md_mention_core, 4), (md_notification_any, 2), (any_junk, 1))


def md_id(notification: Any) -> str | None:
    if not isinstance(notification, dict):
        return None
    value = notification.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    printable = isinstance(value, str) and 0 < len(value) <= 255 and value.isprintable()
    if printable and not any(ch.isspace() for ch in value):
        return value
    return None


def md_expect(notification: Any) -> tuple[str, str | None]:
    if not isinstance(notification, dict):
        return "reject", None
    if notification.get("type") != "mention":
        return "skip", None
    status = notification.get("status")
    if not isinstance(status, dict) or ident(status.get("id")) is None:
        return "reject", None
    accounts = [notification.get("account"), status.get("account")]
    if not any(isinstance(a, dict) and text_of(a.get("acct")) for a in accounts):
        return "reject", None
    return "message", ident(status.get("id"))


@FUZZ
@given(page=maybe(st.lists(md_notification, max_size=8)), start=st.sampled_from([None, "5"]))
def test_mastodon_poll_takes_every_notification_it_can(page: Any, start: str | None) -> None:
    page = wire(page)
    adapter = mastodon([page])
    cursors = {"notifications": Cursor("notifications", {"min_id": start})} if start else {}
    try:
        if not isinstance(page, list):
            with pytest.raises(AdapterError):
                adapter.poll(cursors)
            return
        result = adapter.poll(cursors)
    finally:
        adapter.close()
    check_messages(result.messages)
    verdicts = [md_expect(n) for n in page]
    expected_ids = sorted(i for v, i in verdicts if v == "message")
    assert sorted(m.external_id for m in result.messages) == expected_ids
    for msg in result.messages:
        assert msg.sender.address.startswith("@") and "@" in msg.sender.address[1:]
    usable = [i for i in map(md_id, page) if i is not None]
    if usable:
        [cursor] = result.cursors
        newest = cursor.state["min_id"]
        assert newest in usable

        def key(i: str) -> int:
            return int(i) if i.isascii() and i.isdigit() else 0

        assert key(newest) == max(map(key, usable))
    else:
        assert result.cursors == ([Cursor("notifications", {"min_id": start})] if start else [])
    for item in result.rejected:
        known = md_id(json.loads(item.raw))
        if known:
            assert item.external_id == f"notification:{known}"
        else:
            assert item.external_id.startswith("sha256:")
    rejects = [n for n, (v, _) in zip(page, verdicts, strict=True) if v == "reject"]
    check_rejections(result, rejects, "notifications")


def md_mention(n: int, html: str, **status: Any) -> dict[str, Any]:
    account = {"id": "77", "acct": "mei@social.example", "display_name": "Mei"}
    return {
        "id": str(1000 + n),
        "type": "mention",
        "created_at": "2026-11-23T10:00:00.000Z",
        "account": account,
        "status": {
            "id": str(5000 + n),
            "created_at": "2026-11-23T10:00:00.000Z",
            "content": html,
            "account": account,
            "media_attachments": [],
            **status,
        },
    }


def test_mastodon_one_bad_notification_between_two_good_ones() -> None:
    bad = md_mention(2, "<p>no status id</p>")
    del bad["status"]["id"]
    result = mastodon([[md_mention(3, "<p>third</p>"), bad, md_mention(1, "<p>first</p>")]]).poll(
        {}
    )
    assert [m.text for m in result.messages] == ["first", "third"]
    [rejected] = result.rejected
    assert rejected.external_id == "notification:1002"
    assert json.loads(rejected.raw) == bad
    assert "status id" not in rejected.error
    assert result.cursors == [Cursor("notifications", {"min_id": "1003"})]


def test_mastodon_odd_but_readable_notifications_are_stored() -> None:
    no_account = md_mention(1, "<p>account missing</p>")
    del no_account["account"]
    odd = [
        no_account,
        md_mention(2, "<p>naive date</p>", created_at="2026-11-23T10:00:00"),
        md_mention(3, "<p>media junk</p>", media_attachments=7),
        md_mention(4, "<p>surrogate \ud83d</p>"),
    ]
    result = mastodon([odd]).poll({})
    assert [m.external_id for m in result.messages] == ["5001", "5002", "5003", "5004"]
    assert result.messages[0].sender.address == "@mei@social.example"
    assert all(m.sent_at.tzinfo is not None for m in result.messages)
    assert result.rejected == []


def test_mastodon_reparse() -> None:
    adapter = mastodon([])
    good = md_mention(1, "<p>hello</p>")
    [msg] = adapter.reparse("notification:1001", json.dumps(good).encode(), "", "notifications")
    assert (msg.external_id, msg.text) == ("5001", "hello")
    favourite = {**good, "type": "favourite"}
    assert adapter.reparse("notification:1001", json.dumps(favourite).encode(), "", "") == []
    rejected = mastodon([[{**good, "status": None}]]).poll({}).rejected[0]
    with pytest.raises(ValueError):
        adapter.reparse(rejected.external_id, rejected.raw, rejected.raw_type, rejected.folder)


# =====================================================================================
# Twilio: Messages.json and Calls.json
# =====================================================================================

TW_SID = "AC0123456789abcdef0123456789abcdef"
TW_BASE = f"/2010-04-01/Accounts/{TW_SID}"


def twilio(
    messages: list[Any],
    calls: list[Any],
    *,
    last_next: Any = None,
    recordings: Any = None,
    transcriptions: Any = None,
) -> TwilioAdapter:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in (f"{TW_BASE}/Messages.json", f"{TW_BASE}/Calls.json"):
            key = "messages" if "Messages" in path else "calls"
            pages = messages if key == "messages" else calls
            page = int(request.url.params.get("Page", 0))
            more = page + 1 < len(pages)
            next_uri = f"{path}?Page={page + 1}" if more else last_next
            return answer({key: pages[page] if pages else [], "next_page_uri": next_uri})
        if path.endswith("/Recordings.json"):
            return answer({"recordings": recordings or []})
        if path.endswith("/Transcriptions.json"):
            return answer({"transcriptions": transcriptions or []})
        return answer({"code": 20404, "message": "not found"}, 404)

    return TwilioAdapter(
        "fuzz-twilio",
        {"account_sid": TW_SID, "from_number": "+15551230000"},
        lambda _field: "twilio-token",
        transport=transport(handler),
        today=date(2026, 11, 23),
    )


tw_date = st.one_of(
    st.just("Mon, 23 Nov 2026 09:00:00 +0000"),
    st.just("Mon, 23 Nov 99999 09:00:00 +0000"),
    st.just("Mon, 23 Nov 2026 09:00:00"),
    odd_text,
)
tw_number = st.one_of(st.just("+15557654321"), st.just("whatsapp:+15557654321"))
tw_sms_rest = {
    "to": maybe(st.just("+15551230000")),
    "body": maybe(odd_text),
    "date_sent": maybe(tw_date),
    "date_created": maybe(tw_date),
    "num_segments": junk,
}
tw_sms = weighted(
    (
        fields(
            {
                "sid": st.from_regex(r"SM[0-9a-f]{32}", fullmatch=True),
                "direction": st.just("inbound"),
                "from": tw_number,
            },
            tw_sms_rest,
        ),
        4,
    ),
    (
        fields(
            {
                "sid": maybe(st.from_regex(r"SM[0-9a-f]{32}", fullmatch=True)),
                "direction": maybe(st.sampled_from(["inbound", "outbound-api"])),
            },
            {"from": maybe(tw_number), **tw_sms_rest},
        ),
        2,
    ),
    (any_junk, 1),
)
tw_call_rest = {
    "to": maybe(st.just("+15551230000")),
    "status": maybe(st.sampled_from(["completed", "no-answer", "busy"])),
    "duration": maybe(st.one_of(huge_int, st.integers(0, 9999).map(str))),
    "start_time": maybe(tw_date),
    "subresource_uris": maybe(
        fields({"recordings": maybe(st.just(f"{TW_BASE}/Calls/CA1/Recordings.json"))}, {})
    ),
}
tw_call = weighted(
    (
        fields(
            {
                "sid": st.from_regex(r"CA[0-9a-f]{32}", fullmatch=True),
                "direction": st.just("inbound"),
                "from": tw_number,
            },
            tw_call_rest,
        ),
        4,
    ),
    (
        fields(
            {
                "sid": maybe(st.from_regex(r"CA[0-9a-f]{32}", fullmatch=True)),
                "direction": maybe(st.sampled_from(["inbound", "outbound-dial"])),
            },
            {"from": maybe(tw_number), **tw_call_rest},
        ),
        2,
    ),
    (any_junk, 1),
)
tw_recording = fields(
    {}, {"sid": maybe(st.just("RE1")), "duration": maybe(st.one_of(huge_int, odd_text))}
)
tw_transcription = fields(
    {}, {"status": maybe(st.just("completed")), "transcription_text": maybe(odd_text)}
)
# A next_page_uri that is no path of ours: the adapter must take it as the last page.
tw_bad_next = st.one_of(st.none(), huge_int, st.just("https://evil.test/x"), st.just(""), junk)


def tw_sid(value: Any) -> str | None:
    if isinstance(value, str) and value.isascii() and value.isalnum() and len(value) <= 64:
        return value
    return None


def tw_expect(item: Any) -> str:
    if not isinstance(item, dict):
        return "reject"
    if item.get("direction") != "inbound":
        return "skip"
    if tw_sid(item.get("sid")) is None or not text_of(item.get("from")).strip():
        return "reject"
    return "message"


@FUZZ
@given(
    messages=st.lists(weighted((st.lists(tw_sms, max_size=4), 8), (any_junk, 1)), max_size=3),
    calls=st.lists(st.lists(tw_call, max_size=3), max_size=2),
    last_next=tw_bad_next.filter(lambda v: not (isinstance(v, str) and v.startswith("/"))),
    recordings=maybe(st.lists(maybe(tw_recording), max_size=2)),
    transcriptions=maybe(st.lists(maybe(tw_transcription), max_size=2)),
)
def test_twilio_poll_takes_every_record_it_can(
    messages: list[Any], calls: list[Any], last_next: Any, recordings: Any, transcriptions: Any
) -> None:
    messages, calls = wire(messages), wire(calls)
    adapter = twilio(
        messages,
        calls,
        last_next=last_next,
        recordings=recordings,
        transcriptions=transcriptions,
    )
    try:
        if not all(isinstance(page, list) for page in messages):
            with pytest.raises(AdapterError):
                adapter.poll({})
            return
        result = adapter.poll({})
    finally:
        adapter.close()
    check_messages(result.messages)
    items = [i for page in messages for i in page] + [i for page in calls for i in page]
    verdicts = [tw_expect(i) for i in items]
    expected = [i["sid"] for i, v in zip(items, verdicts, strict=True) if v == "message"]
    assert [m.external_id for m in result.messages] == expected
    for msg in result.messages:
        assert msg.kind in ("message", "call", "voicemail")
        assert msg.thread_key == msg.sender.address
    assert result.cursors == [Cursor("messages", {"polled": "2026-11-23"})]
    for item in result.rejected:
        raw = json.loads(item.raw)
        sid = tw_sid(raw.get("sid")) if isinstance(raw, dict) else None
        assert item.external_id == sid or (not sid and item.external_id.startswith("sha256:"))
    rejects = [i for i, v in zip(items, verdicts, strict=True) if v == "reject"]
    check_rejections(result, rejects, "messages")


def tw_sms_item(n: int, body: str, **extra: Any) -> dict[str, Any]:
    return {
        "sid": f"SM{n:032d}",
        "from": "+15557654321",
        "to": "+15551230000",
        "body": body,
        "direction": "inbound",
        "date_sent": "Mon, 23 Nov 2026 09:00:00 +0000",
        **extra,
    }


def test_twilio_one_bad_message_between_two_good_ones() -> None:
    bad = tw_sms_item(2, "who sent me?", **{"from": None})
    result = twilio([[tw_sms_item(1, "first"), bad, tw_sms_item(3, "third")]], []).poll({})
    assert [m.text for m in result.messages] == ["first", "third"]
    [rejected] = result.rejected
    assert rejected.external_id == bad["sid"]
    assert json.loads(rejected.raw) == bad
    assert rejected.folder == "messages"
    assert "who sent" not in rejected.error
    assert result.cursors == [Cursor("messages", {"polled": "2026-11-23"})]


def test_twilio_odd_but_readable_records_are_stored() -> None:
    call = {
        "sid": "CA" + "0" * 32,
        "from": "+15557654321",
        "direction": "inbound",
        "status": "completed",
        "duration": "about a minute",
        "start_time": "yesterday",
        "subresource_uris": "none",
    }
    result = twilio(
        [[tw_sms_item(1, None), tw_sms_item(2, "date", date_sent="Mon, 99 Foo 2026")]],
        [[call]],
        last_next=17,
    ).poll({})
    assert [m.external_id for m in result.messages] == [
        "SM" + "0" * 31 + "1",
        "SM" + "0" * 31 + "2",
        call["sid"],
    ]
    assert result.messages[0].text == ""
    assert result.messages[2].text == "Missed call (completed)"
    assert result.rejected == []


def test_twilio_a_call_whose_voicemail_cannot_be_read_is_quarantined_alone() -> None:
    call = {
        "sid": "CA" + "1" * 32,
        "from": "+15557654321",
        "direction": "inbound",
        "duration": "42",
        "subresource_uris": {"recordings": f"{TW_BASE}/Calls/gone/Recordings.jsonx"},
    }
    result = twilio([[tw_sms_item(1, "sms")]], [[call]]).poll({})
    assert [m.text for m in result.messages] == ["sms"]
    assert [r.external_id for r in result.rejected] == [call["sid"]]
    assert result.rejected[0].error.startswith("AdapterError")


def test_twilio_reparse() -> None:
    adapter = twilio([], [])
    [msg] = adapter.reparse("SM1", json.dumps(tw_sms_item(1, "hi")).encode(), "", "messages")
    assert (msg.channel, msg.text) == ("sms", "hi")
    call = {
        "sid": "CA" + "2" * 32,
        "from": "+15557654321",
        "direction": "inbound",
        "duration": "65",
        "status": "completed",
    }
    [msg] = adapter.reparse(call["sid"], json.dumps(call).encode(), "", "messages")
    assert (msg.channel, msg.kind, msg.text) == ("phone", "call", "Call (1:05)")
    outbound = tw_sms_item(3, "ours", direction="outbound-api")
    assert adapter.reparse("SM3", json.dumps(outbound).encode(), "", "messages") == []
    rejected = twilio([[tw_sms_item(4, "x", sid=None)]], []).poll({}).rejected[0]
    assert rejected.external_id.startswith("sha256:")
    with pytest.raises(ValueError):
        adapter.reparse(rejected.external_id, rejected.raw, rejected.raw_type, rejected.folder)


# =====================================================================================
# Through the real sync service: bad items quarantined with the cursor, retry keeps them
# =====================================================================================


def one_bad_between_two_good(kind: str) -> tuple[Any, str]:
    """An adapter serving good, bad, good; and the bad item's external id."""
    if kind == "telegram":
        bad = {"update_id": 11, "message": {"message_id": 2, "text": "no chat"}}
        return telegram([tg_item(10, 1, "first"), bad, tg_item(12, 3, "third")]), "update:11"
    if kind == "matrix":
        bad = {"type": "m.room.message", "event_id": "$bad:test.local", "content": {}}
        return matrix(mx_sync(mx_item(1, "first"), bad, mx_item(3, "third"))), "$bad:test.local"
    if kind == "mastodon":
        bad = md_mention(2, "<p>no account</p>")
        del bad["account"], bad["status"]["account"]
        page = [md_mention(1, "<p>first</p>"), bad, md_mention(3, "<p>third</p>")]
        return mastodon([page]), "notification:1002"
    bad = tw_sms_item(2, "no sender", **{"from": ""})
    return twilio([[tw_sms_item(1, "first"), bad, tw_sms_item(3, "third")]], []), bad["sid"]


@pytest.mark.parametrize("kind", ["telegram", "matrix", "mastodon", "twilio"])
def test_sync_quarantines_the_bad_item_and_commits_the_rest(engine: Engine, kind: str) -> None:
    adapter, bad_id = one_bad_between_two_good(kind)
    settings = {"api_base": "https://x.test", "account_sid": TW_SID}
    acct = AccountConfig(name=f"fuzz-{kind}", kind=kind, settings=settings)
    outcome = SyncService(engine, Desk(), (acct,), adapter_builder=lambda a: adapter).round(acct)
    assert outcome.ok and outcome.fetched == 2 and outcome.quarantined == 1
    with Session(engine) as s:
        assert [m.text for m in s.exec(select(Message).order_by(Message.id))] == [
            "first",
            "third",
        ]
        [kept] = s.exec(select(Quarantine)).all()
        assert (kept.account, kept.external_id, kept.stage) == (acct.name, bad_id, "parse")
        assert kept.raw and json.loads(kept.raw)
        assert s.exec(select(SyncCursor).where(SyncCursor.account == acct.name)).all()
    [again] = retry(engine, Desk(), (acct,), reader=lambda a: adapter)
    assert again.result == "failed" and again.external_id == bad_id
    with Session(engine) as s:
        assert s.exec(select(Quarantine)).one().attempts >= 1


# =====================================================================================
# Whole answers too deep to read are a per-poll failure, not a crash
# =====================================================================================


def test_an_answer_nested_too_deep_is_an_adapter_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=deep)

    adapters = [
        TelegramAdapter(
            "t", {"long_poll_seconds": 0}, lambda _f: "x", transport=transport(handler)
        ),
        MatrixAdapter(
            "m", {"api_base": "https://m.test"}, lambda _f: "x", transport=transport(handler)
        ),
        MastodonAdapter(
            "d", {"api_base": "https://d.test"}, lambda _f: "x", transport=transport(handler)
        ),
        TwilioAdapter("w", {"account_sid": TW_SID}, lambda _f: "x", transport=transport(handler)),
    ]
    for adapter in adapters:
        with pytest.raises(AdapterError):
            adapter.poll({})
        adapter.close()

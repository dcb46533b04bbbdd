"""Messenger/Instagram polling through a backlog: conversations that share one
``updated_time``, more changed conversations than one poll's listing, and timestamps
outside the calendar, against the fake Graph API."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

import adapters.meta as meta
from adapters.base import Cursor, PollResult
from adapters.meta import MetaAdapter
from tests.support.meta_fake import API, PAGE, TOKEN, FakeGraph, message, stamp


def adapter(
    api: FakeGraph, handler: Callable[[httpx.Request], httpx.Response] | None = None
) -> MetaAdapter:
    return MetaAdapter(
        "shop-messenger",
        {"api_base": API, "page_id": PAGE},
        lambda field: TOKEN,
        transport=httpx.MockTransport(handler or api.handler),
    )


def poll_until_done(
    a: MetaAdapter, cursors: dict[str, Cursor], limit: int
) -> tuple[list[PollResult], dict[str, Cursor]]:
    """Polls as the sync service does (again at once while ``more``), at most ``limit``."""
    results: list[PollResult] = []
    for _ in range(limit):
        result = a.poll(cursors)
        results.append(result)
        cursors = {c.folder: c for c in result.cursors}
        if not result.more:
            break
    return results, cursors


def ids(results: list[PollResult]) -> set[str]:
    return {m.external_id for r in results for m in r.messages}


def test_thirty_conversations_in_one_second_do_not_wedge_the_account() -> None:
    # 30 conversations touched in the same second (a broadcast's replies), then a newer one
    api = FakeGraph({f"t_{n}": [message(n, f"c{n}", minute=5, frm=f"90{n}")] for n in range(30)})
    api.conversations["t_new"] = [message(99, "newer", minute=6)]
    results, cursors = poll_until_done(adapter(api), {}, 10)
    assert not results[-1].more, "the backlog ends"
    assert len(results) <= 3
    assert ids(results) == {f"m_{n:04d}" for n in (*range(30), 99)}
    # and afterwards: nothing again, nothing pending, a new message arrives
    again, cursors = poll_until_done(adapter(api), cursors, 3)
    assert len(again) == 1 and not again[0].more and not again[0].messages
    api.conversations["t_7"].append(message(100, "later", minute=7, frm="907"))
    later, _ = poll_until_done(adapter(api), cursors, 3)
    # (t_7's first message is inside the overlap: read again, absorbed by the store)
    assert "later" in {m.text for r in later for m in r.messages} <= {"later", "c7"}


def test_a_same_second_group_past_a_step_continues_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a step is never ended inside a group; the group after it is taken whole next
    monkeypatch.setattr(meta, "STEP", 3)
    convs = {f"a{n}": [message(n, f"a{n}", minute=1, frm=f"80{n}")] for n in range(2)}
    convs |= {f"b{n}": [message(10 + n, f"b{n}", minute=2, frm=f"81{n}")] for n in range(5)}
    convs |= {"c": [message(20, "c", minute=3)]}
    api = FakeGraph(convs)
    results, _ = poll_until_done(adapter(api), {}, 10)
    assert [len(r.messages) for r in results] == [7, 1]
    assert not results[-1].more


def test_more_changed_conversations_than_one_listing_are_all_read() -> None:
    # 1,100 conversations changed since the cursor: 44 pages of 25, MAX_PAGES is 40
    n_convs = 1100
    api = FakeGraph(
        {f"t_{n}": [message(n, f"c{n}", minute=100 + n, frm=f"7{n:05d}")] for n in range(n_convs)},
        page_size=meta.PAGE_SIZE,
    )
    api.conversations["t_old"] = [message(9000, "before the cursor", minute=0)]
    since = Cursor("conversations", {"since": stamp(50).replace("+0000", "+00:00")})
    results, cursors = poll_until_done(adapter(api), {"conversations": since}, 200)
    assert not results[-1].more
    assert ids(results) == {f"m_{n:04d}" for n in range(n_convs)}, "none skipped"
    assert cursors["conversations"].state["since"] == "2026-11-24T04:59:00+00:00"
    assert stamp(100 + n_convs - 1) == "2026-11-24T04:59:00+0000"
    # Graph's own cursor went into the state and the listing went on from it
    assert any("deep" in c.state for r in results for c in r.cursors)
    assert any(q.url.params.get("after") == "975" for q in api.queries)  # page 40 again


def test_a_first_sync_takes_the_newest_listing_only() -> None:
    # without a cursor, the newest 1,000 conversations (40 pages of 25), as documented
    api = FakeGraph(
        {f"t_{n}": [message(n, f"c{n}", minute=n, frm=f"7{n:05d}")] for n in range(1100)},
        page_size=meta.PAGE_SIZE,
    )
    results, _ = poll_until_done(adapter(api), {}, 100)
    assert not results[-1].more
    assert ids(results) == {f"m_{n:04d}" for n in range(100, 1100)}


def test_conversations_that_change_during_a_deep_backlog_are_not_skipped() -> None:
    n_convs = 1100
    api = FakeGraph(
        {f"t_{n}": [message(n, f"c{n}", minute=100 + n, frm=f"7{n:05d}")] for n in range(n_convs)},
        page_size=meta.PAGE_SIZE,
    )
    a = adapter(api)
    since = Cursor("conversations", {"since": "2026-11-23T09:50:00+00:00"})
    cursors: dict[str, Cursor] = {"conversations": since}
    got: set[str] = set()
    for n in range(300):
        result = a.poll(cursors)
        got |= {m.external_id for m in result.messages}
        cursors = {c.folder: c for c in result.cursors}
        if n in (1, 3, 20):  # customers write again while the backlog is read
            for i, k in enumerate((n, 500 + n, 1050 + n)):
                api.conversations[f"t_{k}"].append(
                    message(5000 + n * 10 + i, "again", minute=3000 + n)
                )
        if not result.more:
            break
    assert not result.more
    expected = {f"m_{n:04d}" for n in range(n_convs)}
    expected |= {m["id"] for c in api.conversations.values() for m in c}
    assert got == expected


def test_a_stored_graph_cursor_graph_no_longer_takes_starts_from_the_top() -> None:
    api = FakeGraph({"t_1": [message(1, "hi")]})

    def refuse_cursor(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("after") == "expired":
            return httpx.Response(
                400, json={"error": {"message": "Invalid cursor", "code": 100, "type": "X"}}
            )
        return api.handler(request)

    state = {"since": "2026-11-23T08:00:00+00:00", "deep": "expired"}
    result = adapter(api, refuse_cursor).poll({"conversations": Cursor("conversations", state)})
    assert [m.text for m in result.messages] == ["hi"] and not result.more
    assert "deep" not in result.cursors[0].state


def test_a_conversation_listed_late_inside_the_overlap_is_read() -> None:
    # Graph lists t_late (09:28) only after the cursor reached 09:30: within OVERLAP
    api = FakeGraph({"t_new": [message(30, "new")]})
    result = adapter(api).poll({})
    api.conversations["t_late"] = [message(28, "late", frm="5550001")]
    again = adapter(api).poll({c.folder: c for c in result.cursors})
    assert [m.text for m in again.messages] == ["late"]
    # and the ones already taken in the overlap are not read again
    before = len(api.queries)
    third = adapter(api).poll({c.folder: c for c in again.cursors})
    assert not third.messages
    assert not [q for q in api.queries[before:] if q.url.path.endswith("/messages")]


@pytest.mark.parametrize(
    "odd", ["9999-12-31T23:59:59-1400", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00+00:00"]
)
def test_a_timestamp_off_the_calendar_is_quarantined_not_a_failed_poll(odd: str) -> None:
    bad = message(2, "odd time")
    bad["created_time"] = odd
    api = FakeGraph({"t_1": [message(1, "first"), bad, message(3, "third")]})
    api.listed_times["t_1"] = stamp(3)  # Graph's own time for the conversation
    api.odd_listing = [{"id": "t_odd", "updated_time": odd}]
    result = adapter(api).poll({})
    assert sorted(m.text for m in result.messages) == ["first", "third"]
    rejected = {r.external_id: r for r in result.rejected}
    assert "m_0002" in rejected and "Unusable" in rejected["m_0002"].error
    (listing,) = [r for r in result.rejected if r.external_id != "m_0002"]
    assert "Unusable" in listing.error and odd in listing.raw.decode()
    assert result.cursors[0].state["since"] == "2026-11-23T09:03:00+00:00"
    # the next poll is fine too
    again = adapter(api).poll({c.folder: c for c in result.cursors})
    assert not again.messages and not again.more

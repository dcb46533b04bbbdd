"""The inbox's keyset paging: every row once, in urgency order, from any direction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from omnitui.ui.inbox_source import PAGE, InboxSource
from storage import queries
from storage import repository as repo
from storage.models import NO_DUE, Conversation
from storage.queries import InboxFilter

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def fill(engine: Engine, n: int) -> list[int]:
    """n conversations: a third breached, a third due later, a third without a clock."""
    with Session(engine) as s:
        ident = repo.get_or_create_identity(s, "email", "bulk@example.com", "Bulk")
        for i in range(n):
            conv = repo.create_conversation(
                s,
                account="mail",
                channel="email",
                customer_id=ident.customer_id,
                subject=f"s{i}",
                created_at=NOW - timedelta(minutes=i),
            )
            if i % 3 == 0:
                conv.urgency_due = int((NOW - timedelta(minutes=i % 50)).timestamp())
            elif i % 3 == 1:
                conv.urgency_due = int((NOW + timedelta(minutes=i % 70)).timestamp())
            else:
                conv.urgency_due = NO_DUE
            if i % 7 == 0:
                conv.status = "resolved"
        s.commit()
    return list(range(n))


def expected_order(engine: Engine) -> list[tuple[int, int, int]]:
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT urgency_due, recency, id FROM conversation "
                "WHERE status IN ('open','pending') ORDER BY urgency_due, recency, id"
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_forward_paging_matches_full_order(engine: Engine) -> None:
    fill(engine, 3 * PAGE + 17)
    src = InboxSource(engine, InboxFilter())
    want = expected_order(engine)
    assert len(src) == len(want)
    got = [src.get(i).key for i in range(len(src))]  # type: ignore[union-attr]
    assert got == want
    assert src.get(len(src)) is None


def test_breached_first_then_soonest_due_then_newest(engine: Engine) -> None:
    fill(engine, 60)
    src = InboxSource(engine, InboxFilter())
    rows = [src.get(i) for i in range(len(src))]
    dues = [r.due for r in rows]  # type: ignore[union-attr]
    timed = [d for d in dues if d is not None]
    assert timed == sorted(timed)
    assert dues.index(None) == len(timed)  # rows without a clock come last
    untimed = [r.last_message_at for r in rows if r.due is None]  # type: ignore[union-attr]
    assert untimed == sorted(untimed, reverse=True)


def test_jump_to_end_then_scroll_back_up(engine: Engine) -> None:
    fill(engine, 5 * PAGE)
    src = InboxSource(engine, InboxFilter())
    want = expected_order(engine)
    last = len(src) - 1
    assert src.get(last).key == want[-1]  # type: ignore[union-attr]
    got = [src.get(i).key for i in range(last, -1, -1)]  # type: ignore[union-attr]
    assert got == list(reversed(want))


def test_jump_into_the_middle(engine: Engine) -> None:
    fill(engine, 6 * PAGE)
    src = InboxSource(engine, InboxFilter())
    want = expected_order(engine)
    mid = len(want) // 2
    assert src.get(mid).key == want[mid]  # type: ignore[union-attr]
    assert src.get(mid - 1).key == want[mid - 1]  # type: ignore[union-attr]
    assert src.position_of(src.get(mid)) == mid  # type: ignore[arg-type]


def test_filters_by_status_and_channel(engine: Engine) -> None:
    fill(engine, 70)
    resolved = InboxSource(engine, InboxFilter(statuses=("resolved",)))
    assert len(resolved) == 10
    assert all(resolved.get(i).status == "resolved" for i in range(10))  # type: ignore[union-attr]
    assert len(InboxSource(engine, InboxFilter(channels=("telegram",)))) == 0
    assert len(InboxSource(engine, InboxFilter(assignee=""))) == 60  # unassigned, active
    assert len(InboxSource(engine, InboxFilter(assignee="me"))) == 0


def test_search_results_lose_erased_conversations_beyond_the_fetched_pages(
    engine: Engine,
) -> None:
    """Live updates prune the search results in one query, not page by page: the count
    is right before the rows past the first page are ever read."""
    fill(engine, PAGE + 50)
    with engine.connect() as conn:
        ids = [r.id for r in queries.inbox_page(conn, InboxFilter(statuses=()), limit=PAGE + 50)]
    src = InboxSource(engine, InboxFilter(statuses=()))
    src.set_search(ids)
    assert src.get(0) is not None and src.cached(PAGE + 10) is None
    with Session(engine) as s:
        repo_conv = s.get(Conversation, ids[PAGE + 10])
        s.delete(repo_conv)
        s.commit()
    assert src.prune_search() is True
    assert len(src) == PAGE + 49 and ids[PAGE + 10] not in (src.search_ids or [])
    assert src.get(PAGE + 10).id == ids[PAGE + 11]  # type: ignore[union-attr]
    assert src.prune_search() is False  # nothing more went

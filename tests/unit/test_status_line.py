"""The status line says where you are, how each account is doing, and the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnitui.ui.widgets.status_line import ago, status_text
from storage.queries import AccountHealth

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def health(
    name: str,
    *,
    ok: int | None = None,
    error: str | None = None,
    error_at: int | None = None,
    polling: bool = False,
) -> AccountHealth:
    def at(minutes: int | None) -> datetime | None:
        return None if minutes is None else NOW - timedelta(minutes=minutes)

    return AccountHealth(name, "email", polling, at(ok), error, at(error_at))


def test_errors_last_poll_and_outbox() -> None:
    text = status_text(
        where="inbox: active",
        accounts=[
            health("support-mail", ok=30, error="login failed", error_at=2),
            health("shop-telegram", ok=1),
        ],
        queued=2,
        problems=1,
        demo=False,
        now=NOW,
    ).plain
    assert "inbox: active" in text
    assert "support-mail: login failed 2m ago" in text
    assert "shop-telegram: ok 1m ago" in text
    assert "outbox 2" in text and "1 failed" in text


def test_recovered_account_shows_ok_and_progress_shows_counts() -> None:
    text = status_text(
        where="x",
        accounts=[health("a", ok=0, error="timeout", error_at=5), health("b", polling=True)],
        queued=0,
        problems=0,
        demo=True,
        now=NOW,
        progress={"b": (500, 2500)},
    ).plain
    assert "a: ok just now" in text and "timeout" not in text
    assert "b: syncing 500/2500" in text and "DEMO" in text


def test_error_text_is_sanitised() -> None:
    text = status_text(
        where="x",
        accounts=[health("a", error="\x1b]0;pwn\x07bad", error_at=0)],
        queued=0,
        problems=0,
        demo=False,
        now=NOW,
    ).plain
    assert "\x1b" not in text and "bad" in text


def test_ago() -> None:
    assert ago(NOW, NOW) == "just now"
    assert ago(NOW - timedelta(minutes=3), NOW) == "3m ago"
    assert ago(NOW - timedelta(hours=5), NOW) == "5h ago"
    assert ago(NOW - timedelta(days=2), NOW) == "2d ago"


def test_undelivered_replies_warn_on_their_account_in_words() -> None:
    from omnitui.desk.outbox import OutboxCounts

    counts = OutboxCounts(queued=3, failing=1, failed=1, by_account={"support-mail": 2})
    text = status_text(
        where="inbox",
        accounts=[health("support-mail", ok=1), health("shop-telegram", ok=1)],
        demo=False,
        now=NOW,
        outbox=counts,
        configured={"support-mail", "shop-telegram"},
    )
    plain = text.plain
    assert "support-mail: ⚠ 2 undelivered" in plain and "support-mail: ok" not in plain
    assert "shop-telegram: ok 1m ago" in plain
    assert "outbox 3 queued · 1 failing · 1 failed" in plain
    start = plain.index("support-mail: ⚠")
    styles = [str(s.style) for s in text.spans if s.start <= start < s.end]
    assert any("bold" in s for s in styles) and not any("dim" in s for s in styles)


def test_an_account_in_error_also_counts_its_undelivered_replies() -> None:
    from omnitui.desk.outbox import OutboxCounts

    text = status_text(
        where="x",
        accounts=[health("support-mail", error="connection refused", error_at=1)],
        demo=False,
        now=NOW,
        outbox=OutboxCounts(uncertain=1, by_account={"support-mail": 1}),
    ).plain
    assert "support-mail: connection refused 1m ago ⚠ 1 undelivered" in text
    assert "outbox 1 uncertain" in text


def test_accounts_removed_from_the_config_are_not_shown() -> None:
    from omnitui.desk.outbox import OutboxCounts

    text = status_text(
        where="x",
        accounts=[health("old-mail", error="login failed", error_at=1), health("new", ok=2)],
        demo=False,
        now=NOW,
        outbox=OutboxCounts(failed=1, by_account={"old-mail": 1, "fresh": 2}),
        configured={"new", "fresh"},
    ).plain
    assert "old-mail" not in text and "login failed" not in text
    assert "new: ok 2m ago" in text
    assert "fresh: ⚠ 2 undelivered" in text  # never polled yet, but it has replies stuck


def test_the_outbox_key_hint_only_where_it_fits() -> None:
    wide = status_text(where="inbox", accounts=[], demo=False, outbox_key="O", width=200).plain
    assert wide.startswith("inbox  │ ? help") and wide.endswith(" · O outbox")
    assert "outbox 0" in wide
    narrow = status_text(where="inbox", accounts=[], demo=False, outbox_key="O", width=30).plain
    assert "O outbox" not in narrow


def test_help_survives_a_narrow_line() -> None:
    """``? help`` comes right after where the agent is: a narrow terminal cuts the
    account details, never the way to the keys."""
    line = status_text(
        where="inbox: active",
        accounts=[health("support-mail", ok=2), health("telegram-bot", ok=3)],
        demo=True,
        now=NOW,
    )
    line.truncate(40)
    assert "? help" in line.plain


def test_an_account_another_process_leads_says_by_whom() -> None:
    from dataclasses import replace

    from omnitui.leader_names import describe_holder

    service = replace(health("support-mail", ok=1), leader="box pid 1 (sync service)")
    console = replace(health("shop-telegram", ok=1), leader="box pid 2 (console of ana)")
    mine = replace(health("support-chat", ok=1), leader=describe_holder("console of me"))
    text = status_text(where="inbox", accounts=[service, console, mine], demo=False, now=NOW)
    assert "support-mail: ok 1m ago (by sync service)" in text.plain
    assert "shop-telegram: ok 1m ago (by console of ana)" in text.plain
    assert "support-chat: ok 1m ago  │" in text.plain  # led here: nothing to say
    hostile = replace(health("x", ok=1), leader="h pid 3 ([bold]\x1b[31mevil)")
    shown = status_text(where="inbox", accounts=[hostile], demo=False, now=NOW).plain
    assert "\x1b" not in shown and "(by [bold]" in shown

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

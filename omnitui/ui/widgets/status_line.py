"""The status line: where you are, the quarantine, account health, last poll, errors,
outbox queue."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual.widgets import Static

from omnitui.sanitize import clean_line
from storage.queries import AccountHealth


def ago(then: datetime, now: datetime) -> str:
    """``just now``, ``2m ago``, ``3h ago``, ``2d ago``."""
    seconds = max((now - then).total_seconds(), 0)
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60) or 1}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


def status_text(
    *,
    where: str,
    accounts: list[AccountHealth],
    queued: int,
    problems: int,
    demo: bool,
    now: datetime | None = None,
    progress: dict[str, tuple[int, int]] | None = None,
    quarantined: int = 0,
) -> Text:
    """The status line's content (errors are customer-free but still sanitised).

    Kept items in the quarantine come right after where the agent is, so a narrow
    terminal cuts account details before them; the words say it, not only the colour."""
    now = now or datetime.now(UTC)
    text = Text(no_wrap=True, overflow="ellipsis")
    if demo:
        text.append(" DEMO ", "bold black on yellow")
        text.append(" ")
    text.append(where, "bold")
    if quarantined:
        text.append("  │ ", "dim")
        text.append(f" quarantine {quarantined} ", "bold black on yellow")
    for acct in accounts:
        text.append("  │ ", "dim")
        if acct.last_error and (
            acct.last_ok_at is None
            or (acct.last_error_at and acct.last_error_at >= acct.last_ok_at)
        ):
            when = ago(acct.last_error_at, now) if acct.last_error_at else ""
            text.append(f"{acct.account}: {clean_line(acct.last_error, 48)} {when}", "bold red")
        elif progress and acct.account in progress:
            done, total = progress[acct.account]
            text.append(f"{acct.account}: syncing {done}/{total}", "yellow")
        elif acct.polling:
            text.append(f"{acct.account}: polling…", "yellow")
        elif acct.last_ok_at:
            text.append(f"{acct.account}: ok {ago(acct.last_ok_at, now)}", "green")
        else:
            text.append(f"{acct.account}: waiting", "dim")
    text.append("  │ ", "dim")
    text.append(f"outbox {queued}", "yellow" if queued else "dim")
    if problems:
        text.append(f"  {problems} failed", "bold red")
    text.append("  │ ? help", "dim")
    return text


class StatusLine(Static):
    """One line at the bottom of every screen."""

    DEFAULT_CSS = """
    StatusLine { height: 1; dock: bottom; background: $panel; }
    """

"""The status line: where you are, the quarantine, account health (errors, undelivered
replies, last poll), the outbox by state."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from rich.text import Text
from textual.widgets import Static

from omnitui.desk.outbox import OutboxCounts
from omnitui.leader_names import is_this_process, role_of
from omnitui.ui.safe_text import line
from storage.queries import AccountHealth

#: Styles readable on the panel (WCAG ≥ 4.5:1 in colour, and under NO_COLOR, where the
#: words and weight carry the meaning): explicit colours, as the 16-colour palette maps
#: red to magenta and yellow to bright red.
ALARM = "bold #ff8787"
WARN = "bold #ffaf5f"
BUSY = "#ffd75f"
GOOD = "#87ff87"
QUIET = "#c6c6c6"
BADGE = "bold #000000 on #ffd75f"


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
    queued: int = 0,
    problems: int = 0,
    demo: bool,
    now: datetime | None = None,
    progress: dict[str, tuple[int, int]] | None = None,
    quarantined: int = 0,
    outbox: OutboxCounts | None = None,
    configured: Collection[str] | None = None,
    outbox_key: str | None = None,
    width: int | None = None,
) -> Text:
    """The status line's content (errors are customer-free but still sanitised).

    Kept items in the quarantine come right after where the agent is, so a narrow
    terminal cuts account details before them; the words say it, not only the colour.
    ``outbox`` (else ``queued`` / ``problems`` as queued / failed) gives the outbox by
    state and the undelivered replies per account: such an account reads
    ``name: ⚠ 2 undelivered`` in bold. Only ``configured`` accounts are shown (the
    store keeps the rows of removed ones). ``outbox_key`` is added as a hint when the
    line is known to have room for it (``width``)."""
    now = now or datetime.now(UTC)
    if outbox is None:
        outbox = OutboxCounts(queued=queued, failed=problems)
    text = Text(no_wrap=True, overflow="ellipsis")
    if demo:
        text.append(" DEMO ", BADGE)
        text.append(" ")
    text.append(where, "bold")
    # Help comes before the details a narrow terminal cuts.
    text.append("  │ ", "dim")
    text.append("? help", QUIET)
    if quarantined:
        text.append("  │ ", "dim")
        text.append(f" quarantine {quarantined} ", BADGE)
    shown = [a for a in accounts if configured is None or a.account in configured]
    names = {a.account for a in shown}
    warned = [
        AccountHealth(name, "", False, None, None, None)
        for name in sorted(outbox.by_account)
        if name not in names and configured is not None and name in configured
    ]
    for acct in [*shown, *warned]:
        text.append("  │ ", "dim")
        _account_part(text, acct, outbox.by_account.get(acct.account, 0), now, progress)
    text.append("  │ ", "dim")
    _outbox_part(text, outbox)
    if outbox_key:
        hint = f" · {outbox_key} outbox"
        if width is None or text.cell_len + len(hint) <= width:
            text.append(hint, "dim")
    return text


def _account_part(
    text: Text,
    acct: AccountHealth,
    undelivered: int,
    now: datetime,
    progress: dict[str, tuple[int, int]] | None,
) -> None:
    """One account: its error, its undelivered replies (a warning in words), or how
    its polling goes; ``(by sync service)`` when another process leads it."""
    failing = bool(acct.last_error) and (
        acct.last_ok_at is None
        or (acct.last_error_at is not None and acct.last_error_at >= acct.last_ok_at)
    )
    if failing:
        when = ago(acct.last_error_at, now) if acct.last_error_at else ""
        text.append(f"{acct.account}: {line(acct.last_error or '', 48)} {when}", ALARM)
        if undelivered:
            text.append(f" ⚠ {undelivered} undelivered", ALARM)
    elif undelivered:
        text.append(f"{acct.account}: ⚠ {undelivered} undelivered", WARN)
    elif progress and acct.account in progress:
        done, total = progress[acct.account]
        text.append(f"{acct.account}: syncing {done}/{total}", BUSY)
    elif acct.polling:
        text.append(f"{acct.account}: polling…", BUSY)
    elif acct.last_ok_at:
        text.append(f"{acct.account}: ok {ago(acct.last_ok_at, now)}", GOOD)
    else:
        text.append(f"{acct.account}: waiting", QUIET)
    if acct.leader and not is_this_process(acct.leader):
        text.append(f" (by {line(role_of(acct.leader), 40)})", QUIET)


def _outbox_part(text: Text, outbox: OutboxCounts) -> None:
    """``outbox 0``, or ``outbox 3 queued · 2 failing · 1 failed`` (problems in bold)."""
    if not outbox.total:
        text.append("outbox 0", QUIET)
        return
    text.append("outbox ", BUSY)
    parts = [
        (outbox.queued, "queued", BUSY),
        (outbox.sending, "sending", BUSY),
        (outbox.failing, "failing", WARN),
        (outbox.failed, "failed", ALARM),
        (outbox.uncertain, "uncertain", ALARM),
    ]
    first = True
    for count, word, style in parts:
        if not count:
            continue
        if not first:
            text.append(" · ", "dim")
        text.append(f"{count} {word}", style)
        first = False


class StatusLine(Static):
    """One line at the bottom of every screen."""

    DEFAULT_CSS = """
    StatusLine { height: 1; dock: bottom; background: $panel; }
    """

"""The outbox: replies not delivered yet — queued, sending, failing (an attempt failed,
a retry is due), failed and uncertain (maybe delivered) — with the selected one's error
and text below; retry, cancel, or take it back into the composer.

The state is a word in every row, never a colour alone. Customer text and server errors
are sanitised (``omnitui/sanitize.py``) and reach widgets only as ``rich.text.Text``.
Reads and writes run in worker threads; every change is the conditional UPDATE or
DELETE of ``omnitui.desk.outbox``, so a sync sending the reply meanwhile keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.binding import BindingType
from textual.widgets import DataTable, Static

from omnitui.desk.outbox import OutboxCounts, OutboxRefused, Pending
from omnitui.formatting import local_time, short_time
from omnitui.sanitize import clean, clean_line
from omnitui.ui.bindings import bindings
from omnitui.ui.outbox_source import Items, Row, load_items
from omnitui.ui.screens.list_detail import ListDetailScreen

if TYPE_CHECKING:
    from sqlmodel import Session

    from omnitui.ui.app import OmniApp

#: (key, label, fixed width or None for a share of what is left)
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("id", "id", 5),
    ("state", "state", 9),
    ("ref", "conv", 8),
    ("account", "account", 12),
    ("channel", "channel", 8),
    ("to", "to", None),
    ("tries", "tries", 5),
    ("next", "next try", 8),
    ("created", "queued at", 9),
    ("error", "last error", None),
)
#: The recipient gets this share of the free width, the error the rest.
TO_SHARE = 0.4
#: The keys shown in the bar (ids of the registry; the user's [keys] apply).
BAR_KEYS = ("outbox_retry", "outbox_cancel", "outbox_edit", "outbox_open", "outbox_back")
#: How each state reads in the list: bold for the ones that need the agent.
STATE_STYLES = {
    "queued": "",
    "sending": "",
    "failing": "bold",
    "failed": "bold #ff8787",
    "uncertain": "bold #ffaf5f",
}
#: What each state means, under the selected reply.
STATE_MEANING = {
    "queued": "waiting for the next sync round",
    "sending": "being sent right now",
    "failing": "an attempt failed; it is tried again at the next try time",
    "failed": "not delivered; it is not tried again unless you retry it",
    "uncertain": "the connection dropped while sending: it may have been delivered",
}


def column_widths(total: int) -> dict[str, int]:
    """Widths of the list's columns for a terminal ``total`` cells wide (one cell of
    padding either side of each column; two cells kept for the scrollbar)."""
    fixed = sum(w for _, _, w in COLUMNS if w)
    free = max(total - fixed - 2 * len(COLUMNS) - 2, 24)
    to = max(int(free * TO_SHARE), 10)
    widths = {key: w for key, _, w in COLUMNS if w}
    widths["to"] = to
    widths["error"] = max(free - to, 14)
    return widths


def state_text(state: str) -> Text:
    """The state as a word (styled, but readable without colour)."""
    return Text(state, STATE_STYLES.get(state, ""))


def row_cells(row: Row, widths: dict[str, int], zone) -> list[Text]:  # noqa: ANN001
    """One list row: every value sanitised, cut to its column, as ``Text``."""
    item = row.item
    due = item.next_attempt_at if item.state == "failing" else None
    return [
        Text(str(item.id), justify="right"),
        state_text(item.state),
        Text(clean_line(item.ref, widths["ref"])),
        Text(clean_line(item.account, widths["account"])),
        Text(clean_line(item.channel, widths["channel"])),
        Text(clean_line(row.recipient or "-", widths["to"])),
        Text(f"×{item.attempts}", justify="right"),
        Text(short_time(due, zone) if due else "-"),
        Text(short_time(item.created_at, zone)),
        Text(clean_line(item.last_error or "-", widths["error"])),
    ]


def detail_text(row: Row, zone) -> Text:  # noqa: ANN001
    """What is known of one reply, above its text."""
    item = row.item
    text = Text()
    text.append(f"reply #{item.id} ", "bold")
    text.append(item.state.upper(), STATE_STYLES.get(item.state) or "bold")
    text.append(f" — {STATE_MEANING.get(item.state, '')}")
    text.append("\nconversation: ", "dim")
    text.append(f"{clean_line(item.ref)} · {clean_line(item.account)} ({clean_line(item.channel)})")
    text.append("\nto: ", "dim")
    text.append(clean_line(row.recipient or "-"))
    text.append("\nattempts: ", "dim")
    text.append(str(item.attempts))
    if item.state == "failing" and item.next_attempt_at is not None:
        text.append(f" · next try {local_time(item.next_attempt_at, zone)}")
    text.append(f" · queued {local_time(item.created_at, zone)}")
    if item.last_error:
        text.append("\nlast error: ", "bold")
        text.append(clean_line(item.last_error))
    text.append("\ntext:", "dim")
    return text


def body_text(row: Row) -> Text:
    """The reply's text, sanitised, never markup."""
    body = clean(row.item.body)
    return Text(body) if body.strip() else Text("(empty)", "dim")


def counts_words(counts: OutboxCounts) -> str:
    """``5 replies: 3 queued · 2 failing`` (or ``empty``)."""
    if not counts.total:
        return "empty"
    parts = [
        f"{n} {word}"
        for n, word in (
            (counts.queued, "queued"),
            (counts.sending, "sending"),
            (counts.failing, "failing"),
            (counts.failed, "failed"),
            (counts.uncertain, "uncertain"),
        )
        if n
    ]
    noun = "reply" if counts.total == 1 else "replies"
    return f"{counts.total} {noun}: " + " · ".join(parts)


class OutboxScreen(ListDetailScreen[Row]):
    """Every reply not delivered yet; the selected one's error and text below."""

    NAME = "outbox"
    SECOND = "body"
    COLUMNS = COLUMNS
    BAR_KEYS = BAR_KEYS
    EMPTY = "The outbox is empty: every reply was delivered."
    BINDINGS: ClassVar[list[BindingType]] = list(bindings("outbox"))

    def __init__(self) -> None:
        super().__init__()
        #: The counts read with the list (None before the first load): the status
        #: worker reloads the screen when they change.
        self.shown_counts: OutboxCounts | None = None

    @property
    def rows(self) -> list[Row]:
        """The replies listed."""
        return self.entries

    def column_widths(self, total: int) -> dict[str, int]:
        return column_widths(total)

    def entry_id(self, entry: Row) -> int:
        return entry.item.id

    def cells(self, entry: Row) -> list[Text]:
        return row_cells(entry, self._widths, self.omni.zone)

    def summary(self) -> str:
        if self.shown_counts is None:
            return "reading…"
        words = counts_words(self.shown_counts)
        if self.shown_counts.total > len(self.entries):
            words += f" (first {len(self.entries)} listed)"
        return words

    # -- reading -------------------------------------------------------------
    def load(self) -> Items:
        return load_items(self.omni.engine)

    def took(self, loaded: object) -> None:
        assert isinstance(loaded, Items)
        self.entries = loaded.rows
        self.shown_counts = loaded.counts

    @on(DataTable.RowSelected, "#outbox-list")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def show_current(self) -> None:
        row = self.current
        if row is None:
            return
        self.query_one("#outbox-meta", Static).update(detail_text(row, self.omni.zone))
        self.query_one("#outbox-body", Static).update(body_text(row))

    # -- keys ----------------------------------------------------------------
    def action_open(self) -> None:
        row = self.current
        if row is None or row.item.conversation_id is None:
            return
        cid = row.item.conversation_id
        go_to_conversation(self.omni, cid, None, None)

    def action_retry(self) -> None:
        row = self.current
        if row is None:
            return
        item = row.item
        if item.state in ("queued", "sending"):
            what = "is being sent right now" if item.state == "sending" else "is queued"
            self.notify(f"Reply #{item.id} {what}: nothing to retry.", markup=False, timeout=4)
            return
        if item.state != "uncertain":
            self._run(retry_reply, item.id, False)
            return
        self._ask(
            f"Reply #{item.id} on {clean_line(item.ref, 20)} may have been delivered; send again?",
            "retry",
            "yes, send it again (the customer may get it twice)",
            lambda: self._run(retry_reply, item.id, True),
        )

    def action_cancel(self) -> None:
        row = self.current
        if row is None:
            return
        item = row.item
        if item.state == "sending":
            self.notify(f"Reply #{item.id} is being sent right now.", markup=False, timeout=4)
            return
        to = f" to {clean_line(row.recipient, 40)}" if row.recipient else ""
        label = f"yes, cancel “{clean_line(item.body, 40)}”: it leaves the outbox and the thread"
        if item.state == "uncertain":
            label += " (it may have been delivered already)"
        self._ask(
            f"Cancel reply #{item.id} ({item.state}) on {clean_line(item.ref, 20)}{to}?",
            "cancel",
            label,
            lambda: self._run(cancel_reply, item.id, item.state == "uncertain"),
        )

    def action_edit(self) -> None:
        row = self.current
        if row is None:
            return
        item = row.item
        if item.state == "sending":
            self.notify(f"Reply #{item.id} is being sent right now.", markup=False, timeout=4)
            return
        if item.conversation_id is None:
            return
        if item.state != "uncertain":
            self._run(edit_reply, item.id, False)
            return
        self._ask(
            f"Reply #{item.id} on {clean_line(item.ref, 20)} may have been delivered; "
            "take it back and edit it anyway?",
            "edit",
            "yes, take it back into the composer",
            lambda: self._run(edit_reply, item.id, True),
        )

    # -- helpers -------------------------------------------------------------
    def _ask(self, title: str, value: str, label: str, then) -> None:  # noqa: ANN001
        from omnitui.ui.screens.prompts import ChoiceScreen

        def chosen(choice: str | None) -> None:
            if choice == value:
                then()

        self.app.push_screen(ChoiceScreen(title, [("y", value, label), ("n", "", "no")]), chosen)

    def _run(self, fn, item_id: int, confirmed: bool) -> None:  # noqa: ANN001
        app = self.omni
        app.run_worker(
            lambda: fn(app, item_id, confirmed),
            thread=True,
            group="outbox-writes",
            name=f"outbox-{fn.__name__}",
        )


# -- writes: in a worker thread owned by the app (they finish even if the screen is
#    left), then the views are reloaded on the UI thread ------------------------------
def _change(app: OmniApp, item_id: int, change: Callable[[Session], Pending]) -> Pending | None:
    """Run ``change(session)`` and commit; a refusal or a store error is a toast."""
    from sqlmodel import Session

    from storage.errors import describe_store_error

    try:
        with Session(app.engine) as s:
            done = change(s)
            s.commit()
    except OutboxRefused as exc:
        message = str(exc)
        app.call_from_thread(
            app.notify, message[:1].upper() + message[1:] + ".", severity="warning", markup=False
        )
        app.call_from_thread(after_write, app, None)
        return None
    except Exception as exc:  # noqa: BLE001 - the store is in trouble: say so
        message = f"Reply #{item_id}: {describe_store_error(exc)}"
        app.call_from_thread(app.notify, message, severity="error", markup=False)
        return None
    return done


def retry_reply(app: OmniApp, item_id: int, confirmed: bool) -> None:
    """Queue a failing, failed or (confirmed) uncertain reply for now."""
    done = _change(app, item_id, lambda s: app.desk.retry(s, item_id, confirmed=confirmed))
    if done is None:
        return
    app.call_from_thread(
        app.notify, f"Reply #{item_id} queued again: it is sent now.", markup=False, timeout=4
    )
    app.call_from_thread(after_write, app, done.conversation_id)
    app.call_from_thread(app.poll_now)


def cancel_reply(app: OmniApp, item_id: int, confirmed: bool) -> None:
    """Remove a reply from the outbox and the thread."""
    done = _change(app, item_id, lambda s: app.desk.take_back(s, item_id, confirmed=confirmed))
    if done is None:
        return
    app.call_from_thread(app.notify, f"Reply #{item_id} cancelled.", markup=False, timeout=4)
    app.call_from_thread(after_write, app, done.conversation_id)


def edit_reply(app: OmniApp, item_id: int, confirmed: bool) -> None:
    """Take a reply back (as ``Desk.withdraw_failed`` does) and open its conversation
    with the text in the composer."""
    from omnitui.ui.screens.conversation import load_conversation

    done = _change(
        app,
        item_id,
        lambda s: app.desk.take_back(s, item_id, confirmed=confirmed, kind="withdrawn"),
    )
    if done is None:
        return
    cid = done.conversation_id
    loaded = load_conversation(app.engine, cid, app.desk) if cid else None
    app.call_from_thread(
        app.notify,
        f"Reply #{item_id} taken back: edit it, then ctrl+s queues it again.",
        markup=False,
        timeout=5,
    )
    app.call_from_thread(after_write, app, cid)
    if cid and loaded is not None:
        app.call_from_thread(go_to_conversation, app, cid, done.body, loaded)


def after_write(app: OmniApp, conversation_id: int | None) -> None:
    """Reload every outbox screen, a conversation screen showing the reply, the inbox
    and the status line."""
    from omnitui.ui.screens.conversation import ConversationScreen

    for screen in app.screen_stack:
        if isinstance(screen, OutboxScreen) or (
            isinstance(screen, ConversationScreen) and screen.conversation_id == conversation_id
        ):
            screen.reload()
    app.data_changed(conversation_id)


def go_to_conversation(app: OmniApp, conversation_id: int, text: str | None, loaded) -> None:  # noqa: ANN001
    """Leave the outbox for a conversation; with ``text``, open its composer on it.

    The conversation already under the outbox is shown again; otherwise back to the
    inbox and the conversation is pushed (read in a worker first unless ``loaded``)."""
    from omnitui.ui.screens.conversation import ConversationScreen
    from omnitui.ui.screens.inbox import InboxScreen

    while len(app.screen_stack) > 1 and not isinstance(
        app.screen, InboxScreen | ConversationScreen
    ):
        app.pop_screen()
    screen = app.screen
    if isinstance(screen, ConversationScreen):
        if screen.conversation_id == conversation_id:
            if text is not None:
                app._edit_in_composer(conversation_id, text)
            return
        app.pop_screen()  # another conversation: back to the inbox, then this one
    if loaded is None:
        app.open_conversation(conversation_id)
        return
    app._push_conversation(conversation_id, None, loaded)
    if text is not None:
        pushed = app.screen
        # A first conversation screen is mounted after this; its queue runs in order.
        pushed.call_later(app._edit_in_composer, conversation_id, text)

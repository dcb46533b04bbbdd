"""The quarantine: items an adapter could not read or the store could not take, each
with its error and (for the selected one) the head of its raw payload.

Everything shown here came from outside: it is sanitised (``omnitui/sanitize.py``) and
reaches widgets only as ``rich.text.Text`` built from plain strings, never as markup.
Reads and writes (retry, drop) run in worker threads; the outcome is a plain-text toast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from omnitui.formatting import human_size, local_time, short_time
from omnitui.sanitize import clean_line
from omnitui.ui.bindings import bindings
from omnitui.ui.quarantine_source import Items, RawPreview, load_items, load_raw
from omnitui.ui.screens.list_detail import ListDetailScreen
from storage.quarantine import QuarantineInfo

if TYPE_CHECKING:
    from omnitui.sync.quarantine_retry import RetryOutcome
    from omnitui.ui.app import OmniApp

#: (key, label, fixed width or None for a share of what is left)
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("id", "id", 5),
    ("account", "account", 14),
    ("stage", "stage", 5),
    ("when", "when", 10),
    ("external", "external id", None),
    ("error", "error", None),
)
#: The external id gets this share of the free width, the error the rest.
EXTERNAL_SHARE = 0.4
#: The keys shown in the bar (ids of the registry; the user's [keys] apply).
BAR_KEYS = ("quarantine_retry", "quarantine_retry_all", "quarantine_drop", "quarantine_back")


def column_widths(total: int) -> dict[str, int]:
    """Widths of the list's columns for a terminal ``total`` cells wide (each column
    has one cell of padding on either side; two cells are kept for the scrollbar)."""
    fixed = sum(w for _, _, w in COLUMNS if w)
    free = max(total - fixed - 2 * len(COLUMNS) - 2, 20)
    external = max(int(free * EXTERNAL_SHARE), 8)
    widths = {key: w for key, _, w in COLUMNS if w}
    widths["external"] = external
    widths["error"] = max(free - external, 12)
    return widths


def row_cells(item: QuarantineInfo, widths: dict[str, int], zone) -> list[Text]:  # noqa: ANN001
    """One list row: every value sanitised, cut to its column, as ``Text``."""
    return [
        Text(str(item.id), justify="right"),
        Text(clean_line(item.account, widths["account"])),
        Text(item.stage[: widths["stage"]]),
        Text(short_time(item.updated_at, zone)),
        Text(clean_line(item.external_id, widths["external"])),
        Text(clean_line(item.error, widths["error"])),
    ]


def detail_text(item: QuarantineInfo, zone) -> Text:  # noqa: ANN001
    """What is known of one item, above its raw payload."""
    text = Text()
    text.append(f"item {item.id}", "bold")
    text.append(f" · {clean_line(item.account)}")
    if item.kind:
        text.append(f" ({clean_line(item.kind)})")
    if item.folder:
        text.append(f" · folder {clean_line(item.folder)}")
    text.append("\nexternal id: ", "dim")
    text.append(clean_line(item.external_id))
    text.append("\nstage: ", "dim")
    text.append(f"{item.stage} · failed {item.attempts}× · ")
    text.append(f"first seen {local_time(item.created_at, zone)}")
    text.append(f" · last {local_time(item.updated_at, zone)}")
    text.append("\nerror: ", "bold")
    text.append(clean_line(item.error))
    text.append("\nraw: ", "dim")
    text.append(f"{clean_line(item.raw_type)}, {human_size(item.size)}")
    return text


def raw_body(preview: RawPreview) -> Text:
    """The payload's head as text, with a note when it was cut."""
    text = Text(preview.text)
    if preview.truncated:
        more = preview.size - preview.shown
        text.append(
            f"\n… {human_size(more)} more not shown; "
            f"`omnitui quarantine show {preview.item_id} --output FILE` saves every byte",
            "bold",
        )
    elif not preview.text:
        text.append("(empty payload)", "dim")
    return text


def outcome_message(outcomes: list[RetryOutcome]) -> tuple[str, str]:
    """A plain-text toast and its severity for what a retry did."""
    if not outcomes:
        return "The quarantine is empty.", "information"
    if len(outcomes) == 1:
        o = outcomes[0]
        what = f"Item {o.item_id}"
        if o.result == "stored":
            return f"{what} stored ({o.detail}); removed from the quarantine.", "information"
        if o.result == "duplicate":
            return f"{what} was already stored; removed from the quarantine.", "information"
        if o.result == "ignored":
            return f"{what} holds nothing to store; removed from the quarantine.", "warning"
        return f"{what} still fails: {clean_line(o.detail, 200)}. Kept.", "error"
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    parts = [
        f"{counts[k]} {label}"
        for k, label in (
            ("stored", "stored"),
            ("duplicate", "already stored"),
            ("ignored", "with nothing to store"),
            ("failed", "still failing (kept)"),
        )
        if counts.get(k)
    ]
    return "Retried: " + ", ".join(parts) + ".", "error" if counts.get("failed") else "information"


class QuarantineScreen(ListDetailScreen[QuarantineInfo]):
    """Every kept item; the selected one's error and raw payload below the list."""

    NAME = "quarantine"
    SECOND = "raw"
    COLUMNS = COLUMNS
    BAR_KEYS = BAR_KEYS
    EMPTY = "The quarantine is empty: every item was read and stored."
    BINDINGS: ClassVar[list[BindingType]] = list(bindings("quarantine"))

    def __init__(self) -> None:
        super().__init__()
        #: How many items the store held at the last load (None before the first).
        self.shown_total: int | None = None
        self._raw_for: int | None = None

    @property
    def items(self) -> list[QuarantineInfo]:
        """The items listed."""
        return self.entries

    def column_widths(self, total: int) -> dict[str, int]:
        return column_widths(total)

    def entry_id(self, entry: QuarantineInfo) -> int:
        return entry.id

    def cells(self, entry: QuarantineInfo) -> list[Text]:
        return row_cells(entry, self._widths, self.omni.zone)

    def summary(self) -> str:
        if self.shown_total is None:
            return "reading…"
        words = f"{self.shown_total} item{'' if self.shown_total == 1 else 's'}"
        if self.shown_total > len(self.entries):
            words += f" (first {len(self.entries)} listed)"
        return words

    # -- reading -------------------------------------------------------------
    def load(self) -> Items:
        return load_items(self.omni.engine)

    def took(self, loaded: object) -> None:
        assert isinstance(loaded, Items)
        self.entries = loaded.items
        self.shown_total = loaded.total
        if not self.entries:
            self._raw_for = None

    def show_current(self) -> None:
        item = self.current
        if item is None:
            return
        self.query_one("#quarantine-meta", Static).update(detail_text(item, self.omni.zone))
        if self._raw_for != item.id:
            self._raw_for = item.id
            self.query_one("#quarantine-raw", Static).update(Text("reading the raw payload…"))
            self.query_one("#quarantine-detail", VerticalScroll).scroll_home(animate=False)
            self._load_raw(item.id)

    @work(thread=True, exclusive=True, group="quarantine-raw")
    def _load_raw(self, item_id: int) -> None:
        preview = load_raw(self.omni.engine, item_id)
        self.app.call_from_thread(self._show_raw, item_id, preview)

    def _show_raw(self, item_id: int, preview: RawPreview | None) -> None:
        if not self.is_attached or self._raw_for != item_id:
            return  # the agent moved on
        body = raw_body(preview) if preview else Text("(this item is gone)", "dim")
        self.query_one("#quarantine-raw", Static).update(body)

    # -- keys ----------------------------------------------------------------
    def action_reload(self) -> None:
        self._raw_for = None
        self.reload()

    def action_retry(self) -> None:
        item = self.current
        if item is not None:
            self._retry([item.id])

    def action_retry_all(self) -> None:
        if self.items:
            self.app.notify(f"Retrying {self.shown_total} item(s)…", markup=False, timeout=3)
            self._retry(None)

    def _retry(self, item_ids: list[int] | None) -> None:
        app = self.omni
        app.run_worker(
            lambda: retry_items(app, item_ids),
            thread=True,
            group="quarantine-writes",
            name="quarantine-retry",
        )

    def action_drop(self) -> None:
        from omnitui.ui.screens.prompts import ChoiceScreen

        item = self.current
        if item is None:
            return
        item_id = item.id
        title = f"Drop item {item_id} ({clean_line(item.external_id, 40)}) and its raw for good?"

        def chosen(value: str | None) -> None:
            if value == "drop":
                app = self.omni
                app.run_worker(
                    lambda: drop_item(app, item_id),
                    thread=True,
                    group="quarantine-writes",
                    name="quarantine-drop",
                )

        self.app.push_screen(
            ChoiceScreen(
                title,
                [("y", "drop", "yes, drop it (it cannot be retried afterwards)"), ("n", "", "no")],
            ),
            chosen,
        )


# -- writes: in a worker thread owned by the app (they finish even if the screen
#    is left), then the views are reloaded on the UI thread ------------------------
def retry_items(app: OmniApp, item_ids: list[int] | None) -> None:
    """Read items again from their raw payload (``omnitui.sync.quarantine_retry``)."""
    from omnitui.sync.quarantine_retry import retry
    from storage.errors import describe_store_error

    try:
        outcomes = retry(app.engine, app.desk, app.config.accounts, item_ids)
    except Exception as exc:  # noqa: BLE001 - the store itself failed: say so, keep going
        app.call_from_thread(
            app.notify, f"Retry failed: {describe_store_error(exc)}", severity="error", markup=False
        )
        app.call_from_thread(_after_write, app, False)
        return
    message, severity = outcome_message(outcomes)
    app.call_from_thread(app.notify, message, severity=severity, markup=False, timeout=6)
    app.call_from_thread(_after_write, app, any(o.result == "stored" for o in outcomes))


def drop_item(app: OmniApp, item_id: int) -> None:
    """Forget one item and its raw payload."""
    from sqlmodel import Session

    from storage import quarantine
    from storage.errors import describe_store_error

    try:
        with Session(app.engine) as s:
            dropped = quarantine.drop(s, item_id)
            s.commit()
    except Exception as exc:  # noqa: BLE001
        message = f"Drop failed: {describe_store_error(exc)}"
        app.call_from_thread(app.notify, message, severity="error", markup=False)
        return
    message = f"Dropped item {item_id}." if dropped else f"Item {item_id} was already gone."
    app.call_from_thread(app.notify, message, markup=False, timeout=4)
    app.call_from_thread(_after_write, app, False)


def _after_write(app: OmniApp, stored: bool) -> None:
    for screen in app.screen_stack:
        if isinstance(screen, QuarantineScreen):
            screen.reload()
    if stored:
        app.data_changed()  # new messages: the inbox reloads (and the status line)
    else:
        app.refresh_status()

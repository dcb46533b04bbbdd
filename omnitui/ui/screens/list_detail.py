"""A list above the selected entry's details, a bar with the keys, and the status line:
the shape of the quarantine and outbox screens. Subclasses name their parts and say
how an entry reads; list reads happen in their workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from omnitui.keymap import key_label, specs
from omnitui.ui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from omnitui.ui.app import OmniApp

E = TypeVar("E")


class ListDetailScreen(Screen, Generic[E]):
    """Widget ids are ``<NAME>-bar``, ``-list``, ``-detail``, ``-meta`` and
    ``-<SECOND>`` (the detail's lower part: a payload, a reply's text)."""

    DEFAULT_CSS = """
    ListDetailScreen .ld-bar { height: 1; background: $primary 30%; }
    ListDetailScreen .ld-list { height: auto; max-height: 40%; min-height: 3; }
    ListDetailScreen .ld-detail { height: 1fr; border-top: solid $accent; padding: 0 1; }
    ListDetailScreen .ld-detail:focus { border-top: thick $accent; }
    ListDetailScreen .ld-meta { margin-bottom: 1; }
    """

    NAME: ClassVar[str] = ""
    SECOND: ClassVar[str] = "body"
    #: (key, label, fixed width or None for a share of what is left)
    COLUMNS: ClassVar[tuple[tuple[str, str, int | None], ...]] = ()
    #: The keys shown in the bar (ids of the registry; the user's [keys] apply).
    BAR_KEYS: ClassVar[tuple[str, ...]] = ()
    #: What the detail says when the list is empty.
    EMPTY: ClassVar[str] = "Nothing here."

    def __init__(self) -> None:
        super().__init__(id=self.NAME)
        self.entries: list[E] = []
        self._widths = self.column_widths(80)

    # -- what subclasses provide ---------------------------------------------
    def column_widths(self, total: int) -> dict[str, int]:
        """Column widths for a terminal ``total`` cells wide."""
        raise NotImplementedError

    def entry_id(self, entry: E) -> int:
        """The entry's id (the row key, kept selected across reloads)."""
        raise NotImplementedError

    def cells(self, entry: E) -> Sequence[Text]:
        """One row, sanitised."""
        raise NotImplementedError

    def summary(self) -> str:
        """The bar's count, e.g. ``3 items``."""
        raise NotImplementedError

    def show_current(self) -> None:
        """Fill the detail for the selected entry."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------
    @property
    def omni(self) -> OmniApp:
        # The console's screens run only in OmniApp (Textual types self.app as App).
        return cast("OmniApp", self.app)

    def part(self, name: str) -> str:
        """A widget's id selector: ``part("meta")`` → ``#outbox-meta``."""
        return f"#{self.NAME}-{name}"

    def compose(self) -> ComposeResult:
        yield Static(id=f"{self.NAME}-bar", classes="ld-bar")
        yield DataTable(
            id=f"{self.NAME}-list", classes="ld-list", cursor_type="row", zebra_stripes=True
        )
        with VerticalScroll(id=f"{self.NAME}-detail", classes="ld-detail"):
            yield Static(id=f"{self.NAME}-meta", classes="ld-meta")
            yield Static(id=f"{self.NAME}-{self.SECOND}")
        yield StatusLine(id="status")

    def on_mount(self) -> None:
        self.table.focus()
        self._widths = self.column_widths(self.size.width or 80)
        self._set_columns()
        self.update_bar()
        self.reload()
        self.omni.refresh_status()

    @property
    def table(self) -> DataTable:
        return self.query_one(self.part("list"), DataTable)

    def describe(self) -> str:
        """Where the agent is, for the status line."""
        return self.NAME

    def load(self) -> object:
        """Read the list and what goes with it (worker thread)."""
        raise NotImplementedError

    def took(self, loaded: object) -> None:
        """Keep what :meth:`load` read: set ``entries`` and the counts."""
        raise NotImplementedError

    def reload(self) -> None:
        """Read the list again (in a worker), keeping the selected entry when it stays."""
        self.run_worker(self._load, thread=True, exclusive=True, group=f"{self.NAME}-list")

    def _load(self) -> None:
        loaded = self.load()
        self.app.call_from_thread(self._took, loaded)

    def _took(self, loaded: object) -> None:
        if not self.is_attached:
            return
        keep = self.current
        self.took(loaded)
        self.fill(self.entry_id(keep) if keep is not None else None)
        self.update_bar()

    def on_resize(self) -> None:
        widths = self.column_widths(self.size.width)
        if widths != self._widths:
            self._widths = widths
            self._set_columns()
            self.fill()

    def _set_columns(self) -> None:
        table = self.table
        table.clear(columns=True)
        for key, label, _ in self.COLUMNS:
            table.add_column(Text(label), width=self._widths[key], key=key)

    def update_bar(self) -> None:
        """The screen's name, its count and its keys (as the user bound them)."""
        keymap = dict(self.omni.config.keys or {})
        labels = {s.id: s for s in specs(self.NAME)}
        bar = Text()
        bar.append(f" {self.NAME} ", "bold reverse")
        bar.append(f"  {self.summary()}")
        hints = []
        for action_id in self.BAR_KEYS:
            spec = labels[action_id]
            keys = key_label(keymap.get(action_id, spec.keys)).split(" / ")[0]
            hints.append(f"{keys} {spec.action.replace('_', ' ')}")
        bar.append("   " + " · ".join(hints), "dim")
        self.query_one(self.part("bar"), Static).update(bar)

    def fill(self, keep: int | None = None) -> None:
        """Put the entries in the list, the cursor on ``keep`` (or where it was)."""
        table = self.table
        if keep is None and self.current is not None:
            keep = self.entry_id(self.current)
        row = table.cursor_row
        table.clear()
        for entry in self.entries:
            table.add_row(*self.cells(entry), key=str(self.entry_id(entry)))
        if not self.entries:
            self.query_one(self.part("meta"), Static).update(Text(self.EMPTY, "bold"))
            self.query_one(self.part(self.SECOND), Static).update(Text(""))
            return
        ids = [self.entry_id(e) for e in self.entries]
        target = ids.index(keep) if keep in ids else min(row, len(ids) - 1)
        table.move_cursor(row=max(target, 0), animate=False)
        self.show_current()

    @property
    def current(self) -> E | None:
        """The selected entry."""
        row = self.table.cursor_row
        if not self.entries or row < 0 or row >= len(self.entries):
            return None
        return self.entries[row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.show_current()

    # -- keys ------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def _detail(self) -> VerticalScroll:
        return self.query_one(self.part("detail"), VerticalScroll)

    def action_cursor_down(self) -> None:
        detail = self._detail()
        if detail.has_focus:
            detail.scroll_down(animate=False)
        else:
            self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        detail = self._detail()
        if detail.has_focus:
            detail.scroll_up(animate=False)
        else:
            self.table.action_cursor_up()

    def action_reload(self) -> None:
        self.reload()

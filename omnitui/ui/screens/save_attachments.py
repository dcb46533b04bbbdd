"""Pick an attachment of the conversation and a directory; save it there."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from omnitui.formatting import human_size
from omnitui.sanitize import clean_line
from storage.queries import AttachmentInfo


def default_directory() -> Path:
    """~/Downloads when it exists, else the current directory."""
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.cwd()


class SaveAttachments(ModalScreen[tuple[int, Path] | None]):
    """Dismisses with (attachment id, directory), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="save_cancel")]

    DEFAULT_CSS = """
    SaveAttachments { align: center middle; }
    SaveAttachments > Vertical { width: 80; max-width: 100%; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1; }
    SaveAttachments OptionList { height: auto; max-height: 12; }
    """

    def __init__(self, attachments: list[AttachmentInfo], directory: Path) -> None:
        super().__init__()
        self.attachments = attachments
        self.directory = directory

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Save an attachment — pick one, check the directory, Enter", "bold"))
            yield OptionList(
                *[
                    Option(
                        Text(
                            f"{clean_line(a.filename) or '(unnamed)'}  "
                            f"{clean_line(a.content_type)}, {human_size(a.size)}"
                        ),
                        id=str(a.id),
                    )
                    for a in self.attachments
                ],
                id="attachments",
            )
            yield Input(str(self.directory), id="directory", placeholder="directory")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _picked(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        options = self.query_one(OptionList)
        index = options.highlighted if options.highlighted is not None else 0
        attachment = self.attachments[index]
        self.dismiss((attachment.id, Path(event.value.strip() or ".").expanduser()))

    def action_cancel(self) -> None:
        self.dismiss(None)

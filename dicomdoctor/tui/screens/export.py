"""The export dialog: a format (HTML, Markdown, JSON) and a path. It returns the choice; the app writes."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from ..widgets.target_form import titled

FORMATS = (("HTML", "html"), ("Markdown", "markdown"), ("JSON", "json"))
EXTENSIONS = {"html": ".html", "markdown": ".md", "json": ".json"}
DEFAULT_PATH = "./dicomdoctor-report.html"


class ExportDialog(ModalScreen["tuple[str, str] | None"]):
    """Dismisses with (format, path), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, path: str = DEFAULT_PATH, fmt: str = "html") -> None:
        super().__init__()
        self._path = path
        self._fmt = fmt

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Label("Export the report", id="export-title")
            fmt: Select[str] = Select(FORMATS, value=self._fmt, allow_blank=False, id="export-format")
            yield fmt
            path = Input(self._path, id="export-path")
            path.border_title = "File"
            yield path
            with Horizontal(id="export-buttons"):
                yield Button("Export", variant="primary", id="export-ok")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        titled(self.query_one("#export-format", Select), "Format")
        self.query_one("#export-path", Input).focus()

    @on(Select.Changed, "#export-format")
    def _format_changed(self, event: Select.Changed) -> None:
        # Follow the format with the file extension, unless the user typed another kind of name.
        field = self.query_one("#export-path", Input)
        path = Path(field.value)
        if path.suffix.lower() in (".html", ".htm", ".md", ".markdown", ".json", ""):
            new = str(path.with_suffix(EXTENSIONS[str(event.value)]))
            field.value = new if not field.value.startswith("./") or new.startswith("./") else "./" + new

    @on(Button.Pressed, "#export-ok")
    @on(Input.Submitted, "#export-path")
    def _ok(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        if not path:
            self.query_one("#export-path", Input).border_subtitle = "a file name is needed"
            return
        self.dismiss((str(self.query_one("#export-format", Select).value), path))

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

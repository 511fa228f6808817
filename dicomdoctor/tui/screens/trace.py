"""The PDU trace of one target: every PDU sent and received (time, direction, type, summary); the selected
entry's decoded fields below. It reads `TargetResult.trace`, the same values the reports print."""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Select, Static

from ...engine.model import TargetResult
from ...report.redact import redact_text
from ..session import format_pdu

_DIRECTION = {"sent": ">> sent", "recv": "<< recv"}


class TraceScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, results: Sequence[TargetResult], selected: str | None, *, show_phi: bool) -> None:
        super().__init__()
        self.results = {r.id: r for r in results}
        self.selected = selected if selected in self.results else next(iter(self.results), None)
        self.show_phi = show_phi

    def compose(self) -> ComposeResult:
        yield Header()
        if len(self.results) > 1:
            yield Select([(tid, tid) for tid in self.results], value=self.selected, allow_blank=False,
                         id="trace-target")
        yield Static("", id="trace-title", markup=False)
        table: DataTable[object] = DataTable(id="trace-table", cursor_type="row")
        table.add_column("Time s", key="t", width=7)
        table.add_column("Dir", key="dir", width=7)
        table.add_column("PDU", key="type", width=14)
        table.add_column("Bytes", key="len", width=6)
        table.add_column("Summary", key="summary")
        yield table
        with VerticalScroll(id="pdu-detail"):
            yield Static("", id="pdu-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._fill()
        self.query_one("#trace-table", DataTable).focus()

    @on(Select.Changed, "#trace-target")
    def _target_changed(self, event: Select.Changed) -> None:
        self.selected = str(event.value)
        self._fill()

    def _fill(self) -> None:
        table = self.query_one("#trace-table", DataTable)
        table.clear()
        result = self.results.get(self.selected) if self.selected else None
        entries = result.trace if result is not None else ()
        title = f"PDU trace of {self.selected}: {len(entries)} entries (Esc or t: back)"
        self.query_one("#trace-title", Static).update(title)
        for n, entry in enumerate(entries):
            direction = str(getattr(entry, "direction", ""))
            summary = str(getattr(entry, "summary", "") or "")
            t = getattr(entry, "t", None)
            table.add_row(f"{t:.3f}" if isinstance(t, (int, float)) else str(t or ""),
                          _DIRECTION.get(direction, direction),
                          Text(str(getattr(entry, "pdu_type", "") or "")),
                          Text(str(getattr(entry, "length", "") or ""), justify="right"),
                          summary if self.show_phi else redact_text(summary), key=str(n))
        if not entries:
            self.query_one("#pdu-text", Static).update("No PDUs were exchanged with this target "
                                                       "(it failed before an association, or was not reached).")

    @on(DataTable.RowHighlighted, "#trace-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        result = self.results.get(self.selected) if self.selected else None
        if result is None or event.row_key is None or event.row_key.value is None:
            return
        entry = result.trace[int(event.row_key.value)]
        summary = str(getattr(entry, "summary", "") or "")
        head = [summary if self.show_phi else redact_text(summary), ""]
        self.query_one("#pdu-text", Static).update(
            "\n".join(head + format_pdu(getattr(entry, "pdu", None), show_phi=self.show_phi)))

"""The findings list: one row per check, filled live as checks start and end."""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from ...engine.model import Finding, Status
from ...report._common import STATUS_WORD, fmt_duration

# Colour is a hint only: the status word is always printed (readable on a monochrome terminal).
STATUS_STYLE = {Status.PASS: "bold green", Status.WARN: "bold yellow", Status.FAIL: "bold red",
                Status.SKIP: "dim", Status.ERROR: "bold magenta"}
RUNNING = "RUN.."


def row_key(target: str, check: str) -> str:
    return f"{target}\x1f{check}"


def split_key(key: str) -> tuple[str, str]:
    target, _, check = key.partition("\x1f")
    return target, check


def status_text(status: Status | None) -> Text:
    if status is None:
        return Text(RUNNING, style="italic")
    return Text(STATUS_WORD[status], style=STATUS_STYLE[status])


class FindingsTable(DataTable[object]):
    """Columns: status, check, time, summary (and the target first when several are checked)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._multi = False
        # Several targets run concurrently, so their checks arrive interleaved; rows are kept grouped by
        # target (in the order given) and, within a target, in run order.
        self._target_rank: dict[str, int] = {}
        self._seq: dict[tuple[str, str], int] = {}

    def on_mount(self) -> None:
        self.reset(targets=())

    def reset(self, *, targets: Sequence[str]) -> None:
        self._multi = len(targets) > 1
        self._target_rank = {t: n for n, t in enumerate(targets)}
        self._seq = {}
        self.clear(columns=True)
        if self._multi:
            self.add_column("Target", key="target", width=min(max(len(t) for t in targets), 24))
        self.add_column("Status", key="status", width=6)
        self.add_column("Check", key="check", width=27)
        self.add_column("Time", key="time", width=7)
        self.add_column("Summary", key="summary")

    def _cells(self, target: str, check: str, status: Status | None, time: str, summary: str) -> list[object]:
        cells: list[object] = [status_text(status), check, Text(time, justify="right"), summary]
        return ([target] if self._multi else []) + cells

    def check_started(self, target: str, check: str) -> None:
        key = row_key(target, check)
        if self._has(key):
            self._update(key, None, "", "")
        else:
            self._add(target, check, None, "", "")

    def check_finished(self, finding: Finding) -> None:
        key = row_key(finding.target, finding.check)
        summary = " ".join(finding.summary.split())
        duration = fmt_duration(finding.duration_ms)
        if self._has(key):
            self._update(key, finding.status, duration, summary)
        else:
            self._add(finding.target, finding.check, finding.status, duration, summary)

    def _add(self, target: str, check: str, status: Status | None, time: str, summary: str) -> None:
        self._seq[(target, check)] = len(self._seq)
        self.add_row(*self._cells(target, check, status, time, summary), key=row_key(target, check))
        if self._multi:
            last = len(self._target_rank)
            self.sort("target", "check",
                      key=lambda tc: (self._target_rank.get(tc[0], last), self._seq.get((tc[0], tc[1]), 0)))

    def _update(self, key: str, status: Status | None, time: str, summary: str) -> None:
        self.update_cell(key, "status", status_text(status))
        self.update_cell(key, "time", Text(time, justify="right"))
        self.update_cell(key, "summary", summary, update_width=False)

    def _has(self, key: str) -> bool:
        try:
            self.get_row_index(key)
        except RowDoesNotExist:
            return False
        return True

    def select(self, target: str, check: str) -> bool:
        key = row_key(target, check)
        if not self._has(key):
            return False
        self.move_cursor(row=self.get_row_index(key), animate=False)
        return True

    def key_at_cursor(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:  # an empty or just-cleared table has no cell under the cursor
            return None

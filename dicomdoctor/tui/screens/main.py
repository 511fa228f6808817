"""The main screen: target form, verdict line, findings list and the detail of the selected finding.

It renders what the app hands it (check started / finding / run finished) and never touches the engine;
it keeps the display copies of the findings so that moving the cursor shows the detail at once."""

from __future__ import annotations

from typing import Sequence

from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from ...engine.model import Finding
from ..session import WORKFLOW_CHAIN, workflow_chain
from ..widgets import FindingDetail, FindingsTable, TargetForm
from ..widgets.findings import row_key, split_key

WELCOME = ("Type a target (AE@host:port) and press Enter to run the playbook.\n\n"
           "Keys: r re-run, e export, t PDU trace, x explain a status or an error message, ? help, q quit.\n"
           "Ctrl+P opens the command palette. Tab moves between the fields, the findings and this pane.")


class MainScreen(Screen[None]):
    def __init__(self, *, target: str, calling_ae: str, tls: bool, playbooks: list[str], playbook: str,
                 error: str, lang: str) -> None:
        super().__init__()
        self._form_args = dict(target=target, calling_ae=calling_ae, tls=tls, playbooks=playbooks,
                               playbook=playbook, error=error)
        self.lang = lang
        self.initial_target = target
        self.multi_target = False
        self.findings: dict[str, Finding] = {}  # display copies (redacted), by row key
        self.running: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        yield TargetForm(id="target-form", **self._form_args)  # type: ignore[arg-type]
        yield Static("No run yet.", id="verdict", markup=False)
        yield FindingsTable(id="findings")
        yield FindingDetail(id="detail")
        yield Footer()

    class Ready(Message):
        """The widgets exist: the app may start a run (App.on_mount comes before the screen's compose)."""

    def on_mount(self) -> None:
        self.query_one(FindingDetail).show_message(WELCOME)
        self.post_message(self.Ready())

    # --------------------------------------------------------------------------------- parts
    @property
    def form(self) -> TargetForm:
        return self.query_one(TargetForm)

    @property
    def table(self) -> FindingsTable:
        return self.query_one(FindingsTable)

    @property
    def detail(self) -> FindingDetail:
        return self.query_one(FindingDetail)

    def set_verdict(self, text: str) -> None:
        self.query_one("#verdict", Static).update(text)

    # ------------------------------------------------------------------------------ progress
    def run_started(self, text: str, *, targets: Sequence[str]) -> None:
        self.multi_target = len(targets) > 1
        self.findings.clear()
        self.running.clear()
        self.table.reset(targets=targets)
        self.set_verdict(text)
        self.detail.show_message("Running… each check appears above as it starts, with its result when it ends.")

    def check_started(self, target: str, check: str) -> None:
        self.running.add(row_key(target, check))
        self.table.check_started(target, check)

    def check_finished(self, finding: Finding) -> None:
        key = row_key(finding.target, finding.check)
        self.running.discard(key)
        self.findings[key] = finding
        self.table.check_finished(finding)
        cursor = self.table.key_at_cursor()
        # The finding under the cursor, or another finding of its target whose workflow chain just moved on.
        if cursor == key or (cursor in self.findings and finding.check in WORKFLOW_CHAIN
                             and split_key(cursor)[0] == finding.target):
            self._show(cursor)

    def run_finished(self, verdict: str, select: Finding | None) -> None:
        self.set_verdict(verdict)
        self.running.clear()
        if select is not None and self.table.select(select.target, select.check):
            self._show(row_key(select.target, select.check))
        elif self.table.row_count:
            self.table.move_cursor(row=0, animate=False)
            self._show(self.table.key_at_cursor())
        if not isinstance(self.focused, Input):  # do not pull the cursor out of a field being typed in
            self.table.focus()

    def run_failed(self, reason: str) -> None:
        self.set_verdict(f"Run stopped: {reason}")
        self.detail.show_message(f"The run could not complete: {reason}")

    def selected_status(self) -> int | None:
        """The DIMSE status in the selected finding's evidence, if it has one."""
        key = self.table.key_at_cursor()
        finding = self.findings.get(key) if key else None
        status = finding.evidence.get("status") if finding is not None else None
        return status if isinstance(status, int) and not isinstance(status, bool) and 0 <= status <= 0xFFFF else None

    def selected_target(self) -> str | None:
        key = self.table.key_at_cursor()
        return split_key(key)[0] if key else None

    # ------------------------------------------------------------------------------- selection
    @on(DataTable.RowSelected, "#findings")
    def _selected(self, _event: DataTable.RowSelected) -> None:
        self.detail.focus()  # Enter on a finding: read it (the list shrinks to give the pane room)

    def on_descendant_focus(self, _event: object) -> None:
        # At 80x24 the detail pane has ~8 lines; while it (or a table in it) has focus, the list gives way.
        focused = self.focused
        self.set_class(focused is not None and (focused is self.detail or self.detail in focused.ancestors),
                       "reading")

    @on(DataTable.RowHighlighted, "#findings")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(str(event.row_key.value) if event.row_key is not None else None)

    def _show(self, key: str | None) -> None:
        if key is None:
            return
        finding = self.findings.get(key)
        if finding is not None:
            self.detail.show_finding(finding, lang=self.lang, multi_target=self.multi_target,
                                     chain=workflow_chain(self.findings.values(), finding.target))
        elif key in self.running:
            self.detail.show_running(*split_key(key))

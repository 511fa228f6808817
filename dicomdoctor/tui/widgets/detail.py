"""The detail pane of one finding: summary, evidence (tables for lists of records such as the presentation
context matrix, key: value lines otherwise), and the ranked causes with explanations and fixes."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from ...engine.model import Finding
from ...report._common import STATUS_WORD, KeyValues, evidence_blocks, fmt_duration, labels
from .findings import STATUS_STYLE

# A list of records longer than this is cut in the pane (the exported report has them all).
MAX_TABLE_ROWS = 300


class FindingDetail(VerticalScroll):
    """Rendering only: the app says what to show."""

    can_focus = True
    BINDINGS = [Binding("escape", "back", "Findings", show=False)]  # the footer is full at 80 columns

    def action_back(self) -> None:
        self.screen.query_one("#findings").focus()

    def show_message(self, text: str) -> None:
        self._replace([Static(text, classes="detail-note", markup=False)])

    def show_running(self, target: str, check: str) -> None:
        self.show_message(f"{check} on {target}: running…")

    def show_finding(self, finding: Finding, *, lang: str = "en", multi_target: bool = False) -> None:
        lb = labels(lang)
        head = Text()
        head.append(STATUS_WORD[finding.status], style=STATUS_STYLE[finding.status])
        head.append(f"  {finding.check}", style="bold")
        if finding.title and finding.title != finding.check:
            head.append(f" — {finding.title}")
        head.append(f"  ({fmt_duration(finding.duration_ms)})", style="dim")
        if multi_target:
            head.append(f"\n{lb['target']}: {finding.target}", style="dim")
        widgets: list[Widget] = [Static(head, classes="detail-head"),
                                 Static(finding.summary, classes="detail-summary", markup=False)]
        blocks = evidence_blocks(finding.evidence, max_rows=MAX_TABLE_ROWS)
        if blocks:
            widgets.append(Static(lb["evidence"], classes="detail-heading"))
        for block in blocks:
            if isinstance(block, KeyValues):
                text = Text()
                for i, (key, value) in enumerate(block.rows):
                    if i:
                        text.append("\n")
                    text.append(f"{key}: ", style="bold")
                    text.append(value)
                widgets.append(Static(text, classes="detail-kv"))
            else:
                widgets.append(Static(f"{block.name} ({len(block.rows)})", classes="detail-subheading",
                                      markup=False))
                table: DataTable[str] = DataTable(classes="evidence-table", cursor_type="row",
                                                  zebra_stripes=True)
                table.add_columns(*block.columns)
                table.add_rows(block.rows)
                widgets.append(table)
        if finding.causes:
            widgets.append(Static(lb["causes"], classes="detail-heading"))
        for n, cause in enumerate(finding.causes, 1):
            text = Text()
            text.append(f"{n}. {cause.title}", style="bold")
            text.append(f"  [{cause.id}]", style="dim")
            if cause.explanation:
                text.append(f"\n{cause.explanation}")
            if cause.fixes:
                text.append(f"\n{lb['fixes']}:", style="italic")
                for fix in cause.fixes:
                    text.append(f"\n  - {fix}")
            if cause.refs:
                text.append(f"\n{lb['refs']}: " + "; ".join(cause.refs), style="dim")
            widgets.append(Static(text, classes="detail-cause"))
        self._replace(widgets)

    def _replace(self, widgets: list[Widget]) -> None:
        self.remove_children()
        self.mount_all(widgets)
        self.scroll_home(animate=False)

"""The detail pane of one finding: summary, evidence (tables for lists of records such as the presentation
context matrix, key: value lines otherwise), and the ranked causes with explanations and fixes."""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static

from ...engine.model import Finding, Status
from ...report._common import STATUS_WORD, KeyValues, evidence_blocks, fmt_duration, labels
from ..session import ChainStep
from .findings import STATUS_STYLE

# A list of records longer than this is cut in the pane (the exported report has them all).
MAX_TABLE_ROWS = 300


class FindingDetail(VerticalScroll):
    """Rendering only: the app says what to show.

    Replacing the pane's widgets takes two steps Textual completes later (remove, then mount), so a request
    is applied by a callback in the pane's own message queue: requests apply one at a time, in order, a
    superseded one is dropped (the pane never holds two findings' widgets), and once the newest is on screen
    `shown` names it and `Shown` is posted — what tests (and anything else) wait on, instead of time."""

    can_focus = True
    BINDINGS = [Binding("escape", "back", "Findings", show=False)]  # the footer is full at 80 columns

    class Shown(Message):
        """The pane now shows `what`: a Finding, or the text of a message."""

        def __init__(self, what: "Finding | str") -> None:
            super().__init__()
            self.what = what

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.shown: Finding | str | None = None
        self._asked = 0

    def action_back(self) -> None:
        self.screen.query_one("#findings").focus()

    def show_message(self, text: str) -> None:
        self._replace([Static(text, classes="detail-note", markup=False)], text)

    def show_running(self, target: str, check: str) -> None:
        self.show_message(f"{check} on {target}: running…")

    def show_finding(self, finding: Finding, *, lang: str = "en", multi_target: bool = False,
                     chain: Sequence[ChainStep] = ()) -> None:
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
        if chain:
            widgets += [Static("Workflow chain", classes="detail-heading"),
                        Static(chain_text(chain, finding.check), classes="detail-chain")]
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
        self._replace(widgets, finding)

    def _replace(self, widgets: list[Widget], what: "Finding | str") -> None:
        self._asked += 1
        self.shown = None
        self.call_later(self._swap, widgets, what, self._asked)

    async def _swap(self, widgets: list[Widget], what: "Finding | str", asked: int) -> None:
        if asked != self._asked:
            return  # a newer request follows in the queue
        await self.remove_children()
        await self.mount_all(widgets)
        self.scroll_home(animate=False)
        if asked == self._asked:
            self.shown = what
            self.post_message(self.Shown(what))


def chain_text(chain: Sequence[ChainStep], current: str = "") -> Text:
    """The chain on one flowing line: each step with its status word, in order, "broke here" after the step
    where it broke, the step shown in the pane underlined; if nothing broke but the chain did not start,
    what stopped it (the first step's skip reason)."""
    text = Text()
    for n, step in enumerate(chain):
        if n:
            text.append(" → ", style="dim")
        text.append(step.check, style="underline" if step.check == current else "")
        text.append(" ")
        if step.status is None:
            text.append("…", style="italic")
        else:
            text.append(STATUS_WORD[step.status], style=STATUS_STYLE[step.status])
        if step.broke:
            text.append(" ◀ broke here", style="bold")
    first = chain[0] if chain else None
    if first is not None and not any(s.broke for s in chain) and first.status is Status.SKIP and first.summary:
        text.append(f"\nnot started: {first.summary}", style="dim")
    return text

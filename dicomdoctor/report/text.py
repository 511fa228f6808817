"""Console report (rich) rendered to a string.

Readable without colour: the status word is always printed, colour only reinforces it. The verdict line is
printed LAST because CI logs and terminals show the tail. `color=None` decides from the environment:
NO_COLOR (https://no-color.org) turns colour off, FORCE_COLOR on, otherwise colour when stdout is a terminal.
Lines are never wrapped by us (soft wrap): a log file should keep one check per line.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any, Mapping

from ..engine.model import Report, Status
from ._common import NEEDS_ATTENTION, STATUS_WORD, fmt_duration, labels, peer_phrase, scalar, target_findings, \
    trace_rows, verdict_line
from .document import Timeline, workflow_timeline

# A C-FIND's returned identifiers are printed as a table under its finding (`dicomdoctor find` is read in a
# terminal), at most this many rows; the report has already redacted them unless --show-phi.
MATCH_ROWS = 20
MATCH_CELL = 28       # characters per cell (UIDs excepted); the full values are in --format json
MATCH_CHECKS = frozenset({"dimse.find", "mwl.find"})

STYLE = {
    Status.PASS: "bold green",
    Status.WARN: "bold yellow",
    Status.FAIL: "bold red",
    Status.SKIP: "dim",
    Status.ERROR: "bold magenta",
}
VERDICT_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red", "error": "bold magenta"}


def _want_color(color: bool | None) -> bool:
    if color is not None:
        return color
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


def render(report: Report, *, lang: str = "en", color: bool | None = None, trace: bool = False) -> str:
    from rich.console import Console  # lazy: see report/__init__.py
    from rich.text import Text

    use_color = _want_color(color)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=use_color, no_color=not use_color,
                      color_system="standard" if use_color else None, width=120, highlight=False,
                      emoji=False, markup=False, legacy_windows=False)
    lb = labels(lang)
    ids = [f.check for f in report.findings] or [""]
    width = min(max(len(i) for i in ids), 40)

    def out(*parts: tuple[str, str]) -> None:
        # Text objects, never markup strings: a peer's AE title like "[bold]x" must print as is.
        console.print(Text.assemble(*parts), soft_wrap=True)

    for target, findings in target_findings(report):
        verdict = target.verdict or "error"
        out((target.id, "bold"), ("  ", ""), (verdict.upper(), VERDICT_STYLE.get(verdict, "")))
        out(("  " + peer_phrase(target, lang), "dim" if use_color else ""))
        for f in findings:
            word = STATUS_WORD[f.status]
            out(("  ", ""), (f"{word:<5}", STYLE[f.status]), ("  ", ""), (f"{f.check:<{width}}", ""),
                ("  ", ""), (f.summary, ""), (f" ({fmt_duration(f.duration_ms)})", "dim" if use_color else ""))
            if f.status in NEEDS_ATTENTION and f.causes:
                cause = f.causes[0]
                pad = " " * 9
                out((pad, ""), (f"{lb['cause']}: ", "bold"), (cause.title, ""))
                if cause.fixes:
                    out((pad, ""), (f"{lb['fix']}: ", "bold"), (cause.fixes[0], ""))
            if f.check in MATCH_CHECKS:
                for line in match_table(f.evidence, lang):
                    out(("         " + line, ""))
        timeline = workflow_timeline(target.id, findings, lb)
        if timeline is not None:
            for parts in timeline_lines(timeline, lb, use_color):
                out(*parts)
        if trace:
            rows = trace_rows(target.trace)
            out(("  " + lb["trace"] + ":", "bold"))
            if not rows:
                out(("    " + lb["no_trace"], ""))
            for r in rows:
                out((f"    {r.t:>9} {r.direction:<2} {r.pdu_type:<18} {r.length:>7}  {r.summary}", ""))
        out(("", ""))
    verdict = report.verdict
    line = verdict_line(report, lang)
    head, _, rest = line.partition(verdict.upper())
    out((head, "bold"), (verdict.upper(), VERDICT_STYLE.get(verdict, "")), (rest, ""))
    return buf.getvalue()


_BY_VALUE = {s.value: s for s in Status}


def timeline_lines(tl: Timeline, lb: Mapping[str, str], use_color: bool = False) -> list[tuple[tuple[str, str], ...]]:
    """The workflow chain as aligned lines (styled parts for `out`): a heading with how the chain ended, one
    line per step (start offset, status, step, check id, duration, outcome), a marker and the cause under
    the step where it broke, the steps after it as "not run". Widths are terminal cells: Chinese step names
    take two cells a character."""
    from rich.cells import cell_len

    def pad(text: str, width: int, right: bool = False) -> str:
        gap = " " * max(0, width - cell_len(text))
        return gap + text if right else text + gap

    dim = "dim" if use_color else ""
    steps = tl.steps
    w_start = max([len(s.start) for s in steps] + [1])
    w_name = max(cell_len(s.name) for s in steps)
    w_id = max(len(s.check) for s in steps)
    w_dur = max([len(s.duration) for s in steps] + [1])
    head_style = VERDICT_STYLE.get(tl.verdict, "")
    lines: list[tuple[tuple[str, str], ...]] = [
        (("", ""),),
        (("  " + tl.title + lb["wf_colon"], "bold"), (tl.headline, head_style if tl.verdict != "pass" else ""))]
    if tl.blocked and tl.cause:
        lines.append((("    " + lb["cause"] + lb["wf_colon"], "bold"),
                      (tl.cause + (f" [{tl.cause_id}]" if tl.cause_id else ""), "")))
    for s in steps:
        st = _BY_VALUE.get(s.css, Status.ERROR)
        mark = "▶ " if s.broke else "  "
        row_style = "" if s.ran else dim
        lines.append(((f"  {mark}", STYLE[Status.FAIL] if s.broke else ""),
                      (pad(s.start, w_start, right=True) + "  ", row_style),
                      (f"{s.word:<5}", STYLE[st]), ("  ", ""),
                      (pad(s.name, w_name) + "  " + pad(s.check, w_id) + "  ", row_style),
                      (pad(s.duration, w_dur, right=True) + "  ", row_style),
                      (s.outcome, row_style)))
        if s.broke:
            marker = "└ " + tl.marker + (f" [{tl.cause_id}]" if tl.cause_id else "")
            lines.append(((" " * (4 + w_start + 2), ""), (marker, STYLE[Status.FAIL])))
    return lines


def _cell(column: str, value: object) -> str:
    text = "" if value is None else scalar(value) if not isinstance(value, (list, tuple)) else \
        "\\".join(scalar(v) for v in value)
    text = " ".join(text.split())  # one line per row, whatever the peer put in a value
    # UIDs stay whole (64 characters at most): they are what a C-MOVE or a vendor asks for next.
    limit = 64 if column.endswith("UID") else MATCH_CELL
    return text if len(text) <= limit else text[: limit - 1] + "…"


def match_table(evidence: Mapping[str, Any], lang: str = "en") -> list[str]:
    """The returned keys of a C-FIND's matches as aligned text rows (header, rule, at most MATCH_ROWS rows,
    then how many more there were); [] when the check kept no identifiers."""
    results = evidence.get("results")
    if not isinstance(results, (list, tuple)) or not results:
        return []
    rows = [r for r in results if isinstance(r, Mapping)]
    columns: list[str] = []
    for r in rows:
        columns += [str(k) for k in r if str(k) not in columns]
    # The level is the same in every row and was asked by us: it says nothing about the matches.
    columns = [c for c in columns if c != "QueryRetrieveLevel"] or columns
    if not columns:
        return []
    shown = [[_cell(c, r.get(c)) for c in columns] for r in rows[:MATCH_ROWS]]
    widths = [max([len(c)] + [len(row[i]) for row in shown]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in shown]
    matches = evidence.get("matches")
    total = matches if isinstance(matches, int) and not isinstance(matches, bool) else len(rows)
    more = total - len(shown)
    if more > 0:
        lines.append(labels(lang)["more_matches"].format(n=more, total=total))
    return lines

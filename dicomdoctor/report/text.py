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

from ..engine.model import Report, Status
from ._common import NEEDS_ATTENTION, STATUS_WORD, fmt_duration, labels, peer_phrase, target_findings, \
    trace_rows, verdict_line

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

"""Markdown report (GitHub/GitLab flavoured): summary table, then each finding with causes and fixes.

Evidence that is a list of dicts (the presentation-context matrix, C-FIND matches) becomes a table. Every
string from the peer or the knowledge base is escaped: GitLab and GitHub render inline HTML, and a hostile
peer's AE title must not become markup in a merge-request comment.
"""

from __future__ import annotations

import re

from ..engine.model import Finding, Report, Status
from ._common import NEEDS_ATTENTION, STATUS_WORD, KeyValues, Table, evidence_blocks, fmt_duration, labels, \
    peer_phrase, target_findings, trace_rows, verdict_line

ICON = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.SKIP: "⏭️", Status.ERROR: "💥"}
# '_' is left alone: GFM ignores intraword underscores and evidence keys are full of them.
_SPECIAL = re.compile(r"([\\`*\[\]<>|#!~])")


def esc(text: object) -> str:
    """Escape for inline Markdown: no HTML, no links, no emphasis, no table breaks, one line."""
    s = str(text).replace("&", "&amp;")
    s = _SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1), "\\" + m.group(1)), s)
    return re.sub(r"[\r\n\t]+", " ", s)


def _status(st: Status) -> str:
    return f"{ICON[st]} {STATUS_WORD[st]}"


def _table(columns: list[str] | tuple[str, ...], rows: list[tuple[str, ...]] | tuple[tuple[str, ...], ...]) -> list[str]:
    out = ["| " + " | ".join(esc(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return out + [""]


def _finding(f: Finding, lang: str) -> list[str]:
    lb = labels(lang)
    out = [f"#### {_status(f.status)} `{f.check}` — {esc(f.title or f.check)}", "", esc(f.summary) +
           f" _({fmt_duration(f.duration_ms)})_", ""]
    if f.causes:
        out += [f"**{lb['causes']}**", ""]
        for n, c in enumerate(f.causes, 1):
            out.append(f"{n}. **{esc(c.title)}** (`{c.id}`)" + (f" — {esc(c.explanation)}" if c.explanation else ""))
            for fix in c.fixes:
                out.append(f"    - {lb['fix']}: {esc(fix)}")
            if c.refs:
                out.append(f"    - {lb['refs']}: {esc('; '.join(c.refs))}")
        out.append("")
    blocks = evidence_blocks(f.evidence)
    if blocks:
        out += [f"<details><summary>{lb['evidence']}</summary>", ""]
        for b in blocks:
            if isinstance(b, KeyValues):
                out += _table(("key", "value"), b.rows)
            elif isinstance(b, Table):
                out += [f"`{b.name.replace('`', '')}`", ""] + _table(b.columns, b.rows)
        out += ["</details>", ""]
    return out


def render(report: Report, *, lang: str = "en", color: bool | None = None, trace: bool = False) -> str:
    lb = labels(lang)
    out = [f"# {lb['report_title']}", "",
           f"**{esc(verdict_line(report, lang))}**", "",
           f"{lb['playbook']}: {esc(report.playbook)}" + (f" · {lb['started']}: {esc(report.started_at)}"
                                                          if report.started_at else ""), ""]
    for target, findings in target_findings(report):
        out += [f"## {esc(target.id)} — {target.verdict.upper()}", "", esc(peer_phrase(target, lang)), ""]
        out += _table((lb["status"], lb["check"], lb["summary"], lb["duration"]),
                      [(_status(f.status), f.check, f.summary, fmt_duration(f.duration_ms)) for f in findings])
        attention = [f for f in findings if f.status in NEEDS_ATTENTION]
        rest = [f for f in findings if f.status not in NEEDS_ATTENTION]
        if findings:
            out += [f"### {lb['findings']}", ""]
        for f in attention + rest:
            out += _finding(f, lang)
        if trace:
            rows = trace_rows(target.trace)
            out += [f"### {lb['trace']}", ""]
            out += _table((lb["time"], lb["direction"], lb["pdu"], lb["length"], lb["detail"]),
                          [(r.t, r.direction, r.pdu_type, r.length, r.summary) for r in rows]) if rows \
                else [lb["no_trace"], ""]
    return "\n".join(out).rstrip() + "\n"

"""Markdown report (GitHub/GitLab flavoured), the same document as the HTML and PDF reports (`document.py`):
summary table of targets, a section per target that needs attention with cause and fix, healthy targets in
one line each, appendices with the evidence (inside <details>, so a merge-request comment stays short).

Every string from the peer or the knowledge base is escaped: GitLab and GitHub render inline HTML, and a
hostile peer's AE title must not become markup in a merge-request comment.
"""

from __future__ import annotations

import re
from typing import Sequence

from ..engine.model import Report, Status
from ._common import STATUS_WORD
from .document import Block, Section, Timeline, build

ICON = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.SKIP: "⏭️", Status.ERROR: "💥"}
_BY_VALUE = {s.value: s for s in Status}
# '_' is left alone: GFM ignores intraword underscores and evidence keys are full of them.
_SPECIAL = re.compile(r"([\\`*\[\]<>|#!~])")


def esc(text: object) -> str:
    """Escape for inline Markdown: no HTML, no links, no emphasis, no table breaks, one line."""
    s = str(text).replace("&", "&amp;")
    s = _SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1), "\\" + m.group(1)), s)
    return re.sub(r"[\r\n\t]+", " ", s)


def code(text: str) -> str:
    """An identifier (check id, cause id) as inline code; backticks cannot occur in ids, drop them anyway."""
    return f"`{text.replace('`', '')}`"


def _status(word: str) -> str:
    st = _BY_VALUE.get(word.lower(), Status.ERROR)
    return f"{ICON[st]} {STATUS_WORD[st]}"


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], raw_cols: Sequence[int] = ()) -> list[str]:
    def cell(i: int, c: str) -> str:
        return c if i in raw_cols else esc(c)

    out = ["| " + " | ".join(esc(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(cell(i, c) for i, c in enumerate(row)) + " |" for row in rows]
    return out + [""]


def _timeline(tl: Timeline, lb: dict[str, str]) -> list[str]:
    """The workflow chain as a table; the step where it broke in bold with the marker, the steps not run in
    italics."""
    out = [f"**{esc(tl.title)}{esc(lb['wf_colon'])}{esc(tl.headline)}**", ""]
    if tl.blocked and tl.cause:
        out += [f"{esc(lb['cause'])}{esc(lb['wf_colon'])}{esc(tl.cause)}" +
                (f" ({code(tl.cause_id)})" if tl.cause_id else ""), ""]
    rows = []
    for st in tl.steps:
        step = f"{esc(st.name)} {code(st.check)}"
        outcome = esc(st.outcome)
        if st.broke:
            step = f"**{esc(st.name)}** {code(st.check)}"
            outcome += f" — ⛔ **{esc(tl.marker)}**" + (f" ({code(tl.cause_id)})" if tl.cause_id else "")
        elif not st.ran:
            outcome = f"_{outcome}_"
        rows.append((esc(st.start or "—"), _status(st.css), step, esc(st.duration or "—"), outcome))
    out += _table((lb["wf_start"], lb["status"], lb["wf_step"], lb["wf_took"], lb["outcome"]), rows,
                  raw_cols=(0, 1, 2, 3, 4))
    return out


def _section(s: Section, lb: dict[str, str]) -> list[str]:
    out = [f"### {_status(s.verdict)} {esc(s.target.id)}", ""]
    out += _table((lb["key"], lb["value"]), s.facts)
    if s.timeline is not None:
        out += _timeline(s.timeline, lb)
    for p in s.problems:
        out += [f"#### {_status(p.word)} {code(p.finding.check)} — {esc(p.finding.title or p.finding.check)}", "",
                esc(p.finding.summary), ""]
        if p.cause is not None:
            out += [f"**{lb['likely_cause']}: {esc(p.cause.title)}** ({code(p.cause.id)})", ""]
            if p.cause.explanation:
                out += [esc(p.cause.explanation), ""]
            if p.cause.fixes:
                out += [f"**{lb['what_to_do']}**", ""] + [f"- {esc(fix)}" for fix in p.cause.fixes] + [""]
            if p.cause.refs:
                out += [f"_{lb['refs']}: {esc('; '.join(p.cause.refs))}_", ""]
        else:
            out += [lb["no_cause"], ""]
        if p.alternatives:
            out += [f"{lb['other_causes']}:", ""]
            out += [f"- {esc(c.title)} ({code(c.id)})" for c in p.alternatives] + [""]
    out += [esc(line) + "  " for line in s.others]
    if s.appendix:
        out.append(lb["see_appendix"].format(letter=s.appendix))
    return out + [""]


def _block(b: Block, legend: str) -> list[str]:
    out = [f"**{esc(b.title)}**", ""]
    if b.kind == "list":
        out += [f"- {esc(r[0])}" for r in b.rows] + [""]
    elif b.kind == "kv":
        out += _table(b.columns, b.rows)
    else:
        out += _table(b.columns, b.rows)
    if b.kind == "matrix":
        out += [f"_{esc(legend)}_", ""]
    if b.note:
        out += [f"_{esc(b.note)}_", ""]
    return out


def render(report: Report, *, lang: str = "en", color: bool | None = None, trace: bool = False) -> str:
    doc = build(report, lang)
    lb = dict(doc.lb)
    out = [f"# {lb['report_title']}", "", f"**{esc(doc.verdict_line)}**", "",
           " · ".join(f"{esc(k)}: {esc(v)}" for k, v in doc.meta), "", f"## {lb['at_a_glance']}", ""]
    if doc.summary:
        out += _table((lb["target"], lb["result"], lb["peer_col"], lb["found_col"]),
                      [(esc(r.target), _status(r.verdict), esc(r.peer), (code(r.check) + " " if r.check else "") + esc(r.headline))
                       for r in doc.summary],
                      raw_cols=(0, 1, 2, 3))
    else:
        out += [lb["no_targets"], ""]
    if doc.sections:
        out += [f"## {lb['attention']}", ""]
        for s in doc.sections:
            out += _section(s, lb)
    if doc.healthy:
        out += [f"## {lb['healthy_title']}", ""]
        for tid, line in doc.healthy:
            out += [f"- {_status('pass')} **{esc(tid)}** — {esc(line)}"]
            if tid in doc.timelines:
                out += [""] + _timeline(doc.timelines[tid], lb)
        out += [""]
    if doc.appendices:
        out += [f"## {lb['appendices']}", ""]
        for a in doc.appendices:
            out += [f"### {esc(lb['appendix_x'].format(letter=a.letter, target=a.target))}", "",
                    "<details><summary>" + esc(lb["evidence"]) + "</summary>", ""]
            for b in a.blocks:
                out += _block(b, doc.legend)
            out += ["</details>", ""]
    return "\n".join(out).rstrip() + "\n"

"""Nagios / Icinga / Naemon plugin output.

First line: `DICOMDOCTOR OK|WARNING|CRITICAL|UNKNOWN - summary | perfdata`, then long text with one line per
finding that did not pass (skips included: "blocked by ..." is useful when paged at night).

Perfdata follows the plugin guidelines, `'label'=value[UOM];[warn];[crit];[min];[max]`: labels are quoted
(target ids hold ':' and '@'; a quote inside is doubled), UOM `ms`, min 0, warn/crit left empty because
thresholds live in the playbook, not here. Per target: `connect_ms` (net.reachable evidence), `assoc_ms`
(evidence `association_ms` or `response_ms` of assoc.ae-title, else that check's duration), `echo_rtt_ms` (dimse.echo
evidence `rtt_ms`). With one target the labels are bare; with several they are prefixed by the target id.
The exit code is the caller's: Report.exit_code (pass 0, warn 1, fail 2, error 3).
"""

from __future__ import annotations

from ..engine.model import Finding, Report, Status
from ._common import STATUS_WORD, counts_phrase, finding, first_number, target_findings

# assoc.ae-title evidence: `response_ms` is A-ASSOCIATE-RQ -> AC/RJ time as the engine records it today.
ASSOC_KEYS = ("association_ms", "response_ms", "assoc_ms")
STATE = {"pass": "OK", "warn": "WARNING", "fail": "CRITICAL", "error": "UNKNOWN"}


def _one_line(text: str) -> str:
    # '|' starts perfdata and a newline starts long text: neither may appear inside a field.
    return " ".join(str(text).replace("|", "/").split())


def _label(label: str) -> str:
    return "'" + label.replace("'", "''").replace("=", "_") + "'"


def _perf(findings: tuple[Finding, ...], prefix: str) -> list[str]:
    out = []
    reach = finding(findings, "net.reachable")
    assoc = finding(findings, "assoc.ae-title")
    echo = finding(findings, "dimse.echo")
    values = [
        ("connect_ms", first_number(reach.evidence, ("connect_ms",)) if reach else None),
        ("assoc_ms", (first_number(assoc.evidence, ASSOC_KEYS) or
                      (assoc.duration_ms if assoc.status in (Status.PASS, Status.WARN) else None)) if assoc else None),
        ("echo_rtt_ms", first_number(echo.evidence, ("rtt_ms",)) if echo else None),
    ]
    for name, value in values:
        if value is not None:
            out.append(f"{_label(prefix + name)}={value:.3f}ms;;;0")
    return out


def render(report: Report, *, lang: str = "en", color: bool | None = None, trace: bool = False) -> str:
    groups = target_findings(report)
    bad = [f for f in report.findings if f.status is not Status.PASS]
    severity = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.SKIP: 3}
    bad.sort(key=lambda f: severity.get(f.status, 9))  # stable: run order within a severity
    # English counts always: monitoring parsers and on-call people expect the plugin's usual phrasing.
    summary = counts_phrase(report.summary, "en")
    if len(groups) > 1:
        summary += f" across {len(groups)} targets"
    serious = [f for f in bad if f.status in (Status.FAIL, Status.ERROR, Status.WARN)]
    if serious:
        first = serious[0]
        lead = f"{first.target} {first.check}: {first.summary}"
    elif groups:
        lead = ", ".join(t.id for t, _ in groups) + " healthy"
    else:
        lead = "no targets"
    perf: list[str] = []
    for target, findings in groups:
        perf += _perf(findings, f"{target.id} " if len(groups) > 1 else "")
    first_line = f"DICOMDOCTOR {STATE.get(report.verdict, 'UNKNOWN')} - {_one_line(lead)} ({summary})"
    if perf:
        first_line += " | " + " ".join(perf)
    lines = [first_line]
    for f in bad:
        line = f"{STATUS_WORD[f.status]} {f.target} {f.check}: {f.summary}"
        if f.status is not Status.SKIP and f.causes:
            line += f" - likely: {f.causes[0].title}"
            if f.causes[0].fixes:
                line += f"; fix: {f.causes[0].fixes[0]}"
        lines.append(_one_line(line))
    return "\n".join(lines) + "\n"

"""One self-contained HTML file: no external CSS, JS, fonts or images, so it can be mailed to a vendor, opened
offline in a hospital network, and printed (the `@media print` stylesheet gives clean A4/Letter pages).

Jinja2 with autoescape ON for every value: hostile peers put markup in AE titles and implementation version
names, and knowledge-base texts are data, not HTML. The template is package data
(templates/report.html.j2); the view model is built here so the template only lays out strings.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.model import Finding, Report, Status, TargetResult
from ._common import NEEDS_ATTENTION, STATUS_WORD, KeyValues, Table, TraceRow, evidence_blocks, finding, \
    fmt_duration, labels, plain_summary, scalar, target_findings, trace_rows, uid_label, verdict_line

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class FindingView:
    f: Finding
    word: str
    css: str
    duration: str
    blocks: list[KeyValues | Table]
    attention: bool


@dataclass
class TargetView:
    t: TargetResult
    verdict_word: str
    params: list[tuple[str, str]]
    findings: list[FindingView]
    trace: list[TraceRow] = field(default_factory=list)

    @property
    def details(self) -> list[FindingView]:
        # Problems first: the reader prints this for the vendor, who needs the failures on page one.
        return [v for v in self.findings if v.attention] + [v for v in self.findings if not v.attention]


def _params(target: TargetResult, findings: tuple[Finding, ...]) -> list[tuple[str, str]]:
    """What was negotiated, gathered from the target and the evidence of the checks that measured it."""
    p = target.peer
    rows = [("Host", f"{target.host}:{target.port}" if target.host else "—"),
            ("Called AE", target.called_ae or "—"), ("Calling AE", target.calling_ae or "—"),
            ("TLS", "yes" if target.tls else "no")]
    tls = finding(findings, "tls.handshake")
    if tls is not None:
        for k in ("protocol", "cipher", "days_left"):
            if k in tls.evidence:
                rows.append((f"TLS {k.replace('_', ' ')}", scalar(tls.evidence[k])))
    rows += [("Implementation class UID", uid_label(p.implementation_class_uid) if p.implementation_class_uid
              else "—"),
             ("Implementation version name", p.implementation_version_name or "—"),
             ("Peer max PDU", scalar(p.max_pdu))]
    ident = finding(findings, "peer.identity")
    if ident is not None:
        for k in ("product", "product_guess"):
            if ident.evidence.get(k):
                rows.append(("Product (guess)", scalar(ident.evidence[k])))
                break
    pdu = finding(findings, "assoc.pdu-length")
    if pdu is not None and pdu.evidence.get("our_max_pdu") is not None:
        rows.append(("Our max PDU", scalar(pdu.evidence["our_max_pdu"])))
    pcs = finding(findings, "assoc.presentation-contexts")
    contexts = pcs.evidence.get("contexts") if pcs is not None else None
    if isinstance(contexts, (list, tuple)) and contexts:
        accepted = sum(1 for c in contexts if isinstance(c, dict) and c.get("result") == 0)
        rows.append(("Presentation contexts accepted", f"{accepted} of {len(contexts)}"))
    reach = finding(findings, "net.reachable")
    if reach is not None and reach.evidence.get("connect_ms") is not None:
        rows.append(("TCP connect", fmt_duration(float(reach.evidence["connect_ms"]))))
    echo = finding(findings, "dimse.echo")
    if echo is not None and echo.evidence.get("rtt_ms") is not None:
        rows.append(("C-ECHO round trip", fmt_duration(float(echo.evidence["rtt_ms"]))))
    return rows


@functools.lru_cache(maxsize=1)
def _env() -> Any:
    import jinja2  # lazy: see report/__init__.py

    # autoescape=True, not select_autoescape(): the template's .j2 suffix would not match "html".
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(report: Report, *, lang: str = "en", color: bool | None = None, trace: bool = False) -> str:
    targets = []
    for target, findings in target_findings(report):
        views = [FindingView(f, STATUS_WORD[f.status], f.status.value, fmt_duration(f.duration_ms),
                             evidence_blocks(f.evidence), f.status in NEEDS_ATTENTION) for f in findings]
        targets.append(TargetView(target, (target.verdict or "error").upper(), _params(target, findings), views,
                                  trace_rows(target.trace)))
    html: str = _env().get_template("report.html.j2").render(
        report=report, lb=labels(lang), lang=(lang or "en").split("-")[0], targets=targets,
        verdict=report.verdict, verdict_line=verdict_line(report, lang), plain=plain_summary(report, lang),
        summary=report.summary, Status=Status)
    return html

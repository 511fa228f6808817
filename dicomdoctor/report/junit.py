"""JUnit XML: one <testsuite> per target, one <testcase> per check.

The de-facto schema read by GitLab, Jenkins and the GitHub test-reporter actions: <testsuites> root,
<testsuite name tests failures errors skipped time timestamp>, <testcase classname name time>, with one
optional <failure message type>, <error message type> or <skipped message> child and <system-out>.

Mapping: fail -> <failure>, error -> <error> (the check could not run), skip -> <skipped>. A warning is a
*passed* test case with its summary, causes and fixes in <system-out>: CI viewers know no "warning" state,
and failing a pipeline on a warning would contradict the exit code (1, not 2). The text starts with
"WARN:" so it is easy to spot in the viewer.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..engine.model import Finding, Report, Status
from ._common import STATUS_WORD, labels, peer_phrase, target_findings

# XML 1.0 forbids most control characters even escaped; a peer's implementation version name padded with
# NULs would otherwise make the whole file unparsable for the CI viewer.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: object) -> str:
    return _XML_ILLEGAL.sub("\ufffd", str(text))


def _body(f: Finding, lang: str) -> str:
    lb = labels(lang)
    lines = [f"{STATUS_WORD[f.status]}: {f.summary}"]
    for n, c in enumerate(f.causes, 1):
        lines.append(f"{lb['cause']} {n}: {c.title} [{c.id}]")
        if c.explanation:
            lines.append(f"  {c.explanation}")
        for fix in c.fixes:
            lines.append(f"  - {lb['fix']}: {fix}")
        if c.refs:
            lines.append(f"  {lb['refs']}: {'; '.join(c.refs)}")
    return "\n".join(lines)


def render(report: Report, *, lang: str = "en", color: bool | None = None, trace: bool = False) -> str:
    s = report.summary
    root = ET.Element("testsuites", {
        "name": _x(f"dicomdoctor {report.playbook}"),
        "tests": str(len(report.findings)),
        "failures": str(s["fail"]),
        "errors": str(s["error"]),
        "skipped": str(s["skip"]),
        "time": f"{report.duration_ms / 1000:.3f}",
    })
    for target, findings in target_findings(report):
        counts = {st: sum(f.status is st for f in findings) for st in Status}
        attrs = {
            "name": _x(target.id),
            "tests": str(len(findings)),
            "failures": str(counts[Status.FAIL]),
            "errors": str(counts[Status.ERROR]),
            "skipped": str(counts[Status.SKIP]),
            "time": f"{sum(f.duration_ms for f in findings) / 1000:.3f}",
        }
        if report.started_at:
            attrs["timestamp"] = _x(report.started_at)
        if target.host:
            attrs["hostname"] = _x(target.host)
        suite = ET.SubElement(root, "testsuite", attrs)
        props = ET.SubElement(suite, "properties")
        for name, value in (("playbook", report.playbook), ("verdict", target.verdict),
                            ("peer", peer_phrase(target, lang))):
            ET.SubElement(props, "property", {"name": name, "value": _x(value)})
        for f in findings:
            case = ET.SubElement(suite, "testcase", {"classname": _x(target.id), "name": _x(f.check),
                                                     "time": f"{f.duration_ms / 1000:.3f}"})
            body = _x(_body(f, lang))
            message = _x(f.summary)
            if f.status is Status.FAIL:
                ET.SubElement(case, "failure", {"message": message, "type": _x(f.causes[0].id if f.causes
                                                                                 else f.check)}).text = body
            elif f.status is Status.ERROR:
                ET.SubElement(case, "error", {"message": message, "type": "check-error"}).text = body
            elif f.status is Status.SKIP:
                ET.SubElement(case, "skipped", {"message": message})
            elif f.status is Status.WARN:
                ET.SubElement(case, "system-out").text = body
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

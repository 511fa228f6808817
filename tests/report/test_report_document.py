"""The document every human-facing format shares (report/document.py): summary table first, a section per
target that needs attention, healthy targets in one line, appendices with bounded evidence; and no Python
repr in any renderer's output."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from report_fixtures import build_mixed_report, build_pass_report, build_rich_report, build_zh_report
from dicomdoctor.engine.model import Report
from dicomdoctor.report import FORMATS, render
from dicomdoctor.report.document import ATTEMPT_ROWS, TRACE_ROWS, build

# What a Python repr of evidence looks like in a report: a dict, a list of tuples, a None.
REPR = re.compile(r"\{'|\[\('|\bNone\b")


def _as_text(out: str | bytes, tmp_path: Path) -> str:
    if isinstance(out, str):
        return out
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(out)
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _leaks(report: Report, tmp_path: Path) -> list[str]:
    leaks = []
    for fmt in FORMATS:
        if fmt == "pdf" and shutil.which("pdftotext") is None:
            continue
        for lang in ("en", "zh"):
            text = _as_text(render(report, fmt, lang=lang, color=False, trace=True), tmp_path)
            leaks += [f"{fmt}/{lang}: …{text[max(0, m.start() - 40):m.end() + 40]}…" for m in REPR.finditer(text)]
    return leaks


@pytest.mark.parametrize("build_report", [build_rich_report, build_mixed_report, build_pass_report, build_zh_report])
def test_no_python_repr_in_any_format(build_report: object, tmp_path: Path) -> None:
    assert not _leaks(build_report(), tmp_path)  # type: ignore[operator]


def test_no_python_repr_in_a_real_fleet_run(fleet_report: Report, tmp_path: Path) -> None:
    assert not _leaks(fleet_report, tmp_path)


def test_structure(rich_report: Report) -> None:
    doc = build(rich_report)
    assert [r.target for r in doc.summary] == [t.id for t in rich_report.targets]
    # a section for the failing and the warning target, failures first; the healthy one is a line
    assert [(s.target.id, s.verdict) for s in doc.sections] == [("PACS@10.0.0.5:104", "fail"),
                                                                  ("ROUTER@10.0.0.6:104", "warn")]
    assert [tid for tid, _ in doc.healthy] == ["STORE@10.0.0.7:104"]
    assert "all 2 checks passed" in doc.healthy[0][1] and "C-ECHO 1.2 ms" in doc.healthy[0][1]
    fail = doc.sections[0]
    assert [p.finding.check for p in fail.problems] == ["assoc.ae-title"]
    assert fail.problems[0].cause is not None and fail.problems[0].cause.id == "called-ae-not-recognized"
    assert [c.id for c in fail.problems[0].alternatives] == ["server-not-running"]
    assert fail.others == ("Passed: net.reachable, peer.identity",
                           "Skipped: dimse.echo (skipped: assoc.ae-title failed)")
    assert dict(fail.facts)["Product (guess)"] == "Orthanc (medium confidence)"
    assert dict(fail.facts)["Associations opened"] == "45"
    assert dict(doc.sections[1].facts)["Product (guess)"] == "Orthanc (version 3.6.4, medium confidence)"
    assert [(a.letter, a.target) for a in doc.appendices] == [("A", "PACS@10.0.0.5:104"),
                                                              ("B", "ROUTER@10.0.0.6:104")]


def test_appendix_evidence_is_bounded(rich_report: Report) -> None:
    doc = build(rich_report)
    blocks = {b.title: b for b in doc.appendices[0].blocks}
    attempts = blocks["Association attempts (34)"]
    assert len(attempts.rows) == ATTEMPT_ROWS and attempts.note == f"… {34 - ATTEMPT_ROWS} more not shown"
    assert attempts.rows[0] == ("WRONG", "DICOMDOCTOR", "default", "rejected 1/1/7")
    trace = blocks["PDU trace"]
    assert len(trace.rows) == TRACE_ROWS and trace.note == f"… {90 - TRACE_ROWS} more not shown"
    # the warning target: its matrix, SOP classes by short transfer-syntax names, no trace (nothing failed)
    matrix = {b.kind: b for b in doc.appendices[1].blocks}["matrix"]
    assert matrix.columns == ("SOP class", "Implicit LE", "JPEG 2000 Lossless")
    assert matrix.rows[0] == ("CT Image Storage", "✓", "✗ 4")
    assert ("MR Image Storage", "—", "·") in matrix.rows
    assert "trace" not in {b.kind for b in doc.appendices[1].blocks}


def test_chinese_labels(rich_report: Report) -> None:
    doc = build(rich_report, "zh")
    assert doc.lb["at_a_glance"] == "目标一览"
    assert dict(doc.sections[0].facts)["产品（推测）"] == "Orthanc (可信度 medium)"
    html = render(rich_report, "html", lang="zh")
    assert "需要处理的目标" in html and "附录：证据" in html and "正常的目标" in html  # type: ignore[operator]

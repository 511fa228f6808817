"""Markdown: summary table, findings with causes and fixes, evidence tables, nothing a peer can inject."""

from __future__ import annotations

from dicomdoctor.engine.model import Report
from dicomdoctor.report import render


def test_tables_and_findings(mixed_report: Report) -> None:
    md = render(mixed_report, "markdown")
    assert isinstance(md, str)
    assert "| Status | Check | Summary | Duration |" in md
    assert "| ❌ FAIL | net.reachable | Connection refused on port 104. | 0.5 ms |" in md
    assert "**The DICOM server is not running** (`server-not-running`)" in md
    assert "    - fix: Check the port number in the peer's configuration." in md
    # the presentation-context matrix, with UID names
    assert "| abstract_syntax | transfer_syntax | result | result_name |" in md
    assert "| CT Image Storage (1.2.840.10008.5.1.4.1.1.2) | JPEG 2000 Image Compression (Lossless Only)" in md
    # every table row has the same number of cells as its header (pipes in values are escaped)
    for block in md.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if rows:
            widths = {r.replace("\\|", "").count("|") for r in rows}
            assert len(widths) == 1, block


def test_hostile_strings_are_escaped(mixed_report: Report) -> None:
    md = render(mixed_report, "markdown")
    assert "<script>" not in md and "&lt;script&gt;" in md  # type: ignore[operator]

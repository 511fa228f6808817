"""Markdown: summary table, findings with causes and fixes, evidence tables, nothing a peer can inject."""

from __future__ import annotations

from dicomdoctor.engine.model import Report
from dicomdoctor.report import render


def test_tables_and_findings(mixed_report: Report) -> None:
    md = render(mixed_report, "markdown")
    assert isinstance(md, str)
    assert "| Target | Result | Peer | What we found |" in md
    assert "| CT1@ct-1.example.org:104 | ❌ FAIL | unknown | `net.reachable` Connection refused on port 104. |" in md
    assert "**Most likely cause: The DICOM server is not running** (`server-not-running`)" in md
    assert "- Check the port number in the peer's configuration." in md
    # the presentation-context matrix: SOP class names by short transfer syntax names
    assert "| SOP class | Implicit LE | JPEG 2000 Lossless |" in md
    assert "| CT Image Storage | ✓ | ✗ 4 |" in md
    order = [md.index(h) for h in ("## Targets at a glance", "## Targets that need attention", "## Appendices")]
    assert order == sorted(order)
    # every table row has the same number of cells as its header (pipes in values are escaped)
    for block in md.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if rows:
            widths = {r.replace("\\|", "").count("|") for r in rows}
            assert len(widths) == 1, block


def test_hostile_strings_are_escaped(mixed_report: Report) -> None:
    md = render(mixed_report, "markdown")
    assert "<script>" not in md and "&lt;script&gt;" in md  # type: ignore[operator]

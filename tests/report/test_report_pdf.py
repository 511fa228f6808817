"""PDF: a real PDF whose text holds the check ids and causes; non-Latin-1 text never crashes it."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from dicomdoctor.engine.model import PeerInfo, Report
from dicomdoctor.report import render
from dicomdoctor.report.pdf import _cjk_font

needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                     reason="pdftotext (poppler-utils) not installed")


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def _pdf(report: Report, **kw: object) -> bytes:
    out = render(report, "pdf", **kw)  # type: ignore[arg-type]
    assert isinstance(out, bytes) and out.startswith(b"%PDF-") and out.rstrip().endswith(b"%%EOF")
    return out


@needs_pdftotext
def test_check_ids_and_causes_are_in_the_text(mixed_report: Report, tmp_path: Path) -> None:
    text = _text(_pdf(mixed_report), tmp_path)
    for f in mixed_report.findings:
        assert f.check in text, f.check
        for c in f.causes:
            assert c.title in text, c.title
    assert "Verdict: FAIL" in text and "A-ASSOCIATE-RQ" in text and "CT Image Storage" in text


@needs_pdftotext
def test_core_fonts_fallback_transliterates(zh_report: Report, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMDOCTOR_PDF_FONT", "core")
    text = _text(_pdf(zh_report, lang="zh"), tmp_path)
    assert "assoc.ae-title" in text and "naïve café" in text  # Latin-1 survives the core fonts
    assert "some characters could not be shown" in text


@needs_pdftotext
@pytest.mark.skipif(_cjk_font() is None, reason="no CJK font on this system")
def test_chinese_with_a_cjk_font(zh_report: Report, tmp_path: Path) -> None:
    text = _text(_pdf(zh_report, lang="zh"), tmp_path)
    assert "PACS 不认识被叫 AE 标题" in text and "could not be shown" not in text


@pytest.mark.parametrize("font", ["core", ""])  # core fonts, and whatever Unicode font the system has
def test_hostile_bytes_do_not_crash(pass_report: Report, monkeypatch: pytest.MonkeyPatch, font: str) -> None:
    monkeypatch.setenv("DICOMDOCTOR_PDF_FONT", font)
    t = dataclasses.replace(pass_report.targets[0], peer=PeerInfo("1.2.3", "X\x00\x07\ud800🙂\u202e", None))
    _pdf(dataclasses.replace(pass_report, targets=(t,)))

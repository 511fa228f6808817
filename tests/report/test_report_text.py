"""Console output: one line per check, causes under problems, the verdict line last, colour optional."""

from __future__ import annotations

import dataclasses
import re

import pytest

from dicomdoctor.engine.model import Report
from dicomdoctor.report import render

ANSI = re.compile(r"\x1b\[")
LINE = re.compile(r"^  (PASS|WARN|FAIL|SKIP|ERROR) +(\S+) +(.*) \((\d+(\.\d+)? m?s)\)$")


def test_plain_text_layout(mixed_report: Report) -> None:
    out = render(mixed_report, "text", color=False)
    assert isinstance(out, str) and not ANSI.search(out)
    lines = out.rstrip("\n").splitlines()
    assert lines[-1] == ("Verdict: FAIL — 1 failed, 1 error, 1 warning, 2 skipped, 6 passed across 2 targets "
                         "in 1.23 s")
    checks = [m.groups()[:2] for m in map(LINE.match, lines) if m]
    assert [c for _, c in checks] == [f.check for f in mixed_report.findings]
    assert ("FAIL", "net.reachable") in checks and ("SKIP", "dimse.echo") in checks
    # header per target with the peer identity
    assert lines[0].startswith("PACS@10.0.0.5:104  ERROR")
    assert '<script>alert("x")</script>' in lines[1]  # the peer line, printed as text
    # top cause and first fix under the failing and the warning check, not the second cause
    assert "cause: The DICOM server is not running" in out
    assert "fix: Start the DICOM service" in out
    assert "cause: The peer refuses JPEG 2000 for CT images" in out
    assert "The PACS does not know the called AE title" not in out


def test_color_is_optional_and_status_words_stay(mixed_report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    colored = render(mixed_report, "text", color=True)
    assert ANSI.search(colored)  # type: ignore[arg-type]
    assert "FAIL" in colored and "Verdict:" in colored.rstrip().splitlines()[-1]  # type: ignore[union-attr]
    monkeypatch.setenv("NO_COLOR", "1")
    assert not ANSI.search(render(mixed_report, "text"))  # type: ignore[arg-type]


def test_markup_in_peer_strings_is_printed_literally(pass_report: Report) -> None:
    t = dataclasses.replace(pass_report.targets[0], id="[bold red]EVIL[/]@h:104")
    f = dataclasses.replace(pass_report.findings[0], target=t.id, summary="[link=http://x]click[/link]")
    out = render(dataclasses.replace(pass_report, targets=(t,), findings=(f,)), "text", color=True)
    assert "[bold red]EVIL[/]@h:104" in out and "[link=http://x]click[/link]" in out  # type: ignore[operator]


def test_trace_only_when_asked(mixed_report: Report) -> None:
    assert "A-ASSOCIATE-RQ" not in render(mixed_report, "text", color=False)  # type: ignore[operator]
    out = render(mixed_report, "text", color=False, trace=True)
    assert "A-ASSOCIATE-RQ" in out and "→" in out and "not an entry at all" in out  # type: ignore[operator]
    assert out.rstrip().splitlines()[-1].startswith("Verdict: FAIL")  # type: ignore[union-attr]


def test_chinese_labels(zh_report: Report) -> None:
    out = render(zh_report, "text", lang="zh", color=False)
    assert out.rstrip().splitlines()[-1].startswith("结论: FAIL")  # type: ignore[union-attr]
    assert "原因: PACS 不认识被叫 AE 标题" in out  # type: ignore[operator]

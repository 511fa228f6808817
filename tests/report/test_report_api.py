"""render() dispatch, formats, and the start-up cost of importing the package."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dicomdoctor.engine.model import Report
from dicomdoctor.report import BINARY_FORMATS, FORMATS, render

TEXT_FORMATS = [f for f in FORMATS if f not in BINARY_FORMATS]


def test_formats_are_the_cli_contract() -> None:
    assert FORMATS == ("text", "json", "junit", "markdown", "html", "pdf", "nagios", "prometheus")
    assert BINARY_FORMATS == {"pdf"}


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_every_text_format_renders_every_report(any_report: Report, fmt: str) -> None:
    out = render(any_report, fmt, color=False, trace=True)
    assert isinstance(out, str) and out.strip()
    assert render(any_report, fmt, lang="zh", color=False)  # labels switch, nothing crashes


def test_unknown_format_names_the_choices(pass_report: Report) -> None:
    with pytest.raises(ValueError, match="unknown report format 'yaml'.*text, json"):
        render(pass_report, "yaml")


def test_renderers_do_not_mutate_the_report(mixed_report: Report) -> None:
    before = mixed_report.to_json_dict()
    for fmt in TEXT_FORMATS:
        render(mixed_report, fmt, color=False)
    assert mixed_report.to_json_dict() == before


def test_empty_report_renders() -> None:
    empty = Report(playbook="quick", verdict="pass", duration_ms=0.0, targets=(), findings=())
    for fmt in TEXT_FORMATS:
        assert render(empty, fmt, color=False)


def test_import_is_lazy() -> None:
    """`import dicomdoctor.report` must not pull in rich, jinja2, fpdf or pydicom (start-up speed)."""
    code = ("import sys, dicomdoctor.report as r; r.FORMATS; "
            "print(sorted(m for m in ('fpdf', 'jinja2', 'rich', 'pydicom') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""Nagios plugin output: status line, perfdata per the plugin guidelines, long text."""

from __future__ import annotations

import dataclasses
import re

import pytest

from dicomdoctor.engine.model import Report
from dicomdoctor.report import render

FIRST = re.compile(r"^DICOMDOCTOR (OK|WARNING|CRITICAL|UNKNOWN) - ([^|\n]+?)(?: \| (.+))?$")
PERF = re.compile(r"'((?:[^']|'')+)'=(-?[0-9.]+)(s|ms|us|%|B|KB|MB|TB|c)?;([0-9.]*);([0-9.]*);([0-9.]*);?([0-9.]*)")


def _perf(text: str) -> dict[str, tuple[float, str]]:
    items = text.split(" '")
    items = [items[0]] + ["'" + i for i in items[1:]]
    out = {}
    for item in items:
        m = PERF.fullmatch(item)
        assert m, item
        out[m.group(1).replace("''", "'")] = (float(m.group(2)), m.group(3) or "")
    return out


def test_single_target(pass_report: Report) -> None:
    out = render(pass_report, "nagios")
    assert isinstance(out, str)
    lines = out.splitlines()
    m = FIRST.match(lines[0])
    assert m and m.group(1) == "OK"
    # bare labels with one target; no assoc_ms because this report did not run assoc.ae-title
    assert _perf(m.group(3)) == {"connect_ms": (1.25, "ms"), "echo_rtt_ms": (3.5, "ms")}
    assert len(lines) == 1  # nothing to explain when everything passed


@pytest.mark.parametrize("verdict, state", [("pass", "OK"), ("warn", "WARNING"), ("fail", "CRITICAL"),
                                            ("error", "UNKNOWN")])
def test_verdict_mapping(pass_report: Report, verdict: str, state: str) -> None:
    out = render(dataclasses.replace(pass_report, verdict=verdict), "nagios")
    assert out.startswith(f"DICOMDOCTOR {state} - ")  # type: ignore[union-attr]


def test_several_targets_and_long_text(mixed_report: Report) -> None:
    lines = render(mixed_report, "nagios").splitlines()  # type: ignore[union-attr]
    m = FIRST.match(lines[0])
    assert m and m.group(1) == "CRITICAL"
    assert "CT1@ct-1.example.org:104 net.reachable: Connection refused" in m.group(2)
    perf = _perf(m.group(3))
    assert perf["PACS@10.0.0.5:104 connect_ms"] == (1.5, "ms")
    assert perf["PACS@10.0.0.5:104 assoc_ms"] == (6.25, "ms")
    assert perf["PACS@10.0.0.5:104 echo_rtt_ms"] == (2.75, "ms")
    assert perf["CT1@ct-1.example.org:104 connect_ms"] == (0.4, "ms")
    # one long-text line per finding that did not pass, the worst first
    assert [ln.split()[0] for ln in lines[1:]] == ["FAIL", "ERROR", "WARN", "SKIP", "SKIP"]
    assert "likely: The DICOM server is not running" in lines[1]


def test_pipes_and_newlines_cannot_break_the_format(pass_report: Report) -> None:
    f = dataclasses.replace(pass_report.findings[0], status=pass_report.findings[0].status.FAIL,
                            summary="a | b\nc", target="it's@x:104")
    t = dataclasses.replace(pass_report.targets[0], id="it's@x:104")
    other = dataclasses.replace(pass_report.targets[0], id="B@y:104")
    out = render(dataclasses.replace(pass_report, verdict="fail", findings=(f,), targets=(t, other)), "nagios")
    lines = out.splitlines()  # type: ignore[union-attr]
    assert len(lines) == 2 and lines[0].count("|") == 1
    m = FIRST.match(lines[0])
    assert m and "it's@x:104 connect_ms" in _perf(m.group(3))

"""JUnit XML for CI viewers: suites per target, cases per check, counts that add up."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

from dicomdoctor.engine.model import PeerInfo, Report, Status
from dicomdoctor.report import render


def _parse(report: Report) -> ET.Element:
    return ET.fromstring(render(report, "junit").encode())  # type: ignore[union-attr]


def test_structure_and_counts(mixed_report: Report) -> None:
    root = _parse(mixed_report)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [t.id for t in mixed_report.targets]
    cases = root.findall("testsuite/testcase")
    assert len(cases) == len(mixed_report.findings) == int(root.get("tests", "-1"))
    assert len(root.findall(".//failure")) == mixed_report.summary["fail"] == int(root.get("failures", "-1"))
    assert len(root.findall(".//error")) == mixed_report.summary["error"] == int(root.get("errors", "-1"))
    assert len(root.findall(".//skipped")) == mixed_report.summary["skip"] == int(root.get("skipped", "-1"))
    for suite in suites:
        mine = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(mine)
        assert int(suite.get("failures", "-1")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("skipped", "-1")) == len(suite.findall("testcase/skipped"))
        assert all(c.get("classname") == suite.get("name") for c in mine)
    for case, f in zip(cases, mixed_report.findings):
        assert case.get("name") == f.check
        assert abs(float(case.get("time", "x")) - f.duration_ms / 1000) < 0.001


def test_failure_carries_summary_causes_and_fixes(mixed_report: Report) -> None:
    failure = _parse(mixed_report).find(".//testcase[@name='net.reachable']/failure")
    assert failure is not None
    assert failure.get("message") == "Connection refused on port 104."
    assert failure.get("type") == "server-not-running"
    assert "The DICOM server is not running" in (failure.text or "")
    assert "Check the port number" in (failure.text or "")


def test_warning_is_a_pass_with_system_out(mixed_report: Report) -> None:
    case = _parse(mixed_report).find(".//testcase[@name='assoc.presentation-contexts']")
    assert case is not None and case.find("failure") is None and case.find("skipped") is None
    out = case.find("system-out")
    assert out is not None and (out.text or "").startswith("WARN: ")


def test_hostile_and_illegal_xml_characters(pass_report: Report) -> None:
    peer = PeerInfo("1.2.3", 'BAD\x00\x01<x a="1">&', 16384)
    t = dataclasses.replace(pass_report.targets[0], peer=peer)
    f = dataclasses.replace(pass_report.findings[0], status=Status.FAIL, summary="bad \x07 bell <b>&amp;")
    root = _parse(dataclasses.replace(pass_report, targets=(t,), findings=(f, pass_report.findings[1]),
                                      verdict="fail"))
    failure = root.find(".//failure")
    assert failure is not None and "<b>&amp;" in (failure.get("message") or "")

"""The JSON report keeps the `dicomdoctor.report/1` keys of DESIGN.md exactly."""

from __future__ import annotations

import json

from dicomdoctor.engine.model import Report
from dicomdoctor.report import render

TOP = {"schema", "tool", "playbook", "verdict", "duration_ms", "summary", "targets", "findings"}
TARGET = {"id", "host", "port", "called_ae", "calling_ae", "tls", "verdict", "peer"}
PEER = {"implementation_class_uid", "implementation_version_name", "max_pdu"}
FINDING = {"target", "check", "title", "status", "summary", "evidence", "causes", "duration_ms"}
CAUSE = {"id", "title", "explanation", "fixes", "refs"}


def test_schema_keys(any_report: Report) -> None:
    data = json.loads(render(any_report, "json"))  # type: ignore[arg-type]
    assert set(data) == TOP
    assert data["schema"] == "dicomdoctor.report/1"
    assert data["tool"] == {"name": "dicomdoctor", "version": "0.1.0"}
    assert set(data["summary"]) == {"pass", "warn", "fail", "skip", "error"}
    assert data["verdict"] in {"pass", "warn", "fail", "error"}
    for t in data["targets"]:
        assert set(t) == TARGET and set(t["peer"]) == PEER
    for f in data["findings"]:
        assert set(f) == FINDING
        assert f["status"] in {"pass", "warn", "fail", "skip", "error"}
        for c in f["causes"]:
            assert set(c) == CAUSE and isinstance(c["fixes"], list)


def test_counts_and_unicode(mixed_report: Report, zh_report: Report) -> None:
    data = json.loads(render(mixed_report, "json"))  # type: ignore[arg-type]
    assert data["summary"] == {"pass": 6, "warn": 1, "fail": 1, "skip": 2, "error": 1}
    assert len(data["targets"]) == 2 and data["verdict"] == "fail"
    out = render(zh_report, "json")
    assert "关联被拒绝" in out  # readable UTF-8, not \u escapes

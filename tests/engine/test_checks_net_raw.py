"""net.reachable enriched by the raw SYN probe (probes/raw.py): who answered a failed connect."""

from __future__ import annotations

import json
import os
import socket

import pytest

from dicomdoctor.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="raw sockets need root")
def test_refused_port_gets_a_syn_probe(capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    assert main(["echo", f"127.0.0.1:{port}", "--format", "json"]) == 2
    finding = json.loads(capsys.readouterr().out)["findings"][0]
    raw = finding["evidence"]["raw_probe"]
    assert raw["available"] is True and raw["syn"]["outcome"] == "closed"
    assert "raw SYN probe" in finding["summary"]
    assert finding["causes"][0]["id"] == "server-not-running"


def test_raw_probe_can_be_turned_off(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    book = tmp_path / "p.yaml"
    book.write_text("playbook: 1\nname: t\nchecks:\n  - id: net.reachable\n    with: {raw_probe: false}\n")
    assert main(["diagnose", f"127.0.0.1:{port}", "--playbook", str(book), "--format", "json"]) == 2
    finding = json.loads(capsys.readouterr().out)["findings"][0]
    assert "raw_probe" not in finding["evidence"]

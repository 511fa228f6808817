"""Judgement with product knowledge and earlier evidence, against a real Orthanc 1.10 on loopback.

Orthanc accepts an association from any calling AE and checks the AE per command: with DicomAlwaysAllowEcho
false, a C-ECHO from an AE that is not in DicomModalities is aborted before any response. The doctor must name
the calling AE (and Orthanc's settings), not a bare "peer aborted"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dicomdoctor.cli import main

pytestmark = pytest.mark.interop

KNOWN = {"known": ["KNOWN", "127.0.0.1", 11112]}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    rc = main([*argv, "--format", "json", "--timeout", "5"])
    report = json.loads(capsys.readouterr().out)
    return rc, {f["check"]: f for f in report["findings"]}


def _ids(finding: dict[str, Any]) -> list[str]:
    return [c["id"] for c in finding["causes"]]


def test_orthanc_aborting_the_echo_of_an_unknown_calling_ae(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pacs = orthanc(DicomAlwaysAllowEcho=False, modalities=KNOWN)
    rc, found = _run(capsys, "diagnose", f"ORTHANC@{pacs.host}:{pacs.port}", "--calling-ae", "STRANGER")
    assert rc == 2
    ae = found["assoc.ae-title"]
    # At association time Orthanc accepts anyone; the finding says so without promising more.
    assert ae["status"] == "pass" and "accepts associations from any calling AE title" in ae["summary"]
    echo = found["dimse.echo"]
    assert echo["status"] == "fail" and echo["evidence"]["outcome"] == "aborted", echo["summary"]
    assert _ids(echo)[0] == "calling-ae-not-recognized", _ids(echo)
    assert "DicomAlwaysAllowEcho" in echo["summary"] and "before any response" in echo["summary"]
    fixes = " ".join(echo["causes"][0]["fixes"])
    assert "DicomModalities" in fixes and "DicomAlwaysAllowEcho" in fixes and "DicomCheckCalledAet" in fixes
    assert "DICOM authorization rejected" in pacs.log_text()  # what Orthanc itself says


def test_echo_command_alone_judges_it_the_same_way(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # The one-off echo runs no peer.identity: the peer named by the A-ASSOCIATE-AC gives the toolkit.
    pacs = orthanc(DicomAlwaysAllowEcho=False, modalities=KNOWN)
    rc, found = _run(capsys, "echo", f"ORTHANC@{pacs.host}:{pacs.port}", "--calling-ae", "STRANGER")
    assert rc == 2
    echo = found["dimse.echo"]
    assert _ids(echo)[0] == "calling-ae-not-recognized", (_ids(echo), echo["summary"])
    rc, found = _run(capsys, "echo", f"ORTHANC@{pacs.host}:{pacs.port}", "--calling-ae", "KNOWN")
    assert rc == 0 and found["dimse.echo"]["status"] == "pass"

"""`dicomdoctor diagnose` against a real Orthanc 1.10 configured to fail in specific ways (started by the test
on loopback). The JSON report is the contract: check ids, statuses, evidence keys and cause ids."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dicomdoctor.cli import main

pytestmark = pytest.mark.interop


def diagnose(capsys: pytest.CaptureFixture[str], target: str, *extra: str) -> tuple[int, dict[str, Any]]:
    rc = main(["diagnose", target, "--format", "json", "--timeout", "5", *extra])
    out = capsys.readouterr().out
    report = json.loads(out)
    return rc, {f["check"]: f for f in report["findings"]} | {"_report": report}


def cause_ids(finding: dict[str, Any]) -> list[str]:
    return [c["id"] for c in finding["causes"]]


def test_wrong_called_ae_is_named_and_the_right_one_found(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pacs = orthanc(DicomCheckCalledAet=True)
    rc, found = diagnose(capsys, f"WRONGAE@{pacs.host}:{pacs.port}")
    assert rc == 2
    f = found["assoc.ae-title"]
    assert f["status"] == "fail"
    assert cause_ids(f)[0] == "called-ae-not-recognized"
    assert f["evidence"]["reject"]["source"] == 1 and f["evidence"]["reject"]["reason"] == 7
    assert f["evidence"]["accepted_called_ae"] == "ORTHANC"
    assert f["evidence"]["called_ae_checked"] is True
    assert "WRONGAE" in f["summary"] and "it answers to ORTHANC" in f["summary"]
    assert found["dimse.echo"]["status"] == "skip"


def test_healthy_orthanc_standard_playbook(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pacs = orthanc()
    rc, found = diagnose(capsys, f"ORTHANC@{pacs.host}:{pacs.port}")
    assert found["assoc.ae-title"]["status"] == "pass"
    assert found["dimse.echo"]["status"] == "pass"
    assert found["dimse.echo"]["evidence"]["status"] == 0 and found["dimse.echo"]["evidence"]["category"] == "success"
    ident = found["peer.identity"]
    assert ident["evidence"]["implementation_version_name"].startswith("OFFIS_DCMTK")
    report = found["_report"]
    assert report["targets"][0]["peer"]["implementation_version_name"].startswith("OFFIS_DCMTK")
    pc = found["assoc.presentation-contexts"]
    assert all(c["result"] in (0, 1, 2, 3, 4) for c in pc["evidence"]["contexts"])
    assert pc["status"] in ("pass", "warn")
    assert rc in (0, 1)


def test_limited_transfer_syntaxes_judged_from_the_matrix(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Orthanc 1.10 answers result 3 "abstract syntax not supported" for a refused transfer syntax of a SOP class
    # it accepts otherwise: the finding must say transfer-syntax-not-supported, and keep the raw 3.
    pacs = orthanc(JpegTransferSyntaxAccepted=False, Jpeg2000TransferSyntaxAccepted=False,
                   JpegLosslessTransferSyntaxAccepted=False, RleTransferSyntaxAccepted=False)
    rc, found = diagnose(capsys, f"ORTHANC@{pacs.host}:{pacs.port}", "--playbook", "standard", "--set",
                         "assoc.presentation-contexts.required=[[CTImageStorage, JPEG2000Lossless]]")
    pc = found["assoc.presentation-contexts"]
    assert pc["status"] == "warn"
    assert cause_ids(pc)[0] == "transfer-syntax-not-supported"
    ct_j2k = [c for c in pc["evidence"]["contexts"] if c["abstract_syntax"] == "1.2.840.10008.5.1.4.1.1.2"
              and c["transfer_syntax"] == "1.2.840.10008.1.2.4.90"]
    assert ct_j2k and ct_j2k[0]["result"] != 0


def test_unknown_sop_class_refused(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pacs = orthanc(UnknownSopClassAccepted=False)
    rc, found = diagnose(capsys, f"ORTHANC@{pacs.host}:{pacs.port}", "--set",
                         "assoc.presentation-contexts.abstract_syntaxes=[CTImageStorage, 1.2.3.4.5.6.7.8.9]",
                         "--set", "assoc.presentation-contexts.transfer_syntaxes=[ImplicitVRLittleEndian]")
    pc = found["assoc.presentation-contexts"]
    assert pc["status"] == "warn" and cause_ids(pc)[0] == "abstract-syntax-not-supported"
    assert [c["result"] for c in pc["evidence"]["contexts"]] [0] == 0


def test_calling_ae_not_in_modalities(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Orthanc 1.10 checks the calling AE only for the commands it does not always allow.
    pacs = orthanc(DicomAlwaysAllowEcho=False, DicomAlwaysAllowStore=False,
                   modalities={"known": ["KNOWN", "127.0.0.1", 11112]})
    rc, found = diagnose(capsys, f"ORTHANC@{pacs.host}:{pacs.port}", "--calling-ae", "STRANGER")
    assert rc == 2
    failing = [f for k, f in found.items() if k != "_report" and f["status"] == "fail"]
    assert failing
    assert {"calling-ae-not-recognized", "calling-ae-not-authorized"} & set(cause_ids(failing[0]))


def test_storescp_small_pdu(storescp: Any, capsys: pytest.CaptureFixture[str]) -> None:
    peer = storescp("--ignore", "--max-pdu", "4096")
    rc, found = diagnose(capsys, peer.target_text())
    pdu = found["assoc.pdu-length"]
    assert pdu["status"] == "warn" and cause_ids(pdu) == ["pdu-too-small"]
    assert pdu["evidence"]["peer_max_pdu"] == 4096 and pdu["evidence"]["our_max_pdu"] == 16384
    # storescp is a Storage SCP only: the Q/R classes are refused, which is information for a peer judged by
    # the role it plays (a warn only when the playbook asks for Q/R).
    assert found["assoc.presentation-contexts"]["status"] == "pass"
    assert "no Query/Retrieve" in found["assoc.presentation-contexts"]["summary"]
    assert found["dimse.echo"]["status"] == "pass"


def test_orthanc_held_by_a_silent_client(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Orthanc 1.10 serves associations one at a time: a client that connects and says nothing holds the
    # listener, and our A-ASSOCIATE-RQ meets silence. The finding must say so, in bounded time: the silent
    # client holds Orthanc until the test ends, so only our own --timeout can end the diagnosis (a hang is
    # caught by the pytest timeout, not by a stopwatch). The silent client connected first, so Orthanc's one
    # thread takes it first: nothing to wait for.
    import socket

    pacs = orthanc()
    with socket.create_connection((pacs.host, pacs.port)):
        rc = main(["diagnose", pacs.target_text(), "--format", "json", "--timeout", "2"])
    found = {f["check"]: f for f in json.loads(capsys.readouterr().out)["findings"]}
    f = found["assoc.ae-title"]
    assert rc == 2 and f["status"] == "fail"
    assert cause_ids(f)[0] == "association-timeout"
    assert "one client at a time" in f["summary"] and f["evidence"]["listener_busy_possible"] is True


def test_orthanc_http_port_is_not_dicom(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # The classic slip: the DICOM client configured with Orthanc's HTTP port (8042) instead of 4242.
    pacs = orthanc()
    rc, found = diagnose(capsys, f"ORTHANC@{pacs.host}:{pacs.http_port}")
    f = found["assoc.ae-title"]
    assert rc == 2 and f["status"] == "fail"
    assert cause_ids(f)[0] == "not-dicom", f["summary"]
    assert f["evidence"]["first_bytes"]["kind"] == "http"

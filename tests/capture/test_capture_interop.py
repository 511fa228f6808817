"""Real traffic: dcmtk tools talking to Orthanc, storescp and dcmqrscp on loopback, recorded by
capture.live (dumpcap/tcpdump/tshark on lo) and analysed by `dicomdoctor pcap`. Skipped when capturing is
not permitted (not root, no capture tool)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import peers  # noqa: E402

from dicomdoctor.capture import analyse_file  # noqa: E402
from dicomdoctor.cli import main  # noqa: E402

pytestmark = pytest.mark.interop


def _by_check(report: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in report.findings:
        out.setdefault(f.check, []).append(f)
    return out


def _causes(f: Any) -> list[str]:
    return [c.id for c in f.causes]


def _run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)


def test_orthanc_reject_store_find(orthanc: Any, ct_files: list[Path], capture: Any) -> None:
    pacs = orthanc(DicomCheckCalledAet=True, DicomAlwaysAllowFind=True)
    port = str(pacs.port)
    with capture(pacs.port) as pcap:
        rj = _run(peers.ECHOSCU, "-aet", "DOCTOR", "-aec", "NOT_ORTHANC", pacs.host, port)
        st = _run(peers.STORESCU, "-aet", "DOCTOR", "-aec", "ORTHANC", pacs.host, port, *map(str, ct_files))
        fd = _run(peers.FINDSCU, "-S", "-aet", "DOCTOR", "-aec", "ORTHANC", "-k", "QueryRetrieveLevel=STUDY",
                  "-k", "StudyInstanceUID", "-k", "PatientID", pacs.host, port)
    assert rj.returncode != 0 and st.returncode == 0 and fd.returncode == 0, (rj.stderr, st.stderr, fd.stderr)
    report = analyse_file(str(pcap))
    assert len(report.targets) == 3, [t.id for t in report.targets]
    assoc = _by_check(report)["capture.association"]
    # 1. the rejected echo: called AE not recognised, decoded, with the live check's cause id
    rejected = assoc[0]
    assert rejected.status.value == "fail"
    assert rejected.evidence["reject"] == {"result": 1, "result_name": "rejected-permanent", "source": 1,
                                           "source_name": "DICOM UL service-user", "reason": 7,
                                           "reason_name": "called-AE-title-not-recognized"}
    assert _causes(rejected)[0] == "called-ae-not-recognized"
    assert report.targets[0].id == f"NOT_ORTHANC@127.0.0.1:{pacs.port} <- DOCTOR@" + \
        report.targets[0].id.split("<- DOCTOR@")[1]
    assert report.targets[0].port == pacs.port and report.targets[0].called_ae == "NOT_ORTHANC"
    # 2. the store: three C-STOREs, all success, released; Orthanc's identity is dcmtk's
    store_t = report.targets[1]
    assert store_t.peer.implementation_version_name.startswith("OFFIS_DCMTK")
    f = {x.check: x for x in report.findings_for(store_t.id)}
    assert f["capture.association"].status.value == "pass"
    assert f["capture.association"].evidence["end"] == "release"
    assert f["capture.association"].evidence["max_pdu"]["acceptor"] > 0
    assert f["capture.dimse"].evidence["operations"] == {"C-STORE": 3}
    assert f["capture.dimse"].evidence["responses"]["success"] == 3
    assert f["capture.dimse"].status.value == "pass"
    assert f["capture.dimse"].evidence["timings"]["rtt_ms"]["C-STORE"]["count"] == 3
    assert f["capture.violations"].status.value == "pass"
    # 3. the find: pending matches then success; level and key names, never values
    find_t = report.targets[2]
    f = {x.check: x for x in report.findings_for(find_t.id)}
    ev = f["capture.dimse"].evidence
    assert ev["operations"] == {"C-FIND": 1}
    assert ev["find_matches"] == 1 and ev["responses"]["pending"] == 1 and ev["responses"]["success"] == 1
    assert ev["queries"] == [{"operation": "C-FIND", "level": "STUDY", "keys": ["PatientID", "StudyInstanceUID"]}]
    assert report.verdict == "fail"


def test_storescp_abort_after(storescp: Any, ct_files: list[Path], capture: Any) -> None:
    scp = storescp("--ignore", "--abort-after")
    with capture(scp.port, name="session.pcapng", pcapng=True) as pcap:  # dumpcap's own pcapng
        _run(peers.STORESCU, "-aec", scp.ae_title, scp.host, str(scp.port), str(ct_files[0]))
    assert pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    report = analyse_file(str(pcap))
    f = _by_check(report)
    assoc = f["capture.association"][0]
    assert assoc.status.value == "fail"
    assert assoc.evidence["abort"]["by"] == "acceptor" and assoc.evidence["end"] == "abort"
    assert "peer-aborted" in _causes(assoc)
    dimse = f["capture.dimse"][0]
    assert dimse.status.value == "fail" and dimse.evidence["unanswered"][0]["operation"] == "C-STORE"
    assert "peer-aborted" in _causes(dimse)


def test_move_destination_unknown_and_echo(dcmqrscp: Any, ct_files: list[Path], capture: Any, tmp_path: Path) -> None:
    qr = dcmqrscp(preload=ct_files)
    with capture(qr.port) as pcap:
        mv = _run(peers.MOVESCU, "-S", "-aec", qr.ae_title, "-aem", "NOBODY", "-k", "QueryRetrieveLevel=STUDY",
                  "-k", "PatientID=*", qr.host, str(qr.port))
        ec = _run(peers.ECHOSCU, "-aec", qr.ae_title, qr.host, str(qr.port))
    assert ec.returncode == 0, ec.stderr
    out = tmp_path / "report.json"
    code = main(["pcap", str(pcap), "--format", "json", "-o", str(out)])
    data = json.loads(out.read_text())
    assert code == 2 and data["playbook"] == "pcap" and data["verdict"] == "fail"
    move = [f for f in data["findings"] if f["check"] == "capture.dimse" and "C-MOVE" in f["evidence"]["operations"]]
    assert move, data["findings"]
    ev = move[0]["evidence"]
    assert ev["statuses"][0]["status_hex"] == "0xA801"
    assert ev["failures"][0]["status_hex"] == "0xA801"
    assert move[0]["causes"][0]["id"] == "move-destination-unknown"
    assert ev["queries"][0]["level"] == "STUDY"
    echo = [f for f in data["findings"] if f["check"] == "capture.dimse" and "C-ECHO" in f["evidence"]["operations"]]
    assert echo and echo[0]["status"] == "pass"
    # the report layer redacts patient data: the query's key names stay, and no value is ever recorded
    assert "PatientID" in json.dumps(move[0]["evidence"]["queries"])


def test_cli_capture_option_records_the_session(storescp: Any, tmp_path: Path, capsys: Any) -> None:
    """`dicomdoctor echo TARGET --capture FILE` leaves a pcap of exactly that session (commands/_common.py
    starts capture.live before the checks and stops it before the report is written)."""
    from dicomdoctor.capture.live import capture_tool

    if os.geteuid() != 0 or capture_tool() is None:
        pytest.skip("capturing needs root and tcpdump/dumpcap/tshark")
    scp = storescp("--ignore")
    pcap = tmp_path / "ticket.pcap"
    code = main(["echo", f"{scp.ae_title}@{scp.host}:{scp.port}", "--capture", str(pcap), "--format", "json",
                 "-o", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    assert "packets recorded to" in capsys.readouterr().err
    report = analyse_file(str(pcap))
    echo = [f for f in report.findings if f.check == "capture.dimse" and f.evidence["operations"].get("C-ECHO")]
    assert echo and echo[0].status.value == "pass"
    assert all(t.port == scp.port for t in report.targets if t.port)


def test_cli_capture_into_a_missing_folder_is_bad_input(tmp_path: Path, capsys: Any) -> None:
    code = main(["echo", "PACS@127.0.0.1:9", "--capture", str(tmp_path / "no" / "x.pcap")])
    assert code == 3
    assert "--capture" in capsys.readouterr().err

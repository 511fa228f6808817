"""Service-level checks against real peers on loopback: Orthanc 1.10, dcmqrscp (strict Q/R: 0xA801 for an
unknown move destination, 0xA702 when it cannot connect back) and storescp's fault flags. Each scenario must
be diagnosed to its cause."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import peers  # noqa: E402

from dicomdoctor.engine.context import RunOptions  # noqa: E402
from dicomdoctor.engine.model import Finding, Report  # noqa: E402
from dicomdoctor.engine.playbook import apply_overrides, load_playbook, make_playbook  # noqa: E402
from dicomdoctor.engine.runner import run  # noqa: E402
from dicomdoctor.net.timeouts import Timeouts  # noqa: E402
from dicomdoctor.target import parse_target  # noqa: E402

pytestmark = pytest.mark.interop
PATIENT = {"PatientID": "DDTEST01"}  # peers.make_ct


def run_check(target: str, check: Any, *, timeout: float = 10.0, dimse: float | None = None) -> Finding:
    options = RunOptions(timeouts=Timeouts(timeout, timeout, dimse if dimse is not None else timeout, timeout))
    report = run(make_playbook("test", [check]), [parse_target(target)], options)
    return report.findings[-1]


def causes(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


def _need(path: str) -> None:
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not installed")


@pytest.fixture(scope="module")
def orthanc_pacs(tmp_path_factory: pytest.TempPathFactory, ct_files: list[Path]) -> Iterator[peers.OrthancPeer]:
    """One Orthanc for the module: the CTs preloaded, DOCTOR registered at a port only our check listens on."""
    _need(peers.ORTHANC)
    doctor = peers.free_port()
    pacs = peers.start_orthanc(tmp_path_factory.mktemp("orthanc"), preload=ct_files,
                               modalities={"doctor": ["DOCTOR", "127.0.0.1", doctor]},
                               DicomAlwaysAllowFind=True, DicomAlwaysAllowMove=True, DicomAlwaysAllowGet=True)
    pacs.extra["doctor_port"] = doctor
    yield pacs
    pacs.stop()


@pytest.fixture(scope="module")
def qrscp(tmp_path_factory: pytest.TempPathFactory, ct_files: list[Path]) -> Iterator[peers.Peer]:
    """dcmqrscp with the CTs, DOCTOR at a port our check listens on, NOWHERE at a port nothing listens on."""
    _need(peers.DCMQRSCP)
    doctor, nowhere = peers.free_port(), peers.free_port()
    peer = peers.start_dcmqrscp(tmp_path_factory.mktemp("dcmqrscp"), preload=ct_files,
                                hosts={"DOCTOR": ("127.0.0.1", doctor), "NOWHERE": ("127.0.0.1", nowhere)})
    peer.extra["doctor_port"] = doctor
    yield peer
    peer.stop()


# ------------------------------------------------------------------------------------------------- Orthanc

def test_orthanc_move_to_ourselves(orthanc_pacs: peers.OrthancPeer, ct_files: list[Path]) -> None:
    f = run_check(orthanc_pacs.target_text(), ("dimse.move", {
        "destination": "DOCTOR", "listen_port": orthanc_pacs.extra["doctor_port"], "level": "PATIENT",
        "keys": PATIENT}))
    assert f.status.value == "pass", f.summary
    assert f.evidence["connect_back"] is True
    assert f.evidence["received"] == f.evidence["completed"] == len(ct_files)


def test_orthanc_unknown_destination_c000_ranked(orthanc_pacs: peers.OrthancPeer) -> None:
    # Our calling AE title (the default destination) is not in DicomModalities: Orthanc answers a bare 0xC000,
    # exactly as it does for a random AE title, and nothing connects to us.
    f = run_check(orthanc_pacs.target_text(), ("dimse.move", {
        "listen_port": peers.free_port(), "level": "PATIENT", "keys": PATIENT}))
    assert f.status.value == "fail" and f.evidence["status"] == 0xC000
    assert causes(f)[:2] == ["move-destination-unknown", "move-connect-back-failed"], f.summary
    assert f.evidence["connect_back"] is False
    assert f.evidence["random_destination"]["status"] == 0xC000 and f.evidence["query_matches"] == 1


def test_orthanc_study_move_without_study_uid_is_unique_key_required(orthanc_pacs: peers.OrthancPeer) -> None:
    # Orthanc answers 0xC000 ("No DICOM identifier provided ... for this query retrieve level").
    f = run_check(orthanc_pacs.target_text(), ("dimse.move", {
        "destination": "DOCTOR", "listen_port": orthanc_pacs.extra["doctor_port"], "level": "STUDY",
        "keys": PATIENT}))
    assert f.status.value == "fail" and f.evidence["status"] == 0xC000
    assert causes(f)[0] == "unique-key-required", f.summary
    assert f.evidence["missing_keys"] == ["StudyInstanceUID"]


def test_orthanc_get(orthanc_pacs: peers.OrthancPeer, ct_files: list[Path]) -> None:
    f = run_check(orthanc_pacs.target_text(), ("dimse.get", {"level": "PATIENT", "keys": PATIENT}))
    assert f.status.value == "pass", f.summary
    assert f.evidence["received"] == f.evidence["completed"] == len(ct_files)


def test_orthanc_full_playbook_is_read_only_and_samples(orthanc_pacs: peers.OrthancPeer) -> None:
    before = len(orthanc_pacs.instances())
    pb = apply_overrides(load_playbook("full"), ["dimse.move.destination=DOCTOR",
                                                 f"dimse.move.listen_port={orthanc_pacs.extra['doctor_port']}"])
    report: Report = run(pb, [parse_target(orthanc_pacs.target_text())],
                         RunOptions(timeouts=Timeouts.uniform(10)))
    by = {f.check: f for f in report.findings}
    assert by["dimse.find"].status.value == "pass" and by["dimse.find"].evidence["matches"] >= 1
    for check in ("dimse.move", "dimse.get"):
        assert by[check].status.value == "pass", (check, by[check].summary)
        assert by[check].evidence["received"] == 1 and by[check].evidence["retrieved"]["level"] == "IMAGE"
    assert len(orthanc_pacs.instances()) == before


# ------------------------------------------------------------------------------------------------ dcmqrscp

def test_dcmqrscp_unknown_destination_a801(qrscp: peers.Peer) -> None:
    f = run_check(qrscp.target_text(), ("dimse.move", {"destination": "STRANGER", "listen_port": peers.free_port(),
                                                       "level": "PATIENT", "keys": PATIENT}))
    assert f.status.value == "fail" and causes(f) == ["move-destination-unknown"]
    assert f.evidence["status"] == 0xA801


def test_dcmqrscp_closed_destination_port_a702(qrscp: peers.Peer) -> None:
    f = run_check(qrscp.target_text(), ("dimse.move", {"destination": "NOWHERE", "listen_port": peers.free_port(),
                                                       "level": "PATIENT", "keys": PATIENT}))
    assert f.status.value == "fail" and f.evidence["status"] == 0xA702, f.summary
    assert causes(f)[0] == "move-connect-back-failed" and f.evidence["connect_back"] is False


def test_dcmqrscp_move_to_ourselves_and_get(qrscp: peers.Peer, ct_files: list[Path]) -> None:
    f = run_check(qrscp.target_text(), ("dimse.move", {"destination": "DOCTOR",
                                                       "listen_port": qrscp.extra["doctor_port"],
                                                       "level": "PATIENT", "keys": PATIENT}))
    assert f.status.value == "pass", f.summary
    assert f.evidence["connect_back"] is True and f.evidence["received"] == f.evidence["completed"] == len(ct_files)
    g = run_check(qrscp.target_text(), ("dimse.get", {"level": "PATIENT", "keys": PATIENT}))
    assert g.status.value == "pass", g.summary
    assert g.evidence["received"] == g.evidence["completed"] == len(ct_files)


def test_dcmqrscp_find_no_matches(qrscp: peers.Peer) -> None:
    f = run_check(qrscp.target_text(), ("dimse.find", {"level": "STUDY", "keys": {"PatientID": "NOBODY",
                                                                                  "StudyInstanceUID": ""}}))
    assert f.status.value == "warn" and causes(f)[0] == "find-no-matches" and f.evidence["matches"] == 0


# ------------------------------------------------------------------------------------------------ storescp

def test_storescp_abort_after_is_peer_aborted(storescp: Any) -> None:
    peer = storescp("--ignore", "--abort-after")
    f = run_check(peer.target_text(), ("dimse.store", {"synthetic": 1}))
    assert f.status.value == "fail" and causes(f)[0] == "peer-aborted", f.summary
    assert f.evidence["outcome"] == "aborted" and f.evidence["phase"] == "dimse"


def test_storescp_sleep_during_is_dimse_timeout(storescp: Any) -> None:
    # storescp sleeps far longer than our DIMSE timeout: only the timeout can end the store.
    peer = storescp("--ignore", "--sleep-during", "600")
    f = run_check(peer.target_text(), ("dimse.store", {"synthetic": 1}), dimse=1.0)
    assert f.status.value == "fail" and causes(f)[0] == "dimse-timeout", f.summary


def test_storescp_throughput_per_pdu(storescp: Any) -> None:
    peer = storescp("--ignore", "--max-pdu", "131072")
    f = run_check(peer.target_text(), ("perf.throughput", {"pdu_sizes": [16384, 65536, 0], "count": 3,
                                                           "size": 524288}))
    assert f.status.value in ("pass", "warn"), f.summary
    assert set(f.evidence["mb_per_s"]) == {"16384", "65536", "0"} and all(f.evidence["mb_per_s"].values())
    assert [r["sent_pdu"] for r in f.evidence["runs"]] == [16384, 65536, 131072]
    assert f.evidence["peer_max_pdu"] == 131072 and f.evidence["instances"] == 9


def test_dcmqrscp_capacity(qrscp: peers.Peer) -> None:
    # peers.start_dcmqrscp configures MaxAssociations = 16; the 17th gets the polite transient reject.
    f = run_check(qrscp.target_text(), ("assoc.capacity", {"max": 20}))
    ev = f.evidence
    assert f.status.value == "pass", f.summary
    assert ev["accepted"] == 16 and (ev["refusal"]["result"], ev["refusal"]["source"], ev["refusal"]["reason"]) == \
        (2, 3, 2)
    assert ev["released"] == 16 and ev["aborted"] == 0 and ev["recovered"] is True

"""Negotiation, store and politeness judgement on real peers (issues: result 4, the misleading result 3, a
partly refused matrix, a data set without SOP Class UID, AE guessing that floods a PACS, role-based matrix
judgement, C-MOVE without --listen). Peers: our simulator as its own process, Orthanc 1.10, dcmtk storescp,
dcmjs-dimse. No assert depends on time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from dicomdoctor.cli import main
import peers

pytestmark = pytest.mark.interop

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
IMPLICIT_LE = "1.2.840.10008.1.2"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
CT_ONLY_AS_J2K = ["--set", "assoc.presentation-contexts.abstract_syntaxes=[CTImageStorage]",
                  "--set", "assoc.presentation-contexts.transfer_syntaxes=[JPEG2000Lossless]"]


Run = peers.DoctorRun


@pytest.fixture
def doctor(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """In-process `dicomdoctor ... --format json`; --timeout 15 is a safety net on a loaded machine."""

    def run(*argv: str) -> Run:
        capsys.readouterr()
        rc = main([*argv, "--format", "json", "--timeout", "15"])
        return Run(rc, json.loads(capsys.readouterr().out))

    return run


class _Started:
    def __init__(self, start: Callable[..., peers.Peer]) -> None:
        self.start = start
        self.started: list[peers.Peer] = []

    def __call__(self, *args: Any, **kwargs: Any) -> peers.Peer:
        peer = self.start(*args, **kwargs)
        self.started.append(peer)
        return peer

    def stop_all(self) -> None:
        for peer in reversed(self.started):
            peer.stop()


@pytest.fixture
def simulate(tmp_path: Path) -> Iterator[Callable[..., peers.Peer]]:
    f = _Started(lambda *a, **k: peers.start_simulate(tmp_path / "peers", *a, **k))
    yield f
    f.stop_all()


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Callable[..., peers.OrthancPeer]]:
    if not os.access(peers.ORTHANC, os.X_OK):
        pytest.skip("Orthanc is not installed")
    f = _Started(lambda **k: peers.start_orthanc(tmp_path / "peers", **k))
    yield f  # type: ignore[misc]
    f.stop_all()


@pytest.fixture
def dcmjs(tmp_path: Path) -> Iterator[Callable[..., peers.Peer]]:
    if not peers.dcmjs_available():
        pytest.skip("node or tests/peers_js/node_modules (npm ci in tests/peers_js) is missing")
    f = _Started(lambda **k: peers.start_dcmjs_scp(tmp_path / "peers", **k))
    yield f
    f.stop_all()


def received_files(directory: Path) -> set[str]:
    from pydicom import dcmread
    return {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in directory.rglob("*") if p.is_file()}


def orthanc_associations(log: str) -> int:
    """A-ASSOCIATE-RQs Orthanc received (its log names each; a bare TCP connect shows an empty AET)."""
    return sum(1 for line in log.splitlines() if "Association Received from AET" in line
               and "from AET  on" not in line)


# ------------------------------------------------------------------------------------------------ result 4

def test_result_4_for_every_context_is_a_transfer_syntax_problem(simulate: Callable[..., peers.Peer],
                                                                doctor: Callable[..., Run]) -> None:
    sim = simulate("accept-ts=ImplicitVRLittleEndian", ae_title="SIM")
    run = doctor("diagnose", sim.target_text(), *CT_ONLY_AS_J2K)
    pc = run["assoc.presentation-contexts"]
    assert [c["result"] for c in pc["evidence"]["contexts"]] == [4]
    assert run.status("assoc.presentation-contexts") == "fail", run
    assert run.causes("assoc.presentation-contexts")[0] == "transfer-syntax-not-supported", run
    assert "result 4" in pc["summary"] and "the SOP class is supported" in pc["summary"]


# ------------------------------------------------------------------------------- store: the matrix decides

def test_store_command_learns_the_transfer_syntax_after_the_refusal(simulate: Callable[..., peers.Peer],
                                                                   doctor: Callable[..., Run],
                                                                   tmp_path: Path) -> None:
    """CT taken only as JPEG 2000 (result 4 to anything else): an uncompressed CT is refused; no matrix ran,
    so the store check asks one small negotiation after the failure and names what to convert to."""
    storage = tmp_path / "got"
    storage.mkdir()
    sim = simulate("accept-ts=JPEG2000Lossless", ae_title="SIM", storage=storage)
    ct = peers.write_cts(tmp_path / "ct", 1)[0]
    run = doctor("store", sim.target_text(), str(ct))
    assert run.rc == 2 and run.status("dimse.store") == "fail", run
    assert run.causes("dimse.store")[0] == "transfer-syntax-not-supported", run
    summary = run["dimse.store"]["summary"]
    assert "only as JPEG 2000 Lossless" in summary and "convert the instance to JPEG 2000 Lossless" in summary
    assert run["dimse.store"]["evidence"]["stores"][0]["convert_to"] == J2K_LOSSLESS
    assert received_files(storage) == set()


def test_store_playbook_sends_the_given_file(simulate: Callable[..., peers.Peer], doctor: Callable[..., Run],
                                             tmp_path: Path) -> None:
    storage = tmp_path / "got"
    storage.mkdir()
    sim = simulate(ae_title="SIM", storage=storage)
    ct = peers.write_cts(tmp_path / "ct", 1)[0]
    run = doctor("diagnose", sim.target_text(), "--playbook", "store", "--set", f"dimse.store.files=[{ct}]")
    assert run.status("dimse.store") == "pass", run
    assert run["dimse.store"]["evidence"]["synthetic"] is False
    from pydicom import dcmread
    assert received_files(storage) == {str(dcmread(ct).SOPInstanceUID)}


# ------------------------------------------------------------------------- a data set without SOP Class UID

def _broken_ct(path: Path, *, drop: bool = True) -> Path:
    """A CT whose File Meta names CT Image Storage but whose data set has no SOP Class UID (drop) or says MR."""
    ds = peers.make_ct()
    if drop:
        del ds.SOPClassUID
    else:
        ds.SOPClassUID = MR
    ds.preamble = b"\0" * 128  # written as it is (enforce_file_format would refuse the broken data set)
    ds.save_as(path, enforce_file_format=False)
    return path


@pytest.mark.parametrize("peer_kind", ["simulator", "dcmjs"])
def test_data_set_without_sop_class_is_not_stored(peer_kind: str, simulate: Callable[..., peers.Peer],
                                                  dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run],
                                                  tmp_path: Path) -> None:
    storage = tmp_path / "got"
    storage.mkdir()
    peer = simulate(ae_title="SIM", storage=storage) if peer_kind == "simulator" else dcmjs()
    bad = _broken_ct(tmp_path / "nosop.dcm")
    run = doctor("store", peer.target_text(), str(bad))
    assert run.rc == 2 and run.status("dimse.store") == "fail", run
    assert run.causes("dimse.store")[0] == "store-missing-sop-class", run
    summary = run["dimse.store"]["summary"]
    assert "data set has no SOP Class UID (0008,0016)" in summary and "File Meta" in summary
    assert run["dimse.store"]["evidence"]["invalid_files"][0]["missing_in"] == "dataset"
    if peer_kind == "simulator":
        assert received_files(storage) == set()
    else:
        assert [e for e in peers.js_events(peer) if e["event"] == "c-store"] == []


def test_data_set_and_file_meta_disagree(simulate: Callable[..., peers.Peer], doctor: Callable[..., Run],
                                         tmp_path: Path) -> None:
    sim = simulate(ae_title="SIM")
    run = doctor("store", sim.target_text(), str(_broken_ct(tmp_path / "mr.dcm", drop=False)))
    assert run.rc == 2, run
    assert run.causes("dimse.store")[:2] == ["store-missing-sop-class", "dataset-sop-mismatch"], run
    assert "disagrees" in run["dimse.store"]["summary"]


# ----------------------------------------------------------------------- Orthanc: a partly refused matrix

def test_orthanc_accepting_only_implicit_vr_names_the_transfer_syntaxes(orthanc: Callable[..., Any],
                                                                       doctor: Callable[..., Run]) -> None:
    o = orthanc(AcceptedTransferSyntaxes=[IMPLICIT_LE])  # Orthanc >= 1.9: the list of accepted syntaxes
    run = doctor("diagnose", o.target_text())
    pc = run["assoc.presentation-contexts"]
    assert run.status("assoc.presentation-contexts") == "warn", run
    assert run.causes("assoc.presentation-contexts")[0] == "transfer-syntax-not-supported", run
    assert "CT Image Storage" in pc["summary"] and ": only Implicit VR Little Endian; " in pc["summary"]
    assert "JPEG 2000 Lossless" in pc["summary"] and "refused" in pc["summary"]
    assert pc["evidence"]["sop_classes"]["CT Image Storage"]["accepted"] == ["Implicit VR Little Endian"]


# -------------------------------------------------------------------------------- politeness: AE guessing

def test_rejecting_orthanc_costs_a_handful_of_associations(orthanc: Callable[..., Any],
                                                           doctor: Callable[..., Run]) -> None:
    """A called-AE reject from an Orthanc whose AE title no guess finds: polite by default (it was ~33), the
    finding says what it cost, and that count matches what Orthanc logged. --guess-ae wide tries the list."""
    o = orthanc(ae_title="RADIOLOGY7", DicomCheckCalledAet=True)
    run = doctor("diagnose", f"WRONGAE@{o.host}:{o.port}")
    ae = run["assoc.ae-title"]
    assert run.status("assoc.ae-title") == "fail" and run.causes("assoc.ae-title")[0] == "called-ae-not-recognized"
    polite = orthanc_associations(o.log_text())
    assert ae["evidence"]["guess"] == "polite" and ae["evidence"]["associations"] == polite, (polite, ae)
    assert polite <= 7, polite  # the given title + at most probes.ae.POLITE_ATTEMPTS
    assert f"cost the peer {polite} associations" in ae["summary"] and "--guess-ae wide" in ae["summary"]
    # Every title refused alike, from a random calling AE too: our calling AE (or host) may be what it refuses.
    assert ae["evidence"]["refused_alike"] is True
    assert {"calling-ae-not-recognized", "calling-host-mismatch"} <= set(run.causes("assoc.ae-title")[:3])
    wide = doctor("diagnose", f"WRONGAE@{o.host}:{o.port}", "--guess-ae", "wide")
    assert wide["assoc.ae-title"]["evidence"]["guess"] == "wide"
    assert orthanc_associations(o.log_text()) - polite == wide["assoc.ae-title"]["evidence"]["associations"] > polite


def test_rejecting_orthanc_default_title_still_found_politely(orthanc: Callable[..., Any],
                                                             doctor: Callable[..., Run]) -> None:
    o = orthanc(DicomCheckCalledAet=True)
    run = doctor("diagnose", f"WRONGAE@{o.host}:{o.port}")
    ae = run["assoc.ae-title"]
    assert ae["evidence"]["accepted_called_ae"] == "ORTHANC" and "it answers to ORTHANC" in ae["summary"]
    assert ae["evidence"]["associations"] == orthanc_associations(o.log_text()) <= 7


# ------------------------------------------------------------------------------ a peer judged by its role

def test_storage_only_storescp_passes_the_standard_playbook(tmp_path: Path, doctor: Callable[..., Run]) -> None:
    if not os.access(peers.STORESCP, os.X_OK):
        pytest.skip("dcmtk storescp is not installed")
    scp = peers.start_storescp(tmp_path / "peers")
    try:
        run = doctor("diagnose", scp.target_text())
    finally:
        scp.stop()
    assert run.rc == 0 and run.report["verdict"] == "pass", run
    pc = run["assoc.presentation-contexts"]
    assert "no Query/Retrieve" in pc["summary"] and pc["evidence"]["roles_not_played"]["query-retrieve"]


def test_asking_for_query_retrieve_warns_a_storage_only_peer(tmp_path: Path, doctor: Callable[..., Run]) -> None:
    if not os.access(peers.STORESCP, os.X_OK):
        pytest.skip("dcmtk storescp is not installed")
    scp = peers.start_storescp(tmp_path / "peers")
    try:
        run = doctor("diagnose", scp.target_text(), "--set",
                     "assoc.presentation-contexts.roles=[storage,query-retrieve]")
    finally:
        scp.stop()
    assert run.status("assoc.presentation-contexts") == "warn", run
    assert run.causes("assoc.presentation-contexts")[0] == "abstract-syntax-not-supported"


def test_a_storage_scp_refusing_one_storage_class_still_warns(dcmjs: Callable[..., peers.Peer],
                                                             doctor: Callable[..., Run]) -> None:
    peer = dcmjs(sop_classes=["1.2.840.10008.1.1", MR])
    run = doctor("diagnose", peer.target_text())
    assert run.status("assoc.presentation-contexts") == "warn", run
    assert "CT Image Storage" in run["assoc.presentation-contexts"]["summary"]


# ---------------------------------------------------------------------------------- C-MOVE without --listen

def test_move_without_listen_starts_a_receiver_and_judges_the_refused_connect_back(
        orthanc: Callable[..., Any], doctor: Callable[..., Run], tmp_path: Path) -> None:
    """Orthanc knows DICOMDOCTOR at a port where nothing listens: without --listen the move command still runs
    our receiver (on a free port it names), and the missing connect-back is judged as such."""
    from pydicom import dcmread

    cts = peers.write_cts(tmp_path / "ct", 1)
    registered = peers.free_port()
    o = orthanc(modalities={"doctor": ["DICOMDOCTOR", "127.0.0.1", registered]}, preload=cts)
    study = str(dcmread(cts[0]).StudyInstanceUID)
    run = doctor("move", o.target_text(), "-k", f"StudyInstanceUID={study}")
    mv = run["dimse.move"]
    assert run.status("dimse.move") == "fail", run
    assert run.causes("dimse.move")[0] == "move-connect-back-failed", run
    port = mv["evidence"]["listen_port"]
    assert port and port != registered and mv["evidence"]["listen_auto"] is True
    assert f"127.0.0.1:{port}" in mv["summary"] and "--listen" in mv["summary"]
    # With the port Orthanc has for us, the same move works: the receiver is what was missing.
    ok = doctor("move", o.target_text(), "-k", f"StudyInstanceUID={study}", "--listen", str(registered))
    assert ok.status("dimse.move") == "pass", ok
    assert ok["dimse.move"]["evidence"]["connect_back"] is True

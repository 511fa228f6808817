"""The simulator is a real SCP: pynetdicom and dcmtk tools talk to it (echo, store, find, move, get)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from dicomdoctor.sim.seed import synthetic_instances
from dicomdoctor.sim.server import SimulatorThread
from dicomdoctor.synthetic import file_meta_for, make_instance

pynetdicom = pytest.importorskip("pynetdicom")
from pynetdicom import AE, StoragePresentationContexts, build_role, evt  # noqa: E402
from pynetdicom.sop_class import (  # noqa: E402
    CTImageStorage, MRImageStorage, PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet, StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove, Verification)

pytestmark = pytest.mark.interop
DCMTK = Path("/usr/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dest():
    """A pynetdicom Storage SCP, the C-MOVE destination."""
    received: list[str] = []

    def on_store(event):  # type: ignore[no-untyped-def]
        received.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    ae = AE("DEST")
    ae.supported_contexts = StoragePresentationContexts
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    yield port, received
    server.shutdown()


@pytest.fixture(scope="module")
def sim(dest):
    with SimulatorThread("PACS", [], seed=12, move_destinations={"DEST": ("127.0.0.1", dest[0])}) as s:
        yield s


def assoc(sim: SimulatorThread, contexts, roles=()):  # type: ignore[no-untyped-def]
    ae = AE("TESTSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60  # a hang guard, not a wait
    for c in contexts:
        ae.add_requested_context(c)
    a = ae.associate("127.0.0.1", sim.port, ae_title="PACS", ext_neg=list(roles))
    assert a.is_established
    return a


def test_pynetdicom_echo_store_find(sim: SimulatorThread) -> None:
    a = assoc(sim, [Verification, CTImageStorage, StudyRootQueryRetrieveInformationModelFind])
    try:
        assert a.send_c_echo().Status == 0
        ds = make_instance("CT", 16, 16, patient_id="PYN0001")
        ds.PatientName = "PYNETDICOM^TEST"
        ds.file_meta = file_meta_for(ds)
        assert a.send_c_store(ds).Status == 0
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.PatientID = "PYN0001"
        q.StudyInstanceUID = ""
        results = [(st.Status, ident) for st, ident in a.send_c_find(q, StudyRootQueryRetrieveInformationModelFind)]
        assert [s for s, _ in results] == [0xFF00, 0x0000]
        assert results[0][1].StudyInstanceUID == ds.StudyInstanceUID
    finally:
        a.release()


def test_pynetdicom_patient_root_find_and_bad_level(sim: SimulatorThread) -> None:
    a = assoc(sim, [PatientRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelFind])
    try:
        q = Dataset()
        q.QueryRetrieveLevel = "PATIENT"
        q.PatientID = "SIM*"
        q.PatientName = ""
        got = [i.PatientID for st, i in a.send_c_find(q, PatientRootQueryRetrieveInformationModelFind) if i]
        assert got == ["SIM0001", "SIM0002"]
        statuses = [st.Status for st, _ in a.send_c_find(q, StudyRootQueryRetrieveInformationModelFind)]
        assert statuses == [0xA900]  # Study Root has no PATIENT level
    finally:
        a.release()


def test_pynetdicom_move_to_known_and_unknown_destination(sim: SimulatorThread, dest) -> None:
    _port, received = dest
    a = assoc(sim, [StudyRootQueryRetrieveInformationModelMove])
    try:
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.StudyInstanceUID = next(synthetic_instances(1)).StudyInstanceUID  # SIM0001's study: 6 instances
        final = [st for st, _ in a.send_c_move(q, "DEST", StudyRootQueryRetrieveInformationModelMove)][-1]
        assert final.Status == 0 and final.NumberOfCompletedSuboperations == 6
        assert len(received) >= 6
        final = [st for st, _ in a.send_c_move(q, "NOWHERE", StudyRootQueryRetrieveInformationModelMove)][-1]
        assert final.Status == 0xA801
    finally:
        a.release()


def test_pynetdicom_get_with_and_without_role(sim: SimulatorThread) -> None:
    got: list[str] = []

    def on_store(event):  # type: ignore[no-untyped-def]
        got.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    ae = AE("GETSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60  # a hang guard, not a wait
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(MRImageStorage)
    roles = [build_role(CTImageStorage, scp_role=True), build_role(MRImageStorage, scp_role=True)]
    a = ae.associate("127.0.0.1", sim.port, ae_title="PACS", ext_neg=roles,
                     evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert a.is_established
    try:
        q = Dataset()
        q.QueryRetrieveLevel = "PATIENT"
        q.PatientID = "SIM0002"
        final = [st for st, _ in a.send_c_get(q, PatientRootQueryRetrieveInformationModelGet)][-1]
        assert final.Status == 0 and final.NumberOfCompletedSuboperations == 6
        assert len(got) == 6
    finally:
        a.release()
    # Without the SCP role nothing can come back on the association: every sub-operation fails.
    ae2 = AE("GETSCU")
    ae2.acse_timeout = ae2.dimse_timeout = ae2.network_timeout = 60
    ae2.add_requested_context(PatientRootQueryRetrieveInformationModelGet)
    ae2.add_requested_context(CTImageStorage)
    a = ae2.associate("127.0.0.1", sim.port, ae_title="PACS")
    try:
        final = [st for st, _ in a.send_c_get(q, PatientRootQueryRetrieveInformationModelGet)][-1]
        assert final.Status == 0xA702 and final.NumberOfFailedSuboperations == 6
    finally:
        a.release()


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not (DCMTK / "echoscu").exists(), reason="dcmtk not installed")
def test_dcmtk_tools(sim: SimulatorThread, tmp_path: Path) -> None:
    port = str(sim.port)
    assert _run(str(DCMTK / "echoscu"), "-aec", "PACS", "127.0.0.1", port).returncode == 0
    f = tmp_path / "ct.dcm"
    from dicomdoctor.synthetic import to_part10_bytes

    f.write_bytes(to_part10_bytes(make_instance("CT", 16, 16, patient_id="DCMTK0001")))
    assert _run(str(DCMTK / "storescu"), "-aec", "PACS", "127.0.0.1", port, str(f)).returncode == 0
    r = _run(str(DCMTK / "findscu"), "-S", "-aec", "PACS", "-k", "QueryRetrieveLevel=STUDY",
             "-k", "PatientID=DCMTK0001", "-k", "StudyInstanceUID", "127.0.0.1", port)
    assert r.returncode == 0 and "Find Response: 1 (Pending)" in r.stderr + r.stdout
    out = tmp_path / "get"
    out.mkdir()
    r = _run(str(DCMTK / "getscu"), "-P", "-aec", "PACS", "-k", "QueryRetrieveLevel=PATIENT",
             "-k", "PatientID=DCMTK0001", "-od", str(out), "127.0.0.1", port)
    assert r.returncode == 0, r.stderr
    assert len(list(out.iterdir())) == 1


@pytest.mark.skipif(not (DCMTK / "movescu").exists(), reason="dcmtk not installed")
def test_dcmtk_movescu_to_itself(tmp_path: Path) -> None:
    """movescu is its own move destination (+P): the simulator connects back to the port in its AE table."""
    port = free_port()
    with SimulatorThread("PACS", [], seed=6, move_destinations={"MOVESCU": ("127.0.0.1", port)}) as s:
        r = _run(str(DCMTK / "movescu"), "-aet", "MOVESCU", "-aec", "PACS", "-aem", "MOVESCU", "+P", str(port),
                 "-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=SIM0001", "-od", str(tmp_path),
                 "127.0.0.1", str(s.port))
        assert r.returncode == 0, r.stderr
    assert len(list(tmp_path.iterdir())) == 6

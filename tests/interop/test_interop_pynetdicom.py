"""Interop with pynetdicom 3 (a test peer only): its SCP against our SCU, its SCU (AE) against our SCP."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pydicom.uid import CTImageStorage

from dicomdoctor.net import ArchiveSCP, SCPServer, associate
from dicomdoctor.target import Target
from peers import arun, make_ct

pytestmark = pytest.mark.interop
VERIFICATION = "1.2.840.10008.1.1"


def test_our_scu_against_pynetdicom_scp(pynetdicom_scp, ct_files: list[Path]) -> None:
    pn = pynetdicom_scp(max_pdu=32768, store_status=0xB000)

    async def go() -> Any:
        t = Target(pn.host, pn.port, pn.ae_title)
        async with await associate(t, [VERIFICATION, CTImageStorage, "StudyRootQueryRetrieveInformationModelFind"],
                                   max_pdu=65536) as a:
            echo = await a.echo()
            stores = [await a.store(p) for p in ct_files]
            found = await a.find("STUDY", {"PatientID": "DDTEST01", "StudyInstanceUID": ""}).all()
            return a, echo, stores, found
    a, echo, stores, found = arun(go())
    assert echo.ok
    assert a.peer_max_pdu == 32768 and a.peer_implementation_version_name.startswith("PYNETDICOM")
    assert [s.status for s in stores] == [0xB000] * 3 and stores[0].category == "warning"
    assert len(pn.received) == 3 and pn.received[0].PatientID == "DDTEST01"
    assert found[-1].ok and len(found) == 4  # three instances of one study, matched per instance by the toy SCP


def test_pynetdicom_scu_against_our_scp(ct_files: list[Path]) -> None:
    from pydicom import dcmread
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification

    archive = ArchiveSCP()
    results: dict[str, Any] = {}

    def client(port: int) -> None:
        ae = AE(ae_title="PYSCU")
        ae.add_requested_context(Verification)
        ae.add_requested_context(CTImageStorage)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        assoc = ae.associate("127.0.0.1", port, ae_title="DOCTOR")
        results["established"] = assoc.is_established
        if assoc.is_established:
            results["echo"] = assoc.send_c_echo().Status
            results["store"] = [assoc.send_c_store(dcmread(p)).Status for p in ct_files]
            ident = make_ct().__class__()
            ident.QueryRetrieveLevel = "STUDY"
            ident.PatientID = "DDTEST01"
            ident.StudyInstanceUID = ""
            results["find"] = [(st.Status if st else None, ds.StudyInstanceUID if ds else None)
                               for st, ds in assoc.send_c_find(ident, StudyRootQueryRetrieveInformationModelFind)]
            assoc.release()

    async def go() -> None:
        import asyncio
        async with SCPServer("DOCTOR", archive) as srv:
            t = threading.Thread(target=client, args=(srv.port,))
            t.start()
            await asyncio.get_running_loop().run_in_executor(None, t.join)  # the client's end, no polling
    arun(go())
    assert results["established"] and results["echo"] == 0
    assert results["store"] == [0, 0, 0] and len(archive.received) == 3
    assert [r[0] for r in results["find"]] == [0xFF00, 0x0000]

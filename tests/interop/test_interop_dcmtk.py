"""Interop with dcmtk 3.6.7 (/usr/bin): storescp and dcmqrscp as peers of our SCU; echoscu, storescu, findscu
and movescu as clients of our SCP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomdoctor.net import (ArchiveSCP, AssociationAborted, AssociationRejected, SCPServer, StorageSCP, Timeouts,
                             associate, retrieve_contexts)
from dicomdoctor.target import Target
import peers
from peers import arun

pytestmark = pytest.mark.interop
VERIFICATION = "1.2.840.10008.1.1"
FAST = Timeouts(connect=3, association=5, dimse=10, release=3)


def tgt(peer: Any, ae: str | None = None) -> Target:
    return Target(peer.host, peer.port, ae or peer.ae_title)


def test_echo_and_store_to_storescp(storescp, ct_files: list[Path]) -> None:
    peer = storescp("--max-pdu", "8192")

    async def go() -> Any:
        async with await associate(tgt(peer), [VERIFICATION, CTImageStorage], timeouts=FAST) as a:
            return a, await a.echo(), [await a.store(p) for p in ct_files]
    a, echo, stores = arun(go())
    assert echo.ok and all(s.ok for s in stores)
    assert a.peer_max_pdu == 8192
    assert a.peer_implementation_class_uid.startswith("1.2.276.0.7230010.3")  # OFFIS dcmtk
    assert a.peer_implementation_version_name.startswith("OFFIS_DCMTK")
    assert a.violations == []
    written = sorted(peer.extra["out_dir"].iterdir())
    assert len(written) == 3
    # dcmtk re-parsed what we sent as-is from the files: same pixel bytes.
    import pydicom
    assert pydicom.dcmread(written[0]).PixelData == pydicom.dcmread(ct_files[0]).PixelData


def test_storescp_refuse_is_a_reject(storescp) -> None:
    peer = storescp("--refuse")
    with pytest.raises(AssociationRejected) as err:
        arun(associate(tgt(peer), [VERIFICATION], timeouts=FAST))
    assert err.value.result in (1, 2)


def test_storescp_abort_after_store(storescp, ct_files: list[Path]) -> None:
    peer = storescp("--abort-after")

    async def go() -> None:
        async with await associate(tgt(peer), [CTImageStorage], timeouts=FAST) as a:
            await a.store(ct_files[0])
            await a.store(ct_files[1])
    with pytest.raises(AssociationAborted):
        arun(go())


def test_dcmqrscp_find_move_get(dcmqrscp, ct_files: list[Path]) -> None:
    dest = StorageSCP()

    async def go() -> dict[str, Any]:
        async with SCPServer("DOCTOR", dest) as srv:
            qr = dcmqrscp(hosts={"DOCTOR": ("127.0.0.1", srv.port)}, preload=ct_files)
            gctx, roles = retrieve_contexts("study", [CTImageStorage])
            contexts = [VERIFICATION, "StudyRootQueryRetrieveInformationModelFind",
                        "StudyRootQueryRetrieveInformationModelMove", *gctx]
            async with await associate(tgt(qr), contexts, roles=roles, timeouts=FAST) as a:
                found = await a.find("SERIES", {"PatientID": "DDTEST01", "SeriesInstanceUID": "",
                                                 "StudyInstanceUID": ""}).all()
                study = found[0].identifier.StudyInstanceUID
                moved = await a.move("STUDY", {"StudyInstanceUID": study}, "DOCTOR")
                unknown = await a.move("STUDY", {"StudyInstanceUID": study}, "NOWHERE")
                got: list[str] = []
                fetched = await a.get("STUDY", {"StudyInstanceUID": study},
                                      lambda rq, data, ts: got.append(rq.affected_sop_instance_uid) or 0)
            return dict(found=found, moved=moved, unknown=unknown, fetched=fetched, got=got)
    r = arun(go())
    assert [x.category for x in r["found"]] == ["pending", "success"]
    assert r["moved"].final.ok and r["moved"].completed == 3 and len(dest.received) == 3
    assert dest.received[0].calling_ae == "QRSCP"
    assert r["unknown"].final.status == 0xA801 and r["unknown"].final.category == "failure"
    assert r["fetched"].final.ok and r["fetched"].completed == 3 and len(r["got"]) == 3


async def _run(*argv: str, timeout: float = 20) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace")


def test_dcmtk_clients_against_our_scp(tmp_path: Path, ct_files: list[Path]) -> None:
    archive = ArchiveSCP(tmp_path / "in")

    async def go() -> dict[str, Any]:
        async with SCPServer("DOCTOR", archive) as srv:
            p = str(srv.port)
            echo = await _run(peers.ECHOSCU, "-aec", "DOCTOR", "127.0.0.1", p)
            store = await _run(peers.STORESCU, "-aec", "DOCTOR", "127.0.0.1", p, *map(str, ct_files))
            implicit = await _run(peers.STORESCU, "-xi", "-aec", "DOCTOR", "127.0.0.1", p, str(ct_files[0]))
            find = await _run(peers.FINDSCU, "-v", "-S", "-aec", "DOCTOR", "-k", "QueryRetrieveLevel=STUDY",
                              "-k", "PatientID=DDTEST01", "-k", "StudyInstanceUID", "127.0.0.1", p)
            get = await _run(peers.GETSCU, "-S", "-aec", "DOCTOR", "-od", str(tmp_path), "-k",
                             "QueryRetrieveLevel=STUDY", "-k", "PatientID=DDTEST01", "127.0.0.1", p)
            return dict(echo=echo, store=store, implicit=implicit, find=find, get=get, records=srv.records)
    r = arun(go())
    for name in ("echo", "store", "implicit", "find", "get"):
        assert r[name][0] == 0, f"{name}: {r[name][1]}"
    assert "Find Response: 1 (Pending)" in r["find"][1]
    # The implicit-VR resend of the first file is kept beside it ("-2"): a receiver never overwrites.
    assert len(list((tmp_path / "in").glob("*.dcm"))) == 4
    assert len(list(tmp_path.glob("CT.*"))) == 3           # getscu wrote what our C-GET sent back
    assert all(rec.ended == "released" for rec in r["records"])
    # what dcmtk sent and we wrote is a readable Part-10 file
    import pydicom
    ds = pydicom.dcmread(next((tmp_path / "in").glob("*.dcm")))
    assert ds.PatientID == "DDTEST01" and ds.file_meta.TransferSyntaxUID in (ExplicitVRLittleEndian,
                                                                            ImplicitVRLittleEndian)

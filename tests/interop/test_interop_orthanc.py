"""Interop with Orthanc 1.10.1 (/usr/sbin/Orthanc): echo, store, find, move, get, AE title checks, TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydicom.uid import CTImageStorage

from dicomdoctor.net import (AssociationRejected, SCPServer, StorageSCP, TLSHandshakeFailed, Timeouts, associate,
                             retrieve_contexts)
from dicomdoctor.target import Target, TLSOptions
from peers import arun

pytestmark = pytest.mark.interop
VERIFICATION = "1.2.840.10008.1.1"
FAST = Timeouts(connect=3, association=5, dimse=10, release=3)


def test_orthanc_store_find_move_get(orthanc, ct_files: list[Path]) -> None:
    dest = StorageSCP()

    async def go() -> dict[str, Any]:
        async with SCPServer("DOCTOR", dest) as srv:
            pacs = orthanc(DicomAlwaysAllowFind=True, DicomAlwaysAllowMove=True, DicomAlwaysAllowGet=True,
                           modalities={"doctor": ["DOCTOR", "127.0.0.1", srv.port]})
            gctx, roles = retrieve_contexts("study", [CTImageStorage])
            contexts = [VERIFICATION, CTImageStorage, "StudyRootQueryRetrieveInformationModelFind",
                        "StudyRootQueryRetrieveInformationModelMove", *gctx]
            async with await associate(Target(pacs.host, pacs.port, "ORTHANC", calling_ae="DOCTOR"), contexts,
                                       roles=roles, timeouts=FAST) as a:
                out: dict[str, Any] = {"assoc": a, "echo": await a.echo()}
                out["stores"] = [await a.store(p) for p in ct_files]
                out["found"] = await a.find("STUDY", {"PatientID": "DDTEST01", "StudyInstanceUID": "",
                                                      "NumberOfStudyRelatedInstances": ""}).all()
                study = out["found"][0].identifier.StudyInstanceUID
                out["moved"] = await a.move("STUDY", {"StudyInstanceUID": study}, "DOCTOR")
                out["unknown"] = await a.move("STUDY", {"StudyInstanceUID": study}, "NOWHERE")
                got: list[int] = []
                out["fetched"] = await a.get("STUDY", {"StudyInstanceUID": study},
                                             lambda rq, data, ts: got.append(len(data)) or 0)
                out["got"] = got
            return out
    r = arun(go())
    a = r["assoc"]
    assert a.peer_implementation_version_name.startswith("OFFIS_DCMTK")  # Orthanc reports its toolkit
    assert r["echo"].ok and all(s.ok for s in r["stores"])
    assert [f.category for f in r["found"]] == ["pending", "success"]
    assert str(r["found"][0].identifier.NumberOfStudyRelatedInstances) == "3"
    assert r["moved"].final.ok and r["moved"].completed == 3 and len(dest.received) == 3
    assert r["unknown"].final.category == "failure"
    assert r["fetched"].final.ok and r["fetched"].completed == 3 and len(r["got"]) == 3


def test_orthanc_checks_the_called_ae(orthanc) -> None:
    pacs = orthanc(DicomCheckCalledAet=True)
    with pytest.raises(AssociationRejected) as err:
        arun(associate(Target(pacs.host, pacs.port, "WRONG"), [VERIFICATION], timeouts=FAST))
    assert (err.value.source, err.value.reason) == (1, 7)

    async def ok() -> bool:
        async with await associate(Target(pacs.host, pacs.port, "ORTHANC"), [VERIFICATION], timeouts=FAST) as a:
            return (await a.echo()).ok
    assert arun(ok())


def test_orthanc_tls_echo(orthanc, session_certs) -> None:
    server = session_certs.server("orthanc")
    client = session_certs.client("doctor")
    pacs = orthanc(tls=server, tls_client_required=True)
    ca = str(session_certs.ca_cert)

    async def echo(opts: TLSOptions) -> Any:
        async with await associate(Target(pacs.host, pacs.port, "ORTHANC", tls=opts), [VERIFICATION],
                                   timeouts=FAST) as a:
            return a.tls_info, await a.echo()
    info, rsp = arun(echo(TLSOptions(ca=ca, cert=str(client.cert), key=str(client.key))))
    assert rsp.ok and info["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert "CN=localhost" in info["certificate"]["subject"]
    with pytest.raises(TLSHandshakeFailed) as err:
        arun(echo(TLSOptions(ca=ca)))
    assert err.value.outcome == "client-cert-required"
    with pytest.raises(TLSHandshakeFailed) as err:
        arun(echo(TLSOptions(ca=ca, cert=str(client.cert), key=str(client.key), server_name="pacs.invalid")))
    assert err.value.outcome == "hostname-mismatch"
    assert err.value.certificate is not None and "localhost" in err.value.certificate["certificate"]["san"]["dns"]


def test_tls_and_plain_mixed_up(orthanc, session_certs) -> None:
    """The two halves of "peer expects TLS" / "peer is not TLS", as a probe sees them."""
    from dicomdoctor.net import AssociationAborted, PeerProtocolError
    plain = orthanc()
    with pytest.raises(TLSHandshakeFailed) as err:
        arun(associate(Target(plain.host, plain.port, "ORTHANC", tls=TLSOptions(ca=str(session_certs.ca_cert))),
                       [VERIFICATION], timeouts=FAST))
    assert err.value.outcome == "no-tls"
    secure = orthanc(tls=session_certs.server("orthanc2"))
    with pytest.raises((AssociationAborted, PeerProtocolError)) as err2:
        arun(associate(Target(secure.host, secure.port, "ORTHANC"), [VERIFICATION], timeouts=FAST))
    text = str(err2.value)
    assert "15 03" in text or "closed" in text  # a TLS alert record where a PDU was expected, or a hang-up

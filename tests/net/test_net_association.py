"""Our SCU against our SCP, in process: every service, and every way an association can end badly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomdoctor.dimse.part10 import parse_part10_header
from dicomdoctor.net import (ArchiveSCP, AssociationAborted, AssociationRejected, AssociationTimeout,
                             NoAcceptedContext, PeerProtocolError, Reply, SCPBehaviour, SCPServer, SourceError,
                             StorageSCP, Timeouts, Trace, associate, retrieve_contexts)
from dicomdoctor.net.datasets import decode
from dicomdoctor.target import Target
from peers import arun, make_ct, write_cts

VERIFICATION = "1.2.840.10008.1.1"
FIND = "StudyRootQueryRetrieveInformationModelFind"
PFIND = "PatientRootQueryRetrieveInformationModelFind"
MOVE = "StudyRootQueryRetrieveInformationModelMove"
FAST = Timeouts(connect=2, association=2, dimse=2, release=2)


@pytest.fixture(scope="module")
def cts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_cts(tmp_path_factory.mktemp("cts"), 3)


def target(port: int, ae: str = "SCP") -> Target:
    return Target("127.0.0.1", port, ae)


def test_echo_release_and_trace() -> None:
    async def go() -> tuple[Any, Trace, Any]:
        async with SCPServer("SCP") as srv:
            trace = Trace()
            async with await associate(target(srv.port), [VERIFICATION], trace=trace) as a:
                rsp = await a.echo()
                assert a.peer_max_pdu == 16384
                assert a.peer_implementation_version_name == "DICOMDOCTOR_01"
                assert a.accepted == {1: (VERIFICATION, ExplicitVRLittleEndian)}
            await srv.idle()  # the server has seen the release and closed its record
            return rsp, trace, srv.records[0]
    rsp, trace, rec = arun(go())
    assert rsp.status == 0 and rsp.ok and rsp.status_name == "Success" and rsp.rtt_ms > 0
    types = [e.pdu_type for e in trace]
    assert types[1:] == ["A-ASSOCIATE-RQ", "A-ASSOCIATE-AC", "P-DATA-TF", "P-DATA-TF", "A-RELEASE-RQ",
                         "A-RELEASE-RP"]
    assert trace.entries[1].summary == ("A-ASSOCIATE-RQ DICOMDOCTOR -> SCP, 1 context, max PDU 16384, "
                                        "DICOMDOCTOR_01")
    assert rec.ended == "released" and rec.messages == ["C-ECHO-RQ"]


def test_store_sends_the_file_bytes_unchanged(cts: list[Path]) -> None:
    store = StorageSCP()

    async def go() -> list[Any]:
        async with SCPServer("SCP", store, max_pdu=4096) as srv:
            async with await associate(target(srv.port), [(CTImageStorage, [ExplicitVRLittleEndian])]) as a:
                assert a.peer_max_pdu == 4096
                return [await a.store(p) for p in cts]
    rsps = arun(go())
    assert [r.status for r in rsps] == [0, 0, 0]
    for path, inst in zip(cts, store.received):
        raw = path.read_bytes()
        assert inst.data == raw[parse_part10_header(raw).dataset_offset:]  # no re-encoding on the way
        assert inst.transfer_syntax == ExplicitVRLittleEndian


def test_store_reencodes_when_the_syntax_differs(cts: list[Path]) -> None:
    store = StorageSCP()

    async def go() -> list[Any]:
        async with SCPServer("SCP", store) as srv:
            async with await associate(target(srv.port), [(CTImageStorage, [ImplicitVRLittleEndian])]) as a:
                out = [await a.store(cts[0]),       # the file is explicit VR: re-encoded to implicit
                       await a.store(make_ct())]    # a pydicom Dataset
                with pytest.raises(SourceError):
                    await a.store(pydicom.Dataset())  # no SOP class / instance UIDs
                return out
    assert [r.status for r in arun(go())] == [0, 0]
    assert [i.transfer_syntax for i in store.received] == [ImplicitVRLittleEndian] * 2
    ds = decode(store.received[0].data, ImplicitVRLittleEndian)
    assert ds.PatientID == "DDTEST01" and ds.SOPInstanceUID == pydicom.dcmread(cts[0]).SOPInstanceUID


def test_no_accepted_context_is_local(cts: list[Path]) -> None:
    async def go() -> None:
        async with SCPServer("SCP") as srv:
            async with await associate(target(srv.port), [VERIFICATION]) as a:
                with pytest.raises(NoAcceptedContext):
                    await a.store(cts[0])
                assert (await a.echo()).ok  # still usable
    arun(go())


def test_find_move_get_with_an_archive(cts: list[Path]) -> None:
    archive, dest = ArchiveSCP(), StorageSCP()
    for p in cts:
        archive.add(p)

    async def go() -> dict[str, Any]:
        async with SCPServer("DEST", dest) as dsrv, SCPServer("ARCHIVE", archive) as srv:
            archive.move_destinations["DEST"] = ("127.0.0.1", dsrv.port)
            gctx, roles = retrieve_contexts("study", [CTImageStorage])
            async with await associate(target(srv.port, "ARCHIVE"), [FIND, MOVE, *gctx], roles=roles) as a:
                assert a.accepted_roles[CTImageStorage] == (0, 1)
                found = await a.find("STUDY", {"PatientID": "DDTEST01", "StudyInstanceUID": ""}).all()
                moved = await a.move("STUDY", {"PatientID": "DDTEST01"}, "DEST")
                unknown = await a.move("STUDY", {"PatientID": "DDTEST01"}, "NOBODY")
                got: list[int] = []
                fetched = await a.get("STUDY", {"PatientID": "DDTEST01"},
                                      lambda rq, data, ts: got.append(len(data)) or 0)
                return dict(found=found, moved=moved, unknown=unknown, got=got, fetched=fetched)
    r = arun(go())
    assert [x.status for x in r["found"]] == [0xFF00, 0x0000]
    assert r["found"][0].identifier.StudyInstanceUID
    assert r["moved"].final.ok and r["moved"].completed == 3 and r["moved"].failed == 0
    # Counts, not responses: the last pending response is kept, all of them are counted.
    assert r["moved"].pending_count == 2 and len(r["moved"].pending) == 1 and len(dest.received) == 3
    assert r["unknown"].final.status == 0xA801 and r["unknown"].final.category == "failure"
    assert "NOBODY" in r["unknown"].final.error_comment
    assert r["fetched"].final.ok and r["fetched"].completed == 3 and len(r["got"]) == 3
    assert [s[2] for s in r["fetched"].stores] == [0, 0, 0]


def test_find_cancel() -> None:
    class Many(SCPBehaviour):
        async def on_find(self, ctx, rq, identifier):  # type: ignore[override]
            i = 0
            while True:  # endless: only the C-CANCEL can end this query
                i += 1
                ds = pydicom.Dataset()
                ds.PatientID = f"P{i}"
                await asyncio.sleep(0)
                yield 0xFF00, ds

    async def go() -> Any:
        async with SCPServer("SCP", Many()) as srv:
            async with await associate(target(srv.port), [PFIND]) as a:
                q = a.find("PATIENT", {"PatientID": ""}, "patient")
                n = 0
                async for rsp in q:
                    n += 1
                    if n == 3:
                        await q.cancel()
                return q
    q = arun(go())
    assert q.final is not None and q.final.status == 0xFE00 and q.final.category == "cancel"
    assert len(q.matches) >= 3


def test_reject_names_result_source_reason() -> None:
    class Strict(SCPBehaviour):
        check_called_ae = True

    async def go() -> None:
        async with SCPServer("REAL", Strict()) as srv:
            await associate(target(srv.port, "WRONG"), [VERIFICATION], timeouts=FAST)
    with pytest.raises(AssociationRejected) as err:
        arun(go())
    e = err.value
    assert (e.result, e.source, e.reason) == (1, 1, 7)
    assert e.reason_name == "called-AE-title-not-recognized"
    assert e.evidence()["result_name"] == "rejected-permanent"


def test_abort_by_the_peer_mid_operation(cts: list[Path]) -> None:
    class Aborting(StorageSCP):
        async def before_response(self, ctx, msg):  # type: ignore[override]
            await ctx.abort(2, 0)

    async def go() -> None:
        async with SCPServer("SCP", Aborting()) as srv:
            async with await associate(target(srv.port), [CTImageStorage], timeouts=FAST) as a:
                await a.store(cts[0])
    with pytest.raises(AssociationAborted) as err:
        arun(go())
    assert err.value.source == 2 and err.value.reason == 0 and err.value.pdu is not None


def test_our_abort_is_seen_by_the_scp() -> None:
    async def go() -> str:
        async with SCPServer("SCP") as srv:
            a = await associate(target(srv.port), [VERIFICATION])
            await a.echo()
            await a.abort()
            await srv.idle()
            return srv.records[0].ended
    assert arun(go()) == "aborted"


def test_association_timeout_when_the_peer_stays_silent() -> None:
    class Silent(SCPBehaviour):
        async def on_connection(self, peer, writer):  # type: ignore[override]
            await asyncio.Event().wait()  # silent for good: only our association timeout ends this
            return True

    async def go() -> None:
        async with SCPServer("SCP", Silent()) as srv:
            await associate(target(srv.port), [VERIFICATION], timeouts=Timeouts(2, 0.3, 1, 1))
    with pytest.raises(AssociationTimeout) as err:
        arun(go())
    assert err.value.phase == "association"


def test_dimse_timeout() -> None:
    class Slow(SCPBehaviour):
        async def before_response(self, ctx, msg):  # type: ignore[override]
            await asyncio.Event().wait()  # never answers: only our DIMSE timeout ends this

    async def go() -> str:
        async with SCPServer("SCP", Slow()) as srv:
            a = await associate(target(srv.port), [VERIFICATION], timeouts=Timeouts(2, 2, 0.3, 1))
            try:
                await a.echo()
            finally:
                state = a.state
            return state
    with pytest.raises(AssociationTimeout) as err:
        arun(go())
    assert err.value.phase == "dimse"


def test_failure_status_with_comment_and_offending_element(cts: list[Path]) -> None:
    class Picky(StorageSCP):
        async def on_store(self, ctx, rq, dataset, ts):  # type: ignore[override]
            return Reply(0xA900, error_comment="SOP class mismatch", offending_element=(0x00080016,))

    async def go() -> Any:
        async with SCPServer("SCP", Picky()) as srv:
            async with await associate(target(srv.port), [CTImageStorage]) as a:
                return await a.store(cts[0])
    rsp = arun(go())
    assert rsp.status == 0xA900 and rsp.category == "failure"
    assert rsp.error_comment == "SOP class mismatch" and rsp.offending_element == (0x00080016,)
    ev = rsp.evidence()
    assert ev["error_comment"] == "SOP class mismatch" and ev["status_hex"] == "0xA900"


def test_pdu_length_violation_is_recorded_not_fatal() -> None:
    class Oversize(SCPBehaviour):
        async def on_find(self, ctx, rq, identifier):  # type: ignore[override]
            ctx.channel.peer_max_pdu = 0  # ignore the requestor's maximum (a broken peer)
            ds = pydicom.Dataset()
            ds.PatientID = "X"
            ds.PatientComments = "x" * 10000
            yield 0xFF00, ds

    async def go() -> Any:
        async with SCPServer("SCP", Oversize()) as srv:
            async with await associate(target(srv.port), [FIND], max_pdu=4096) as a:
                rsps = await a.find("PATIENT", {"PatientID": "", "PatientComments": ""}).all()
                return rsps, list(a.violations), a.channel.largest_pdata
    rsps, violations, largest = arun(go())
    assert [r.status for r in rsps] == [0xFF00, 0]
    assert rsps[0].identifier.PatientComments.startswith("xxx")
    assert any(v.code == "pdu-length-violation" for v in violations)
    assert largest > 4096


def test_garbage_from_the_peer_is_a_protocol_error() -> None:
    class Garbage(SCPBehaviour):
        async def before_response(self, ctx, msg):  # type: ignore[override]
            ctx.writer.write(b"\x42" * 20)
            await asyncio.Event().wait()  # no real answer follows: the garbage is all the client gets

    async def go() -> None:
        async with SCPServer("SCP", Garbage()) as srv:
            async with await associate(target(srv.port), [VERIFICATION], timeouts=FAST) as a:
                await a.echo()
    with pytest.raises(PeerProtocolError) as err:
        arun(go())
    assert "0x42" in err.value.violation.message


def test_peer_closes_without_abort() -> None:
    class Hangup(SCPBehaviour):
        async def before_response(self, ctx, msg):  # type: ignore[override]
            ctx.channel.abort_transport()
            raise asyncio.CancelledError

    async def go() -> None:
        async with SCPServer("SCP", Hangup()) as srv:
            async with await associate(target(srv.port), [VERIFICATION], timeouts=FAST) as a:
                await a.echo()
    with pytest.raises(AssociationAborted) as err:
        arun(go())
    assert err.value.source is None and err.value.pdu is None


def test_refused_by_on_connection() -> None:
    class Closed(SCPBehaviour):
        async def on_connection(self, peer, writer):  # type: ignore[override]
            return False

    async def go() -> None:
        async with SCPServer("SCP", Closed()) as srv:
            await associate(target(srv.port), [VERIFICATION], timeouts=FAST)
    with pytest.raises(AssociationAborted) as err:
        arun(go())
    assert err.value.phase == "association"


def test_reset_after_the_request_is_an_abort_without_pdu() -> None:
    import socket
    import struct
    import threading

    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)

    def rst() -> None:
        conn, _ = ls.accept()
        conn.recv(4096)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
        conn.close()
    th = threading.Thread(target=rst, daemon=True)
    th.start()
    try:
        with pytest.raises(AssociationAborted) as err:
            arun(associate(target(ls.getsockname()[1]), [VERIFICATION], timeouts=FAST))
        assert err.value.pdu is None and "reset" in err.value.detail.lower()
    finally:
        th.join(2)
        ls.close()


def test_big_files_are_streamed_from_disk(cts: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from dicomdoctor.net import datasets
    monkeypatch.setattr(datasets, "READ_WHOLE_LIMIT", 1024)  # every file counts as big
    monkeypatch.setattr(datasets, "STREAM_CHUNK", 3000)       # several chunks per file
    store = StorageSCP()

    async def go() -> Any:
        async with SCPServer("SCP", store, max_pdu=4096) as srv:
            async with await associate(target(srv.port), [CTImageStorage]) as a:
                return await a.store(cts[1])
    assert arun(go()).ok
    raw = cts[1].read_bytes()
    assert store.received[0].data == raw[parse_part10_header(raw).dataset_offset:]


def test_ipv6_scp_and_scu() -> None:
    import socket
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1")

    async def go() -> Any:
        async with SCPServer("SCP") as srv:
            await srv.close()
            port = await srv.start("::1", 0)
            async with await associate(Target("::1", port, "SCP"), [VERIFICATION]) as a:
                return a.address, await a.echo()
    address, rsp = arun(go())
    assert address[0] == "::1" and rsp.ok


def test_trace_is_bounded_and_summarises_messages(cts: list[Path]) -> None:
    trace = Trace(max_entries=10)

    async def go() -> None:
        async with SCPServer("SCP", StorageSCP(), max_pdu=4096) as srv:
            async with await associate(target(srv.port), [CTImageStorage], max_pdu=4096, trace=trace) as a:
                for _ in range(5):
                    await a.store(cts[0])
    arun(go())
    assert len(trace) == 10 and trace.dropped > 0
    store_rq = next(e for e in trace if e.summary.startswith("C-STORE-RQ"))
    assert "data set 8,740 bytes in 4 PDUs" in store_rq.summary  # 1 command PDU + 3 data PDUs of <= 4090
    assert store_rq.length > 8740 and trace.lines()[-1].startswith("...")


def test_a_find_left_early_does_not_confuse_the_next_operation() -> None:
    class Few(SCPBehaviour):
        async def on_find(self, ctx, rq, identifier):  # type: ignore[override]
            for i in range(5):
                ds = pydicom.Dataset()
                ds.PatientID = f"P{i}"
                yield 0xFF00, ds

    async def go() -> Any:
        async with SCPServer("SCP", Few()) as srv:
            async with await associate(target(srv.port), [PFIND, VERIFICATION]) as a:
                async for rsp in a.find("PATIENT", {"PatientID": ""}, "patient"):
                    break  # stop at the first match; four more and a final are on their way
                echo = await a.echo()
                return echo, list(a.violations)
    echo, violations = arun(go())
    assert echo.ok and violations == []

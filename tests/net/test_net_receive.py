"""Receiving: what an SCP writes to --out (unique visible names, a failure status for what it did not write),
a C-FIND the behaviour cannot match (a failure status, not an abort), C-STORE data spooled as it arrives."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from dicomdoctor.net import SCPBehaviour, SCPServer, StorageSCP, Timeouts, associate
from dicomdoctor.net.storage import instance_file_name, write_instance
from dicomdoctor.target import Target
from peers import arun, make_ct

CT = "1.2.840.10008.5.1.4.1.1.2"
FIND = "StudyRootQueryRetrieveInformationModelFind"
FAST = Timeouts(connect=5, association=5, dimse=10, release=5)


@pytest.mark.parametrize("uid, name", [("1.2.3", "1.2.3"), ("..", "instance"), ("...", "instance"),
                                       ("1.2/../3", "1.2..3"), (".1.2", "1.2"), ("", "instance")])
def test_file_names_are_visible_and_safe(uid: str, name: str) -> None:
    assert instance_file_name(uid) == name


def test_colliding_uids_get_unique_names_and_bad_uids_are_refused(tmp_path: Path) -> None:
    paths = [write_instance(tmp_path, CT, uid, "1.2.840.10008.1.2", b"\x08\x00\x16\x00\x00\x00\x00\x00")
             for uid in ("1.2.3", "1.2.3", "1.2.3")]
    assert len({p.name for p in paths}) == 3 and all(p.exists() for p in paths)
    for bad in ("", "..", "1.2.3\\", "1.02.3"):
        with pytest.raises(ValueError):
            write_instance(tmp_path, CT, bad, "1.2.840.10008.1.2", b"")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(list(tmp_path.iterdir())) == 3


def test_storage_scp_answers_failure_for_an_empty_uid_and_goes_on(tmp_path: Path) -> None:
    ds = make_ct()

    async def go() -> Any:
        scp = StorageSCP(tmp_path)
        async with SCPServer("DEST", scp) as srv:
            assoc = await associate(Target("127.0.0.1", srv.port, "DEST"), [CT], timeouts=FAST)
            good = await assoc.store(ds)
            # A C-STORE-RQ with an empty Affected SOP Instance UID, as a broken C-MOVE SCP sends it.
            from dicomdoctor.dimse.messages import CStoreRQ
            from dicomdoctor.net.datasets import encode
            cid, ts = assoc.context_for(CT)
            await assoc._send(cid, CStoreRQ(message_id=99, affected_sop_class_uid=CT,
                                            affected_sop_instance_uid=""), encode(ds, ts))
            bad = assoc._make_response(await assoc._response(99), 0.0)
            again = await assoc.store(ds)  # the association survived the refusal
            await assoc.release()
            return good, bad, again, scp
    good, bad, again, scp = arun(go())
    assert good.ok and again.ok and bad.category == "failure"
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and len(set(files)) == 2 and len(scp.received) == 2


class _Broken(SCPBehaviour):
    async def on_find(self, ctx: Any, rq: Any, identifier: Any) -> AsyncIterator[tuple[int, Any]]:
        raise ValueError("cannot match this")
        yield 0xFF00, None  # pragma: no cover - makes this an async generator


def test_an_identifier_the_scp_cannot_match_gets_a_failure_status() -> None:
    async def go() -> Any:
        async with SCPServer("SCP", _Broken()) as srv:
            assoc = await associate(Target("127.0.0.1", srv.port, "SCP"), [FIND], timeouts=FAST)
            rsps = await assoc.find("STUDY", {"PatientID": "X"}).all()
            await assoc.release()
            return rsps
    rsps = arun(go())
    assert rsps[-1].status == 0xC000 and "identifier not understood" in (rsps[-1].error_comment or "")


def test_received_c_store_data_is_spooled_not_buffered(tmp_path: Path) -> None:
    """A C-STORE data set goes through the channel's spool (SpooledTemporaryFile) as it arrives; the
    Reassembler holds none of it."""
    ds = make_ct()
    seen: list[int] = []

    class Probe(StorageSCP):
        async def on_store(self, ctx: Any, rq: Any, dataset: bytes, ts: str) -> Any:
            r = ctx.channel.reassembler
            seen.append(len(r._data))  # nothing of the data set sits in the reassembler's buffer
            return await super().on_store(ctx, rq, dataset, ts)

    async def go() -> Any:
        async with SCPServer("DEST", Probe(tmp_path)) as srv:
            assoc = await associate(Target("127.0.0.1", srv.port, "DEST"), [CT], timeouts=FAST)
            rsp = await assoc.store(ds)
            await assoc.release()
            return rsp
    assert arun(go()).ok and seen == [0]

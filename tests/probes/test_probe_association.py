"""probes.firstbytes / probes.association against misbehaving peers: every case is a fact, bounded in time,
never an exception."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import fakepeers as fp  # noqa: E402

from dicomdoctor.probes.association import ContextProposal, probe_association, proposals_matrix  # noqa: E402
from dicomdoctor.probes.firstbytes import Kind, classify  # noqa: E402


# ------------------------------------------------------------------------------------------ pure classify

@pytest.mark.parametrize("data, kind", [
    (b"\x02\x00\x00\x00\x00\xba\x00\x01", Kind.DICOM),                # A-ASSOCIATE-AC header
    (b"\x03\x00\x00\x00\x00\x04\x00\x01\x01\x07", Kind.DICOM),        # RJ 1/1/7
    (b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00", Kind.DICOM),        # A-ABORT
    (b"\x04\x00\x00\x00\x00\x10", Kind.DICOM_UNEXPECTED),             # P-DATA-TF before any AC
    (b"\x15\x03\x03\x00\x02\x02\x46", Kind.TLS),                      # TLS alert (protocol_version)
    (b"\x16\x03\x01\x00\x50", Kind.TLS),                              # TLS handshake record
    (fp.HTTP_ANSWER, Kind.HTTP),
    (fp.SSH_BANNER, Kind.SSH),
    (b"220 smtp.example.org ESMTP\r\n", Kind.TEXT),
    (fp.GARBAGE, Kind.GARBAGE),
])
def test_classify_first_bytes(data: bytes, kind: Kind) -> None:
    assert classify(data).kind is kind


def test_classify_without_bytes() -> None:
    assert classify(b"", eof=True).kind is Kind.CLOSED
    assert classify(b"", reset=True).kind is Kind.RESET
    assert classify(b"", timed_out=True).kind is Kind.SILENCE
    tls = classify(b"\x15\x03\x03\x00\x02\x02\x46")
    assert "alert" in tls.detail and "description 70" in tls.detail


# ------------------------------------------------------------------------------------- against fake peers

def probe(peer: fp.FakePeer, timeout: float = 2.0, **kw: object):
    kw.setdefault("called_ae", "FAKE")
    kw.setdefault("calling_ae", "DOCTOR")
    return asyncio.run(probe_association(peer.host, peer.port, timeout=timeout, connect_timeout=2.0, **kw))


def test_accepted_with_contexts_and_identity() -> None:
    def result_for(cid: int, abstract: str, ts: tuple[str, ...]) -> int:
        return 0 if ts[0] == "1.2.840.10008.1.2" else 4
    with fp.FakePeer(fp.accept_ac(max_length=4096, result_for=result_for)) as peer:
        props = proposals_matrix(["1.2.840.10008.1.1"], ["1.2.840.10008.1.2", "1.2.840.10008.1.2.4.50"])
        f = probe(peer, proposals=props)
    assert f.outcome == "accepted" and f.release == "released"
    assert f.peer_max_pdu == 4096
    assert (f.implementation_class_uid, f.implementation_version_name) == ("1.2.3.4", "FAKE_1")
    assert [(c.context_id, c.result) for c in f.contexts] == [(1, 0), (3, 4)]
    assert f.contexts[1].transfer_syntax == "1.2.840.10008.1.2.4.50"


def test_rejected_keeps_raw_codes() -> None:
    with fp.FakePeer(fp.reject(1, 1, 7)) as peer:
        f = probe(peer)
    assert f.outcome == "rejected"
    assert f.reject is not None and f.reject.to_json_dict()["reason_name"] == "called-AE-title-not-recognized"


def test_aborted() -> None:
    with fp.FakePeer(fp.abort(2, 1)) as peer:
        f = probe(peer)
    assert f.outcome == "aborted" and f.abort is not None and f.abort.reason == 1


def test_silence_is_bounded() -> None:
    with fp.FakePeer(fp.silence) as peer:  # silent until we close: only our 0.5 s timeout ends the probe
        f = probe(peer, timeout=0.5)
    assert f.outcome == "silence"


def test_immediate_close() -> None:
    with fp.FakePeer(fp.close_at_once) as peer:
        f = probe(peer)
    assert f.outcome in ("closed", "reset")


@pytest.mark.parametrize("data, kind", [(fp.HTTP_ANSWER, Kind.HTTP), (fp.SSH_BANNER, Kind.SSH),
                                        (fp.GARBAGE, Kind.GARBAGE), (b"\x15\x03\x03\x00\x02\x02\x46", Kind.TLS)])
def test_not_dicom(data: bytes, kind: Kind) -> None:
    with fp.FakePeer(fp.send_after_rq(data)) as peer:
        f = probe(peer)
    assert f.outcome == "not-dicom" and f.first is not None and f.first.kind is kind


def test_four_gigabyte_claim_is_not_read() -> None:
    with fp.FakePeer(fp.send_after_rq(fp.HUGE_AC)) as peer:  # refused from the header: no byte of it is read
        f = probe(peer)
    assert f.outcome == "malformed"
    assert str(0xFFFFFFF0) in f.malformed and "A-ASSOCIATE-AC" in f.malformed


def test_malformed_ac_item_names_item_and_offset() -> None:
    with fp.FakePeer(fp.send_after_rq(fp.malformed_ac())) as peer:
        f = probe(peer)
    assert f.outcome == "malformed"
    assert "offset" in f.malformed


def test_truncated_pdu() -> None:
    with fp.FakePeer(fp.send_after_rq(fp.malformed_ac()[:40], linger=0.1)) as peer:
        f = probe(peer)
    assert f.outcome == "malformed" and "middle of a PDU" in f.malformed


def test_pdata_above_our_maximum_is_a_violation() -> None:
    big = bytes([0x04, 0]) + (20000).to_bytes(4, "big") + b"\x00" * 20000
    with fp.FakePeer(fp.accept_ac(after_ac=big)) as peer:
        f = probe(peer, our_max_pdu=16384)
    assert f.outcome == "accepted"
    assert f.length_violations and f.length_violations[0]["length"] == 20000


def test_refused_port() -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    f = asyncio.run(probe_association("127.0.0.1", port, called_ae="X", calling_ae="Y", timeout=1))
    assert f.outcome == "connect-failed" and f.connect_outcome == "refused"


def test_more_than_128_contexts_is_our_error() -> None:
    with pytest.raises(ValueError):
        asyncio.run(probe_association("127.0.0.1", 1, called_ae="X", calling_ae="Y",
                                      proposals=[ContextProposal("1.2.3", ("1.2.840.10008.1.2",))] * 129))


def test_builtin_uid_table_agrees_with_pydicom() -> None:
    from pydicom._uid_dict import UID_dictionary

    from dicomdoctor.probes.contexts import (BUILTIN_UIDS, DEFAULT_ABSTRACT_SYNTAXES, DEFAULT_TRANSFER_SYNTAXES)

    by_keyword = {entry[4]: uid for uid, entry in UID_dictionary.items() if entry[4]}
    assert set(DEFAULT_ABSTRACT_SYNTAXES) | set(DEFAULT_TRANSFER_SYNTAXES) <= set(BUILTIN_UIDS)
    for keyword, uid in BUILTIN_UIDS.items():
        assert by_keyword[keyword] == uid, keyword

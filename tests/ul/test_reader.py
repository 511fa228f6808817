"""PDUReader: caps checked from the header alone, split and merged feeds, linear cost on big streams."""

from __future__ import annotations

import tracemalloc

import pytest

from dicomdoctor.ul import (
    ASSOCIATION_PDU_CAP,
    AReleaseRQ,
    MalformedPDU,
    PDataTF,
    PDUReader,
    PDUTooLarge,
    PDV,
    UnrecognizedPDU,
    encode_pdu,
    oversized_pdata_header,
    raw_pdu,
)

from .golden import ABORT, ASSOCIATE_AC, ASSOCIATE_RQ, PDATA_ECHO_RQ, RELEASE_RQ, h

STREAM = [ASSOCIATE_RQ, ASSOCIATE_AC, PDATA_ECHO_RQ, RELEASE_RQ, ABORT]


def test_gigabyte_claim_raises_before_any_body_arrives() -> None:
    r = PDUReader(16384)
    tracemalloc.start()
    try:
        r.feed(oversized_pdata_header(0xFFFFFFFF))
        with pytest.raises(PDUTooLarge) as info:
            r.next_pdu()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (info.value.claimed, info.value.cap) == (0xFFFFFFFF, 16384)
    assert peak < 1 << 20
    with pytest.raises(PDUTooLarge):  # framing is lost: the reader keeps saying so
        r.next_pdu()


def test_caps_by_pdu_type() -> None:
    r = PDUReader(1000)
    r.feed(raw_pdu(0x04, b"", length=1000))   # exactly the cap: accepted, waits for the body
    assert r.next_pdu() is None
    r = PDUReader(1000)
    r.feed(raw_pdu(0x04, b"", length=1001))
    with pytest.raises(PDUTooLarge):
        r.next_pdu()
    r = PDUReader(1000)                       # association PDUs have their own generous cap
    r.feed(raw_pdu(0x01, b"", length=ASSOCIATION_PDU_CAP))
    assert r.next_pdu() is None
    r = PDUReader(1000)
    r.feed(raw_pdu(0x02, b"", length=ASSOCIATION_PDU_CAP + 1))
    with pytest.raises(PDUTooLarge):
        r.next_pdu()
    r = PDUReader(0)                          # 0 = "no limit": bounded by the documented cap
    assert r.pdata_cap == r.unlimited_cap == 128 << 20


def test_byte_by_byte_feed() -> None:
    r = PDUReader(16384)
    got = []
    for raw in STREAM:
        for i in range(len(raw)):
            r.feed(raw[i:i + 1])
            pdu = r.next_pdu()
            if pdu is not None:
                got.append(pdu)
                assert i == len(raw) - 1
                assert r.last_raw == raw
    assert [type(p).__name__ for p in got] == ["AAssociateRQ", "AAssociateAC", "PDataTF", "AReleaseRQ", "AAbort"]
    assert r.buffered == 0 and r.pdus_read == 5


def test_many_pdus_in_one_feed_and_trace_bytes() -> None:
    r = PDUReader(16384)
    r.feed(b"".join(STREAM * 20) + PDATA_ECHO_RQ[:9])
    pdus = []
    while (pdu := r.next_pdu()) is not None:
        pdus.append(pdu)
    assert len(pdus) == 100 and r.buffered == 9
    assert r.last_header == ABORT[:6] and r.last_raw_head(8) == ABORT[:8]
    r.feed(PDATA_ECHO_RQ[9:])
    assert isinstance(r.next_pdu(), PDataTF) and r.last_raw_head(12) == PDATA_ECHO_RQ[:12]


def test_unknown_first_byte_reported_at_once() -> None:
    r = PDUReader()
    r.feed(b"\x16")                            # one byte of a TLS record is enough to know
    with pytest.raises(UnrecognizedPDU) as info:
        r.next_pdu()
    assert info.value.head == b"\x16"
    r = PDUReader()
    r.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(UnrecognizedPDU):
        r.next_pdu()


def test_malformed_body_is_consumed_and_kept_for_the_trace() -> None:
    r = PDUReader()
    bad = h("04 00 00000006 00000009 01 03")
    r.feed(bad + RELEASE_RQ)
    with pytest.raises(MalformedPDU):
        r.next_pdu()
    assert r.last_raw == bad
    assert r.next_pdu() == AReleaseRQ()        # the framing was sound, so the stream goes on


def test_pdv_views_survive_later_feeds() -> None:
    r = PDUReader(65536)
    first = encode_pdu(PDataTF((PDV(1, False, False, b"A" * 100),)))
    r.feed(first)
    pdu = r.next_pdu()
    assert isinstance(pdu, PDataTF)
    for _ in range(50):                        # compaction and growth must not touch the old view
        r.feed(encode_pdu(PDataTF((PDV(1, False, False, b"B" * 40000),))))
        r.next_pdu()
    assert bytes(pdu.pdvs[0].data) == b"A" * 100


def test_large_stream_is_linear() -> None:
    """64 MiB of P-DATA-TF (16 KiB PDUs) fed in 64 KiB reads, all of it decoded (the speed is a benchmark's
    business, not a pass/fail threshold here; a quadratic reader would meet the pytest timeout)."""
    payload = bytes(16384 - 6)
    one = encode_pdu(PDataTF((PDV(1, False, False, payload),)))
    stream = one * 4096
    r = PDUReader(16384)
    total = 0
    view = memoryview(stream)
    for i in range(0, len(stream), 65536):
        r.feed(view[i:i + 65536])
        while (pdu := r.next_pdu()) is not None:
            total += len(pdu.pdvs[0].data)   # type: ignore[union-attr]
    assert total == len(payload) * 4096 and r.buffered == 0


def test_one_huge_pdu_in_small_reads_is_linear() -> None:
    """A 32 MiB PDU (unlimited max) arriving 16 KiB at a time: no quadratic re-buffering."""
    body = bytes(32 << 20)
    raw = raw_pdu(0x04, (len(body) + 2).to_bytes(4, "big") + b"\x01\x02" + body)
    r = PDUReader(0)
    view = memoryview(raw)
    pdu = None
    for i in range(0, len(raw), 16384):
        r.feed(view[i:i + 16384])
        pdu = r.next_pdu() or pdu
    assert isinstance(pdu, PDataTF) and len(pdu.pdvs[0].data) == len(body)

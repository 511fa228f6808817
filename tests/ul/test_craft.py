"""craft.py builds what codec.py refuses: each probe PDU is non-conformant in exactly the stated way."""

from __future__ import annotations

import pytest

from dicomdoctor.ul import (
    AAssociateRQ,
    AReleaseRQ,
    MalformedPDU,
    PDUReader,
    PDUTooLarge,
    UnknownItem,
    ae_field,
    associate_rq_bytes,
    decode_pdu,
    item_offsets,
    many_contexts,
    oversized_pdata_header,
    raw_item,
    raw_pdu,
    truncate,
    truncated_item,
    validate,
    with_item_length,
    with_pdu_length,
)

from .golden import ASSOCIATE_RQ, h


def test_default_rq_is_conformant() -> None:
    raw = associate_rq_bytes("PACS", "DOCTOR")
    pdu = decode_pdu(raw)
    assert isinstance(pdu, AAssociateRQ) and pdu.called_ae == "PACS" and pdu.max_length == 16384
    assert validate(pdu, raw) == []


def test_over_long_ae_title_shifts_the_fixed_fields() -> None:
    assert ae_field("PACS") == b"PACS" + b" " * 12
    assert ae_field("X" * 20, width=None) == b"X" * 20
    raw = associate_rq_bytes("A" * 20, b"DOCTOR".ljust(16), ae_width=None)
    assert len(raw) == len(associate_rq_bytes("A", "DOCTOR")) + 4
    assert validate(None, raw) != []     # the 4 extra bytes land in the calling AE / reserved / items


def test_more_than_128_contexts() -> None:
    contexts = many_contexts(130)
    assert [pc.context_id for pc in contexts[126:130]] == [253, 255, 1, 3]
    raw = associate_rq_bytes("PACS", "DOCTOR", contexts=contexts)
    pdu = decode_pdu(raw)
    assert len(pdu.presentation_contexts) == 130  # type: ignore[union-attr]
    codes = {v.code for v in validate(pdu, raw)}
    assert {"too-many-contexts", "context-id-duplicate"} <= codes


def test_lying_lengths() -> None:
    longer = with_pdu_length(AReleaseRQ(), 10)
    assert longer[:6] == h("05 00 0000000a")
    with pytest.raises(MalformedPDU):
        decode_pdu(longer)
    offsets = item_offsets(ASSOCIATE_RQ)
    assert [t for _, t in offsets] == [0x10, 0x20, 0x50]
    bent = with_item_length(ASSOCIATE_RQ, offsets[1][0], 0xFFFF)
    with pytest.raises(MalformedPDU, match=f"item 0x20 at offset {offsets[1][0]}"):
        decode_pdu(bent)


def test_truncation_kinds() -> None:
    stall = truncate(ASSOCIATE_RQ, 100)
    r = PDUReader()
    r.feed(stall)
    assert r.next_pdu() is None and r.buffered == 100           # the peer would wait forever
    cut = truncate(ASSOCIATE_RQ, 110, fix_length=True)   # 7 bytes into the 46-byte context item at 99
    assert int.from_bytes(cut[2:6], "big") == 104
    with pytest.raises(MalformedPDU, match="item 0x20 at offset 99 in PDU claims 46 bytes, 7 remain"):
        decode_pdu(cut)


def test_raw_items_and_pdus() -> None:
    assert raw_item(0x51, b"", length=4, reserved=7) == h("51 07 0004")
    assert truncated_item(0x52, b"1.2.3.4", 3) == h("52 00 0007 312e32")
    assert raw_pdu(0x09, b"\x00" * 4) == h("09 00 00000004 00000000")
    odd = associate_rq_bytes("PACS", "DOCTOR", extra_items=[raw_item(0x99, b"\x01")])
    assert decode_pdu(odd).unknown_items == (UnknownItem(0x99, b"\x01"),)  # type: ignore[union-attr]
    no_ui = associate_rq_bytes("PACS", "DOCTOR", user_information=b"", application_context=None)
    codes = {v.code for v in validate(None, no_ui)}
    assert {"user-information-missing", "application-context-missing"} <= codes


def test_oversized_header_is_refused_without_the_body() -> None:
    r = PDUReader(16384)
    r.feed(oversized_pdata_header())
    with pytest.raises(PDUTooLarge):
        r.next_pdu()

"""Property tests (bounded): round trips hold, and hostile bytes only ever raise the documented errors."""

from __future__ import annotations

import struct
from io import BytesIO

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.filereader import read_dataset

from dicomdoctor.dimse import (
    COMMAND_ELEMENTS,
    CFindRSP,
    CMoveRSP,
    CStoreRQ,
    DimseProtocolError,
    Part10Error,
    Reassembler,
    decode_command,
    decode_message,
    encode_command,
    fragment,
    parse_part10_header,
)
from dicomdoctor.ul.codec import decode_pdu
from dicomdoctor.ul.pdu import PDV

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_^", min_size=1, max_size=40)
_uid = st.lists(st.integers(0, 99999), min_size=2, max_size=8).map(lambda p: ".".join(map(str, p)))
_us = st.integers(0, 0xFFFF)
_tags = st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=4).map(tuple)


def _value(vr: str):
    return {"US": _us, "UL": st.integers(0, 0xFFFFFFFF), "UI": _uid, "AT": _tags}.get(vr, _text)


_elements = st.dictionaries(
    st.sampled_from([t for t in COMMAND_ELEMENTS if t != 0 and COMMAND_ELEMENTS[t][1] not in ("IS",)]),
    st.none(), min_size=1, max_size=12,
).flatmap(lambda d: st.fixed_dictionaries({t: _value(COMMAND_ELEMENTS[t][1]) for t in d}))


@FAST
@given(_elements)
def test_command_round_trip_and_pydicom_agrees(cmd) -> None:
    raw = encode_command(cmd)
    assert decode_command(raw) == cmd
    ds = read_dataset(BytesIO(raw), is_implicit_VR=True, is_little_endian=True)
    assert ds.CommandGroupLength == len(raw) - 12
    assert len(raw) % 2 == 0


@FAST
@given(st.binary(max_size=300))
def test_decode_command_fuzz(raw: bytes) -> None:
    try:
        msg = decode_message(raw)
    except DimseProtocolError:
        return
    msg.to_command_bytes()  # whatever decoded can be re-encoded


@FAST
@given(st.one_of(
    st.builds(CStoreRQ, message_id=_us, affected_sop_class_uid=_uid, affected_sop_instance_uid=_uid,
              priority=st.integers(0, 2), move_originator_ae_title=st.none() | _text.map(lambda s: s[:16]),
              move_originator_message_id=st.none() | _us),
    st.builds(CFindRSP, message_id_being_responded_to=_us, status=_us, error_comment=st.none() | _text,
              offending_element=st.none() | _tags, error_id=st.none() | _us),
    st.builds(CMoveRSP, message_id_being_responded_to=_us, status=_us,
              number_of_remaining_suboperations=st.none() | _us,
              number_of_completed_suboperations=st.none() | _us),
))
def test_message_round_trip(msg) -> None:
    assert decode_message(msg.to_command_bytes()) == msg


CMD = CStoreRQ(message_id=1, affected_sop_class_uid="1.2", affected_sop_instance_uid="1.3").to_command_bytes()


@FAST
@given(st.integers(0, 5000), st.sampled_from([0, 7, 8, 9, 31, 64, 255, 1000, 4096]), st.integers(0, 127))
def test_fragment_reassemble_round_trip(size: int, max_pdu: int, ctx_half: int) -> None:
    data = bytes((i * 7) & 0xFF for i in range(size))
    ctx = 2 * ctx_half + 1
    stream = b"".join(bytes(c) for c in fragment(ctx, CMD, data, max_pdu))
    r = Reassembler()
    done, pos = [], 0
    while pos < len(stream):
        length = struct.unpack_from(">I", stream, pos + 2)[0]
        if max_pdu:
            assert length <= max_pdu
        done += r.add(decode_pdu(stream[pos:pos + 6 + length]))
        pos += 6 + length
    assert len(done) == 1 and done[0].dataset == data and done[0].context_id == ctx


_pdvs = st.lists(st.builds(PDV, st.sampled_from([1, 3]), st.booleans(), st.booleans(),
                           st.sampled_from([CMD, CMD[:9], CMD[9:], b"", b"data"])), max_size=12)


@FAST
@given(_pdvs)
def test_reassembler_fuzz_raises_only_protocol_errors(pdvs) -> None:
    r = Reassembler(max_dataset_bytes=64)
    try:
        for p in pdvs:
            r.add_pdv(p)
    except DimseProtocolError:
        pass


@FAST
@given(st.binary(max_size=64), st.binary(max_size=200))
def test_part10_fuzz(prefix: bytes, tail: bytes) -> None:
    for raw in (prefix, b"\x00" * 128 + b"DICM" + tail):
        try:
            parse_part10_header(raw)
        except Part10Error:
            pass

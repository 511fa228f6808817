"""Hostile input never escapes as anything but our ProtocolError subtypes (DESIGN.md: "a broken or hostile
peer is the normal case"). Example counts are kept moderate: the whole module runs in a few seconds."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dicomdoctor.ul import (
    NEED_DATA,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AsyncOpsWindow,
    PDataTF,
    PDUReader,
    PDV,
    PresentationContextAC,
    PresentationContextRQ,
    ProtocolError,
    ProtocolViolation,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    State,
    ULConnection,
    UnknownItem,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
    decode_pdu,
    encode_pdu,
    validate,
)

from .golden import (
    ABORT,
    ASSOCIATE_AC,
    ASSOCIATE_RJ,
    ASSOCIATE_RQ,
    PDATA_ECHO_RQ,
    PDATA_ECHO_RSP,
    RELEASE_RP,
    RELEASE_RQ,
    SUB_COMMON_EXT,
    SUB_IDENTITY_RQ,
    SUB_ROLE,
)

# UL_FUZZ_EXAMPLES=5000 runs a deep campaign on demand; the default keeps the suite fast.
EXAMPLES = int(os.environ.get("UL_FUZZ_EXAMPLES", "150"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = [ASSOCIATE_RQ, ASSOCIATE_AC, ASSOCIATE_RJ, PDATA_ECHO_RQ, PDATA_ECHO_RSP, RELEASE_RQ, RELEASE_RP, ABORT]

uids = st.lists(st.integers(0, 999999), min_size=1, max_size=6).map(lambda xs: "1." + ".".join(map(str, xs)))
aes = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="\\"), min_size=1,
              max_size=16)
small = st.binary(max_size=40)
user_info = st.builds(
    UserInformation, st.one_of(st.none(), st.integers(0, 2**32 - 1)), st.one_of(st.none(), uids),
    st.one_of(st.none(), st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16)),
    st.one_of(st.none(), st.builds(AsyncOpsWindow, st.integers(0, 65535), st.integers(0, 65535))),
    st.lists(st.builds(RoleSelection, uids, st.integers(0, 1), st.integers(0, 1)), max_size=3),
    st.lists(st.builds(SOPClassExtendedNegotiation, uids, small), max_size=2),
    st.lists(st.builds(SOPClassCommonExtendedNegotiation, uids, uids, st.lists(uids, max_size=3)), max_size=2),
    st.one_of(st.none(), st.builds(UserIdentityRQ, st.integers(1, 5), small, small, st.booleans())),
    st.one_of(st.none(), st.builds(UserIdentityAC, small)),
    st.lists(st.builds(UnknownItem, st.integers(0x60, 0xFF), small), max_size=2),
)
rqs = st.builds(AAssociateRQ, aes, aes, st.integers(0, 65535), uids,
                st.lists(st.builds(PresentationContextRQ, st.integers(0, 255), uids,
                                   st.lists(uids, min_size=1, max_size=3)), max_size=6),
                st.one_of(st.none(), user_info))
acs = st.builds(AAssociateAC, aes, aes, st.integers(0, 65535), uids,
                st.lists(st.builds(PresentationContextAC, st.integers(0, 255), st.integers(0, 255), uids),
                         max_size=6),
                st.one_of(st.none(), user_info))
others = st.one_of(
    st.builds(AAssociateRJ, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    st.builds(AAbort, st.integers(0, 255), st.integers(0, 255)),
    st.builds(PDataTF, st.lists(st.builds(PDV, st.integers(0, 255), st.booleans(), st.booleans(), small),
                                max_size=4)),
)
pdus = st.one_of(rqs, acs, others)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid PDU (golden, or with every sub-item) bent: bytes flipped, cut, inserted or lengths rewritten."""
    base = bytearray(draw(st.sampled_from(SEEDS + [ASSOCIATE_RQ[:-34] + bytes.fromhex("5000") + len(
        SUB_ROLE + SUB_COMMON_EXT + SUB_IDENTITY_RQ).to_bytes(2, "big") + SUB_ROLE + SUB_COMMON_EXT +
        SUB_IDENTITY_RQ])))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "length"]))
        pos = draw(st.integers(0, max(0, len(base) - 1)))
        if kind == "flip" and base:
            base[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del base[pos:pos + draw(st.integers(1, 16))]
        elif kind == "insert":
            base[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif len(base) >= 6:
            base[2:6] = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big")
    return bytes(base)


def _decode_or_protocol_error(raw: bytes) -> None:
    try:
        pdu = decode_pdu(raw)
    except ProtocolError:
        return
    # Whatever decodes leniently re-encodes, and re-decodes to the same value.
    again = encode_pdu(pdu)
    assert decode_pdu(again) == pdu
    validate(pdu, raw)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_decode(raw: bytes) -> None:
    _decode_or_protocol_error(raw)
    validate(None, raw)


@FAST
@given(mutated())
def test_mutated_pdus_decode(raw: bytes) -> None:
    _decode_or_protocol_error(raw)
    validate(None, raw)


@settings(max_examples=max(20, EXAMPLES // 2), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pdus)
def test_round_trip_of_generated_pdus(pdu: object) -> None:
    raw = encode_pdu(pdu)  # type: ignore[arg-type]
    assert decode_pdu(raw) == pdu
    assert not [v for v in validate(None, raw) if v.code in ("malformed", "item-overrun", "pdu-length")]


@FAST
@given(st.lists(st.one_of(mutated(), st.sampled_from(SEEDS), st.binary(max_size=30)), max_size=5),
       st.integers(1, 64), st.integers(0, 2**20))
def test_reader_raises_only_protocol_errors(chunks: list[bytes], step: int, cap: int) -> None:
    stream = b"".join(chunks)
    r = PDUReader(cap)
    try:
        for i in range(0, len(stream), step):
            r.feed(stream[i:i + step])
            while r.next_pdu() is not None:
                pass
    except ProtocolError:
        pass


@FAST
@given(st.sampled_from(["requestor", "acceptor"]),
       st.lists(st.one_of(mutated(), st.sampled_from(SEEDS), st.binary(max_size=30)), max_size=5),
       st.integers(1, 97), st.booleans())
def test_connection_never_raises_on_peer_bytes(role: str, chunks: list[bytes], step: int, eof: bool) -> None:
    conn = ULConnection(role, max_pdu_length=4096)
    conn.connection_made(now=0.0)
    if role == "requestor":
        conn.send(AAssociateRQ("SCP", "SCU", user_information=UserInformation(4096, "1.2")))
    stream = b"".join(chunks)
    events = []
    for i in range(0, len(stream), step):
        conn.receive_data(stream[i:i + step], now=float(i))
        while (ev := conn.next_event()) is not NEED_DATA:
            events.append(ev)
    conn.on_timer(1e9)
    if eof:
        conn.receive_data(b"")
    while (ev := conn.next_event()) is not NEED_DATA:
        events.append(ev)
    conn.data_to_send()
    if any(isinstance(e, ProtocolViolation) and e.fatal for e in events):
        assert conn.state in (State.STA1, State.STA13) or conn.must_close

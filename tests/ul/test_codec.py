"""Golden bytes, round trips and leniency of the PDU / item codec (PS3.8 §9.3, PS3.7 Annex D)."""

from __future__ import annotations

import pytest

from dicomdoctor.ul import (
    AAbort,
    AbstractSyntaxItem,
    ApplicationContextItem,
    ImplementationClassUID,
    ImplementationVersionName,
    MaximumLength,
    TransferSyntaxItem,
    decode_item,
    encode_any_item,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    AsyncOpsWindow,
    ITEM_TYPES,
    LocalProtocolError,
    MalformedPDU,
    PDataTF,
    PDV,
    PresentationContextAC,
    PresentationContextRQ,
    ProtocolError,
    RemoteProtocolError,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UnknownItem,
    UnrecognizedPDU,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
    decode_pdu,
    encode_pdu,
    encode_user_information,
    raw_item,
)

from .golden import (
    ABORT,
    ASSOCIATE_AC,
    ASSOCIATE_RJ,
    ASSOCIATE_RQ,
    ECHO_UID,
    IMPLICIT_LE,
    PDATA_ECHO_RQ,
    RELEASE_RP,
    RELEASE_RQ,
    SUB_ASYNC,
    SUB_COMMON_EXT,
    SUB_EXT,
    SUB_IDENTITY_AC,
    SUB_IDENTITY_RQ,
    SUB_ROLE,
    SUB_UNKNOWN,
    h,
)

RQ = AAssociateRQ(
    called_ae="ANY-SCP", calling_ae="ECHOSCU",
    presentation_contexts=(PresentationContextRQ(1, ECHO_UID, (IMPLICIT_LE,)),),
    user_information=UserInformation(16384, "1.2.3.4", "TEST_01"),
)
AC = AAssociateAC(
    called_ae="ANY-SCP", calling_ae="ECHOSCU",
    presentation_contexts=(PresentationContextAC(1, 0, IMPLICIT_LE),),
    user_information=UserInformation(32768, "1.2.3.4", "TEST_01"),
)

GOLDEN = [
    (ASSOCIATE_RQ, RQ),
    (ASSOCIATE_AC, AC),
    (ASSOCIATE_RJ, AAssociateRJ(1, 1, 7)),
    (RELEASE_RQ, AReleaseRQ()),
    (RELEASE_RP, AReleaseRP()),
    (ABORT, AAbort(2, 6)),
]


@pytest.mark.parametrize("raw,pdu", GOLDEN, ids=lambda x: type(x).__name__ if not isinstance(x, bytes) else "")
def test_golden_pdu_decode_and_encode(raw: bytes, pdu: object) -> None:
    assert decode_pdu(raw) == pdu
    assert encode_pdu(pdu) == raw  # type: ignore[arg-type]


def test_golden_pdata() -> None:
    pdu = decode_pdu(PDATA_ECHO_RQ)
    assert isinstance(pdu, PDataTF) and len(pdu.pdvs) == 1
    pdv = pdu.pdvs[0]
    assert (pdv.context_id, pdv.is_command, pdv.is_last, len(pdv.data)) == (1, True, True, 68)
    assert pdv.data == PDATA_ECHO_RQ[12:]
    assert isinstance(pdv.data, memoryview) and pdv.data.readonly  # no copy of the fragment
    assert encode_pdu(pdu) == PDATA_ECHO_RQ
    assert "68 bytes" in repr(pdv)


def test_pdata_several_pdvs_and_flags() -> None:
    raw = h("""
    04 00 0000000f            # P-DATA-TF, length 15
    00000003 03 00 aa         # PDV ctx 3, MCH 0: data set fragment, not last
    00000004 05 02 bb cc      # PDV ctx 5, MCH 2: data set fragment, last
    """)
    pdu = decode_pdu(raw)
    assert pdu == PDataTF((PDV(3, False, False, b"\xaa"), PDV(5, False, True, b"\xbb\xcc")))
    assert encode_pdu(pdu) == raw
    assert PDV(1, True, False, b"").message_control_header == 1
    assert PDV(1, False, True, b"").message_control_header == 2


SUB_ITEMS = [
    (SUB_ASYNC, UserInformation(async_ops=AsyncOpsWindow(5, 1))),
    (SUB_ROLE, UserInformation(role_selections=(RoleSelection("1.2.3.4", 1, 1),))),
    (SUB_EXT, UserInformation(sop_extended=(SOPClassExtendedNegotiation("1.2.3.4", b"\x01\x00\x01"),))),
    (SUB_COMMON_EXT, UserInformation(sop_common_extended=(
        SOPClassCommonExtendedNegotiation("1.2.3.4", "1.2.3", ("1.5", "1.6")),))),
    (SUB_IDENTITY_RQ, UserInformation(user_identity_rq=UserIdentityRQ(2, b"user", b"pass", True))),
    (SUB_IDENTITY_AC, UserInformation(user_identity_ac=UserIdentityAC(b"tokn"))),
    (SUB_UNKNOWN, UserInformation(unknown=(UnknownItem(0x60, b"\xab\xcd"),))),
    (h("51 00 0004 00000000"), UserInformation(max_length=0)),                  # 0 = unlimited
    (h("52 00 0003 312e32"), UserInformation(implementation_class_uid="1.2")),
    (h("55 00 0002 4f4b"), UserInformation(implementation_version_name="OK")),
]


def _rq_with_user_info(user_info_item: bytes) -> bytes:
    body = ASSOCIATE_RQ[6:6 + 68 + 25 + 50] + user_info_item
    return bytes([1, 0]) + len(body).to_bytes(4, "big") + body


@pytest.mark.parametrize("sub,expected", SUB_ITEMS, ids=[f"0x{s[0]:02x}" for s, _ in SUB_ITEMS])
def test_golden_user_information_sub_items(sub: bytes, expected: UserInformation) -> None:
    item = raw_item(0x50, sub)
    assert encode_user_information(expected) == item
    pdu = decode_pdu(_rq_with_user_info(item))
    assert isinstance(pdu, AAssociateRQ)
    assert pdu.user_information == expected


def test_every_item_type_is_registered() -> None:
    assert sorted(ITEM_TYPES) == [0x10, 0x20, 0x21, 0x30, 0x40, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57,
                                  0x58, 0x59]
    for code, cls in ITEM_TYPES.items():
        assert cls.item_type == code
        assert cls.__doc__ and ("PS3.8" in cls.__doc__ or "PS3.7" in cls.__doc__)


ONE_OF_EACH = [
    ApplicationContextItem("1.2.840.10008.3.1.1.1"), PresentationContextRQ(1, ECHO_UID, [IMPLICIT_LE]),
    PresentationContextAC(1, 0, IMPLICIT_LE), AbstractSyntaxItem(ECHO_UID), TransferSyntaxItem(IMPLICIT_LE),
    UserInformation(16384, "1.2"), MaximumLength(16384), ImplementationClassUID("1.2.3.4"), AsyncOpsWindow(1, 1),
    RoleSelection("1.2", 0, 1), ImplementationVersionName("V1"), SOPClassExtendedNegotiation("1.2", b"\x01"),
    SOPClassCommonExtendedNegotiation("1.2", "1.3", ["1.4"]), UserIdentityRQ(1, b"bob"), UserIdentityAC(b""),
]


@pytest.mark.parametrize("item", ONE_OF_EACH, ids=lambda i: f"0x{i.item_type:02x}")
def test_every_item_alone_through_the_registry(item: object) -> None:
    raw = encode_any_item(item)  # type: ignore[arg-type]
    assert raw[0] == item.item_type and int.from_bytes(raw[2:4], "big") == len(raw) - 4  # type: ignore[attr-defined]
    assert decode_item(b"junk" + raw, 4) == (item, 4 + len(raw))
    assert {type(i) for i in ONE_OF_EACH} == set(ITEM_TYPES.values())


def test_decode_item_leniency_and_framing() -> None:
    assert decode_item(h("51 00 0002 4000")) == (UnknownItem(0x51, h("4000")), 6)
    assert decode_item(h("99 00 0001 aa"))[0] == UnknownItem(0x99, b"\xaa")
    with pytest.raises(MalformedPDU, match="item 0x52 at offset 0 claims 9 bytes, 1 remain"):
        decode_item(h("52 00 0009 31"))


def test_rich_round_trip() -> None:
    ui = UserInformation(
        max_length=0, implementation_class_uid="1.2.3", implementation_version_name="X",
        async_ops=AsyncOpsWindow(0, 0), role_selections=[RoleSelection("1.2", 0, 1), RoleSelection("1.3")],
        sop_extended=[SOPClassExtendedNegotiation("1.2", b"")],
        sop_common_extended=[SOPClassCommonExtendedNegotiation("1.2", "1.3")],
        user_identity_rq=UserIdentityRQ(1, b"alice"), unknown=[UnknownItem(0x7F, b"zz")])
    rq = AAssociateRQ("A" * 16, "B", 1, "1.2.840.10008.3.1.1.1",
                      [PresentationContextRQ(i, "1.2", ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
                       for i in range(1, 256, 2)], ui, [UnknownItem(0x99, b"?")])
    assert decode_pdu(encode_pdu(rq)) == rq
    ac = AAssociateAC("A", "B", presentation_contexts=[PresentationContextAC(3, 4)],
                      user_information=UserInformation(user_identity_ac=UserIdentityAC()))
    assert decode_pdu(encode_pdu(ac)) == ac
    assert repr(ui.user_identity_rq).count("alice") == 0  # secrets stay out of traces


def test_lenient_padding_and_unknown_items() -> None:
    # Called AE NUL padded, calling AE with leading spaces, UIDs NUL padded, an unknown item and an
    # unknown PC sub-item: all decoded, nothing dropped.
    body = (h("0001 0000") + b"PACS\x00" + bytes(11) + b"  SCU".ljust(16) + bytes(32)
            + raw_item(0x10, b"1.2.840.10008.3.1.1.1\x00")
            + raw_item(0x20, h("01 000000") + raw_item(0x30, b"1.2.840.10008.1.1\x00")
                       + raw_item(0x40, b"1.2.840.10008.1.2\x00") + raw_item(0x66, b"x"))
            + raw_item(0x50, raw_item(0x51, h("00004000")))
            + raw_item(0x77, b"hello") + b"\x00\x00")     # 2 stray bytes: too few for an item, ignored
    pdu = decode_pdu(bytes([1, 0]) + len(body).to_bytes(4, "big") + body)
    assert isinstance(pdu, AAssociateRQ)
    assert (pdu.called_ae, pdu.calling_ae) == ("PACS", "SCU")
    assert pdu.application_context == "1.2.840.10008.3.1.1.1"
    pc = pdu.presentation_contexts[0]
    assert pc == PresentationContextRQ(1, ECHO_UID, (IMPLICIT_LE,), (UnknownItem(0x66, b"x"),))
    assert pdu.unknown_items == (UnknownItem(0x77, b"hello"),)
    assert pdu.max_length == 16384


def test_unparsable_sub_item_is_kept_verbatim() -> None:
    bad_max = raw_item(0x51, h("4000"))                  # 2 bytes instead of 4
    bad_role = raw_item(0x54, h("00ff 31"))              # UID length overruns the item
    pdu = decode_pdu(_rq_with_user_info(raw_item(0x50, bad_max + bad_role)))
    assert isinstance(pdu, AAssociateRQ) and pdu.user_information is not None
    assert pdu.user_information.max_length is None
    assert pdu.user_information.unknown == (UnknownItem(0x51, h("4000")), UnknownItem(0x54, h("00ff31")))


def test_missing_user_information_and_ac_without_transfer_syntax() -> None:
    body = ASSOCIATE_AC[6:6 + 68 + 25] + raw_item(0x21, h("03 00 03 00"))   # rejected, no TS sub-item
    pdu = decode_pdu(bytes([2, 0]) + len(body).to_bytes(4, "big") + body)
    assert isinstance(pdu, AAssociateAC)
    assert pdu.user_information is None
    assert pdu.presentation_contexts == (PresentationContextAC(3, 3, ""),)
    assert pdu.presentation_contexts[0].result_name.startswith("abstract-syntax-not-supported")


@pytest.mark.parametrize("raw,offset,text", [
    (h("01 00 00000004 0001 0000"), None, "fixed fields need 68"),
    (h("03 00 00000002 0001"), None, "needs 4"),
    (h("04 00 00000008 00000010 01 03 aabb"), 6, "PDV at offset 6 claims 16 bytes, 4 remain"),
    (h("04 00 00000005 00000001 01"), 6, "PDV at offset 6 claims 1 bytes; a PDV needs at least 2"),
    (h("04 00 00000003 000000"), 6, "stray bytes"),
    (h("05 00 00000010 00000000"), 2, "claims 16 bytes, 4 follow"),
    (h("0500"), 2, "too few"),
])
def test_framing_errors_raise_malformed(raw: bytes, offset: int | None, text: str) -> None:
    with pytest.raises(MalformedPDU) as info:
        decode_pdu(raw)
    assert text in str(info.value)
    if offset is not None:
        assert info.value.offset == offset
    assert isinstance(info.value, RemoteProtocolError) and isinstance(info.value, ProtocolError)


def test_item_overrun_message_names_offset_and_sizes() -> None:
    raw = bytearray(encode_pdu(AC))
    raw[74 + 25 + 2:74 + 25 + 4] = (400).to_bytes(2, "big")          # the 0x21 item at offset 99
    with pytest.raises(MalformedPDU) as info:
        decode_pdu(bytes(raw))
    remaining = len(raw) - (99 + 4)
    assert f"item 0x21 at offset 99 in PDU claims 400 bytes, {remaining} remain" in str(info.value)
    assert info.value.offset == 99


def test_unrecognized_pdu_type_keeps_first_bytes() -> None:
    tls = h("16 03 01 00 a5 01 00 00 a1 03 03")
    with pytest.raises(UnrecognizedPDU) as info:
        decode_pdu(tls)
    assert info.value.head.startswith(b"\x16\x03") and info.value.abort_reason == 1
    with pytest.raises(UnrecognizedPDU):
        decode_pdu(b"HTTP/1.1 400 Bad Request\r\n")


def test_encode_refuses_what_cannot_fit() -> None:
    with pytest.raises(LocalProtocolError):
        encode_pdu(AAssociateRQ("A" * 17, "B"))
    with pytest.raises(LocalProtocolError):
        encode_pdu(AAssociateRQ("A", "B", user_information=UserInformation(
            user_identity_rq=UserIdentityRQ(5, b"x" * 70000))))
    with pytest.raises(TypeError):
        ProtocolError("abstract")


def test_lists_become_tuples_and_pdus_hash() -> None:
    pc = PresentationContextRQ(1, "1.2", ["1.2.840.10008.1.2"])
    assert pc.transfer_syntaxes == ("1.2.840.10008.1.2",)
    assert hash(RQ) == hash(decode_pdu(ASSOCIATE_RQ))
    with pytest.raises(AttributeError):
        RQ.called_ae = "X"  # type: ignore[misc]

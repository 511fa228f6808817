"""validate(): precise violations with byte offsets; lenient decode stays separate."""

from __future__ import annotations

from dicomdoctor.ul import (
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    PDataTF,
    PDV,
    PresentationContextAC,
    PresentationContextRQ,
    RoleSelection,
    UserIdentityRQ,
    UserInformation,
    Violation,
    associate_rq_bytes,
    decode_pdu,
    encode_pdu,
    many_contexts,
    raw_item,
    validate,
    with_item_length,
)

from .golden import ABORT, ASSOCIATE_AC, ASSOCIATE_RJ, ASSOCIATE_RQ, PDATA_ECHO_RQ, RELEASE_RP, RELEASE_RQ, h


def codes(violations: list[Violation]) -> set[str]:
    return {v.code for v in violations}


def test_golden_pdus_are_clean() -> None:
    for raw in (ASSOCIATE_RQ, ASSOCIATE_AC, ASSOCIATE_RJ, PDATA_ECHO_RQ, RELEASE_RQ, RELEASE_RP, ABORT):
        assert validate(decode_pdu(raw), raw) == [], raw[:1]
        assert validate(None, raw) == []


def test_item_overrun_with_offset() -> None:
    raw = with_item_length(ASSOCIATE_AC, 99, 400)     # the 0x21 item starts at offset 99
    remaining = len(raw) - 103
    vs = validate(None, raw)
    overrun = [v for v in vs if v.code == "item-overrun"]
    assert overrun and overrun[0].offset == 99
    assert overrun[0].message == f"item 0x21 at offset 99 claims 400 bytes, {remaining} remain"
    assert "malformed" in codes(vs)   # decode failed: reported, not raised


def test_semantic_violations_of_an_rq() -> None:
    rq = AAssociateRQ(
        "", "BAD\\AE", protocol_version=2, application_context="1.2.3",
        presentation_contexts=[PresentationContextRQ(2, "1.02.3", []), PresentationContextRQ(2, "1.2", ["1.2"])],
        user_information=UserInformation(None, None, "X" * 17, role_selections=[RoleSelection("1.2", 2, 0)]))
    got = codes(validate(rq))
    assert {"ae-title-empty", "ae-title-characters", "protocol-version", "application-context", "context-id",
            "context-id-duplicate", "uid-syntax", "no-transfer-syntax", "max-length-missing",
            "implementation-class-uid-missing", "implementation-version-name", "role-selection-value"} <= got


def test_too_many_contexts_and_long_uid() -> None:
    rq = AAssociateRQ("A", "B", presentation_contexts=many_contexts(130),
                      user_information=UserInformation(0, "1." + "2" * 70))
    got = codes(validate(rq))
    assert {"too-many-contexts", "context-id-duplicate", "uid-too-long"} <= got


def test_ac_rj_abort_pdata_values() -> None:
    ac = AAssociateAC("A", "B", presentation_contexts=[PresentationContextAC(1, 9, "")],
                      user_information=UserInformation(16384, "1.2", user_identity_rq=UserIdentityRQ(1, b"u")))
    assert {"context-result", "user-identity-direction"} <= codes(validate(ac))
    assert codes(validate(AAssociateRJ(3, 1, 4))) == {"reject-result", "reject-reason"}
    assert codes(validate(AAssociateRJ(2, 3, 2))) == set()
    assert codes(validate(AAbort(1, 0))) == {"abort-source"}
    assert codes(validate(AAbort(2, 3))) == {"abort-reason"}
    assert codes(validate(PDataTF(()))) == {"pdata-empty"}
    assert codes(validate(PDataTF((PDV(2, True, True, b""),)))) == {"context-id"}


def test_raw_structure_warnings() -> None:
    # NUL-padded AE field and UID, reserved bytes set, bad maximum length item, unknown sub-item, wrong order.
    ui = raw_item(0x50, raw_item(0x51, h("4000")) + raw_item(0x52, b"1.2.3\x00") + raw_item(0x66, b"?"))
    raw = associate_rq_bytes(b"PACS\x00\x00", "SCU", user_information=ui,
                             items_first=[raw_item(0x77, b"x", reserved=5)])
    raw = raw[:1] + b"\x09" + raw[2:]
    vs = validate(None, raw)
    got = codes(vs)
    assert {"ae-title-padding", "uid-padding", "reserved-nonzero", "item-length", "unknown-sub-item",
            "unknown-item"} <= got
    by_code = {v.code: v for v in vs}
    assert by_code["ae-title-padding"].offset == 10 and by_code["ae-title-padding"].severity == "warning"
    assert by_code["item-length"].message.startswith("maximum length sub-item at offset")


def test_fixed_length_pdus_and_trailing_bytes() -> None:
    vs = validate(None, h("05 00 00000006 000000000000"))
    assert [v.code for v in vs] == ["pdu-length"]
    vs = validate(None, h("07 00 00000004 01 00 00 00 ff"))
    assert codes(vs) == {"reserved-nonzero", "trailing-bytes"}
    vs = validate(None, h("04 00 00000007 00000003 01 ff aa"))
    assert codes(vs) == {"reserved-nonzero"} and vs[0].offset == 11


def test_context_sub_item_counts() -> None:
    pc = raw_item(0x20, h("01 000000") + raw_item(0x30, b"1.2") + raw_item(0x30, b"1.3"))
    raw = associate_rq_bytes("A", "B", contexts=[], extra_items=[pc])
    vs = [v for v in validate(None, raw) if v.code == "context-sub-items"]
    assert vs and "1 abstract syntax" not in vs[0].message and "2 abstract syntax" in vs[0].message
    assert "item-order" in codes(validate(None, raw))   # context after user information


def test_str_of_violation_is_its_message() -> None:
    assert str(Violation("x", "hello", 3)) == "hello"
    assert validate(encode_pdu(AAbort()) and AAbort()) == []

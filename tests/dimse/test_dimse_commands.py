"""Command set encoding: golden bytes (hand-checked), pydicom and pynetdicom as oracles, lenient decoding."""

from __future__ import annotations

from io import BytesIO

import pytest
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset

from dicomdoctor.dimse import (
    MalformedCommand,
    command_to_dataset,
    command_violations,
    decode_command,
    encode_command,
    tag_name,
)

# C-ECHO-RQ, Message ID 1, annotated element by element (PS3.7 Table 9.3-12; implicit VR LE: tag group LE,
# tag element LE, 4-byte length LE, value).
C_ECHO_RQ_GOLDEN = bytes.fromhex(
    "00000000" "04000000" "38000000"            # (0000,0000) UL len 4 = 0x38 (56 bytes follow)
    "00000200" "12000000"                       # (0000,0002) UI len 18
    "312e322e3834302e31303030382e312e3100"      #   "1.2.840.10008.1.1" + NUL pad (17 -> 18)
    "00000001" "02000000" "3000"                # (0000,0100) Command Field = 0x0030 C-ECHO-RQ
    "00001001" "02000000" "0100"                # (0000,0110) Message ID = 1
    "00000008" "02000000" "0101"                # (0000,0800) Command Data Set Type = 0x0101 (none)
)


def test_c_echo_rq_golden() -> None:
    got = encode_command({"CommandField": 0x0030, "MessageID": 1, "CommandDataSetType": 0x0101,
                          "AffectedSOPClassUID": "1.2.840.10008.1.1"})
    assert got == C_ECHO_RQ_GOLDEN
    assert decode_command(got) == {0x00000002: "1.2.840.10008.1.1", 0x00000100: 0x0030,
                                   0x00000110: 1, 0x00000800: 0x0101}


def test_c_store_rsp_golden_strings_and_at() -> None:
    got = encode_command({0x00000100: 0x8001, 0x00000120: 7, 0x00000800: 0x0101, 0x00000900: 0xA900,
                          0x00000901: (0x00100010, 0x00100020), 0x00000902: "no id"})
    expected = bytes.fromhex(
        "00000000" "04000000" "46000000"        # group length 0x46 = 70 = 4 x 10 (US) + 16 (AT) + 14 (LO)
        "00000001" "02000000" "0180"            # (0000,0100) Command Field 0x8001 C-STORE-RSP (sorted first)
        "00002001" "02000000" "0700"            # (0000,0120) = 7
        "00000008" "02000000" "0101"            # (0000,0800) = 0x0101
        "00000009" "02000000" "00a9"            # (0000,0900) Status 0xA900
        "00000109" "08000000" "1000100010002000"  # (0000,0901) AT: (0010,0010), (0010,0020)
        "00000209" "06000000" "6e6f20696420"    # (0000,0902) LO "no id " (space padded to even)
    )
    assert got == expected
    back = decode_command(got)
    assert back[0x00000901] == (0x00100010, 0x00100020)
    assert back[0x00000902] == "no id"
    assert command_violations(got) == []


def test_keywords_dataset_and_tags_agree() -> None:
    by_kw = encode_command({"MessageID": 5, "CommandField": 0x0030, "CommandDataSetType": 0x0101})
    by_tag = encode_command({0x00000110: 5, 0x00000100: 0x0030, 0x00000800: 0x0101})
    ds = Dataset()
    ds.CommandField, ds.MessageID, ds.CommandDataSetType = 0x0030, 5, 0x0101
    assert by_kw == by_tag == encode_command(ds)


def test_given_group_length_and_none_values_are_ignored() -> None:
    a = encode_command({0: 999, 0x00000100: 0x0030, 0x00000110: 1, 0x00000902: None})
    b = encode_command({0x00000100: 0x0030, 0x00000110: 1})
    assert a == b


def test_pydicom_reads_our_bytes() -> None:
    raw = encode_command({"CommandField": 0x0021, "MessageID": 9, "Priority": 0, "CommandDataSetType": 1,
                          "AffectedSOPClassUID": "1.2.840.10008.5.1.4.1.2.1.2", "MoveDestination": "DEST1"})
    ds = read_dataset(BytesIO(raw), is_implicit_VR=True, is_little_endian=True)
    assert ds.CommandGroupLength == len(raw) - 12
    assert ds.MoveDestination == "DEST1"
    assert ds.AffectedSOPClassUID == "1.2.840.10008.5.1.4.1.2.1.2"
    assert ds.CommandField == 0x0021 and ds.MessageID == 9
    assert [int(t) for t in ds.keys()] == sorted(int(t) for t in ds.keys())


def test_pynetdicom_decodes_our_bytes() -> None:
    dsutils = pytest.importorskip("pynetdicom.dsutils")
    raw = encode_command({"CommandField": 0x8021, "MessageIDBeingRespondedTo": 3, "CommandDataSetType": 0x0101,
                          "Status": 0xFF00, "NumberOfRemainingSuboperations": 4,
                          "NumberOfCompletedSuboperations": 1, "NumberOfFailedSuboperations": 0,
                          "NumberOfWarningSuboperations": 0, "ErrorComment": "odd"})
    ds = dsutils.decode(BytesIO(raw), True, True)
    assert ds.Status == 0xFF00 and ds.NumberOfRemainingSuboperations == 4
    assert ds.ErrorComment == "odd"


def test_decode_is_lenient_and_violations_name_problems() -> None:
    # No group length, tags out of order, an element outside group 0000, odd length.
    raw = bytes.fromhex(
        "00001001" "02000000" "0100"        # (0000,0110) Message ID 1
        "00000001" "02000000" "3000"        # (0000,0100) after (0000,0110): out of order
        "10001000" "03000000" "414243"      # (0010,0010) odd length, wrong group
    )
    cmd = decode_command(raw)
    assert cmd[0x00000110] == 1 and cmd[0x00000100] == 0x30
    assert cmd[0x00100010] == b"ABC"  # not a command element: kept raw
    problems = "\n".join(command_violations(raw))
    assert "does not start with (0000,0000)" in problems
    assert "out of ascending order" in problems
    assert "not in group 0000" in problems
    assert "odd length 3" in problems


def test_wrong_group_length_is_reported_not_fatal() -> None:
    raw = bytearray(C_ECHO_RQ_GOLDEN)
    raw[8] = 0x30
    assert decode_command(bytes(raw))[0x00000110] == 1
    assert any("says 48" in p for p in command_violations(bytes(raw)))


@pytest.mark.parametrize("raw, needle", [
    (C_ECHO_RQ_GOLDEN[:-1], "claims 2 bytes, 1 remain"),
    (C_ECHO_RQ_GOLDEN + b"\x00\x00", "too short for an element header"),
    (bytes.fromhex("00000001ffffffff"), "undefined length"),
])
def test_malformed_commands(raw: bytes, needle: str) -> None:
    with pytest.raises(MalformedCommand, match=needle) as info:
        decode_command(raw)
    assert info.value.abort_source == 2  # a RemoteProtocolError: net/ aborts with it


def test_oversized_command_is_refused_before_walking() -> None:
    with pytest.raises(MalformedCommand, match="over the 100-byte cap"):
        decode_command(b"\x00" * 101, limit=100)


def test_command_to_dataset_and_tag_names() -> None:
    ds = command_to_dataset(decode_command(C_ECHO_RQ_GOLDEN))
    assert ds.MessageID == 1 and ds.AffectedSOPClassUID == "1.2.840.10008.1.1"
    assert tag_name(0x00080052) == {"tag": "(0008,0052)", "keyword": "QueryRetrieveLevel",
                                    "name": "Query/Retrieve Level"}
    assert tag_name(0x00000900)["keyword"] == "Status"
    assert tag_name(0x00291010)["name"] == "private element"


def test_non_ascii_text_is_replaced_not_fatal() -> None:
    raw = encode_command({"ErrorComment": "Müller"})
    assert decode_command(raw)[0x00000902] == "M?ller"

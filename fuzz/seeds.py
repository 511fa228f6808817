"""Valid inputs the mutator starts from, built with dicomdoctor's own encoders (no files, no real patients).

- `ul_pdus()`: one of every PDU type, the A-ASSOCIATE-RQ/AC with every user-information sub-item.
- `ulconn_streams()`: what a peer sends on one connection, prefixed with two control bytes (role, chunk size).
- `dimse_streams()`: P-DATA-TF streams of whole DIMSE exchanges (commands, data sets in many fragments).
- `captures()`: pcap and pcapng files of DICOM conversations (every block kind the reader knows).
"""

from __future__ import annotations

import struct
from functools import lru_cache

from dicomdoctor.dimse import CEchoRQ, CEchoRSP, CFindRQ, CFindRSP, CStoreRQ, CStoreRSP, fragment
from dicomdoctor.ul import (AAbort, AAssociateAC, AAssociateRJ, AAssociateRQ, AReleaseRP, AReleaseRQ,
                            AsyncOpsWindow, PresentationContextAC, PresentationContextRQ, RoleSelection,
                            SOPClassCommonExtendedNegotiation, SOPClassExtendedNegotiation, UnknownItem,
                            UserIdentityAC, UserIdentityRQ, UserInformation, encode_pdu)

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPLICIT, EXPLICIT = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"


def _user_info(full: bool) -> UserInformation:
    if not full:
        return UserInformation(max_length=16384, implementation_class_uid="1.2.826.0.1.3680043.9.7433.1")
    return UserInformation(
        max_length=4096, implementation_class_uid="1.2.826.0.1.3680043.9.7433.1",
        implementation_version_name="FUZZ_1", async_ops=AsyncOpsWindow(2, 3),
        role_selections=(RoleSelection(CT, 1, 1),),
        sop_extended=(SOPClassExtendedNegotiation(FIND, b"\x01\x01\x00"),),
        sop_common_extended=(SOPClassCommonExtendedNegotiation(CT, "1.2.840.10008.4.2", ("1.2.3",)),),
        user_identity_rq=UserIdentityRQ(2, b"user", b"secret", True),
        unknown=(UnknownItem(0x5F, b"\x00\x01"),))


def associate_rq(full: bool = True) -> AAssociateRQ:
    return AAssociateRQ(
        called_ae="SCP", calling_ae="FUZZER",
        presentation_contexts=(PresentationContextRQ(1, VERIFICATION, (IMPLICIT,)),
                               PresentationContextRQ(3, CT, (EXPLICIT, IMPLICIT)),
                               PresentationContextRQ(5, FIND, (IMPLICIT,))),
        user_information=_user_info(full))


def associate_ac(full: bool = True) -> AAssociateAC:
    ui = _user_info(full)
    if full:
        ui = UserInformation(max_length=4096, implementation_class_uid=ui.implementation_class_uid,
                             implementation_version_name="FUZZ_SCP", async_ops=AsyncOpsWindow(1, 1),
                             role_selections=(RoleSelection(CT, 1, 0),), user_identity_ac=UserIdentityAC(b"ok"))
    return AAssociateAC(
        called_ae="SCP", calling_ae="FUZZER",
        presentation_contexts=(PresentationContextAC(1, 0, IMPLICIT), PresentationContextAC(3, 0, EXPLICIT),
                               PresentationContextAC(5, 3, "")),
        user_information=ui)


def _message(ctx: int, msg: object, dataset: bytes | None = None, max_pdu: int = 16384) -> bytes:
    return b"".join(bytes(p) for p in fragment(ctx, msg.to_command_bytes(), dataset, max_pdu))  # type: ignore[attr-defined]


def _identifier() -> bytes:
    # (0008,0052) QueryRetrieveLevel "STUDY", (0020,000D) StudyInstanceUID "1.2.3", implicit VR LE
    return (struct.pack("<HHI", 0x0008, 0x0052, 6) + b"STUDY " +
            struct.pack("<HHI", 0x0020, 0x000D, 6) + b"1.2.3\x00")


@lru_cache(maxsize=None)
def ul_pdus() -> tuple[bytes, ...]:
    echo = CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION)
    return (encode_pdu(associate_rq()), encode_pdu(associate_rq(False)), encode_pdu(associate_ac()),
            encode_pdu(associate_ac(False)), encode_pdu(AAssociateRJ(1, 1, 7)), _message(1, echo),
            _message(3, CStoreRQ(message_id=2, affected_sop_class_uid=CT, affected_sop_instance_uid="1.2.3.4"),
                     b"\x08\x00\x05\x00\x0a\x00\x00\x00ISO_IR 100", 40),
            encode_pdu(AReleaseRQ()), encode_pdu(AReleaseRP()), encode_pdu(AAbort(2, 6)))


@lru_cache(maxsize=None)
def dimse_streams() -> tuple[bytes, ...]:
    """P-DATA-TF streams (PDU after PDU) as one side of an association sends them."""
    store = CStoreRQ(message_id=7, affected_sop_class_uid=CT, affected_sop_instance_uid="1.2.3.4.5")
    data = bytes((i * 13) & 0xFF for i in range(300))
    find_rsp = CFindRSP(message_id_being_responded_to=3, status=0xFF00, affected_sop_class_uid=FIND,
                        command_data_set_type=1)
    return (
        _message(1, CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION)),
        _message(1, CEchoRSP(message_id_being_responded_to=1, status=0, affected_sop_class_uid=VERIFICATION)),
        _message(3, store, data, 64) + _message(3, store, data[:50], 0),
        _message(3, CStoreRSP(message_id_being_responded_to=7, status=0xA700, affected_sop_class_uid=CT,
                              affected_sop_instance_uid="1.2.3.4.5", error_comment="out of space")),
        _message(5, CFindRQ(message_id=3, affected_sop_class_uid=FIND), _identifier(), 32),
        _message(5, find_rsp, _identifier(), 24) + _message(5, CFindRSP(
            message_id_being_responded_to=3, status=0, affected_sop_class_uid=FIND)),
    )


@lru_cache(maxsize=None)
def ulconn_streams() -> tuple[bytes, ...]:
    """Byte 0: role (even = requestor, odd = acceptor); byte 1: the chunk size the bytes arrive in (0 =
    all at once); then what the peer sends."""
    ac, rq = encode_pdu(associate_ac()), encode_pdu(associate_rq())
    echo_rsp = _message(1, CEchoRSP(message_id_being_responded_to=1, status=0, affected_sop_class_uid=VERIFICATION))
    echo_rq = _message(1, CEchoRQ(message_id=1, affected_sop_class_uid=VERIFICATION))
    rp, rel, ab = encode_pdu(AReleaseRP()), encode_pdu(AReleaseRQ()), encode_pdu(AAbort(0, 0))
    d = dimse_streams()
    return (
        b"\x00\x00" + ac + echo_rsp + rp,
        b"\x00\x07" + ac + d[3] + d[5] + rp,
        b"\x00\x00" + encode_pdu(AAssociateRJ(1, 1, 3)),
        b"\x00\x05" + ac + ab,
        b"\x00\x00" + ac + rel + rp,
        b"\x01\x00" + rq + echo_rq + rel,
        b"\x01\x0b" + rq + d[2] + d[4] + rel,
        b"\x01\x00" + rq + ab,
    )


# ------------------------------------------------------------------------------------------ captures

def _frame(src: tuple[bytes, int], dst: tuple[bytes, int], seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], seq % (1 << 32), ack % (1 << 32), 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0) + src[0] + dst[0]
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip + tcp + payload


def _frames(parts: list[tuple[int, bytes]], mss: int = 700) -> list[bytes]:
    ends = ((bytes([10, 0, 0, 1]), 50000), (bytes([10, 0, 0, 2]), 104))
    seq = [1001, 5001]
    out = [_frame(ends[0], ends[1], 1000, 0, 0x02, b""), _frame(ends[1], ends[0], 5000, 1001, 0x12, b""),
           _frame(ends[0], ends[1], 1001, 5001, 0x10, b"")]
    for d, data in parts:
        for i in range(0, len(data), mss):
            chunk = data[i:i + mss]
            out.append(_frame(ends[d], ends[1 - d], seq[d], seq[1 - d], 0x18, chunk))
            seq[d] += len(chunk)
    out += [_frame(ends[0], ends[1], seq[0], seq[1], 0x11, b""), _frame(ends[1], ends[0], seq[1], seq[0] + 1, 0x11, b""),
            _frame(ends[0], ends[1], seq[0] + 1, seq[1] + 1, 0x10, b"")]
    return out


def _conversations() -> list[list[tuple[int, bytes]]]:
    d = dimse_streams()
    rq, ac = encode_pdu(associate_rq()), encode_pdu(associate_ac())
    rel, rp = encode_pdu(AReleaseRQ()), encode_pdu(AReleaseRP())
    return [
        [(0, rq), (1, ac), (0, d[0]), (1, d[1]), (0, rel), (1, rp)],
        [(0, rq), (1, ac), (0, d[2]), (1, d[3]), (0, d[4]), (1, d[5]), (0, encode_pdu(AAbort(0, 0)))],
        [(0, encode_pdu(associate_rq(False))), (1, encode_pdu(AAssociateRJ(1, 1, 7)))],
    ]


def pcap(frames: list[bytes], big_endian: bool = False, nano: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    out = [struct.pack(e + "IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for i, f in enumerate(frames):
        out.append(struct.pack(e + "IIII", 1_700_000_000 + i, i * 1000, len(f), len(f)) + f)
    return b"".join(out)


def _block(e: str, code: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack(e + "II", code, total) + body + struct.pack(e + "I", total)


def pcapng(frames: list[bytes], big_endian: bool = False) -> bytes:
    """SHB, two IDBs (µs and ns via if_tsresol), then EPBs, one SPB and one obsolete PB."""
    e = ">" if big_endian else "<"
    shb_body = struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    out = [_block(e, 0x0A0D0D0A, shb_body),
           _block(e, 1, struct.pack(e + "HHI", 1, 0, 262144)),
           _block(e, 1, struct.pack(e + "HHI", 1, 0, 262144) + struct.pack(e + "HH", 9, 1) + b"\x09\x00\x00\x00"
                  + struct.pack(e + "HH", 0, 0))]
    for i, f in enumerate(frames):
        ts = (1_700_000_000 + i) * 1_000_000
        if i == 3:
            out.append(_block(e, 3, struct.pack(e + "I", len(f)) + f))
        elif i == 4:
            out.append(_block(e, 2, struct.pack(e + "HHIIII", 0, 0, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f))
        else:
            iface = i % 2
            t = ts * 1000 if iface else ts
            out.append(_block(e, 6, struct.pack(e + "IIIII", iface, t >> 32, t & 0xFFFFFFFF, len(f), len(f)) + f))
    return b"".join(out)


@lru_cache(maxsize=None)
def captures() -> tuple[bytes, ...]:
    convs = [_frames(c) for c in _conversations()]
    return (pcap(convs[0]), pcap(convs[1], big_endian=True, nano=True), pcapng(convs[0]),
            pcapng(convs[1], big_endian=True), pcapng(convs[2]) + pcapng(convs[0], big_endian=True),  # two sections
            pcap(convs[2]))

"""Synthetic captures for the capture tests: DICOM conversations encoded by our own ul/dimse cores, cut into
TCP segments and written as pcap/pcapng with scapy (an independent writer, so the reader is tested against
files it did not produce).

    conv = Conversation.echo()                      # [(direction, bytes)], direction 0 = requestor
    write_capture(path, conv, reorder=True, duplicate=True, drop={5}, fmt="pcapng", mss=1000)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from dicomdoctor.dimse import CEchoRQ, CEchoRSP, CMoveRQ, CMoveRSP, CStoreRQ, CStoreRSP, fragment
from dicomdoctor.ul import (
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    PresentationContextAC,
    PresentationContextRQ,
    UserInformation,
    encode_pdu,
)

ECHO = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
MOVE_STUDY = "1.2.840.10008.5.1.4.1.2.2.2"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
CLIENT = ("10.0.0.9", 50123)
SERVER = ("10.0.0.5", 104)


def rq(called: str = "PACS", calling: str = "MODALITY", contexts: Sequence[tuple[int, str]] = ((1, ECHO),),
       max_pdu: int = 16384) -> bytes:
    pcs = [PresentationContextRQ(cid, uid, (EXPLICIT, IMPLICIT)) for cid, uid in contexts]
    return encode_pdu(AAssociateRQ(called, calling, presentation_contexts=pcs,
                                   user_information=UserInformation(max_pdu, "1.2.3.4", "SYNTH_SCU")))


def ac(called: str = "PACS", calling: str = "MODALITY", results: Sequence[tuple[int, int]] = ((1, 0),),
       max_pdu: int = 16384) -> bytes:
    pcs = [PresentationContextAC(cid, res, IMPLICIT if res == 0 else "") for cid, res in results]
    return encode_pdu(AAssociateAC(called, calling, presentation_contexts=pcs,
                                   user_information=UserInformation(max_pdu, "1.2.276.0.7230010.3.0.3.6.7",
                                                                    "OFFIS_DCMTK_367")))


def message(ctx: int, msg: object, dataset: bytes | None = None, max_pdu: int = 16384) -> bytes:
    return b"".join(bytes(p) for p in fragment(ctx, msg.to_command_bytes(), dataset, max_pdu))  # type: ignore[attr-defined]


@dataclass
class Conversation:
    parts: list[tuple[int, bytes]] = field(default_factory=list)

    def add(self, direction: int, data: bytes) -> "Conversation":
        self.parts.append((direction, data))
        return self

    @classmethod
    def echo(cls) -> "Conversation":
        c = cls().add(0, rq()).add(1, ac())
        c.add(0, message(1, CEchoRQ(message_id=1))).add(1, message(1, CEchoRSP(message_id_being_responded_to=1)))
        return c.add(0, encode_pdu(AReleaseRQ())).add(1, encode_pdu(AReleaseRP()))

    @classmethod
    def store(cls, n: int = 3, size: int = 100_000, status: int = 0, max_pdu: int = 16384,
              sender_pdu: int | None = None) -> "Conversation":
        c = cls().add(0, rq(contexts=((1, CT),), max_pdu=max_pdu)).add(1, ac(results=((1, 0),), max_pdu=max_pdu))
        body = bytes(range(256)) * (size // 256 + 1)
        for i in range(1, n + 1):
            req = CStoreRQ(message_id=i, affected_sop_class_uid=CT, affected_sop_instance_uid=f"1.2.3.{i}")
            c.add(0, message(1, req, body[:size], sender_pdu or max_pdu))
            c.add(1, message(1, CStoreRSP(message_id_being_responded_to=i, status=status,
                                          affected_sop_class_uid=CT, affected_sop_instance_uid=f"1.2.3.{i}")))
        return c.add(0, encode_pdu(AReleaseRQ())).add(1, encode_pdu(AReleaseRP()))

    @classmethod
    def rejected(cls, result: int = 1, source: int = 1, reason: int = 7) -> "Conversation":
        return cls().add(0, rq(called="WRONG")).add(1, encode_pdu(AAssociateRJ(result, source, reason)))

    @classmethod
    def move_unknown(cls) -> "Conversation":
        c = cls().add(0, rq(contexts=((1, MOVE_STUDY),))).add(1, ac())
        ident = b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY "  # (0008,0052) QueryRetrieveLevel, implicit VR LE
        c.add(0, message(1, CMoveRQ(message_id=7, affected_sop_class_uid=MOVE_STUDY, move_destination="NOWHERE"),
                         ident))
        c.add(1, message(1, CMoveRSP(message_id_being_responded_to=7, status=0xA801,
                                     affected_sop_class_uid=MOVE_STUDY)))
        return c.add(0, encode_pdu(AReleaseRQ())).add(1, encode_pdu(AReleaseRP()))

    @classmethod
    def aborted(cls) -> "Conversation":
        c = cls().add(0, rq(contexts=((1, CT),))).add(1, ac())
        req = CStoreRQ(message_id=1, affected_sop_class_uid=CT, affected_sop_instance_uid="1.2.3.1")
        c.add(0, message(1, req, b"\x00" * 5000))
        return c.add(1, encode_pdu(AAbort(2, 0)))


def _segments(conv: Conversation, mss: int) -> list[tuple[int, int, bytes, int]]:
    """(direction, stream offset, payload, other side's offset = what this segment acknowledges)."""
    out = []
    offsets = [0, 0]
    for d, data in conv.parts:
        for i in range(0, len(data), mss):
            chunk = data[i:i + mss]
            out.append((d, offsets[d], chunk, offsets[1 - d]))
            offsets[d] += len(chunk)
    return out


def packets(conv: Conversation, *, mss: int = 1460, reorder: bool = False, duplicate: bool = False,
            drop: Iterable[int] = (), client: tuple[str, int] = CLIENT, server: tuple[str, int] = SERVER,
            isn: Sequence[int] = (1000, 5000), t0: float = 1_700_000_000.0, fin: bool = True,
            ipv6: bool = False, seed: int = 7) -> list:
    """scapy packets of the conversation: handshake, data segments (optionally shuffled locally, duplicated,
    some dropped by index), FINs."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    ip = IPv6 if ipv6 else IP
    ends = (client, server)

    def pkt(d: int, flags: str, seq: int, ack: int, payload: bytes = b"") -> object:
        (sh, sp), (dh, dp) = ends[d], ends[1 - d]
        p = Ether() / ip(src=sh, dst=dh) / TCP(sport=sp, dport=dp, flags=flags, seq=seq % (1 << 32),
                                                ack=ack % (1 << 32))
        return p / payload if payload else p

    segs = _segments(conv, mss)
    base = [isn[0] + 1, isn[1] + 1]
    out = [pkt(0, "S", isn[0], 0), pkt(1, "SA", isn[1], isn[0] + 1), pkt(0, "A", base[0], base[1])]
    data = [pkt(d, "PA", base[d] + off, base[1 - d] + acked, chunk) for d, off, chunk, acked in segs]
    dirs = [d for d, _, _, _ in segs]
    dropped = set(drop)
    data = [p for i, p in enumerate(data) if i not in dropped]
    dirs = [d for i, d in enumerate(dirs) if i not in dropped]
    if reorder:
        rng = random.Random(seed)
        for i in range(0, len(data) - 1, 3):  # swap neighbours of one direction: out of order, never far
            if dirs[i] == dirs[i + 1] and rng.random() < 0.7:
                data[i], data[i + 1] = data[i + 1], data[i]
    if duplicate:
        data = [q for p in data for q in ((p, p) if random.Random(id(p) % 97).random() < 0.3 else (p,))]
    out += data
    if fin:
        total = [base[0] + sum(len(c) for d, _, c, _ in segs if d == 0),
                 base[1] + sum(len(c) for d, _, c, _ in segs if d == 1)]
        out += [pkt(0, "FA", total[0], total[1]), pkt(1, "FA", total[1], total[0] + 1),
                pkt(0, "A", total[0] + 1, total[1] + 1)]
    for i, p in enumerate(out):
        p.time = t0 + i * 0.001  # type: ignore[attr-defined]
    return out


def write_capture(path: Path, conv: Conversation | list, *, fmt: str = "pcap", **kw: object) -> Path:
    from scapy.utils import PcapNgWriter, PcapWriter

    pk = conv if isinstance(conv, list) else packets(conv, **kw)  # type: ignore[arg-type]
    writer = PcapNgWriter(str(path)) if fmt == "pcapng" else PcapWriter(str(path), sync=False)
    for p in pk:
        writer.write(p)
    writer.close()
    return path


# --- a raw writer: any link type, streamed (for the 50 MB memory test and the link-type tests) ---------------

def _ip_addr(text: str) -> bytes:
    import ipaddress

    return ipaddress.ip_address(text).packed


def frame(linktype: int, src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
          payload: bytes, vlan: bool = False) -> bytes:
    """One frame of `linktype` (1 Ethernet, 113 SLL, 276 SLL2, 0 NULL, 101 raw) carrying a TCP segment."""
    import struct

    tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], seq % (1 << 32), ack % (1 << 32), 5 << 4, flags, 65535, 0, 0)
    v6 = ":" in src[0]
    if v6:
        ip = struct.pack(">IHBB", 6 << 28, len(tcp) + len(payload), 6, 64) + _ip_addr(src[0]) + _ip_addr(dst[0])
    else:
        ip = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0) + \
            _ip_addr(src[0]) + _ip_addr(dst[0])
    etype = 0x86DD if v6 else 0x0800
    if linktype == 1:
        link = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb"
        link += (struct.pack(">HH", 0x8100, 42) if vlan else b"") + struct.pack(">H", etype)
    elif linktype == 113:
        link = struct.pack(">HHH8sH", 0, 772, 6, b"\x00" * 8, etype)
    elif linktype == 276:
        link = struct.pack(">HHIHBB8s", etype, 0, 1, 772, 0, 6, b"\x00" * 8)
    elif linktype == 0:
        link = struct.pack("<I", 30 if v6 else 2)
    else:
        link = b""
    return link + ip + tcp + payload


def write_raw_pcap(path: Path, parts: Iterable[tuple[int, bytes]], *, linktype: int = 1, mss: int = 65000,
                   client: tuple[str, int] = CLIENT, server: tuple[str, int] = SERVER,
                   isn: Sequence[int] = (1000, 5000), vlan: bool = False, fin: bool = True) -> Path:
    """Stream `parts` ((direction, bytes), may be a generator) into a classic pcap, with a handshake, acks
    that track the other side, and FINs. Never holds more than one part."""
    import struct

    ends = (client, server)
    seq = [isn[0] + 1, isn[1] + 1]
    t = [1_700_000_000.0]

    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))

        def put(d: int, s: int, a: int, flags: int, payload: bytes = b"") -> None:
            data = frame(linktype, ends[d], ends[1 - d], s, a, flags, payload, vlan)
            t[0] += 0.0001
            f.write(struct.pack("<IIII", int(t[0]), int((t[0] % 1) * 1e6), len(data), len(data)) + data)

        put(0, isn[0], 0, 0x02)
        put(1, isn[1], isn[0] + 1, 0x12)
        put(0, seq[0], seq[1], 0x10)
        for d, data in parts:
            for i in range(0, len(data), mss):
                chunk = data[i:i + mss]
                put(d, seq[d], seq[1 - d], 0x18, chunk)
                seq[d] += len(chunk)
        if fin:
            put(0, seq[0], seq[1], 0x11)
            put(1, seq[1], seq[0] + 1, 0x11)
            put(0, seq[0] + 1, seq[1] + 1, 0x10)
    return path


def big_store_parts(total_bytes: int, instance_bytes: int = 1 << 20, max_pdu: int = 16384) -> Iterable[tuple[int, bytes]]:
    """An association storing `total_bytes` in instances of `instance_bytes`, generated lazily."""
    yield 0, rq(contexts=((1, CT),), max_pdu=max_pdu)
    yield 1, ac(results=((1, 0),), max_pdu=max_pdu)
    body = bytes(instance_bytes)
    for i in range(1, total_bytes // instance_bytes + 1):
        req = CStoreRQ(message_id=i, affected_sop_class_uid=CT, affected_sop_instance_uid=f"1.2.3.{i}")
        yield 0, message(1, req, body, max_pdu)
        yield 1, message(1, CStoreRSP(message_id_being_responded_to=i, status=0, affected_sop_class_uid=CT,
                                      affected_sop_instance_uid=f"1.2.3.{i}"))
    yield 0, encode_pdu(AReleaseRQ())
    yield 1, encode_pdu(AReleaseRP())

"""Stream TCP segments out of a pcap or pcapng file with bounded memory.

Why our own reader instead of scapy's: dissecting every packet with scapy costs ~50 µs of Python objects per
packet, which is the whole budget of the `pcap` benchmark (our time must stay at or under tshark's). Here a
record is read with two ``read`` calls into ``bytes``, and the link, IP and TCP headers are parsed with
``struct`` at fixed offsets; the TCP payload is a ``memoryview`` slice of the record (no copy). Only one record
is held at a time, so a capture larger than RAM streams through.

Formats: classic pcap (µs and ns magic, either byte order) and pcapng (SHB/IDB/EPB/SPB and the obsolete PB,
several sections and interfaces, ``if_tsresol``). Link types: Ethernet (with 802.1Q/QinQ tags), Linux cooked
SLL and SLL2, raw IP (101, 228, 229, and the BSD DLT_RAW values 12/14), BSD loopback NULL and LOOP.
Network layer: IPv4 (fragments are counted and skipped: TCP over IP fragments is vanishingly rare) and IPv6
with its extension headers.

A file that is not a capture raises ``CaptureFormatError`` (a ValueError) naming what was found; a record cut
short at the end of the file (a capture that was killed) ends the stream and sets ``truncated``. Damage after
the file header (a block length that breaks the framing, a block too short for its fixed fields, a packet
longer than its block) never raises: ``stats.damage`` names the first one and its byte offset, a block whose
framing still holds is skipped (``damaged_blocks``), and broken framing ends the stream there. Every field is
read only after its length was checked against what the block holds.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal, NamedTuple

__all__ = ["CaptureFormatError", "Segment", "CaptureReader", "decode_packet", "LINKTYPES"]

# Records larger than this are not packets but corruption; refusing them keeps memory bounded.
MAX_RECORD = 256 << 20
_READ_BUFFER = 1 << 20

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_SLL, LINKTYPE_SLL2, LINKTYPE_IPV4, LINKTYPE_IPV6 = 113, 276, 228, 229
LINKTYPES = {0: "NULL (BSD loopback)", 1: "Ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP",
             108: "OpenBSD loopback", 113: "Linux cooked (SLL)", 276: "Linux cooked v2 (SLL2)", 228: "IPv4",
             229: "IPv6"}

_ETH_VLAN = (0x8100, 0x88A8, 0x9100)
_U16BE = struct.Struct(">H")
_U32BE = struct.Struct(">I")
_U32LE = struct.Struct("<I")
_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_TCP = struct.Struct(">HHIIBB")
_IPV6_EXT = frozenset({0, 43, 60, 51})  # hop-by-hop, routing, destination options, AH
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10


class CaptureFormatError(ValueError):
    """The file is not a pcap/pcapng capture, or its structure is broken beyond reading."""


class Segment(NamedTuple):
    """One TCP segment. Addresses are raw ``bytes`` (4 or 16): cheap as dict keys; the analysis formats them
    only for the few connections that carry DICOM."""

    ts: float
    src: bytes
    sport: int
    dst: bytes
    dport: int
    seq: int
    ack: int
    flags: int
    payload: memoryview
    wire_payload: int  # TCP payload length per the IP header (larger than len(payload) when snapped)


@dataclass
class ReaderStats:
    packets: int = 0
    tcp_segments: int = 0
    not_tcp: int = 0
    ip_fragments: int = 0
    unsupported_link: int = 0
    truncated: bool = False
    format: str = ""
    linktypes: set[int] | None = None
    # The first damage seen after the file header: what it was, at which byte, and how many packets had been
    # read before it (damage later in the file only counts in damaged_blocks).
    damage: str = ""
    damage_offset: int | None = None
    packets_before_damage: int = 0
    damaged_blocks: int = 0
    stopped_at: int | None = None  # where the framing broke: nothing after this offset was read

    def damaged(self, offset: int, what: str, *, stop: bool = False) -> None:
        self.damaged_blocks += 1
        if not self.damage:
            self.damage, self.damage_offset, self.packets_before_damage = what, offset, self.packets
        if stop:
            self.stopped_at = offset


def _decode_ip(data: memoryview, off: int) -> tuple[bytes, bytes, memoryview, int] | None | Literal[False]:
    """(src, dst, tcp bytes, tcp length on the wire) for a TCP packet; None if not TCP; False if a fragment."""
    if len(data) - off < 20:
        return None
    version = data[off] >> 4
    if version == 4:
        vihl, _tos, total, _ident, frag, _ttl, proto, _csum, src, dst = _IPV4.unpack_from(data, off)
        if proto != 6:
            return None
        if frag & 0x3FFF:  # more-fragments flag or a fragment offset
            return False
        ihl = (vihl & 0x0F) * 4
        if ihl < 20:  # not a valid IPv4 header: whatever follows is not a TCP header
            return None
        # total 0 happens with TSO on the capturing host: the segment is whatever was captured.
        end = off + total if total else len(data)
        wire = (total - ihl) if total else (len(data) - off - ihl)
        return src, dst, data[off + ihl:min(end, len(data))], wire
    if version == 6:
        if len(data) - off < 40:
            return None
        plen = _U16BE.unpack_from(data, off + 4)[0]
        nxt = data[off + 6]
        src = bytes(data[off + 8:off + 24])
        dst = bytes(data[off + 24:off + 40])
        pos = off + 40
        end = pos + plen if plen else len(data)
        while nxt != 6:
            if nxt == 44:  # fragment header
                return False
            if nxt not in _IPV6_EXT or len(data) - pos < 8:
                return None
            hlen = (data[pos + 1] + 2) * 4 if nxt == 51 else (data[pos + 1] + 1) * 8
            nxt = data[pos]
            pos += hlen
        return src, dst, data[pos:min(end, len(data))], end - pos
    return None


def decode_packet(linktype: int, ts: float, data: memoryview) -> Segment | None | Literal[False]:
    """A TCP ``Segment`` from one captured frame; None when it is not TCP over IP; False for an IP fragment.
    Raises ``KeyError`` for a link type we do not read (the reader counts those)."""
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return None
        etype = _U16BE.unpack_from(data, 12)[0]
        off = 14
        while etype in _ETH_VLAN and len(data) >= off + 4:
            etype = _U16BE.unpack_from(data, off + 2)[0]
            off += 4
        if etype not in (0x0800, 0x86DD):
            return None
    elif linktype == LINKTYPE_SLL:
        if len(data) < 16 or _U16BE.unpack_from(data, 14)[0] not in (0x0800, 0x86DD):
            return None
        off = 16
    elif linktype == LINKTYPE_SLL2:
        if len(data) < 20 or _U16BE.unpack_from(data, 0)[0] not in (0x0800, 0x86DD):
            return None
        off = 20
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, 12, 14):
        off = 0
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(data) < 4:
            return None
        # NULL stores the address family in the *capturing* host's byte order: accept either.
        fam = _U32BE.unpack_from(data, 0)[0] if linktype == LINKTYPE_LOOP else _U32LE.unpack_from(data, 0)[0]
        if fam > 0xFFFF:
            fam = _U32BE.unpack_from(data, 0)[0]
        if fam not in (2, 24, 28, 30):  # AF_INET; AF_INET6 on the BSDs, macOS and Linux-era captures
            return None
        off = 4
    else:
        raise KeyError(linktype)
    ip = _decode_ip(data, off)
    if not isinstance(ip, tuple):
        return ip  # None (not TCP) or False (a fragment)
    src, dst, tcp, wire = ip
    if len(tcp) < 20:
        return None
    sport, dport, seq, ack, doff, flags = _TCP.unpack_from(tcp, 0)
    hlen = (doff >> 4) * 4
    if hlen < 20:
        return None
    return Segment(ts, src, sport, dst, dport, seq, ack, flags, tcp[hlen:], max(0, wire - hlen))


class CaptureReader:
    """Iterate ``Segment``s of a pcap/pcapng file. ``stats`` counts what was skipped and why."""

    def __init__(self, path: str | BinaryIO) -> None:
        # A path, or an open binary file (the fuzzers read captures from memory); messages name the path.
        self._file: BinaryIO | None = None if isinstance(path, str) else path
        self.path = path if isinstance(path, str) else str(getattr(path, "name", "<capture>"))
        self.stats = ReaderStats(linktypes=set())

    def __iter__(self) -> Iterator[Segment]:
        if self._file is not None:
            yield from self._read(self._file)
            return
        try:
            f = open(self.path, "rb", buffering=_READ_BUFFER)
        except OSError as exc:
            raise CaptureFormatError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        with f:
            yield from self._read(f)

    def _read(self, f: BinaryIO) -> Iterator[Segment]:
        head = f.read(4)
        if len(head) < 4:
            raise CaptureFormatError(f"{self.path} is not a pcap or pcapng capture (the file is "
                                     f"{len(head)} bytes long)")
        if head == b"\x0a\x0d\x0d\x0a":
            yield from self._pcapng(f)
        elif head in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
            yield from self._pcap(f, head)
        else:
            raise CaptureFormatError(f"{self.path} is not a pcap or pcapng capture (it starts with "
                                     f"{head.hex(' ')}; pcap starts with d4 c3 b2 a1 or a1 b2 c3 d4, "
                                     f"pcapng with 0a 0d 0d 0a)")

    # -- helpers --------------------------------------------------------------------------------------
    def _emit(self, linktype: int, ts: float, data: bytes) -> Segment | None:
        st = self.stats
        st.packets += 1
        try:
            seg = decode_packet(linktype, ts, memoryview(data))
        except KeyError:
            st.unsupported_link += 1
            return None
        if seg is None:
            st.not_tcp += 1
            return None
        if seg is False:
            st.ip_fragments += 1
            return None
        st.tcp_segments += 1
        return seg  # type: ignore[return-value]

    # -- classic pcap ---------------------------------------------------------------------------------
    def _pcap(self, f: BinaryIO, magic: bytes) -> Iterator[Segment]:
        little = magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        e = "<" if little else ">"
        rest = f.read(20)
        if len(rest) < 20:
            raise CaptureFormatError(f"{self.path}: pcap global header cut short ({4 + len(rest)} of 24 bytes)")
        _vmaj, _vmin, _zone, _sig, _snap, network = struct.unpack(e + "HHiIII", rest)
        linktype = network & 0x0FFFFFFF  # the upper bits hold FCS flags (pcap-linktype(7))
        st = self.stats
        st.format = "pcap"
        assert st.linktypes is not None
        st.linktypes.add(linktype)
        rec = struct.Struct(e + "IIII")
        div = 1e9 if nano else 1e6
        read = f.read
        emit = self._emit
        pos = 24
        while True:
            hdr = read(16)
            if len(hdr) < 16:
                st.truncated = bool(hdr)
                return
            sec, frac, incl, _orig = rec.unpack(hdr)
            if incl > MAX_RECORD:
                # No resynchronising a classic pcap: the next record starts where this length says.
                st.damaged(pos, f"pcap record {st.packets + 1} claims {incl} bytes (more than the "
                                f"{MAX_RECORD >> 20} MiB any packet can be)", stop=True)
                return
            data = read(incl)
            if len(data) < incl:
                st.truncated = True
                return
            pos += 16 + incl
            seg = emit(linktype, sec + frac / div, data)
            if seg is not None:
                yield seg

    # -- pcapng ---------------------------------------------------------------------------------------
    def _pcapng(self, f: BinaryIO) -> Iterator[Segment]:
        st = self.stats
        st.format = "pcapng"
        assert st.linktypes is not None
        read = f.read
        emit = self._emit
        e = "<"
        interfaces: list[tuple[int, float]] = []  # (linktype, seconds per timestamp unit)
        first = True
        pos = 0  # byte offset of the block being read
        while True:
            hdr = b"\x0a\x0d\x0d\x0a" + read(4) if first else read(8)
            if len(hdr) < 8:
                st.truncated = bool(hdr) and not first
                if first:
                    raise CaptureFormatError(f"{self.path}: pcapng section header cut short")
                return
            btype = hdr[:4]
            if btype == b"\x0a\x0d\x0d\x0a":  # SHB: its byte-order magic decides the section's endianness
                bom = read(4)
                if len(bom) < 4 and not first:
                    st.truncated = True
                    return
                if bom == b"\x4d\x3c\x2b\x1a":
                    e = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    e = ">"
                elif first:
                    raise CaptureFormatError(f"{self.path}: pcapng section header with a bad byte-order "
                                             f"magic ({bom.hex(' ')})")
                else:
                    st.damaged(pos, f"pcapng section header with a bad byte-order magic ({bom.hex(' ')})",
                               stop=True)
                    return
                total = struct.unpack(e + "I", hdr[4:8])[0]
                if total < 28 or total > MAX_RECORD or (total % 4 and not first):
                    if first:
                        raise CaptureFormatError(f"{self.path}: pcapng section header length {total} is invalid")
                    st.damaged(pos, f"pcapng section header length {total} is invalid (a multiple of 4, at "
                                    f"least 28)", stop=True)
                    return
                body = read(total - 12)
                if len(body) < total - 12:
                    st.truncated = True
                    return
                interfaces = []
                first = False
                pos += total
                continue
            first = False
            code, total = struct.unpack(e + "II", hdr)
            if total < 12 or total > MAX_RECORD or total % 4:
                # The length is the only way to the next block: with it broken, stop here.
                st.damaged(pos, f"pcapng block of type {code} has an invalid length {total} (a multiple of 4, "
                                f"12 to {MAX_RECORD} bytes)", stop=True)
                return
            body = read(total - 8)
            if len(body) < total - 8:
                st.truncated = True
                return
            at, pos = pos, pos + total
            # `body` ends with the trailing copy of the block length; the block's own fields come before it.
            size = len(body) - 4
            need = _FIXED.get(code)
            if need is not None and size < need:
                st.damaged(at, f"pcapng {_BLOCK_NAMES[code]} is {total} bytes long, too short for its "
                               f"{need}-byte fixed part (at least {need + 12} bytes)")
                continue
            if code == 6 or code == 2:  # Enhanced Packet Block; obsolete Packet Block
                if code == 6:
                    iface, hi, lo, caplen = struct.unpack_from(e + "IIII", body, 0)
                else:
                    iface, _drops, hi, lo, caplen = struct.unpack_from(e + "HHIII", body, 0)
                if caplen > size - 20:
                    st.damaged(at, f"pcapng {_BLOCK_NAMES[code]} claims {caplen} captured bytes but holds "
                                   f"{size - 20}")
                    continue
                if iface >= len(interfaces):
                    continue
                linktype, unit = interfaces[iface]
                seg = emit(linktype, ((hi << 32) | lo) * unit, body[20:20 + caplen])
                if seg is not None:
                    yield seg
            elif code == 1:  # Interface Description Block
                linktype = struct.unpack_from(e + "H", body, 0)[0]
                interfaces.append((linktype, _tsresol(body, e)))
                st.linktypes.add(linktype)
            elif code == 3:  # Simple Packet Block: no timestamp, interface 0
                if not interfaces:
                    continue
                orig = struct.unpack_from(e + "I", body, 0)[0]
                linktype, _unit = interfaces[0]
                seg = emit(linktype, 0.0, body[4:4 + min(orig, size - 4)])
                if seg is not None:
                    yield seg
            # other blocks (name resolution, statistics, custom, decryption secrets) carry no packets


# The fixed part of each packet-carrying block (pcapng draft §4): what must be there before its data.
_FIXED = {6: 20, 2: 20, 3: 4, 1: 8}
_BLOCK_NAMES = {6: "Enhanced Packet Block", 2: "Packet Block (obsolete)", 3: "Simple Packet Block",
                1: "Interface Description Block"}


def _tsresol(body: bytes, e: str) -> float:
    """Seconds per timestamp unit from the IDB's if_tsresol option (code 9); default microseconds."""
    pos = 8
    end = len(body) - 4  # the trailing block length
    while pos + 4 <= end:
        code, length = struct.unpack_from(e + "HH", body, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = body[pos + 4]
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        pos += 4 + ((length + 3) & ~3)
    return 1e-6

"""Units of the capture layer: the pcap reader's formats, TCP reassembly edge cases, the live-capture
helpers and the raw probes (loopback, skipped without raw-socket privileges)."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import synth  # noqa: E402

from dicomdoctor.capture import analyse_file  # noqa: E402
from dicomdoctor.capture.live import CaptureError, bpf_filter, interface_for, start  # noqa: E402
from dicomdoctor.capture.reader import CaptureReader  # noqa: E402
from dicomdoctor.capture.tcp import HalfStream, TcpTracker  # noqa: E402


# --------------------------------------------------------------------------------------------- reader

def _pcap_variants(src: bytes) -> dict[str, bytes]:
    """The same records as little-endian µs (the source), big-endian µs and little-endian ns pcap."""
    magic, vmaj, vmin, zone, sig, snap, link = struct.unpack_from("<IHHiIII", src, 0)
    recs = []
    pos = 24
    while pos < len(src):
        sec, usec, incl, orig = struct.unpack_from("<IIII", src, pos)
        recs.append((sec, usec, incl, orig, src[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    out = {}
    for name, e, m, scale in (("be-us", ">", 0xA1B2C3D4, 1), ("le-ns", "<", 0xA1B23C4D, 1000)):
        body = struct.pack(e + "IHHiIII", m, vmaj, vmin, zone, sig, snap, link)
        for sec, usec, incl, orig, data in recs:
            body += struct.pack(e + "IIII", sec, usec * scale, incl, orig) + data
        out[name] = body
    return out


def test_pcap_byte_orders_and_nanoseconds(tmp_path: Path) -> None:
    src = synth.write_raw_pcap(tmp_path / "le.pcap", synth.Conversation.echo().parts).read_bytes()
    base = analyse_file(str(tmp_path / "le.pcap"))
    for name, data in _pcap_variants(src).items():
        p = tmp_path / f"{name}.pcap"
        p.write_bytes(data)
        r = analyse_file(str(p))
        assert r.verdict == "pass", name
        ta = r.findings[0].evidence["time_to_accept_ms"]
        assert ta == pytest.approx(base.findings[0].evidence["time_to_accept_ms"], abs=0.01), name


def test_truncated_file_is_read_up_to_the_cut(tmp_path: Path) -> None:
    data = synth.write_raw_pcap(tmp_path / "full.pcap", synth.Conversation.echo().parts).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-30])  # inside the last record
    reader = CaptureReader(str(cut))
    n = sum(1 for _ in reader)
    assert reader.stats.truncated and n == reader.stats.tcp_segments > 5
    r = analyse_file(str(cut))
    f = [x for x in r.findings if x.check == "capture.file"][0]
    assert "cut short" in f.summary and f.status.value == "warn"


def test_pcapng_from_scapy_has_interface_and_timestamps(tmp_path: Path) -> None:
    path = synth.write_capture(tmp_path / "e.pcapng", synth.Conversation.echo(), fmt="pcapng")
    reader = CaptureReader(str(path))
    segs = list(reader)
    assert reader.stats.format == "pcapng" and reader.stats.linktypes == {1}
    assert segs[0].ts == pytest.approx(1_700_000_000.0, abs=1e-5)
    assert segs[1].ts - segs[0].ts == pytest.approx(0.001, abs=1e-5)


# ------------------------------------------------------------------------------------------------ tcp

class Collect:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.gaps: list[tuple[int, int, int]] = []

    def data(self, direction: int, ts: float, data: Any) -> None:
        self.buf += data

    def gap(self, direction: int, ts: float, offset: int, length: int, seq: int) -> None:
        self.gaps.append((offset, length, seq))
        self.buf += b"?" * length

    def closed(self, ts: float, how: str) -> None:
        pass


def test_halfstream_overlaps_out_of_order_and_holes() -> None:
    c = Collect()
    s = HalfStream(0, c, max_pending=1 << 20)
    s.syn(99)  # data starts at seq 100
    mv = memoryview
    s.segment(0, 106, mv(b"ghij"), 4)      # out of order
    s.segment(0, 100, mv(b"abc"), 3)
    s.segment(0, 101, mv(b"bcdef"), 5)     # overlaps what was delivered, fills the hole
    s.segment(0, 100, mv(b"abcdefghij"), 10)  # full retransmission
    s.segment(0, 115, mv(b"pq"), 2)        # a hole of 5 bytes at seq 110
    assert bytes(c.buf) == b"abcdefghij" and s.retransmitted == 12  # "bc" + the full 10
    s.flush(0)
    assert c.gaps == [(10, 5, 110)] and bytes(c.buf) == b"abcdefghij?????pq"


def test_pending_buffer_is_bounded() -> None:
    c = Collect()
    s = HalfStream(0, c, max_pending=1000)
    s.syn(0)
    for i in range(5):
        s.segment(0, 1 + 100 + i * 400, memoryview(b"x" * 400), 400)  # all after a 100-byte hole
    assert c.gaps == [(0, 100, 1)] and s.pending_bytes <= 1000 and len(c.buf) == 2100


def test_tracker_closes_and_forgets_connections() -> None:
    seen = []

    class H(Collect):
        def closed(self, ts: float, how: str) -> None:
            seen.append(how)

    tr = TcpTracker(lambda ts, a, b: H())
    from dicomdoctor.capture.reader import Segment

    a, b = (b"\x0a\x00\x00\x09", 5000), (b"\x0a\x00\x00\x05", 104)
    e = memoryview(b"")
    tr.feed(Segment(0, *a, *b, 10, 0, 0x02, e, 0))
    tr.feed(Segment(0, *b, *a, 20, 11, 0x12, e, 0))
    tr.feed(Segment(0, *a, *b, 11, 21, 0x14, e, 0))  # RST
    assert seen == ["rst"] and not tr.connections
    tr.feed(Segment(0, *a, *b, 11, 21, 0x10, e, 0))  # a late ACK does not resurrect it
    assert not tr.connections


# ----------------------------------------------------------------------------------------------- live

def test_live_helpers() -> None:
    assert interface_for("127.0.0.1") == "lo" and interface_for("::1") == "lo"
    assert bpf_filter([("127.0.0.1", 104)], [11113]) == "(host 127.0.0.1 and (tcp port 104 or tcp port 11113))"
    with pytest.raises(CaptureError, match="needs tcpdump, dumpcap or tshark"):
        start("/tmp/x.pcap", [("127.0.0.1", 104)], tool="no-such-capture-tool")
    with pytest.raises(CaptureError, match="does not exist"):
        start("/no/such/folder/x.pcap", [("127.0.0.1", 104)])


def test_live_capture_not_permitted_is_a_clear_error(tmp_path: Path) -> None:
    # A stand-in for dumpcap run by an unprivileged user: the message is dumpcap's own wording.
    fake = tmp_path / "dumpcap"
    fake.write_text("#!/bin/sh\necho \"Capturing on 'Loopback: lo'\" >/dev/null\n"
                    "echo \"dumpcap: You don't have permission to capture on that device\" >&2\n"
                    "echo \"(socket: Operation not permitted)\" >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(CaptureError) as info:
        start(str(tmp_path / "x.pcap"), [("127.0.0.1", 104)], tool=str(fake))
    msg = str(info.value)
    assert "needs permission to capture packets on lo" in msg and "setcap" in msg
    assert "Operation not permitted" in msg


# ------------------------------------------------------------------------------------------ raw probes

@pytest.fixture
def raw_ok() -> None:
    from dicomdoctor.probes.raw import privileged

    if not privileged():
        pytest.skip("raw sockets need root or CAP_NET_RAW")


def test_syn_probe_open_and_closed_on_loopback(raw_ok: None) -> None:
    from dicomdoctor.probes.raw import raw_probe, syn_probe

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        assert syn_probe("127.0.0.1", port)["outcome"] == "open"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    out = raw_probe("127.0.0.1", closed)
    assert out["available"] and out["syn"]["outcome"] == "closed" and out["syn"]["from"] == "127.0.0.1"
    assert out["traceroute"]["reached"] and out["traceroute"]["hops"][0]["ttl"] == 1
    assert "RST" in out["meaning"]


def test_classify_icmp_and_silence() -> None:
    pytest.importorskip("scapy")
    from scapy.layers.inet import ICMP, IP, TCP

    from dicomdoctor.probes.raw import classify_answer

    assert classify_answer(None) == {"outcome": "filtered"}
    rej = IP(src="10.0.0.1", dst="10.0.0.9") / ICMP(type=3, code=13) / IP(dst="10.0.0.5") / TCP(dport=104)
    out = classify_answer(rej)
    assert out["outcome"] == "prohibited" and out["from"] == "10.0.0.1"
    assert out["icmp"]["name"] == "communication-prohibited"
    ttl = IP(src="10.0.0.254") / ICMP(type=11, code=0) / IP(dst="10.0.0.5") / TCP(dport=104)
    assert classify_answer(ttl)["outcome"] == "time-exceeded"


def test_capture_package_does_not_import_scapy() -> None:
    code = "import sys, dicomdoctor.capture, dicomdoctor.commands.pcap; print('scapy' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "False", res.stderr


def _pcapng_block(e: str, code: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack(e + "II", code, len(body) + 12) + body + struct.pack(e + "I", len(body) + 12)


def test_pcapng_sections_byte_orders_tsresol_and_simple_packets(tmp_path: Path) -> None:
    """Hand-built pcapng: a big-endian section with nanosecond timestamps (if_tsresol=9) carrying the first
    half of an echo as EPBs, then a little-endian section carrying the rest as Simple Packet Blocks."""
    frames = []
    for d, off, chunk, acked in synth._segments(synth.Conversation.echo(), 1460):
        ends = (synth.CLIENT, synth.SERVER)
        frames.append(synth.frame(101, ends[d], ends[1 - d], (1001, 5001)[d] + off, (1001, 5001)[1 - d] + acked,
                                  0x18, chunk))
    out = b""
    for e, part, spb in ((">", frames[:3], False), ("<", frames[3:], True)):
        out += _pcapng_block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
        opts = struct.pack(e + "HH", 9, 1) + b"\x09\x00\x00\x00" + struct.pack(e + "HH", 0, 0)
        out += _pcapng_block(e, 1, struct.pack(e + "HHI", 101, 0, 65535) + opts)
        for i, fr in enumerate(part):
            if spb:
                out += _pcapng_block(e, 3, struct.pack(e + "I", len(fr)) + fr)
            else:
                ts = 1_700_000_000_000_000_000 + i * 1_000_000  # ns
                out += _pcapng_block(e, 6, struct.pack(e + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(fr), len(fr)) + fr)
        out += _pcapng_block(e, 5, b"\x00" * 8)  # an Interface Statistics Block: skipped
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(out)
    reader = CaptureReader(str(path))
    segs = list(reader)
    assert len(segs) == len(frames) and segs[0].ts == pytest.approx(1_700_000_000.0)
    assert segs[1].ts - segs[0].ts == pytest.approx(0.001, abs=1e-6)
    report = analyse_file(str(path))
    dimse = [f for f in report.findings if f.check == "capture.dimse"][0]
    assert dimse.evidence["operations"] == {"C-ECHO": 1} and dimse.status.value == "pass"

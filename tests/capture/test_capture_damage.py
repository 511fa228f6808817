"""Damaged captures: blocks shorter than their fixed fields, impossible lengths, packets longer than their
block. Each is a capture.file finding naming the byte offset and what was read before it, never an
exception (the reader used to raise struct.error for an Enhanced or Simple/obsolete Packet Block whose body
was shorter than its fixed header)."""

from __future__ import annotations

import io
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fuzz import seeds  # noqa: E402

from dicomdoctor.capture.analyse import CaptureAnalysis  # noqa: E402
from dicomdoctor.capture.reader import CaptureReader  # noqa: E402
from dicomdoctor.cli import main  # noqa: E402

FRAMES = seeds._frames(seeds._conversations()[0])


def block(code: int, body: bytes, total: int | None = None) -> bytes:
    """A little-endian pcapng block; `total` overrides the length fields (a damaged block)."""
    body += b"\x00" * (-len(body) % 4)
    n = 12 + len(body) if total is None else total
    return struct.pack("<II", code, n) + body + struct.pack("<I", n)


SHB = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
IDB = block(1, struct.pack("<HHI", 1, 0, 262144))


def epb(frame: bytes, caplen: int | None = None) -> bytes:
    return block(6, struct.pack("<IIIII", 0, 0, 0, len(frame) if caplen is None else caplen, len(frame)) + frame)


def good_packets(n: int) -> bytes:
    return b"".join(epb(f) for f in FRAMES[:n])


def file_finding(data: bytes) -> Any:
    report = CaptureAnalysis(source="damaged.pcapng").run(io.BytesIO(data)).report()
    return next(f for f in report.findings if f.check == "capture.file")


def short_block(code: int, body_len: int) -> bytes:
    # The length fields agree and frame the block, but the body is too short for the block's fixed part.
    return struct.pack("<II", code, 12 + body_len) + b"\x00" * body_len + struct.pack("<I", 12 + body_len)


@pytest.mark.parametrize("code,body_len,name", [
    (6, 0, "Enhanced Packet Block"), (6, 4, "Enhanced Packet Block"), (6, 16, "Enhanced Packet Block"),
    (3, 0, "Simple Packet Block"), (2, 0, "Packet Block (obsolete)"), (2, 12, "Packet Block (obsolete)"),
    (1, 4, "Interface Description Block"),
])
def test_block_shorter_than_its_fixed_part_is_a_finding(code: int, body_len: int, name: str) -> None:
    head = SHB + IDB + good_packets(3)
    data = head + short_block(code, body_len) + b"".join(epb(f) for f in FRAMES[3:])
    reader = CaptureReader(io.BytesIO(data))
    segments = list(reader)  # never raises
    assert reader.stats.damage_offset == len(head) and name in reader.stats.damage
    assert reader.stats.packets_before_damage == 3 and reader.stats.stopped_at is None
    assert len(segments) == len(FRAMES)  # the block was skipped, everything around it read
    f = file_finding(data)
    assert f.status.value == "warn" and [c.id for c in f.causes] == ["capture-damaged"]
    assert f"damaged at byte {len(head)}" in f.summary and name in f.summary
    assert "3 packet(s) were read before it" in f.summary
    assert f.evidence["damage_offset"] == len(head) and f.evidence["packets_before_damage"] == 3
    # the association around the skipped block is still analysed
    report = CaptureAnalysis(source="x").run(io.BytesIO(data)).report()
    assert any(x.check == "capture.association" for x in report.findings)


def test_packet_longer_than_its_block() -> None:
    head = SHB + IDB + good_packets(2)
    data = head + epb(FRAMES[2], caplen=4000) + b"".join(epb(f) for f in FRAMES[3:])
    reader = CaptureReader(io.BytesIO(data))
    list(reader)
    assert reader.stats.damage_offset == len(head) and "claims 4000 captured bytes" in reader.stats.damage


def test_broken_block_length_stops_reading_there() -> None:
    head = SHB + IDB + good_packets(4)
    data = head + struct.pack("<II", 6, 13) + b"\x00" * 40 + good_packets(3)
    f = file_finding(data)
    assert f"damaged at byte {len(head)}" in f.summary and "invalid length 13" in f.summary
    assert "nothing after it could be read" in f.summary and f.evidence["stopped_at"] == len(head)


def test_second_section_with_a_bad_byte_order_magic() -> None:
    first = SHB + IDB + good_packets(2)
    data = first + struct.pack("<I", 0x0A0D0D0A) + struct.pack("<I", 28) + b"\x11\x22\x33\x44" + b"\x00" * 16
    f = file_finding(data)
    assert f"damaged at byte {len(first)}" in f.summary and "byte-order magic" in f.summary


def test_pcap_record_with_an_absurd_length(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = seeds.pcap(FRAMES)
    cut = 24 + sum(16 + len(f) for f in FRAMES[:5])
    data = good[:cut] + struct.pack("<IIII", 1, 0, 0xF0000000, 60) + good[cut + 16:]
    path = tmp_path / "absurd.pcap"
    path.write_bytes(data)
    rc = main(["pcap", str(path), "--format", "json"])
    out = capsys.readouterr()
    assert rc == 1 and "Traceback" not in out.err
    import json

    found = [f for f in json.loads(out.out)["findings"] if f["check"] == "capture.file"][0]
    assert f"damaged at byte {cut}" in found["summary"] and "5 packet(s) were read before it" in found["summary"]


def test_not_a_capture_is_still_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.pcapng"
    path.write_bytes(b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x99\x99\x99\x99" + b"\x00" * 16)
    assert main(["pcap", str(path)]) == 3
    assert "byte-order magic" in capsys.readouterr().err

"""DICOM Part 10 files (PS3.10 §7.1): read just the header, so a C-STORE can send the data set bytes that
follow it as they are, without decoding and re-encoding the object.

`parse_part10_header` is a pure function over the first bytes of a file: the 128-byte preamble, "DICM",
and the group 0002 File Meta Information (always Explicit VR Little Endian, PS3.10 §7.1). When the file's
Transfer Syntax equals the one accepted for the presentation context, the bytes from ``dataset_offset`` to
the end ARE the C-STORE data set (PS3.7 §9.1.1.1.x: the data set is encoded in the negotiated transfer
syntax), so net/ can stream them straight into `fragment_dataset_stream`. Otherwise `encode_dataset`
re-encodes with pydicom.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
ExplicitVRBigEndian = "1.2.840.10008.1.2.2"
ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
ImplicitVRLittleEndian = "1.2.840.10008.1.2"

PREAMBLE = 128
MAGIC = b"DICM"
# File Meta Information is a handful of short elements; anything larger is not a sane file header.
MAX_META_BYTES = 64 * 1024
# Explicit VR with a 2-byte reserved field and a 4-byte length (PS3.5 Table 7.1-1).
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_UNCOMPRESSED = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
                           DeflatedExplicitVRLittleEndian})


class Part10Error(ValueError):
    """The bytes are not a usable DICOM Part 10 file header; the message says what is wrong."""


class Part10NeedMore(Part10Error):
    """The header continues past the bytes given; read at least ``needed`` bytes and call again."""

    def __init__(self, needed: int) -> None:
        super().__init__(f"the Part 10 header needs at least {needed} bytes")
        self.needed = needed


@dataclass(frozen=True, slots=True)
class Part10Info:
    """What the File Meta Information says. ``dataset_offset``: where the data set starts in the file."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    dataset_offset: int
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    source_ae_title: str | None = None


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw.decode("latin-1").rstrip("\x00 ").strip()


def parse_part10_header(data: bytes | bytearray | memoryview) -> Part10Info:
    """Parse the preamble, "DICM" and group 0002 from the first bytes of a file.

    Raises `Part10NeedMore` when ``data`` ends inside the header (read more and retry), `Part10Error`
    for anything that is not a Part 10 file (no "DICM", no transfer syntax, a meta group that cannot
    be walked or is over `MAX_META_BYTES`).
    """
    mv = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
    n = len(mv)
    if n < PREAMBLE + 4:
        if n > PREAMBLE and bytes(mv[PREAMBLE:]) != MAGIC[:n - PREAMBLE]:
            raise Part10Error(f"not a DICOM Part 10 file: no 'DICM' at offset {PREAMBLE}")
        raise Part10NeedMore(PREAMBLE + 4)
    if bytes(mv[PREAMBLE:PREAMBLE + 4]) != MAGIC:
        hint = " (it starts with 'DICM': a file without the 128-byte preamble)" if bytes(mv[:4]) == MAGIC else ""
        raise Part10Error(f"not a DICOM Part 10 file: no 'DICM' at offset {PREAMBLE}{hint}")
    pos = PREAMBLE + 4
    meta: dict[int, bytes] = {}
    while True:
        if pos + 8 > n:
            if meta and pos == n:
                break  # a file that ends right after its meta group: an empty data set
            raise Part10NeedMore(pos + 8)
        group, elem = struct.unpack_from("<HH", mv, pos)
        if group != 0x0002:
            break
        vr = bytes(mv[pos + 4:pos + 6])
        if not (vr.isalpha() and vr.isupper()):
            # A broken writer put the meta group in Implicit VR; tolerate it (decode leniently).
            length = struct.unpack_from("<I", mv, pos + 4)[0]
            header = 8
        elif vr in _LONG_VRS:
            if pos + 12 > n:
                raise Part10NeedMore(pos + 12)
            length = struct.unpack_from("<I", mv, pos + 8)[0]
            header = 12
        else:
            length = struct.unpack_from("<H", mv, pos + 6)[0]
            header = 8
        if length == 0xFFFFFFFF:
            raise Part10Error(f"File Meta element (0002,{elem:04X}) at offset {pos} has undefined length")
        end = pos + header + length
        if end - PREAMBLE - 4 > MAX_META_BYTES:
            raise Part10Error(f"File Meta group runs past {MAX_META_BYTES} bytes (element (0002,{elem:04X}) "
                              f"at offset {pos} claims {length} bytes)")
        if end > n:
            raise Part10NeedMore(end)
        meta[(group << 16) | elem] = bytes(mv[pos + header:end])
        pos = end
    ts = _text(meta.get(0x00020010))
    if not ts:
        raise Part10Error("File Meta Information has no (0002,0010) Transfer Syntax UID")
    sop_class = _text(meta.get(0x00020002))
    sop_instance = _text(meta.get(0x00020003))
    if not sop_class or not sop_instance:
        raise Part10Error("File Meta Information lacks (0002,0002) Media Storage SOP Class UID or "
                          "(0002,0003) Media Storage SOP Instance UID")
    return Part10Info(sop_class, sop_instance, ts, pos,
                      implementation_class_uid=_text(meta.get(0x00020012)),
                      implementation_version_name=_text(meta.get(0x00020013)),
                      source_ae_title=_text(meta.get(0x00020016)))


def _is_encapsulated(ds: Dataset) -> bool:
    from pydicom.uid import UID
    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    return ts is not None and UID(ts) not in _UNCOMPRESSED and "PixelData" in ds


def encode_dataset(ds: Dataset, transfer_syntax: str) -> bytes:
    """Encode a data set (without File Meta) in a transfer syntax, for the fallback path of C-STORE.

    Handles the uncompressed syntaxes (and Deflate). For a compressed (encapsulated) syntax the pixel data
    must already be in it: this does not transcode pixel data and says so (ValueError).
    """
    from pydicom.dataset import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    from pydicom.uid import UID
    ts = UID(transfer_syntax)
    meta = getattr(ds, "file_meta", None)
    current = UID(meta.TransferSyntaxUID) if meta is not None and "TransferSyntaxUID" in meta else None
    if ts not in _UNCOMPRESSED:
        if "PixelData" in ds and current != ts:
            raise ValueError(f"cannot transcode pixel data from {current or 'an unknown transfer syntax'} "
                             f"to {ts.name}; send in the file's own syntax or convert it first")
    elif _is_encapsulated(ds):
        raise ValueError(f"the pixel data is compressed ({current.name if current else '?'}); "
                         f"cannot send it as {ts.name} without decompressing")
    if any(int(tag) >> 16 == 0x0002 for tag in ds.keys()):
        ds = Dataset({tag: elem for tag, elem in ds.items() if int(tag) >> 16 != 0x0002})
    fp = DicomBytesIO()
    fp.is_little_endian = ts != ExplicitVRBigEndian
    fp.is_implicit_VR = ts == ImplicitVRLittleEndian
    write_dataset(fp, ds)
    raw = fp.getvalue()
    if ts == DeflatedExplicitVRLittleEndian:
        # PS3.5 §A.5: the data set is deflated (RFC 1951, no zlib header).
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        raw = comp.compress(raw) + comp.flush()
    return raw

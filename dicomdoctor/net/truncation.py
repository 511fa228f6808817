"""Is a Part-10 file's data set complete? A walk over its element headers, before anything is sent.

A file cut short (a copy that ran out of disk, a download that stopped) still has a valid header, so a
C-STORE would send it and some SCPs even answer Success. We walk the element headers of the data set
(skipping values by their lengths, entering only undefined-length sequences and encapsulated pixel data) and
report the first element that claims more bytes than the file has. Little endian (explicit or implicit VR)
only: deflated and big-endian data sets are not walked (rare, and the peer's parser will say).
"""

from __future__ import annotations

import struct
from typing import Callable

ReadAt = Callable[[int, int], bytes]  # (offset, length) -> up to `length` bytes

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
MAX_DEPTH = 32  # nested undefined-length sequences deeper than this are not walked further


class Truncated(ValueError):
    pass


def _element(read: ReadAt, pos: int, end: int, explicit: bool) -> tuple[int, int, int, bytes]:
    """(tag, value length, header length, VR or b"") of the element at `pos`."""
    head = read(pos, 8)
    if len(head) < 8:
        raise Truncated(f"the element header at offset {pos} is cut short ({len(head)} of 8 bytes)")
    group, elem = struct.unpack_from("<HH", head)
    tag = group << 16 | elem
    if group == 0xFFFE or not explicit:
        return tag, struct.unpack_from("<I", head, 4)[0], 8, b""
    vr = bytes(head[4:6])
    if vr in _LONG_VRS:
        more = read(pos + 8, 4)
        if len(more) < 4:
            raise Truncated(f"the element header at offset {pos} is cut short")
        return tag, struct.unpack_from("<I", more)[0], 12, vr
    return tag, struct.unpack_from("<H", head, 6)[0], 8, vr


def _walk(read: ReadAt, pos: int, end: int, explicit: bool, depth: int, stop: int | None) -> int:
    """Walk elements from `pos`; returns where the walk ended (after the `stop` delimiter, when given)."""
    while pos < end:
        tag, length, hlen, vr = _element(read, pos, end, explicit)
        here, pos = pos, pos + hlen
        if stop is not None and tag == stop:
            return pos
        if length == UNDEFINED:
            if depth >= MAX_DEPTH:
                raise Truncated(f"sequences nested deeper than {MAX_DEPTH} levels at offset {here}")
            # PS3.5 §6.2.2: an undefined-length UN element holds implicit VR little endian items.
            pos = _items(read, pos, end, explicit and vr != b"UN", depth + 1)
            continue
        if pos + length > end:
            raise Truncated(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) at offset {here} claims {length} "
                            f"bytes, only {end - pos} remain")
        pos += length
    if stop is not None:
        raise Truncated(f"the file ends before the delimiter of an undefined-length item (offset {end})")
    return pos


def _items(read: ReadAt, pos: int, end: int, explicit: bool, depth: int) -> int:
    """The items of an undefined-length sequence (or encapsulated pixel data) up to its delimiter."""
    while True:
        if pos >= end:
            raise Truncated(f"the file ends inside an undefined-length sequence (offset {end})")
        tag, length, hlen, _vr = _element(read, pos, end, explicit)
        here, pos = pos, pos + hlen
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise Truncated(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) at offset {here} where a sequence item was "
                            "expected")
        if length == UNDEFINED:
            pos = _walk(read, pos, end, explicit, depth, stop=_ITEM_END)
        elif pos + length > end:
            raise Truncated(f"a sequence item at offset {here} claims {length} bytes, only {end - pos} remain")
        else:
            pos += length


def truncation(read: ReadAt, start: int, end: int, transfer_syntax: str | None) -> str | None:
    """None when the data set from `start` to `end` is complete, else the first problem, as a sentence."""
    ts = transfer_syntax or ""
    if ts in ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"):  # deflated, big endian: not walked
        return None
    explicit = ts != "1.2.840.10008.1.2"
    first = read(start, 6)
    if explicit and len(first) == 6 and not first[4:6].isalpha():
        explicit = False  # written implicit under an explicit syntax: read it as the peer's parser would
    try:
        _walk(read, start, end, explicit=explicit, depth=0, stop=None)
    except Truncated as exc:
        return str(exc)
    return None

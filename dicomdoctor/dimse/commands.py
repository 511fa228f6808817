"""DIMSE command sets: group 0000, Implicit VR Little Endian, group length first (PS3.7 §6.3, §9.3, §10.3).

Command sets are small (about 100-200 bytes) and on the hot path of every C-STORE, so this module
encodes and decodes them directly instead of going through pydicom's generic reader/writer. pydicom is
used only for names (dictionary look-ups of tags outside the command dictionary) and for the optional
`command_to_dataset` conversion.

Representation (`CommandSet`): a plain ``dict[int, value]`` keyed by the 32-bit tag, in ascending tag
order, without (0000,0000) Command Group Length (it is derived on encode). Values by VR:

* US / UL -> ``int`` (several values -> ``tuple[int, ...]``)
* UI / AE / LO / SH / CS -> ``str`` with the padding (NUL or space) stripped
* AT -> ``tuple[int, ...]`` of 32-bit tags (always a tuple: Offending Element is VM 1-n)
* an empty element -> ``None``
* a tag we cannot type (not in the command dictionary) -> the raw value ``bytes``

A dict is cheap to build and to read in `messages.py`; `command_to_dataset` gives a pydicom Dataset when
something (a trace view, a test) wants one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

from .errors import MalformedCommand

CommandValue = Union[int, str, bytes, tuple[int, ...], None]
CommandSet = dict[int, CommandValue]

# (tag) -> (keyword, VR). PS3.7 Annex E Table E.1-1 (current) and Table E.2-1 (retired, still seen from
# old peers). Group 0000 only; anything else in a command set is a peer error kept as raw bytes.
COMMAND_ELEMENTS: dict[int, tuple[str, str]] = {
    0x00000000: ("CommandGroupLength", "UL"),
    0x00000001: ("CommandLengthToEnd", "UL"),  # retired
    0x00000002: ("AffectedSOPClassUID", "UI"),
    0x00000003: ("RequestedSOPClassUID", "UI"),
    0x00000010: ("CommandRecognitionCode", "SH"),  # retired
    0x00000100: ("CommandField", "US"),
    0x00000110: ("MessageID", "US"),
    0x00000120: ("MessageIDBeingRespondedTo", "US"),
    0x00000200: ("Initiator", "AE"),  # retired
    0x00000300: ("Receiver", "AE"),  # retired
    0x00000400: ("FindLocation", "AE"),  # retired
    0x00000600: ("MoveDestination", "AE"),
    0x00000700: ("Priority", "US"),
    0x00000800: ("CommandDataSetType", "US"),
    0x00000850: ("NumberOfMatches", "US"),  # retired
    0x00000860: ("ResponseSequenceNumber", "US"),  # retired
    0x00000900: ("Status", "US"),
    0x00000901: ("OffendingElement", "AT"),
    0x00000902: ("ErrorComment", "LO"),
    0x00000903: ("ErrorID", "US"),
    0x00001000: ("AffectedSOPInstanceUID", "UI"),
    0x00001001: ("RequestedSOPInstanceUID", "UI"),
    0x00001002: ("EventTypeID", "US"),
    0x00001005: ("AttributeIdentifierList", "AT"),
    0x00001008: ("ActionTypeID", "US"),
    0x00001020: ("NumberOfRemainingSuboperations", "US"),
    0x00001021: ("NumberOfCompletedSuboperations", "US"),
    0x00001022: ("NumberOfFailedSuboperations", "US"),
    0x00001023: ("NumberOfWarningSuboperations", "US"),
    0x00001030: ("MoveOriginatorApplicationEntityTitle", "AE"),
    0x00001031: ("MoveOriginatorMessageID", "US"),
    0x00004000: ("DialogReceiver", "LT"),  # retired
    0x00004010: ("TerminalType", "LT"),  # retired
    0x00005010: ("MessageSetID", "SH"),  # retired
    0x00005020: ("EndMessageID", "SH"),  # retired
    0x00005110: ("DisplayFormat", "LT"),  # retired
    0x00005120: ("PagePositionID", "LT"),  # retired
    0x00005130: ("TextFormatID", "CS"),  # retired
    0x00005140: ("NormalReverse", "CS"),  # retired
    0x00005150: ("AddGrayScale", "CS"),  # retired
    0x00005160: ("Borders", "CS"),  # retired
    0x00005170: ("Copies", "IS"),  # retired
    0x00005180: ("CommandMagnificationType", "CS"),  # retired
    0x00005190: ("Erase", "CS"),  # retired
    0x000051A0: ("Print", "CS"),  # retired
    0x000051B0: ("Overlays", "US"),  # retired
}
KEYWORD_TO_TAG: dict[str, int] = {kw: tag for tag, (kw, _vr) in COMMAND_ELEMENTS.items()}

# CommandDataSetType (0000,0800): 0101H means "no data set"; any other value means one follows
# (PS3.7 §9.3 / §10.3 tables; 0001H is what dcmtk and pynetdicom send).
NO_DATASET = 0x0101
DATASET_PRESENT = 0x0001

# A command set is bounded by its dictionary; anything far larger is a hostile or broken peer.
DEFAULT_MAX_COMMAND_BYTES = 64 * 1024

_HDR = struct.Struct("<HHI")  # implicit VR LE element header: group, element, 32-bit length
_US = struct.Struct("<H")
_UL = struct.Struct("<I")
_STRING_VRS = frozenset({"UI", "AE", "LO", "SH", "CS", "LT", "IS"})


def tag_for(key: int | str) -> int:
    """A tag from an int, a command keyword ("MessageID") or any pydicom keyword."""
    if isinstance(key, int):
        return key
    tag = KEYWORD_TO_TAG.get(key)
    if tag is None:
        try:
            from pydicom.tag import Tag
            tag = int(Tag(key))
        except (ValueError, TypeError) as exc:
            raise KeyError(f"unknown command element keyword {key!r}") from exc
    return tag


def vr_for(tag: int) -> str | None:
    entry = COMMAND_ELEMENTS.get(tag)
    return entry[1] if entry else None


def _encode_value(tag: int, vr: str | None, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return raw + b"\x00" if len(raw) % 2 else raw
    if vr == "US" or vr == "UL":
        st = _US if vr == "US" else _UL
        if isinstance(value, int):
            return st.pack(value)
        return b"".join(st.pack(v) for v in value)
    if vr == "AT":
        vals = (value,) if isinstance(value, int) else tuple(value)
        return b"".join(struct.pack("<HH", int(v) >> 16, int(v) & 0xFFFF) for v in vals)
    if vr in _STRING_VRS or vr is None:
        if not isinstance(value, str):
            raise TypeError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr}: expected str, got {type(value).__name__}")
        # Command sets use the default repertoire (PS3.7 §6.3.1); replace rather than fail on anything else.
        raw = value.encode("ascii", errors="replace")
        if len(raw) % 2:
            # Even length (PS3.5 §7.1.1): UI pads with NUL, the other string VRs with a space (PS3.5 §6.2).
            raw += b"\x00" if vr == "UI" else b" "
        return raw
    raise TypeError(f"cannot encode VR {vr}")


def encode_command(command: Mapping[Any, Any] | Dataset) -> bytes:
    """Encode a command set; (0000,0000) Command Group Length is computed and written first.

    Accepts a mapping keyed by tag or keyword, or a pydicom Dataset. ``None`` values are omitted (an
    absent optional element), so message classes can pass every field. Tags are written ascending
    (PS3.5 §7.1). Any (0000,0000) given is ignored and recomputed.
    """
    items: list[tuple[int, bytes]] = []
    _pd = sys.modules.get("pydicom.dataset")
    if _pd is not None and isinstance(command, _pd.Dataset):
        for elem in command:
            tag = int(elem.tag)
            if tag == 0 or elem.value is None:
                continue
            vr = vr_for(tag) or str(elem.VR)
            value = elem.value
            if vr == "AT" and not isinstance(value, int):
                value = tuple(int(v) for v in value)
            elif vr in ("US", "UL") and not isinstance(value, int):
                value = tuple(int(v) for v in value)
            items.append((tag, _encode_value(tag, vr, value)))
    else:
        us_pack = _US.pack
        for key, value in command.items():
            if value is None:
                continue
            tag = key if type(key) is int else tag_for(key)
            if tag == 0:
                continue
            entry = COMMAND_ELEMENTS.get(tag)
            cvr: str | None = entry[1] if entry else None
            # Fast paths for what every command holds (US numbers, UIDs); the rest goes the general way.
            if cvr == "US" and type(value) is int:
                raw = us_pack(value)
            elif cvr == "UI" and type(value) is str and value.isascii():
                raw = value.encode()
                if len(raw) & 1:
                    raw += b"\x00"
            else:
                raw = _encode_value(tag, cvr, value)
            items.append((tag, raw))
    items.sort(key=lambda item: item[0])
    pack = _HDR.pack
    body = b"".join(pack(tag >> 16, tag & 0xFFFF, len(raw)) + raw for tag, raw in items)
    return pack(0, 0, 4) + _UL.pack(len(body)) + body


@dataclass(frozen=True, slots=True)
class RawElement:
    """One element as found on the wire, for validation and tracing."""

    tag: int
    offset: int
    length: int


def iter_elements(data: bytes | memoryview, *, limit: int = DEFAULT_MAX_COMMAND_BYTES) -> Iterable[tuple[RawElement, bytes]]:
    """Walk implicit-VR-LE elements; raises `MalformedCommand` when an element runs past the end."""
    if len(data) > limit:
        raise MalformedCommand(f"command set is {len(data)} bytes, over the {limit}-byte cap", offset=0)
    view = memoryview(data)
    pos, end = 0, len(view)
    unpack = _HDR.unpack_from
    while pos < end:
        if end - pos < 8:
            raise MalformedCommand(
                f"command set: {end - pos} trailing byte(s) at offset {pos}, too short for an element header",
                offset=pos)
        group, elem, length = unpack(view, pos)
        tag = (group << 16) | elem
        if length == 0xFFFFFFFF:
            raise MalformedCommand(
                f"command set: element ({group:04X},{elem:04X}) at offset {pos} has undefined length", offset=pos)
        if pos + 8 + length > end:
            raise MalformedCommand(
                f"command set: element ({group:04X},{elem:04X}) at offset {pos} claims {length} bytes, "
                f"{end - pos - 8} remain", offset=pos)
        yield RawElement(tag, pos, length), bytes(view[pos + 8:pos + 8 + length])
        pos += 8 + length


def _decode_value(vr: str | None, raw: bytes) -> CommandValue:
    if not raw:
        return None
    if vr == "US":
        if len(raw) == 2:
            return _US.unpack(raw)[0]
        if len(raw) % 2:
            return raw
        vals = struct.unpack(f"<{len(raw) // 2}H", raw)
        return vals[0] if len(vals) == 1 else vals
    if vr == "UL":
        if len(raw) == 4:
            return _UL.unpack(raw)[0]
        if len(raw) % 4:
            return raw
        return struct.unpack(f"<{len(raw) // 4}I", raw)
    if vr == "AT":
        if len(raw) % 4:
            return raw
        pairs = struct.unpack(f"<{len(raw) // 2}H", raw)
        return tuple((pairs[i] << 16) | pairs[i + 1] for i in range(0, len(pairs), 2))
    if vr in _STRING_VRS:
        # latin-1 never fails: a peer's odd bytes show up in the evidence instead of crashing the decode.
        text = raw.decode("latin-1")
        return text.rstrip("\x00 ") if vr == "UI" else text.strip(" \x00")
    return raw


def decode_command(data: bytes | memoryview, *, limit: int = DEFAULT_MAX_COMMAND_BYTES) -> CommandSet:
    """Decode a command set into a `CommandSet` dict (see the module docstring).

    Lenient: a wrong or missing group length, tags out of order and elements outside group 0000 are
    accepted (see `command_violations` to report them). Raises `MalformedCommand` only when the bytes
    cannot be walked (truncated element, undefined length, over `limit`).
    """
    n = len(data)
    if n > limit:
        raise MalformedCommand(f"command set is {n} bytes, over the {limit}-byte cap", offset=0)
    buf = data if isinstance(data, bytes) else bytes(data)
    out: CommandSet = {}
    unpack = _HDR.unpack_from
    elements = COMMAND_ELEMENTS
    pos = 0
    # A tight loop rather than iter_elements(): this runs for every message received.
    while pos < n:
        if n - pos < 8:
            raise MalformedCommand(
                f"command set: {n - pos} trailing byte(s) at offset {pos}, too short for an element header",
                offset=pos)
        group, elem, length = unpack(buf, pos)
        end = pos + 8 + length
        if end > n:
            if length == 0xFFFFFFFF:
                raise MalformedCommand(f"command set: element ({group:04X},{elem:04X}) at offset {pos} has "
                                       "undefined length", offset=pos)
            raise MalformedCommand(
                f"command set: element ({group:04X},{elem:04X}) at offset {pos} claims {length} bytes, "
                f"{n - pos - 8} remain", offset=pos)
        tag = (group << 16) | elem
        if tag:
            entry = elements.get(tag)
            vr = entry[1] if entry else None
            if vr == "US" and length == 2:
                out[tag] = buf[pos + 8] | (buf[pos + 9] << 8)
            else:
                out[tag] = _decode_value(vr, buf[pos + 8:end])
        pos = end
    return out


def command_violations(data: bytes | memoryview) -> list[str]:
    """Conformance problems of an encoded command set (PS3.7 §6.3.1, PS3.5 §7.1), as readable sentences."""
    problems: list[str] = []
    try:
        elements = list(iter_elements(data))
    except MalformedCommand as exc:
        return [str(exc)]
    if not elements or elements[0][0].tag != 0:
        problems.append("command set does not start with (0000,0000) Command Group Length")
    else:
        el, raw = elements[0]
        if len(raw) != 4:
            problems.append(f"(0000,0000) Command Group Length has {len(raw)} bytes, not 4")
        else:
            declared = _UL.unpack(raw)[0]
            actual = len(data) - el.offset - 12
            if declared != actual:
                problems.append(f"(0000,0000) Command Group Length says {declared}, the rest is {actual} bytes")
    last = -1
    for el, _raw in elements:
        if el.tag >> 16 != 0:
            problems.append(f"element ({el.tag >> 16:04X},{el.tag & 0xFFFF:04X}) at offset {el.offset} "
                            "is not in group 0000")
        if el.tag <= last:
            problems.append(f"element ({el.tag >> 16:04X},{el.tag & 0xFFFF:04X}) at offset {el.offset} "
                            "is out of ascending order")
        if el.length % 2:
            problems.append(f"element ({el.tag >> 16:04X},{el.tag & 0xFFFF:04X}) at offset {el.offset} "
                            f"has odd length {el.length}")
        last = el.tag
    return problems


def peek_dataset_type(command: CommandSet) -> bool:
    """True when the command announces a data set (CommandDataSetType present and not 0101H)."""
    value = command.get(0x00000800)
    return value is not None and value != NO_DATASET


def command_to_dataset(command: Mapping[int, CommandValue]) -> Dataset:
    """A pydicom Dataset view of a decoded command set (for traces and tests; not on the hot path)."""
    from pydicom.dataset import Dataset
    ds = Dataset()
    for tag, value in sorted(command.items()):
        vr = vr_for(tag) or "UN"
        if isinstance(value, tuple) and vr == "AT":
            ds.add_new(tag, vr, list(value) if len(value) > 1 else value[0])
        elif isinstance(value, tuple):
            ds.add_new(tag, vr, list(value))
        else:
            ds.add_new(tag, vr, value)
    return ds


def tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def tag_name(tag: int) -> dict[str, str]:
    """Name a tag for evidence: ``{"tag": "(0010,0010)", "keyword": "PatientName", "name": "Patient's Name"}``."""
    out = {"tag": tag_str(tag), "keyword": "", "name": ""}
    entry = COMMAND_ELEMENTS.get(tag)
    if entry:
        out["keyword"] = entry[0]
    from pydicom.datadict import dictionary_description, dictionary_keyword, keyword_for_tag
    try:
        out["keyword"] = out["keyword"] or keyword_for_tag(tag) or dictionary_keyword(tag)
        out["name"] = dictionary_description(tag)
    except KeyError:
        if tag & 0x00010000:
            out["name"] = "private element"
    return out

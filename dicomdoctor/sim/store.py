"""The simulator's instance store: what C-STORE fills and C-FIND / C-MOVE / C-GET read (PS3.4 Annex C).

Instances live in memory, or as Part-10 files in a folder (`--storage DIR`, which also loads the files
already there). Matching follows PS3.4 C.2.2.2: universal matching (empty value), single value, wildcards
(`*`, `?`; case-insensitive for PN as most archives do), lists of UIDs, and date/time ranges. Queries are
answered relationally (a key below the query level matches when any instance of the entity matches) rather
than rejected, because the simulator is there to let clients talk, not to police hierarchical queries.

Only synthetic data ever gets here from the simulator itself (`seed`); what clients send is kept as sent.
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from ..net.storage import part10_bytes

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
PIXEL_DATA = 0x7FE00010

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
# The attribute that identifies an entity at each level (PS3.4 C.6.1.1 / C.6.2.1 unique keys).
LEVEL_KEY = {"PATIENT": 0x00100020, "STUDY": 0x0020000D, "SERIES": 0x0020000E, "IMAGE": 0x00080018}
QUERY_LEVEL = 0x00080052
CHARSET = 0x00080005
RETRIEVE_AE = 0x00080054
# Attributes computed over an entity's instances (PS3.4 C.3.4 "Additional Query/Retrieve Attributes").
_COUNTS = {
    0x00201200: ("PATIENT", "STUDY"),   # NumberOfPatientRelatedStudies
    0x00201202: ("PATIENT", "SERIES"),  # NumberOfPatientRelatedSeries
    0x00201204: ("PATIENT", "IMAGE"),   # NumberOfPatientRelatedInstances
    0x00201206: ("STUDY", "SERIES"),    # NumberOfStudyRelatedSeries
    0x00201208: ("STUDY", "IMAGE"),     # NumberOfStudyRelatedInstances
    0x00201209: ("SERIES", "IMAGE"),    # NumberOfSeriesRelatedInstances
}
MODALITIES_IN_STUDY = 0x00080061
SOP_CLASSES_IN_STUDY = 0x00080062


class QueryError(Exception):
    """An identifier the store cannot answer; `status` is the C-FIND/C-MOVE/C-GET failure to send."""

    def __init__(self, status: int, comment: str, offending: int | None = None) -> None:
        super().__init__(comment)
        self.status = status
        self.comment = comment
        self.offending = offending


# --- encoding helpers ----------------------------------------------------------------------------------


def _encoding(ts: str) -> tuple[bool, bool]:
    """(implicit VR, little endian) of a transfer syntax; every other TS is explicit VR little endian."""
    if ts == IMPLICIT_LE:
        return True, True
    if ts == EXPLICIT_BE:
        return False, False
    return False, True


def decode_dataset(data: bytes, ts: str, *, header_only: bool = True) -> Dataset:
    """Dataset bytes (no preamble, no file meta) in `ts` -> Dataset; stops before Pixel Data by default."""
    if ts == DEFLATED_LE:
        data = zlib.decompress(data, -zlib.MAX_WBITS)
    implicit, little = _encoding(ts)
    stop = (lambda tag, vr, length: tag == PIXEL_DATA) if header_only else None
    return read_dataset(io.BytesIO(data), implicit, little, stop_when=stop)


def encode_dataset(ds: Dataset, ts: str) -> bytes:
    """Dataset -> bytes in `ts` (no preamble or file meta), as a DIMSE data set is sent."""
    fp = DicomBytesIO()
    implicit, little = _encoding(ts)
    fp.is_implicit_VR = implicit
    fp.is_little_endian = little
    write_dataset(fp, ds)
    raw = fp.getvalue()
    if ts == DEFLATED_LE:
        c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        raw = c.compress(raw) + c.flush()
    return raw


def write_part10(path: Path, data: bytes, ts: str, sop_class: str, sop_instance: str) -> None:
    """Write received data-set bytes as a Part-10 file without re-encoding them (PS3.10 §7.1)."""
    raw = part10_bytes(sop_class, sop_instance, ts, data)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(raw)
    tmp.replace(path)  # atomic: a crash never leaves half a file that the next start would load


def read_part10(path: Path) -> tuple[str, bytes]:
    """A Part-10 file -> (transfer syntax, data-set bytes)."""
    import pydicom

    raw = path.read_bytes()
    ds = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True, specific_tags=[Tag(0x00020010)])
    ts = str(ds.file_meta.TransferSyntaxUID)
    # File Meta group length (0002,0000) is the first element after "DICM": tag 4, VR 2, length 2, value 4.
    if raw[128:132] == b"DICM" and raw[132:136] == b"\x02\x00\x00\x00":
        offset = 132 + 12 + int.from_bytes(raw[140:144], "little")
        return ts, raw[offset:]
    full = pydicom.dcmread(io.BytesIO(raw), force=True)  # no group length: re-encode (rare, foreign files)
    return ts, encode_dataset(full, ts)


# --- matching ------------------------------------------------------------------------------------------


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (MultiValue, list, tuple)):
        return list(value)
    return [value]


def _is_empty(elem: DataElement) -> bool:
    return elem.value is None or elem.value == "" or (isinstance(elem.value, (list, MultiValue))
                                                     and len(elem.value) == 0)


def _wildcard(pattern: str, ci: bool) -> re.Pattern[str]:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(rx + r"\Z", re.IGNORECASE | re.DOTALL if ci else re.DOTALL)


def _norm_time(v: str) -> str:
    """TM 'HHMMSS.FFFFFF' -> comparable string: drop colons (old ACR-NEMA form), pad to full precision."""
    v = v.replace(":", "").strip()
    head, _, frac = v.partition(".")
    return head.ljust(6, "0") + "." + frac.ljust(6, "0")


def _norm(vr: str, v: str) -> str:
    v = str(v).strip()
    if vr == "TM":
        return _norm_time(v)
    if vr == "DA":
        return v.replace(".", "")  # old ACR-NEMA 'YYYY.MM.DD'
    return v


def _range_match(vr: str, query: str, stored: str) -> bool:
    lo, _, hi = query.partition("-")
    s = _norm(vr, stored)
    if lo.strip() and s < _norm(vr, lo):
        return False
    if hi.strip():
        h = _norm(vr, hi)
        if vr == "TM":
            h = hi.replace(":", "").strip().partition(".")[0].ljust(6, "9") + "." + "9" * 6
        if s > h:
            return False
    return True


def match_element(query: DataElement, stored: DataElement | None) -> bool:
    """One matching key against one stored attribute (PS3.4 C.2.2.2)."""
    if _is_empty(query):
        return True  # universal matching
    if query.VR == "SQ":
        return True  # sequence matching is optional; treat as a return key
    if stored is None or _is_empty(stored):
        return False
    vr = query.VR
    stored_vals = [str(v) for v in _values(stored.value)]
    if vr == "UI":  # list of UID matching: any of the requested UIDs
        wanted = {str(v).strip() for v in _values(query.value)}
        return any(v.strip() in wanted for v in stored_vals)
    if vr in ("DA", "TM", "DT") and "-" in str(query.value):
        return any(_range_match(vr, str(query.value), v) for v in stored_vals)
    if vr in ("US", "UL", "SS", "SL", "FL", "FD", "IS", "DS", "UV", "SV"):
        try:
            wanted_n = {float(v) for v in _values(query.value)}
            return any(float(v) in wanted_n for v in stored_vals)
        except ValueError:
            return False
    ci = vr == "PN"
    for q in _values(query.value):
        q = str(q)
        if "*" in q or "?" in q:
            rx = _wildcard(q, ci)
            if any(rx.match(v) for v in stored_vals):
                return True
        else:
            qn = _norm(vr, q).rstrip()
            for v in stored_vals:
                sv = _norm(vr, v).rstrip()
                if (sv.lower() == qn.lower()) if ci else (sv == qn):
                    return True
    return False


# --- the store -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class StoredInstance:
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    header: Dataset  # everything but Pixel Data, for matching
    data: bytes | None = None  # the data-set bytes as received (memory store)
    path: Path | None = None  # or the Part-10 file holding them (folder store)

    def dataset_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return read_part10(self.path)[1]

    def key(self, level: str) -> str:
        return str(self.header.get(LEVEL_KEY[level]).value if LEVEL_KEY[level] in self.header else "")


@dataclass(slots=True)
class Match:
    """One entity matched by a query: its response identifier and the instances below it."""

    identifier: Dataset
    instances: list[StoredInstance]


class InstanceStore:
    """Instances by SOP Instance UID, in arrival order (so query results are stable)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else None
        self._items: dict[str, StoredInstance] = {}
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._load_folder()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[StoredInstance]:
        return iter(list(self._items.values()))

    def _load_folder(self) -> None:
        assert self.folder is not None
        for path in sorted(self.folder.glob("*.dcm")):
            try:
                ts, data = read_part10(path)
                header = decode_dataset(data, ts)
                self._items[str(header.SOPInstanceUID)] = StoredInstance(
                    str(header.SOPClassUID), str(header.SOPInstanceUID), ts, header, path=path)
            except Exception:  # noqa: BLE001 — a foreign or broken file in the folder is skipped, not fatal
                continue

    def add(self, data: bytes, transfer_syntax: str, sop_class: str | None = None,
            sop_instance: str | None = None) -> StoredInstance:
        """Keep a received data set. Raises ValueError when it cannot be parsed or has no SOP Instance UID
        (the caller answers C-STORE with 0xC000 "cannot understand")."""
        try:
            header = decode_dataset(data, transfer_syntax)
        except Exception as exc:  # noqa: BLE001 — any parse failure is the client's data set
            raise ValueError(f"cannot parse the data set: {exc}") from None
        sop_instance = sop_instance or str(header.get("SOPInstanceUID", ""))
        sop_class = sop_class or str(header.get("SOPClassUID", ""))
        if not sop_instance:
            raise ValueError("the data set has no SOP Instance UID")
        inst = StoredInstance(sop_class, sop_instance, transfer_syntax, header)
        if self.folder:
            safe = re.sub(r"[^0-9.]", "_", sop_instance)[:64]
            inst.path = self.folder / f"{safe}.dcm"
            write_part10(inst.path, bytes(data), transfer_syntax, sop_class, sop_instance)
        else:
            inst.data = bytes(data)
        self._items.pop(sop_instance, None)  # a resend replaces, and moves to the end
        self._items[sop_instance] = inst
        return inst

    def add_dataset(self, ds: Dataset, transfer_syntax: str = EXPLICIT_LE) -> StoredInstance:
        return self.add(encode_dataset(ds, transfer_syntax), transfer_syntax,
                        str(ds.SOPClassUID), str(ds.SOPInstanceUID))

    def seed(self, count: int) -> int:
        """Preload `count` synthetic instances (synthetic patients only: DOE^SYNTHETIC, SIM0001...)."""
        from .seed import synthetic_instances

        n = 0
        for ds in synthetic_instances(count):
            self.add_dataset(ds)
            n += 1
        return n

    # -- queries --

    def query(self, level: str, identifier: Dataset, model: str = "study",
              retrieve_ae: str | None = None) -> list[Match]:
        """Entities at `level` matching `identifier`, each with its response identifier and instances.

        `model` is "patient" (Patient Root) or "study" (Study Root, which has no PATIENT level)."""
        level = level.strip().upper()
        if level not in LEVELS:
            raise QueryError(0xA900, f"Query/Retrieve Level {level!r} is not one of {', '.join(LEVELS)}",
                             QUERY_LEVEL)
        if model == "study" and level == "PATIENT":
            raise QueryError(0xA900, "the Study Root model has no PATIENT level", QUERY_LEVEL)
        keys = [e for e in identifier if e.tag.group not in (0x0000, 0x0002) and e.tag not in (QUERY_LEVEL, CHARSET)]
        groups: dict[str, list[StoredInstance]] = {}
        for inst in self._items.values():
            groups.setdefault(inst.key(level), []).append(inst)
        out: list[Match] = []
        for key, instances in groups.items():
            if not key:
                continue  # an instance without the level's unique key cannot be an entity at that level
            computed = self._computed(level, instances)
            ok = True
            chosen: StoredInstance | None = instances[0]
            for q in keys:
                if q.tag in computed:
                    if not match_element(q, computed[q.tag]):
                        ok = False
                        break
                    continue
                hits = [i for i in instances if match_element(q, i.header.get(q.tag))]
                if not hits:
                    ok = False
                    break
                if chosen not in hits:
                    chosen = hits[0]
            if not ok:
                continue
            assert chosen is not None
            out.append(Match(self._response(level, keys, chosen, computed, identifier, retrieve_ae), instances))
        return out

    def retrieve(self, level: str, identifier: Dataset, model: str = "study") -> list[StoredInstance]:
        """The instances a C-MOVE / C-GET with this identifier asks for."""
        seen: dict[str, StoredInstance] = {}
        for m in self.query(level, identifier, model):
            for inst in m.instances:
                if all(match_element(q, inst.header.get(q.tag)) for q in identifier
                       if q.tag.group not in (0x0000, 0x0002) and q.tag not in (QUERY_LEVEL, CHARSET)
                       and q.tag not in _COUNTS and q.tag not in (MODALITIES_IN_STUDY, SOP_CLASSES_IN_STUDY)):
                    seen[inst.sop_instance_uid] = inst
        return list(seen.values())

    @staticmethod
    def _computed(level: str, instances: list[StoredInstance]) -> dict[int, DataElement]:
        out: dict[int, DataElement] = {}
        for tag, (lvl, below) in _COUNTS.items():
            if lvl == level:
                n = len({i.key(below) for i in instances})
                out[tag] = DataElement(tag, "IS", str(n))
        if level == "STUDY":
            mods = sorted({str(i.header.get("Modality", "")) for i in instances} - {""})
            out[MODALITIES_IN_STUDY] = DataElement(MODALITIES_IN_STUDY, "CS", mods)
            classes = sorted({i.sop_class_uid for i in instances})
            out[SOP_CLASSES_IN_STUDY] = DataElement(SOP_CLASSES_IN_STUDY, "UI", classes)
        return out

    @staticmethod
    def _response(level: str, keys: list[DataElement], inst: StoredInstance, computed: dict[int, DataElement],
                  identifier: Dataset, retrieve_ae: str | None) -> Dataset:
        rsp = Dataset()
        if CHARSET in identifier or CHARSET in inst.header:
            cs = inst.header.get(CHARSET)
            rsp.add(DataElement(CHARSET, "CS", cs.value if cs is not None else identifier[CHARSET].value))
        rsp.add(DataElement(QUERY_LEVEL, "CS", level))
        unique = LEVEL_KEY[level]
        for q in keys:
            if q.tag == RETRIEVE_AE and retrieve_ae:
                rsp.add(DataElement(RETRIEVE_AE, "AE", retrieve_ae))
            elif q.tag in computed:
                rsp.add(computed[q.tag])
            elif q.tag in inst.header:
                rsp.add(inst.header[q.tag])
            else:
                rsp.add(DataElement(q.tag, q.VR, None))  # a return key the instance lacks: zero length
        if unique not in rsp and unique in inst.header:  # the level's unique key is always returned
            rsp.add(inst.header[unique])
        return rsp


def make_identifier(level: str, keys: dict[str, Any] | Iterable[tuple[str, Any]]) -> Dataset:
    """A query identifier from pydicom keywords (`{"PatientName": "DOE*", "StudyDate": ""}`); for tests and
    the C-MOVE / C-GET sub-operation selection."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for k, v in (keys.items() if isinstance(keys, dict) else keys):
        setattr(ds, k, v)
    return ds

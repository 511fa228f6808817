"""Data sets at the network edge: what to send for a C-STORE (Part-10 bytes as they are, or re-encoded),
Q/R identifiers, decoding received identifiers, and the SOP class lists our SCU/SCP propose and accept."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Mapping

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

from ..dimse.part10 import Part10Error, Part10Info, encode_dataset, parse_part10_header
from ..errors import DicomDoctorError

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
UNCOMPRESSED = (EXPLICIT_VR_LE, IMPLICIT_VR_LE, EXPLICIT_VR_BE)
WORKLIST_FIND = "1.2.840.10008.5.1.4.31"

# Q/R information models (PS3.4 Annex C.6): model -> (FIND, MOVE, GET).
QR_MODELS: dict[str, tuple[str, str, str]] = {
    "patient": ("1.2.840.10008.5.1.4.1.2.1.1", "1.2.840.10008.5.1.4.1.2.1.2", "1.2.840.10008.5.1.4.1.2.1.3"),
    "study": ("1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.5.1.4.1.2.2.2", "1.2.840.10008.5.1.4.1.2.2.3"),
    "patientstudyonly": ("1.2.840.10008.5.1.4.1.2.3.1", "1.2.840.10008.5.1.4.1.2.3.2",
                         "1.2.840.10008.5.1.4.1.2.3.3"),
}
QR_FIND = {v[0] for v in QR_MODELS.values()} | {WORKLIST_FIND}
QR_MOVE = {v[1] for v in QR_MODELS.values()}
QR_GET = {v[2] for v in QR_MODELS.values()}
LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
# Files above this are streamed in chunks rather than read whole.
READ_WHOLE_LIMIT = 64 << 20
STREAM_CHUNK = 4 << 20


class SourceError(DicomDoctorError):
    """A C-STORE source we cannot use (not Part 10, unreadable, no SOP class...)."""


def sop_class_for(model: str, service: str) -> str:
    """`model` "patient" | "study" | "patientstudyonly" | "worklist" | a SOP class UID -> the UID for
    `service` "find" | "move" | "get"."""
    key = model.lower().replace(" ", "").replace("-", "").replace("_", "")
    key = {"patientroot": "patient", "studyroot": "study", "mwl": "worklist"}.get(key, key)
    if key == "worklist":
        if service != "find":
            raise ValueError("the worklist model has only C-FIND")
        return WORKLIST_FIND
    if key in QR_MODELS:
        return QR_MODELS[key][("find", "move", "get").index(service)]
    return model  # a UID given as is


@lru_cache(maxsize=1)
def storage_sop_classes() -> tuple[str, ...]:
    """Every storage SOP class pydicom knows (current and retired), for an SCP that accepts them all."""
    from pydicom.uid import UID_dictionary
    out = []
    for uid, (name, kind, *_rest) in UID_dictionary.items():
        if kind == "SOP Class" and name.endswith("Storage") and not name.startswith("Media Storage"):
            out.append(uid)
    return tuple(out)


def is_storage(uid: str) -> bool:
    return uid in _storage_set()


@lru_cache(maxsize=1)
def _storage_set() -> frozenset[str]:
    return frozenset(storage_sop_classes())


def uid_name(uid: str | None) -> str:
    if not uid:
        return ""
    from pydicom.uid import UID
    try:
        return UID(uid).name if UID(uid).is_valid else uid
    except Exception:
        return uid


# ------------------------------------------------------------------------------------------ identifiers


def identifier(level: str | None, keys: Mapping[str, Any] | Dataset | None) -> Dataset:
    """A Q/R identifier: QueryRetrieveLevel (when `level` is given) plus the keys, by keyword; an empty value
    ("" or None) asks for that attribute back (PS3.4 C.2.2.1 universal matching)."""
    from pydicom.dataset import Dataset
    if isinstance(keys, Dataset):
        ds = Dataset()
        ds.update(keys)
    else:
        ds = Dataset()
        for kw, value in (keys or {}).items():
            setattr(ds, kw, "" if value is None else value)
    if level:
        lvl = level.upper()
        if lvl not in LEVELS:
            raise ValueError(f"Q/R level {level!r} is not one of {', '.join(LEVELS)}")
        ds.QueryRetrieveLevel = lvl
    return ds


def encode(ds: Dataset, transfer_syntax: str) -> bytes:
    return encode_dataset(ds, transfer_syntax)


def decode(data: bytes | memoryview | None, transfer_syntax: str) -> Dataset | None:
    """Decode a received data set (identifier) in its transfer syntax; None stays None."""
    if data is None:
        return None
    from pydicom.filereader import read_dataset
    raw = bytes(data)
    if transfer_syntax == DEFLATED_LE:
        import zlib
        raw = zlib.decompress(raw, -15)
    ds = read_dataset(BytesIO(raw), is_implicit_VR=transfer_syntax == IMPLICIT_VR_LE,
                      is_little_endian=transfer_syntax != EXPLICIT_VR_BE)
    return ds


# ------------------------------------------------------------------------------------------ store sources


@dataclass
class StoreSource:
    """What a C-STORE needs. `payload` is the data set in `transfer_syntax` (a zero-copy view of the file
    bytes when it came from Part 10); `chunks` is set instead for big files (read piecewise); `dataset` is
    the pydicom object when the source was one (or had to be decoded for re-encoding)."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str | None
    payload: memoryview | bytes | None = None
    path: Path | None = None
    dataset_offset: int = 0
    size: int = 0
    dataset: Dataset | None = None
    raw: bytes | None = None  # the whole Part-10 bytes (kept so re-encoding can decode them)

    def dataset_in(self, transfer_syntax: str) -> bytes | memoryview:
        """The data set encoded in `transfer_syntax`: as is when it matches, else re-encoded via pydicom."""
        if transfer_syntax == self.transfer_syntax and self.payload is not None:
            return self.payload
        ds = self.as_dataset()
        return encode_dataset(ds, transfer_syntax)

    def chunks(self) -> Any:
        """Generator of the data set bytes read piecewise from the file (big files only)."""
        assert self.path is not None
        with open(self.path, "rb") as f:
            f.seek(self.dataset_offset)
            while True:
                block = f.read(STREAM_CHUNK)
                if not block:
                    return
                yield block

    def as_dataset(self) -> Dataset:
        if self.dataset is None:
            import pydicom
            if self.raw is not None:
                self.dataset = pydicom.dcmread(BytesIO(self.raw), force=True)
            elif self.path is not None:
                self.dataset = pydicom.dcmread(self.path, force=True)
            else:
                raise SourceError("no data to decode")
        return self.dataset


def load_source(source: str | os.PathLike[str] | bytes | bytearray | memoryview | Dataset) -> StoreSource:
    """A Part-10 path or bytes (parsed header only; data set kept as the file's bytes) or a pydicom Dataset."""
    _pd = sys.modules.get("pydicom.dataset")
    if _pd is not None and isinstance(source, _pd.Dataset):
        meta = getattr(source, "file_meta", None)
        sop_class = source.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else None)
        sop_inst = source.get("SOPInstanceUID") or (meta.get("MediaStorageSOPInstanceUID") if meta else None)
        if not sop_class or not sop_inst:
            raise SourceError("the data set has no SOPClassUID / SOPInstanceUID")
        ts = meta.get("TransferSyntaxUID") if meta is not None else None
        return StoreSource(str(sop_class), str(sop_inst), str(ts) if ts else None, dataset=source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        info = _parse(raw, "the given bytes")
        _complete(lambda o, n: raw[o:o + n], info, len(raw), "the given bytes")
        return StoreSource(info.sop_class_uid, info.sop_instance_uid, info.transfer_syntax,
                           payload=memoryview(raw)[info.dataset_offset:], dataset_offset=info.dataset_offset,
                           size=len(raw), raw=raw)
    path = Path(source)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size <= READ_WHOLE_LIMIT:
                raw = f.read()  # read once; the data set is then a view into these bytes
                info = _parse(raw, str(path))
                _complete(lambda o, n: raw[o:o + n], info, len(raw), str(path))
                return StoreSource(info.sop_class_uid, info.sop_instance_uid, info.transfer_syntax,
                                   payload=memoryview(raw)[info.dataset_offset:], path=path,
                                   dataset_offset=info.dataset_offset, size=size, raw=raw)
            head = f.read(1 << 16)
            info = _parse(head, str(path))

            def read_at(offset: int, n: int) -> bytes:
                f.seek(offset)
                return f.read(n)
            _complete(read_at, info, size, str(path))
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    return StoreSource(info.sop_class_uid, info.sop_instance_uid, info.transfer_syntax, path=path,
                       dataset_offset=info.dataset_offset, size=size)


def _complete(read: Any, info: Part10Info, size: int, what: str) -> None:
    """Refuse a data set cut short (net/truncation.py) before anything is sent."""
    from .truncation import truncation
    problem = truncation(read, info.dataset_offset, size, info.transfer_syntax)
    if problem:
        raise SourceError(f"{what}: the file is truncated: {problem}")


def _parse(data: bytes, what: str) -> Part10Info:
    try:
        return parse_part10_header(data)
    except Part10Error as exc:
        raise SourceError(f"{what}: {exc}") from None

"""Behaviours that hold instances: `StorageSCP` (the C-MOVE destination: writes Part-10 files or keeps bytes)
and `ArchiveSCP` (also answers C-FIND / C-MOVE / C-GET from what it holds), plus the C-MOVE sub-operation
sender `send_instances` that SCPBehaviour.on_move uses by default."""

from __future__ import annotations

import asyncio
import fnmatch
import re
import warnings
from pathlib import Path
from typing import Any, AsyncIterator

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

from ..dimse.messages import CStoreRQ
from ..ul.pdu import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from . import datasets as _ds
from .timeouts import within
from .scp import ReceivedInstance, Reply, RetrieveStatus, SCPBehaviour, SCPContext, as_reply



def part10_bytes(sop_class: str, sop_instance: str, transfer_syntax: str, dataset: bytes,
                 source_ae: str | None = None) -> bytes:
    """A Part-10 file: preamble, "DICM", File Meta Information (pydicom), then the data set bytes as received."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import UID

    meta = FileMetaDataset()
    warnings.filterwarnings("ignore", message="Invalid value for VR UI", module="pydicom")
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    if source_ae:
        meta.SourceApplicationEntityTitle = source_ae
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    with warnings.catch_warnings():  # a peer's odd UID is judged by the caller, not printed by pydicom
        warnings.simplefilter("ignore")
        write_file_meta_info(fp, meta, enforce_standard=True)
    return b"\x00" * 128 + b"DICM" + fp.getvalue() + dataset


# A file name is the SOP Instance UID reduced to digits and dots (a UID from a peer is untrusted text).
MAX_NAME = 64  # a UID is at most 64 characters (PS3.5 §9)
# PS3.5 §9.1: components of digits separated by dots, no leading zero in a component of more than one digit.
_UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def instance_file_name(sop_instance_uid: str) -> str:
    """A visible, safe file stem for a SOP Instance UID: digits and dots only, no leading dots (a name of
    only dots, "..", would be hidden or a parent folder), "instance" when nothing is left."""
    safe = "".join(c for c in sop_instance_uid if c.isdigit() or c == ".")[:MAX_NAME].strip(".")
    return safe or "instance"


def write_instance(directory: Path, sop_class: str, sop_instance: str, transfer_syntax: str, dataset: bytes,
                   source_ae: str | None = None) -> Path:
    """Write one received instance as a Part-10 file in `directory` under a name no other file has: two
    UIDs that reduce to the same name (or a UID received twice) get "-2", "-3"... suffixes, never an
    overwrite. Raises ValueError for an instance without SOP Class / Instance UID (nothing is written) and
    OSError when the file cannot be written."""
    for uid, what in ((sop_instance, "SOP Instance UID"), (sop_class, "SOP Class UID")):
        if not uid or not uid.strip("\0 "):
            raise ValueError(f"empty Affected {what}")
        if not _UID_RE.fullmatch(uid) or len(uid) > MAX_NAME:
            raise ValueError(f"invalid {what} {uid[:24]!r} (PS3.5 §9.1)")
    data = part10_bytes(sop_class, sop_instance, transfer_syntax, bytes(dataset), source_ae)
    directory.mkdir(parents=True, exist_ok=True)
    stem = instance_file_name(sop_instance)
    for n in range(1, 100000):
        path = directory / (f"{stem}.dcm" if n == 1 else f"{stem}-{n}.dcm")
        try:
            with open(path, "xb") as f:  # exclusive create: never replaces a file
                f.write(data)
            return path
        except FileExistsError:
            continue
    raise OSError(f"no free file name for {stem} in {directory}")


class StorageSCP(SCPBehaviour):
    """Receives instances: writes Part-10 files into `directory` (named by SOP Instance UID), or keeps the
    data set bytes in memory. `received` lists them; `await wait_for(n)` waits until n have arrived."""

    def __init__(self, directory: str | Path | None = None, *, status: int = 0x0000) -> None:
        super().__init__()
        self.directory = Path(directory) if directory is not None else None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.status = status
        self.received: list[ReceivedInstance] = []
        self._arrived = asyncio.Event()

    async def on_store(self, ctx: SCPContext, rq: CStoreRQ, dataset: bytes, transfer_syntax: str) -> "int | Reply":
        inst = ReceivedInstance(rq.affected_sop_class_uid, rq.affected_sop_instance_uid, transfer_syntax,
                                ctx.calling_ae, size=len(dataset))
        if self.directory is not None:
            # What was not written is answered with a failure status, never Success (and never an abort
            # of the whole association: the other sub-operations of a C-MOVE go on).
            try:
                inst.path = write_instance(self.directory, inst.sop_class_uid, inst.sop_instance_uid,
                                           transfer_syntax, dataset, ctx.calling_ae)
            except OSError as exc:
                return Reply(0xA700, error_comment=f"cannot write: {exc.strerror or exc}"[:64])
            except Exception as exc:  # an empty or invalid UID, a data set pydicom cannot wrap
                return Reply(0xC000, error_comment=f"not stored: {exc}"[:64])
        else:
            inst.data = bytes(dataset)
        self.received.append(inst)
        self._arrived.set()
        return self.status

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedInstance]:
        async def arrived() -> None:
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        await within(timeout, arrived())
        return self.received


_LEVEL_KEY = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
              "IMAGE": "SOPInstanceUID"}


class ArchiveSCP(StorageSCP):
    """A StorageSCP that also answers C-FIND / C-MOVE / C-GET from what it holds (`add()` preloads)."""

    def __init__(self, directory: str | Path | None = None, *, status: int = 0x0000) -> None:
        super().__init__(directory, status=status)
        self.instances: list[tuple[Dataset, _ds.StoreSource]] = []

    def add(self, source: Any) -> None:
        import pydicom
        src = source if isinstance(source, _ds.StoreSource) else _ds.load_source(source)
        header: Dataset
        if src.raw is not None:
            from io import BytesIO
            header = pydicom.dcmread(BytesIO(src.raw), stop_before_pixels=True, force=True)
        elif src.dataset is not None:
            header = src.dataset
        else:
            assert src.path is not None
            header = pydicom.dcmread(src.path, stop_before_pixels=True, force=True)
        # A re-sent instance replaces the old one (same SOP Instance UID), as an archive would.
        self.instances = [(h, s) for h, s in self.instances if s.sop_instance_uid != src.sop_instance_uid]
        self.instances.append((header, src))

    async def on_store(self, ctx: SCPContext, rq: CStoreRQ, dataset: bytes, transfer_syntax: str) -> "int | Reply":
        reply = await super().on_store(ctx, rq, dataset, transfer_syntax)
        if as_reply(reply).status == 0:
            self.add(part10_bytes(rq.affected_sop_class_uid, rq.affected_sop_instance_uid, transfer_syntax,
                                  bytes(dataset)))
        return reply

    def _matching(self, identifier: Dataset) -> list[tuple[Dataset, _ds.StoreSource]]:
        keys = [(e.keyword, e.value) for e in identifier
                if e.keyword and e.keyword != "QueryRetrieveLevel" and e.value not in (None, "", b"")]
        out = []
        for header, src in self.instances:
            if all(_matches(header.get(kw), value) for kw, value in keys):
                out.append((header, src))
        return out

    def match(self, identifier: Dataset) -> list[Dataset]:
        level = str(identifier.get("QueryRetrieveLevel", "STUDY")).upper()
        unique = _LEVEL_KEY.get(level, "StudyInstanceUID")
        seen: dict[str, Dataset] = {}
        for header, _src in self._matching(identifier):
            key = str(header.get(unique, ""))
            if key in seen:
                continue
            from pydicom.dataset import Dataset
            ds = Dataset()
            for e in identifier:
                if e.keyword:
                    setattr(ds, e.keyword, header.get(e.keyword, e.value) if e.keyword != "QueryRetrieveLevel"
                            else level)
            seen[key] = ds
        return list(seen.values())

    def instances_for(self, identifier: Dataset) -> list[Any]:
        return [src for _h, src in self._matching(identifier)]


def _matches(actual: Any, wanted: Any) -> bool:
    """PS3.4 C.2.2.2 matching, simplified: wildcards * and ?, list of UIDs, else equality."""
    if actual is None:
        return False
    wanted_s, actual_s = str(wanted), str(actual)
    if "\\" in wanted_s:
        return actual_s in wanted_s.split("\\")
    if "*" in wanted_s or "?" in wanted_s:
        return fnmatch.fnmatchcase(actual_s, wanted_s)
    return actual_s == wanted_s


async def send_instances(ctx: SCPContext, sources: list[Any], dest_ae: str, dest: tuple[str, int],
                         originator_id: int) -> AsyncIterator[RetrieveStatus]:
    """C-MOVE sub-operations: one association to the destination, C-STORE each source, pending updates."""
    from ..target import Target
    from .association import AssociationError, associate
    from .connect import ConnectFailed

    srcs = [s if isinstance(s, _ds.StoreSource) else _ds.load_source(s) for s in sources]
    if not srcs:
        yield RetrieveStatus(0x0000, None, 0, 0)
        return
    pairs = sorted({(s.sop_class_uid, s.transfer_syntax or _ds.EXPLICIT_VR_LE) for s in srcs})
    contexts = [(sop, tuple(dict.fromkeys((ts, _ds.EXPLICIT_VR_LE, _ds.IMPLICIT_VR_LE)))) for sop, ts in pairs]
    server = ctx.server
    target = Target(host=dest[0], port=dest[1], called_ae=dest_ae, calling_ae=server.ae_title)
    try:
        assoc = await associate(target, contexts, timeouts=server.timeouts, max_pdu=server.max_pdu)
    except (AssociationError, ConnectFailed) as exc:
        yield RetrieveStatus(0xA702, None, 0, len(srcs), error_comment=f"cannot reach {dest_ae}: {exc}"[:64])
        return
    done = failed = warning = 0
    try:
        for i, src in enumerate(srcs):
            if ctx.cancelled:
                yield RetrieveStatus(0xFE00, len(srcs) - i, done, failed, warning)
                return
            try:
                rsp = await assoc.store(src, move_originator=(ctx.calling_ae, originator_id))
                cat = rsp.category
            except AssociationError:
                cat = "failure"
            if cat == "success":
                done += 1
            elif cat == "warning":
                warning += 1
            else:
                failed += 1
            if i + 1 < len(srcs):
                yield RetrieveStatus(0xFF00, len(srcs) - i - 1, done, failed, warning)
        await assoc.release()
    finally:
        if assoc.is_open:
            await assoc.abort()
    yield RetrieveStatus(0xB000 if failed or warning else 0x0000, None, done, failed, warning)

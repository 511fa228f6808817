"""DIMSE services as facts: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET over `net.associate`, each returning a
typed `DimseFacts` with timings and decoded statuses. Nothing here raises for what the peer does: a reject,
an abort, a timeout or a protocol violation is an `outcome` with its details.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence

from ..net import (Association, AssociationAborted, AssociationRejected, AssociationTimeout, ConnectFailed,
                   NoAcceptedContext, PeerProtocolError, Response, SCPServer, StorageSCP, TLSHandshakeFailed, Timeouts,
                   Trace, associate, part10_bytes, retrieve_contexts)
from ..net import datasets as nds
from ..net.association import DEFAULT_TRANSFER_SYNTAXES
from ..target import Target

# How many C-FIND identifiers we keep as evidence (the count is always complete).
KEEP_RESULTS = 200
# Storage classes proposed (with the SCP role) for C-GET: the common image classes; a C-GET of anything else
# fails its sub-operation, which the counters show.
GET_STORAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.6.1",
    "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.20",
    "1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.88.11", "1.2.840.10008.5.1.4.1.1.88.22",
    "1.2.840.10008.5.1.4.1.1.481.1", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.4.1",
)


@dataclass
class DimseFacts:
    """One service run. `outcome`: "ok" (the service got a final response, whatever its status),
    "rejected", "aborted", "timeout", "connect-failed", "protocol-error", "no-context", "local-error"."""

    service: str
    outcome: str = "ok"
    detail: str = ""
    status: int | None = None
    status_name: str = ""
    category: str = ""
    rtt_ms: float | None = None
    response: dict[str, Any] = field(default_factory=dict)   # dimse.status.response_evidence + rtt
    reject: dict[str, Any] | None = None
    abort: dict[str, Any] | None = None
    phase: str = ""                                          # association | dimse | release (timeouts, aborts)
    connect_outcome: str = ""
    violations: list[str] = field(default_factory=list)
    pdu_violations: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)  # the association's context results
    elapsed_ms: float = 0.0
    rtts_ms: list[float] = field(default_factory=list)
    # C-FIND
    matches: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    cancelled: bool = False
    # C-STORE
    stores: list[dict[str, Any]] = field(default_factory=list)
    # C-MOVE / C-GET
    completed: int | None = None
    failed: int | None = None
    warning: int | None = None
    remaining: int | None = None
    received: int = 0
    connect_back: bool | None = None
    pending: int = 0


Action = Callable[[Association, DimseFacts], Awaitable[None]]


async def run_service(service: str, target: Target, contexts: Sequence[Any], action: Action, *,
                      max_pdu: int = 16384, timeouts: Timeouts = Timeouts(), trace: Trace | None = None,
                      tls_context: ssl.SSLContext | None = None, roles: Iterable[Any] = ()) -> DimseFacts:
    """Associate, run `action`, release; every failure becomes the facts' outcome."""
    facts = DimseFacts(service)
    t0 = time.monotonic()
    assoc: Association | None = None
    try:
        assoc = await associate(target, contexts, max_pdu=max_pdu, timeouts=timeouts, trace=trace,
                                roles=roles, tls_context=tls_context)
        facts.accepted = list(assoc.context_results)
        await action(assoc, facts)
        await assoc.release()
    except TLSHandshakeFailed as exc:
        facts.outcome, facts.connect_outcome, facts.detail = "connect-failed", exc.outcome, exc.detail
        facts.phase = "tls"
    except ConnectFailed as exc:
        facts.outcome, facts.connect_outcome, facts.detail = "connect-failed", exc.outcome, exc.detail
    except AssociationRejected as exc:
        facts.outcome, facts.reject, facts.detail = "rejected", exc.evidence(), str(exc)
    except AssociationAborted as exc:
        facts.outcome, facts.phase, facts.detail = "aborted", exc.phase, str(exc)
        facts.abort = {"source": exc.source, "reason": exc.reason, "source_name": exc.source_name,
                       "reason_name": exc.reason_name}
    except AssociationTimeout as exc:
        facts.outcome, facts.phase, facts.detail = "timeout", exc.phase, str(exc)
    except PeerProtocolError as exc:
        facts.outcome, facts.detail = "protocol-error", str(exc)
    except NoAcceptedContext as exc:
        facts.outcome, facts.detail = "no-context", str(exc)
    finally:
        if assoc is not None:
            if assoc.is_open:
                await assoc.abort()
            _violations(assoc, facts)
        facts.elapsed_ms = (time.monotonic() - t0) * 1000.0
    return facts


def _violations(assoc: Association, facts: DimseFacts) -> None:
    texts, lengths = [], []
    for v in assoc.violations:
        texts.append(f"{v.message} (offset {v.offset})" if v.offset is not None else v.message)
        if "pdu-length" in v.code:
            lengths.append({"pdu": "P-DATA-TF", "detail": v.message, "our_max_pdu": assoc.our_max_pdu})
    facts.violations, facts.pdu_violations = texts, lengths


def _take(rsp: Response, facts: DimseFacts) -> None:
    facts.response = rsp.evidence()
    facts.status, facts.status_name, facts.category = rsp.status, rsp.status_name, rsp.category
    facts.rtt_ms = rsp.rtt_ms


# ------------------------------------------------------------------------------------------------ services

async def echo(target: Target, repeat: int = 1, **kw: Any) -> DimseFacts:
    """C-ECHO, `repeat` times on one association; `rtts_ms` keeps every round trip."""
    async def action(assoc: Association, facts: DimseFacts) -> None:
        for _ in range(max(1, repeat)):
            rsp = await assoc.echo()
            _take(rsp, facts)
            facts.rtts_ms.append(rsp.rtt_ms)
            if rsp.category != "success":
                break
    return await run_service("C-ECHO", target, [nds.VERIFICATION], action, **kw)


def store_contexts(sources: Sequence[nds.StoreSource]) -> list[tuple[str, tuple[str, ...]]]:
    """One context per SOP class: the instances' own transfer syntaxes first, then the uncompressed ones
    (so the peer can pick; net re-encodes when only an uncompressed one is accepted)."""
    by_class: dict[str, list[str]] = {}
    for s in sources:
        tss = by_class.setdefault(s.sop_class_uid, [])
        if s.transfer_syntax and s.transfer_syntax not in tss:
            tss.append(s.transfer_syntax)
    out = []
    for sop, tss in by_class.items():
        for ts in (nds.EXPLICIT_VR_LE, nds.IMPLICIT_VR_LE):
            if ts not in tss:
                tss.append(ts)
        out.append((sop, tuple(tss)))
    return out[:128]


async def store(target: Target, sources: Sequence[nds.StoreSource], **kw: Any) -> DimseFacts:
    async def action(assoc: Association, facts: DimseFacts) -> None:
        for src in sources:
            entry: dict[str, Any] = {"sop_class_uid": src.sop_class_uid, "sop_instance_uid": src.sop_instance_uid,
                                     "file": str(src.path) if src.path else None}
            try:
                rsp = await assoc.store(src)
            except NoAcceptedContext as exc:
                entry.update(status=None, status_name="no accepted presentation context", category="failure",
                             detail=str(exc))
                facts.stores.append(entry)
                continue
            entry.update(rsp.evidence())
            facts.stores.append(entry)
            _take(rsp, facts)  # the last response is the headline; every one is in `stores`
    return await run_service("C-STORE", target, store_contexts(sources), action, **kw)


def _plain(ds: Any) -> dict[str, Any]:
    """A pydicom identifier as {keyword: text}; reports redact PHI from these."""
    out: dict[str, Any] = {}
    if ds is None:
        return out
    for elem in ds:
        if elem.keyword and elem.VR != "SQ":
            out[elem.keyword] = "" if elem.value is None else str(elem.value)
    return out


async def find(target: Target, level: str, keys: Mapping[str, Any], *, model: str = "study",
               max_results: int = 0, **kw: Any) -> DimseFacts:
    async def action(assoc: Association, facts: DimseFacts) -> None:
        query = assoc.find(level, dict(keys), model)
        async for rsp in query:
            if rsp.pending:
                facts.matches += 1
                if len(facts.results) < KEEP_RESULTS:
                    facts.results.append(_plain(rsp.identifier))
                if max_results and facts.matches >= max_results and not query.cancel_sent:
                    facts.cancelled = True
                    await query.cancel()
            else:
                _take(rsp, facts)
    sop = nds.sop_class_for(model, "find")
    return await run_service("C-FIND", target, [(sop, DEFAULT_TRANSFER_SYNTAXES)], action, **kw)


def _retrieve_facts(result: Any, facts: DimseFacts) -> None:
    _take(result.final, facts)
    facts.completed, facts.failed = result.completed, result.failed
    facts.warning, facts.remaining = result.warning, result.remaining
    facts.pending = len(result.pending)


async def get(target: Target, level: str, keys: Mapping[str, Any], *, model: str = "study",
              out_dir: str | Path | None = None, **kw: Any) -> DimseFacts:
    written: list[str] = []

    async def action(assoc: Association, facts: DimseFacts) -> None:
        def on_store(rq: Any, data: bytes, ts: str) -> int:
            facts.received += 1
            if out_dir is not None:
                written.append(str(write_part10(Path(out_dir), rq.affected_sop_class_uid,
                                                rq.affected_sop_instance_uid, ts, data)))
            return 0x0000
        result = await assoc.get(level, dict(keys), on_store, model=model)
        _retrieve_facts(result, facts)
        facts.stores = [{"sop_class_uid": c, "sop_instance_uid": i, "status": st} for c, i, st in result.stores]

    contexts, roles = retrieve_contexts(model, GET_STORAGE_CLASSES, service="get")
    facts = await run_service("C-GET", target, contexts, action, roles=roles, **kw)
    if written:
        facts.response["files"] = written[:KEEP_RESULTS]
    return facts


async def move(target: Target, level: str, keys: Mapping[str, Any], destination: str, *,
               model: str = "study", listen_host: str = "127.0.0.1", listen_port: int | None = None,
               out_dir: str | Path | None = None, grace: float = 1.0, **kw: Any) -> DimseFacts:
    """C-MOVE, with our own Storage SCP listening as `destination` when `listen_port` is given: it counts
    what arrives and whether the peer connected back at all (FM-31), which the final status cannot show."""
    server: SCPServer | None = None
    storage = StorageSCP(out_dir)
    if listen_port is not None:
        server = SCPServer(destination, storage, max_pdu=int(kw.get("max_pdu", 16384)))
        try:
            await server.start(listen_host, listen_port)
        except OSError as exc:
            return DimseFacts("C-MOVE", "local-error", f"cannot listen on {listen_host}:{listen_port} as the "
                                                       f"move destination {destination}: {exc.strerror or exc}")

    async def action(assoc: Association, facts: DimseFacts) -> None:
        _retrieve_facts(await assoc.move(level, dict(keys), destination, model=model), facts)

    try:
        contexts, _ = retrieve_contexts(model, service="move")
        facts = await run_service("C-MOVE", target, contexts, action, **kw)
        if server is not None:
            if facts.outcome == "ok" and (facts.completed or 0) > len(storage.received):
                # The final response can overtake the last sub-operation's C-STORE: wait a little for it.
                try:
                    await storage.wait_for(facts.completed or 0, grace)
                except TimeoutError:
                    pass
            facts.received = len(storage.received)
            facts.connect_back = bool(server.records)
            facts.response["destination"] = {"ae_title": destination, "host": listen_host, "port": server.port,
                                             "associations": len(server.records)}
    finally:
        if server is not None:
            await server.close()
    return facts


# ----------------------------------------------------------------------------------------- files & data

def write_part10(folder: Path, sop_class: str, sop_instance: str, ts: str, data: bytes) -> Path:
    """Received data set bytes -> a Part-10 file named by SOP Instance UID (the C-GET --out folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c for c in sop_instance if c.isdigit() or c == ".") or "instance"
    path = folder / f"{safe}.dcm"
    path.write_bytes(part10_bytes(sop_class, sop_instance, ts, bytes(data)))
    return path


def synthetic_instances(count: int) -> list[Any]:
    """`count` small Secondary Capture instances of one synthetic test patient (no real patient data)."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    study, series = generate_uid(), generate_uid()
    out = []
    for i in range(count):
        ds = Dataset()
        ds.SOPClassUID = SecondaryCaptureImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.PatientName, ds.PatientID = "DICOMDOCTOR^TEST", "DICOMDOCTOR-TEST"
        ds.PatientBirthDate, ds.PatientSex = "", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, i + 1
        ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20260101", "120000", ""
        ds.StudyDescription, ds.Modality, ds.ConversionType = "dicomdoctor test", "OT", "WSD"
        ds.ReferringPhysicianName = ""
        ds.Rows = ds.Columns = 32
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = (np.arange(32 * 32, dtype=np.uint8) + i).tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        out.append(ds)
    return out

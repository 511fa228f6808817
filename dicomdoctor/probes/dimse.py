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
                   NoAcceptedContext, PeerProtocolError, Response, TLSHandshakeFailed, Timeouts, Trace, associate,
                   part10_bytes)
from ..net import datasets as nds
from ..net.association import DEFAULT_TRANSFER_SYNTAXES
from ..target import Target

SYNTHETIC_PATIENT_ID = "DD-TEST-STORE"
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
    "rejected", "aborted", "timeout", "connect-failed", "protocol-error", "no-context", "local-error",
    "listen-failed" (our move destination could not listen), "nothing-to-retrieve" (sampling found nothing)."""

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
    violation: str = ""  # the code of the protocol violation that ended it (outcome "protocol-error")
    pdu_violations: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)  # the association's context results
    # Who answered (from the A-ASSOCIATE-AC): the SCU commands name the peer without a second association.
    peer: dict[str, Any] | None = None
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
    pending_statuses: dict[str, int] = field(default_factory=dict)  # C-FIND: pending codes seen, e.g. FF01
    # Retrieve follow-ups (probes.retrieve): what was retrieved, what sampling picked, the move destination
    # we served, a move to a random AE title, a C-FIND count with the same keys, C-GET roles, files written.
    retrieved: dict[str, Any] | None = None
    sampled: dict[str, str] | None = None
    destination: dict[str, Any] | None = None
    random_destination: dict[str, Any] | None = None
    query_matches: int | None = None
    roles: dict[str, int] | None = None
    files: list[str] = field(default_factory=list)


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
        facts.peer = {"implementation_class_uid": assoc.peer_implementation_class_uid,
                      "implementation_version_name": assoc.peer_implementation_version_name,
                      "max_pdu": assoc.peer_max_pdu}
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
        facts.violation = exc.violation.code
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
                             detail=str(exc), context_result=_context_result(assoc, src.sop_class_uid))
                facts.stores.append(entry)
                continue
            entry.update(rsp.evidence())
            facts.stores.append(entry)
            _take(rsp, facts)  # the last response is the headline; every one is in `stores`
    return await run_service("C-STORE", target, store_contexts(sources), action, **kw)


def _context_result(assoc: Association, sop_class: str) -> int | None:
    """Why no context could carry this SOP class: the peer's result for it (3 abstract syntax, 4 transfer
    syntax not supported), 0 when it was accepted but not in a syntax we can send this instance in."""
    if any(a == sop_class for a, _ts in assoc.accepted.values()):
        return 0
    results = [r for a, r in assoc.rejected.values() if a == sop_class]
    return results[0] if results else None


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
               max_results: int = 0, keep: int = KEEP_RESULTS, **kw: Any) -> DimseFacts:
    """C-FIND streamed: every response is counted and decoded as it comes, at most `keep` identifiers are
    kept, and `max_results` ends the query with a C-CANCEL-RQ (the peer's final status then says whether it
    honoured it: 0xFE00 Cancel, or Success if it had finished anyway)."""
    async def action(assoc: Association, facts: DimseFacts) -> None:
        query = assoc.find(level, dict(keys), model)
        async for rsp in query:
            # FindQuery keeps every response for its callers; we count instead, so memory stays bounded
            # however many matches a broad query streams back.
            query.matches.clear()
            if rsp.pending:
                facts.matches += 1
                code = f"{rsp.status:04X}" if rsp.status is not None else "none"
                facts.pending_statuses[code] = facts.pending_statuses.get(code, 0) + 1
                if len(facts.results) < keep:
                    facts.results.append(_plain(rsp.identifier))
                if max_results and facts.matches >= max_results and not query.cancel_sent:
                    facts.cancelled = True
                    await query.cancel()
            else:
                _take(rsp, facts)
    sop = nds.sop_class_for(model, "find")
    return await run_service("C-FIND", target, [(sop, DEFAULT_TRANSFER_SYNTAXES)], action, **kw)


# ----------------------------------------------------------------------------------------- files & data

def write_part10(folder: Path, sop_class: str, sop_instance: str, ts: str, data: bytes) -> Path:
    """Received data set bytes -> a Part-10 file named by SOP Instance UID (the C-GET --out folder); unique,
    visible names (net.storage.write_instance); raises for what cannot be written (the C-STORE is then
    answered with a failure status)."""
    from ..net.storage import write_instance
    return write_instance(folder, sop_class, sop_instance, ts, data)


def synthetic_instances(count: int) -> list[Any]:
    """`count` small Secondary Capture instances of one synthetic study (dicomdoctor.synthetic: PatientName
    DICOMDOCTOR^SYNTHETIC, a DD-TEST- patient ID, a comment saying it is a test object; no patient data)."""
    from pydicom.uid import generate_uid

    from ..synthetic import file_meta_for, make_instance

    study, series = generate_uid(), generate_uid()
    out = []
    for i in range(count):
        ds = make_instance("SC", 32, 32, patient_id=SYNTHETIC_PATIENT_ID, study_uid=study, series_uid=series,
                           instance_number=i + 1)
        ds.file_meta = file_meta_for(ds)
        out.append(ds)
    return out

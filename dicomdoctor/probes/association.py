"""One association attempt, recorded as facts (failure-modes §0 step 4): what came back, byte for byte.

This probe speaks the Upper Layer itself (the ul codec over a net connection) instead of going through
`net.associate`, because a doctor must see what a client library hides: the first bytes when they are not
DICOM, the raw reject codes, every per-context result exactly as the peer sent it, the length a hostile peer
claims. It sends one A-ASSOCIATE-RQ, reads the answer with bounded reads and a bounded time, and when
accepted releases at once (politeness: Orthanc 1.10 serves one association at a time).

Facts only: a rejected association is an `outcome`, not a failure; the checks judge.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from ..net import ConnectFailed, connect
from ..net.datasets import EXPLICIT_VR_LE, IMPLICIT_VR_LE, VERIFICATION
from ..ul import codec as ulcodec
from ..ul import items as ulitems
from ..ul import pdu as ulpdu
from ..ul.errors import MalformedPDU, PDUTooLarge, RemoteProtocolError
from ..ul.reader import PDUReader
from ..ul.validate import validate as validate_pdu
from .firstbytes import FirstBytes, Kind, classify
from .tcp import ConnectFacts, close_quietly, connected_facts, failed_connect_facts
@dataclass(frozen=True, slots=True)
class ContextProposal:
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


# PDUs other than A-RELEASE-RP we take after our A-RELEASE-RQ before aborting (a peer flooding the release).
RELEASE_PDUS_TOLERATED = 16


@dataclass(frozen=True, slots=True)
class ContextResult:
    """One proposed presentation context and the peer's answer, exactly as sent (result 0..4)."""

    context_id: int
    abstract_syntax: str
    transfer_syntax: str              # the (first) transfer syntax we proposed in this context
    result: int | None                # None: the AC had no item for this context id
    result_name: str
    accepted_transfer_syntax: str | None = None


@dataclass(frozen=True, slots=True)
class RejectFacts:
    result: int
    source: int
    reason: int

    @property
    def result_name(self) -> str:
        return ulitems.reject_result_name(self.result)

    @property
    def source_name(self) -> str:
        return ulitems.reject_source_name(self.source)

    @property
    def reason_name(self) -> str:
        return ulitems.reject_reason_name(self.result, self.source, self.reason)

    def to_json_dict(self) -> dict[str, object]:
        return {"result": self.result, "result_name": self.result_name, "source": self.source,
                "source_name": self.source_name, "reason": self.reason, "reason_name": self.reason_name}


@dataclass(frozen=True, slots=True)
class AbortFacts:
    source: int
    reason: int

    def to_json_dict(self) -> dict[str, object]:
        return {"source": self.source, "source_name": ulitems.abort_source_name(self.source),
                "reason": self.reason, "reason_name": ulitems.abort_reason_name(self.source, self.reason)}


@dataclass(frozen=True, slots=True)
class AssociationFacts:
    """Everything one association attempt showed. `outcome` is one of:
    accepted, rejected, aborted, not-dicom (TLS/HTTP/SSH/text/garbage/unexpected PDU), closed, reset, silence,
    malformed (a DICOM answer we could not decode, or one that claims an absurd length), connect-failed."""

    host: str
    port: int
    called_ae: str
    calling_ae: str
    outcome: str
    first: FirstBytes | None = None
    address: str | None = None
    connect_ms: float | None = None
    response_ms: float | None = None       # from our RQ to the peer's first byte
    contexts: tuple[ContextResult, ...] = ()
    peer_max_pdu: int | None = None
    our_max_pdu: int = 16384
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    reject: RejectFacts | None = None
    abort: AbortFacts | None = None
    malformed: str = ""                    # what could not be decoded, naming the item and offset
    violations: tuple[str, ...] = ()       # conformance problems of the peer's PDUs (lenient decode + validate)
    length_violations: tuple[dict[str, object], ...] = ()  # peer PDUs above our maximum
    pdu_lengths: tuple[tuple[str, int], ...] = ()          # (PDU name, length) of every PDU the peer sent
    release: str = ""                      # released | no-release-reply | aborted | not-attempted
    connect_outcome: str = ""              # net.connect outcome when the TCP/TLS connect failed
    error: str = ""
    # The TCP facts of this attempt's own connection (net.reachable reads them instead of opening a bare
    # connection: some legacy SCPs exit when a client connects and leaves without an A-ASSOCIATE-RQ).
    # None when the connect failed in a way net.connect did not classify.
    connect: ConnectFacts | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    def accepted_pairs(self) -> set[tuple[str, str]]:
        return {(c.abstract_syntax, c.accepted_transfer_syntax or c.transfer_syntax)
                for c in self.contexts if c.result == 0}


def proposals_matrix(abstract_syntaxes: Iterable[str], transfer_syntaxes: Sequence[str]) -> list[ContextProposal]:
    """One context per (SOP class, transfer syntax): the only way to learn which pairs a peer accepts, since a
    context with several transfer syntaxes gets one answer (failure-modes §0 step 7)."""
    return [ContextProposal(a, (t,)) for a in abstract_syntaxes for t in transfer_syntaxes]


def _build_rq(called_ae: str, calling_ae: str, proposals: Sequence[ContextProposal], our_max_pdu: int,
              user_identity: ulitems.UserIdentityRQ | None = None) -> tuple[ulpdu.AAssociateRQ, dict[int, ContextProposal]]:
    if len(proposals) > 128:
        raise ValueError("at most 128 presentation contexts fit in one association (odd ids 1..255)")
    by_id = {2 * i + 1: p for i, p in enumerate(proposals)}
    rq = ulpdu.AAssociateRQ(
        called_ae=called_ae, calling_ae=calling_ae,
        presentation_contexts=tuple(ulitems.PresentationContextRQ(cid, p.abstract_syntax, p.transfer_syntaxes)
                                    for cid, p in by_id.items()),
        user_information=ulitems.UserInformation(
            max_length=our_max_pdu, implementation_class_uid=ulpdu.IMPLEMENTATION_CLASS_UID,
            implementation_version_name=ulpdu.IMPLEMENTATION_VERSION_NAME, user_identity_rq=user_identity),
    )
    return rq, by_id


async def probe_association(host: str, port: int, *, called_ae: str, calling_ae: str,
                            proposals: Sequence[ContextProposal] | None = None, our_max_pdu: int = 16384,
                            connect_timeout: float = 10.0, timeout: float = 10.0,
                            tls_context: ssl.SSLContext | None = None, server_hostname: str | None = None,
                            trace: object | None = None,
                            user_identity: ulitems.UserIdentityRQ | None = None) -> AssociationFacts:
    """Send one A-ASSOCIATE-RQ and record the answer. Never raises for anything the peer does. `user_identity`:
    the target's (a PACS that requires one rejects every association without it)."""
    proposals = list(proposals or [ContextProposal(VERIFICATION, (IMPLICIT_VR_LE, EXPLICIT_VR_LE))])
    base = AssociationFacts(host, port, called_ae, calling_ae, outcome="", our_max_pdu=our_max_pdu)
    rq, by_id = _build_rq(called_ae, calling_ae, proposals, our_max_pdu, user_identity)
    try:
        conn = await connect(host, port, timeout=connect_timeout, tls=tls_context,
                             server_hostname=server_hostname)
    except ConnectFailed as exc:
        return replace(base, outcome="connect-failed", connect_outcome=str(exc.outcome),
                       error=str(getattr(exc, "detail", "") or exc), connect=failed_connect_facts(host, port, exc))
    except (ssl.SSLError, OSError) as exc:  # a TLS handshake failure, when net lets it through unclassified
        return replace(base, outcome="connect-failed", connect_outcome="tls", error=str(exc))
    reader, writer = conn.reader, conn.writer
    base = replace(base, address=_addr(conn.address), connect_ms=conn.connect_ms,
                   connect=connected_facts(host, port, conn.address, conn.connect_ms))
    try:
        # A belt over the per-read timeouts (answer, then release): a peer that drips bytes slowly.
        return await asyncio.wait_for(
            _converse(reader, writer, rq, by_id, base, timeout, trace), 2 * timeout + 5.0)
    except asyncio.TimeoutError:
        return replace(base, outcome="silence", error=f"no complete answer within {timeout:g} s")
    finally:
        await close_quietly(writer)


async def _converse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rq: ulpdu.AAssociateRQ,
                    by_id: dict[int, ContextProposal], base: AssociationFacts, timeout: float,
                    trace: object | None) -> AssociationFacts:
    our_max = base.our_max_pdu
    rq_bytes = ulcodec.encode_pdu(rq)
    t0 = time.perf_counter()
    try:
        writer.write(rq_bytes)
        await writer.drain()
    except (ConnectionError, OSError) as exc:
        return replace(base, outcome="reset", error=f"sending the A-ASSOCIATE-RQ failed: {exc}",
                                first=classify(b"", reset=True))
    _record(trace, "sent", rq, len(rq_bytes))
    # First bytes: whatever arrives first, classified before any DICOM decoding.
    head, how = await _read_some(reader, timeout)
    response_ms = (time.perf_counter() - t0) * 1000.0
    first = classify(head, eof=how == "eof", reset=how == "reset", timed_out=how == "timeout")
    base = replace(base, first=first, response_ms=response_ms if head else None)
    if first.kind is not Kind.DICOM and trace is not None and hasattr(trace, "note"):
        trace.note(f"answer to the A-ASSOCIATE-RQ: {first.detail}"
                   + (f" [{first.sample_hex}]" if first.sample_hex else ""), "recv")
    if first.kind is Kind.SILENCE:
        return replace(base, outcome="silence",
                                error=f"no answer to the A-ASSOCIATE-RQ within {timeout:g} s")
    if first.kind in (Kind.CLOSED, Kind.RESET):
        return replace(base, outcome=first.kind.value)
    if first.kind is not Kind.DICOM:
        return replace(base, outcome="not-dicom")

    # P-DATA-TF is capped at the maximum we announced (a peer PDU above it is a violation); the association
    # PDUs at the reader's 1 MiB cap, so a claim of 4 GB is refused from the header alone.
    pdu_reader = PDUReader(max_pdu_length=our_max)
    try:
        pdu, raw = await _next_pdu(pdu_reader, reader, head, timeout)
    except PDUTooLarge as exc:
        return replace(base, outcome="malformed",
                                malformed=f"{_name(first.pdu_type)} claims {exc.claimed} bytes "
                                          f"(header offset 2), far above any association PDU "
                                          f"(cap {exc.cap}); not read")
    except MalformedPDU as exc:
        return replace(base, outcome="malformed", malformed=_malformed_text(first.pdu_type, exc))
    except RemoteProtocolError as exc:
        return replace(base, outcome="malformed", malformed=str(exc))
    except _Truncated as exc:
        return replace(base, outcome="malformed", malformed=str(exc))
    _record(trace, "recv", pdu, len(raw))
    lengths = [(_name(first.pdu_type), len(raw))]
    violations = _validate(pdu, raw)

    if isinstance(pdu, ulpdu.AAssociateRJ):
        return replace(base, outcome="rejected", pdu_lengths=tuple(lengths), violations=violations,
                                reject=RejectFacts(pdu.result, pdu.source, pdu.reason))
    if isinstance(pdu, ulpdu.AAbort):
        return replace(base, outcome="aborted", pdu_lengths=tuple(lengths), violations=violations,
                                abort=AbortFacts(pdu.source, pdu.reason))
    if not isinstance(pdu, ulpdu.AAssociateAC):
        return replace(base, outcome="not-dicom", pdu_lengths=tuple(lengths), violations=violations)

    contexts = _context_results(pdu, by_id)
    ui = pdu.user_information
    facts = replace(base, outcome="accepted", contexts=contexts, violations=violations,
                 peer_max_pdu=getattr(ui, "max_length", None) if ui is not None else None,
                 implementation_class_uid=getattr(ui, "implementation_class_uid", None) or None,
                 implementation_version_name=getattr(ui, "implementation_version_name", None) or None)
    # Release at once; whatever the peer sends meanwhile is checked against our maximum PDU length.
    release, more, length_violations = await _release(reader, writer, pdu_reader, our_max, min(timeout, 5.0),
                                                      trace)
    lengths += more
    if release == "pdus-after-release":
        violations = violations + (f"the peer sent more than {RELEASE_PDUS_TOLERATED} PDUs after our "
                                   "A-RELEASE-RQ instead of A-RELEASE-RP (PS3.8 §7.2); aborted",)
    return replace(facts, release=release, pdu_lengths=tuple(lengths), violations=violations,
                            length_violations=tuple(length_violations))


class _Truncated(Exception):
    pass


async def _read_some(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, str]:
    try:
        data = await asyncio.wait_for(reader.read(65536), timeout)
    except asyncio.TimeoutError:
        return b"", "timeout"
    except (ConnectionError, OSError, ssl.SSLError):
        return b"", "reset"
    return data, ("eof" if not data else "data")


async def _next_pdu(pdu_reader: PDUReader, reader: asyncio.StreamReader, pending: bytes,
                    timeout: float) -> tuple[object, bytes]:
    """Feed bytes until one whole PDU decodes. Bounded: the reader checks the claimed length against its cap
    from the header alone, and each read has a timeout."""
    if pending:
        pdu_reader.feed(pending)
    while True:
        pdu = pdu_reader.next_pdu()
        if pdu is not None:
            return pdu, pdu_reader.last_raw_head(1 << 20)
        data, how = await _read_some(reader, timeout)
        if not data:
            raise _Truncated(f"the peer {'stopped sending' if how == 'timeout' else 'closed the connection'} "
                             f"in the middle of a PDU ({pdu_reader.buffered} bytes received)")
        pdu_reader.feed(data)


async def _release(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pdu_reader: PDUReader,
                   our_max: int, timeout: float, trace: object | None
                   ) -> tuple[str, list[tuple[str, int]], list[dict[str, object]]]:
    lengths: list[tuple[str, int]] = []
    violations: list[dict[str, object]] = []
    try:
        release_rq = ulpdu.AReleaseRQ()
        rp = ulcodec.encode_pdu(release_rq)
        writer.write(rp)
        await writer.drain()
        _record(trace, "sent", release_rq, len(rp))
    except (ConnectionError, OSError):
        return "peer-closed", lengths, violations
    deadline = time.monotonic() + timeout
    others = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "no-release-reply", lengths, violations
        try:
            pdu, raw = await _next_pdu(pdu_reader, reader, b"", left)
        except _Truncated:
            # _next_pdu says the same for a close and for silence until `left` ran out: tell them apart.
            silent = time.monotonic() >= deadline - 0.01
            return ("no-release-reply" if silent else "peer-closed"), lengths, violations
        except PDUTooLarge as exc:
            # PS3.8 Annex D.1: the maximum length we announced bounds every P-DATA-TF the peer sends us.
            if exc.pdu_type == 0x04:
                violations.append({"pdu": "P-DATA-TF", "length": exc.claimed, "our_max_pdu": our_max})
            return "peer-protocol-error", lengths, violations
        except RemoteProtocolError:
            return "peer-protocol-error", lengths, violations
        name = _name(getattr(pdu, "pdu_type", None))
        if isinstance(pdu, ulpdu.AReleaseRP):
            lengths.append((name, pdu_reader.last_length))
            _record(trace, "recv", pdu, pdu_reader.last_length)
            return "released", lengths, violations
        if isinstance(pdu, ulpdu.AAbort):
            _record(trace, "recv", pdu, pdu_reader.last_length)
            return "aborted", lengths, violations
        # Anything else after our A-RELEASE-RQ: a few are recorded (and length-checked), a flood is cut off.
        others += 1
        if others > RELEASE_PDUS_TOLERATED:
            writer.write(ulcodec.encode_pdu(ulpdu.AAbort(0, 0)))
            _record(trace, "note", f"{others} PDUs after A-RELEASE-RQ and no A-RELEASE-RP; aborted", 0)
            return "pdus-after-release", lengths, violations
        lengths.append((name, pdu_reader.last_length))
        _record(trace, "recv", pdu, pdu_reader.last_length)


def _context_results(ac: object, by_id: dict[int, ContextProposal]) -> tuple[ContextResult, ...]:
    answered = {c.context_id: c for c in getattr(ac, "presentation_contexts", ())}
    out = []
    for cid, prop in by_id.items():
        item = answered.get(cid)
        ts = prop.transfer_syntaxes[0]
        if item is None:
            out.append(ContextResult(cid, prop.abstract_syntax, ts, None, "not answered"))
            continue
        result = int(item.result)
        accepted = (item.transfer_syntax or None) if result == 0 else None
        out.append(ContextResult(cid, prop.abstract_syntax, ts, result, ulitems.pc_result_name(result), accepted))
    return tuple(out)


def _validate(pdu: Any, raw: bytes) -> tuple[str, ...]:
    try:
        found = validate_pdu(pdu, raw or None)
    except Exception as exc:  # validation is advisory; a bug there must not hide the answer itself
        return (f"could not validate the PDU: {exc}",)
    return tuple(_violation_text(v) for v in found)


def _violation_text(v: object) -> str:
    msg = str(getattr(v, "message", v))
    off = getattr(v, "offset", None)
    return f"{msg} (offset {off})" if off is not None and "offset" not in msg else msg


def _malformed_text(pdu_type: int | None, exc: MalformedPDU) -> str:
    return f"{_name(pdu_type)}: {exc}"


def _name(pdu_type: int | None) -> str:
    return ulpdu.PDU_NAMES.get(pdu_type or 0, f"PDU type 0x{(pdu_type or 0):02x}")


def _addr(address: object) -> str | None:
    if isinstance(address, tuple):
        return str(address[0])
    return str(address) if address is not None else None


def _record(trace: object | None, direction: str, pdu: object, length: int) -> None:
    """Add a PDU to the run's trace (a net.trace.Trace) when there is one; the probe works without."""
    if direction == "note" and isinstance(pdu, str):
        if trace is not None and hasattr(trace, "note"):
            trace.note(pdu)
        return
    if trace is not None and hasattr(trace, "pdu"):
        trace.pdu(direction, pdu, length)

"""One TCP connection of a capture, followed as a DICOM association: detection, the record of what was seen,
and the timings. Judging the record (findings, causes) is judge.py's job.

A connection is DICOM when the first bytes of one direction are an A-ASSOCIATE-RQ (type 0x01, reserved 0x00,
a plausible 4-byte length, protocol version 0x0001 at offset 6): the port does not matter, so a PACS on
11112 or a router on 4242 is found without `-d tcp.port==...`. That direction is the *requestor*. PS3.8
allows one association per TCP connection, so the connection's end is the association's end.

Memory: the record keeps counters, the negotiated PDUs, capped lists (violations, failures, trace) and the
requests still waiting for an answer, never data-set bytes (pdustream.py skips them in place).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Any

from ..dimse.fragment import AssembledMessage
from ..dimse.summary import summarize_message
from ..trace_entry import RECV, SENT, TraceEntry
from ..ul import AAbort, AAssociateAC, AAssociateRJ, AAssociateRQ, AReleaseRP, AReleaseRQ
from .pdustream import KEEP_IDENTIFIER, DatasetCounter, PduStream
from .workflow import WorkflowRecord, keep_dataset

__all__ = ["CapturedAssociation", "looks_like_associate_rq", "Endpoint", "OpStats", "TraceEntry"]

MAX_VIOLATIONS = 50     # detailed violations kept per association (all are counted)
MAX_LISTED = 20         # failures, queries, unanswered requests listed per association
MAX_TRACE = 400         # trace entries per association (the rest are counted)
HOLD_CAP = 64 << 10     # bytes held while deciding whether a connection is DICOM
_U32 = struct.Struct(">I")
_TLS_HANDSHAKE = (0x16, 0x03)


def looks_like_associate_rq(head: bytes) -> bool:
    """The A-ASSOCIATE-RQ signature over the first 10 bytes: type 1, reserved 0, a length that fits the
    fixed part (68) and the 1 MiB association cap, protocol version bit 0 set (PS3.8 Table 9-11)."""
    if len(head) < 10 or head[0] != 0x01 or head[1] != 0x00:
        return False
    length = _U32.unpack_from(head, 2)[0]
    return 68 <= length <= (1 << 20) and head[6] == 0x00 and head[7] & 0x01 == 1


def pdu_name(pdu: Any) -> str:
    from ..ul import PDU_NAMES

    return PDU_NAMES.get(getattr(pdu, "pdu_type", -1), type(pdu).__name__)


def summarize_pdu(pdu: Any) -> str:
    """One line per association PDU, in the style of net.trace."""
    name = pdu_name(pdu)
    t = getattr(pdu, "pdu_type", None)
    if t in (0x01, 0x02):
        pcs = pdu.presentation_contexts
        text = f"{name} {pdu.calling_ae} -> {pdu.called_ae}, "
        text += f"{len(pcs)} context(s)" if t == 0x01 else \
            f"{sum(1 for pc in pcs if pc.result == 0)} of {len(pcs)} contexts accepted"
        ui = pdu.user_information
        text += f", max PDU {ui.max_length if ui is not None and ui.max_length is not None else 'absent'}"
        if ui is not None and ui.implementation_version_name:
            text += f", {ui.implementation_version_name}"
        return text
    if t == 0x03:
        return f"{name} {pdu.describe()} ({pdu.result}/{pdu.source}/{pdu.reason})"
    if t == 0x07:
        return f"{name} from {pdu.source_name}: {pdu.reason_name} ({pdu.source}/{pdu.reason})"
    return name


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def endpoint(addr: tuple[bytes, int]) -> Endpoint:
    return Endpoint(str(ipaddress.ip_address(addr[0])), addr[1])


@dataclass(slots=True)
class OpStats:
    """Round trips of one operation (request complete -> final response complete), in milliseconds."""

    count: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = 0.0

    def add(self, ms: float) -> None:
        self.count += 1
        self.total += ms
        self.low = min(self.low, ms)
        self.high = max(self.high, ms)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "min": round(self.low, 3), "avg": round(self.total / self.count, 3),
                "max": round(self.high, 3)}


@dataclass(slots=True)
class Pending:
    operation: str
    service: str | None
    message_id: int
    ts: float
    context_id: int
    # The request never arrived whole: its command came, its data set was cut (by a reset, a close, the
    # capture's end).
    incomplete: bool = False


@dataclass
class CapturedAssociation:
    """Implements tcp.FlowHandler (bytes from the tracker) and pdustream.StreamSink (PDUs and messages)."""

    addrs: tuple[tuple[bytes, int], tuple[bytes, int]]
    first_ts: float
    dicom: bool | None = None           # None until the first bytes decide
    first_bytes: bytes = b""            # of a non-DICOM connection, for the "what was it" note
    requestor: int = 0
    streams: tuple[PduStream, PduStream] | None = None
    # the negotiation
    rq: AAssociateRQ | None = None
    rq_ts: float | None = None
    ac: AAssociateAC | None = None
    ac_ts: float | None = None
    rj: AAssociateRJ | None = None
    rj_ts: float | None = None
    release_rq: tuple[int, float] | None = None   # (direction, ts) of the first A-RELEASE-RQ
    release_rp: tuple[int, float] | None = None
    abort: tuple[AAbort, int, float] | None = None
    end: tuple[str, float] | None = None          # ("fin"|"rst"|"capture-end"|"reused"|"idle", ts)
    last_ts: float = 0.0
    # DIMSE
    operations: dict[str, int] = field(default_factory=dict)
    statuses: dict[tuple[str | None, int], dict[str, Any]] = field(default_factory=dict)
    pending: dict[tuple[int, int], Pending] = field(default_factory=dict)
    rtt: dict[str, OpStats] = field(default_factory=dict)
    slowest: dict[str, Any] | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    pending_responses: int = 0
    find_matches: int = 0
    suboperations: list[dict[str, Any]] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    cancels: int = 0
    # the workflow services (worklist, MPPS, commitment, IAN): judged across the capture by workflow.py
    workflow: WorkflowRecord = field(default_factory=WorkflowRecord)
    first_request_ts: float | None = None
    last_response_ts: float | None = None
    # protocol
    violations: list[dict[str, Any]] = field(default_factory=list)
    violation_counts: dict[str, int] = field(default_factory=dict)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    missing_bytes: int = 0
    lost: list[dict[str, Any]] = field(default_factory=list)
    trace: list[TraceEntry] = field(default_factory=list)
    trace_dropped: int = 0
    _head: list[bytearray] = field(default_factory=lambda: [bytearray(), bytearray()])
    _stash: list[tuple[int, float, bytes]] = field(default_factory=list)
    _held: int = 0
    _first_dir: int | None = None
    # Per direction: the message whose command is complete and whose data set is still coming
    # (operation, service, message id, context id, ts of its command).
    _partial: list[tuple[Any, ...] | None] = field(default_factory=lambda: [None, None])

    @property
    def answer_lost(self) -> bool:
        """The acceptor's stream was lost before its A-ASSOCIATE-AC/RJ could be read."""
        return self.ac is None and self.rj is None and any(x["direction"] == "acceptor" for x in self.lost)

    # ------------------------------------------------------------------------------------ identities
    @property
    def requestor_end(self) -> Endpoint:
        return endpoint(self.addrs[self.requestor])

    @property
    def acceptor_end(self) -> Endpoint:
        return endpoint(self.addrs[1 - self.requestor])

    def who(self, direction: int) -> str:
        return "requestor" if direction == self.requestor else "acceptor"

    # ------------------------------------------------------------------------------ tcp.FlowHandler
    def data(self, direction: int, ts: float, data: memoryview | bytes) -> None:
        self.last_ts = ts
        if self.dicom:
            assert self.streams is not None
            self.streams[direction].feed(ts, data)
            return
        if self.dicom is False:
            return
        head = self._head[direction]
        if len(head) < 10:
            head += data[:10 - len(head)]
        if len(head) < 10 and head[0] == 0x01 and (len(head) < 2 or head[1] == 0):
            self._hold(direction, ts, data)  # could still be an A-ASSOCIATE-RQ: decide on 10 bytes
            return
        if looks_like_associate_rq(bytes(head)):
            self.dicom = True
            self.requestor = direction
            self.streams = (PduStream(0, self), PduStream(1, self))
            for stream in self.streams:
                self._watch_datasets(stream)
            held, self._stash = self._stash, []
            # The requestor's held bytes first: the other side's (an AC seen out of order) answer them.
            for d, ts0, chunk in sorted(held, key=lambda h: h[0] != direction):
                self.streams[d].feed(ts0, chunk)
            self.streams[direction].feed(ts, data)
            return
        other = self._head[1 - direction]
        if len(other) >= 10 or (other and not (other[0] == 0x01 and (len(other) < 2 or other[1] == 0))):
            # Neither side opened with an A-ASSOCIATE-RQ.
            self.dicom = False
            self.first_bytes = bytes(self._head[self._first_dir if self._first_dir is not None else direction][:16])
            self._stash = []
            return
        # This side is not a requestor; the other has not spoken yet (or a capture showed the answer first).
        self._hold(direction, ts, data)

    def _hold(self, direction: int, ts: float, data: memoryview | bytes) -> None:
        if self._first_dir is None:
            self._first_dir = direction
        self._held += len(data)
        if self._held > HOLD_CAP:  # a one-way stream that never shows an A-ASSOCIATE-RQ: not DICOM
            self.dicom = False
            self.first_bytes = bytes(self._head[self._first_dir][:16])
            self._stash = []
            return
        self._stash.append((direction, ts, bytes(data)))

    def gap(self, direction: int, ts: float, offset: int, length: int, seq: int) -> None:
        self.missing_bytes += length
        survived = None
        if self.dicom and self.streams is not None:
            survived = self.streams[direction].gap(ts, offset, length)
        if len(self.gaps) < MAX_LISTED:
            self.gaps.append({"direction": self.who(direction) if self.dicom else direction, "seq": seq,
                              "stream_offset": offset, "bytes": length,
                              "inside_data_set": bool(survived), "t_ms": self._ms(ts)})

    def closed(self, ts: float, how: str) -> None:
        self.end = (how, ts)
        self.last_ts = max(self.last_ts, ts)
        if self.dicom and self.streams is not None:
            self._interrupted(ts)
            if how != "capture-end":
                for s in self.streams:
                    s.end(ts)

    def _watch_datasets(self, stream: PduStream) -> None:
        """Note each message whose command is complete while its data set streams, so that one the connection
        cuts (a C-STORE-RQ reset mid-data-set) is still an operation, not nothing."""
        inner = stream.reassembler.dataset_sink
        direction = stream.direction

        def sink(context_id: int, message: Any) -> Any:
            if not getattr(message, "IS_RESPONSE", False):
                op = message.name[:-3] if message.name.endswith("-RQ") else message.name
                self._partial[direction] = (op, message.service, getattr(message, "message_id", 0), context_id,
                                            self.last_ts)
            writer = inner(context_id, message) if inner is not None else None
            if isinstance(writer, DatasetCounter) and not writer.keep and \
                    keep_dataset(message.name, self._sop_class(context_id, message)):
                writer.keep = True  # a small workflow data set: what the step, request or report says
            return writer

        stream.reassembler.dataset_sink = sink

    def _interrupted(self, ts: float) -> None:
        """The connection ended: a request whose data set was still coming becomes an operation without a
        response (the judge names how the connection ended as its cause)."""
        assert self.streams is not None
        for direction, partial in enumerate(self._partial):
            stream = self.streams[direction]
            if partial is None or not stream.reassembler.in_progress or stream.lost:
                continue
            op, service, mid, cid, t0 = partial
            self._partial[direction] = None
            self.operations[op] = self.operations.get(op, 0) + 1
            if self.first_request_ts is None:
                self.first_request_ts = t0
            self.pending[(direction, mid)] = Pending(op, service, mid, t0, cid, incomplete=True)

    # -------------------------------------------------------------------------- pdustream.StreamSink
    def on_pdu(self, direction: int, ts: float, pdu: Any, length: int) -> None:
        from_rq = direction == self.requestor
        self._trace(ts, direction, summarize_pdu(pdu), length, pdu, pdu_name(pdu))
        if isinstance(pdu, AAssociateRQ):
            if not from_rq or self.rq is not None:
                self._unexpected(direction, ts, "A-ASSOCIATE-RQ")
                return
            self.rq, self.rq_ts = pdu, ts
            return
        if isinstance(pdu, AAssociateAC):
            if from_rq or self.ac is not None or self.rj is not None:
                self._unexpected(direction, ts, "A-ASSOCIATE-AC")
                return
            self.ac, self.ac_ts = pdu, ts
            assert self.streams is not None
            # Each side's Maximum Length Received bounds what the *other* side may send (PS3.8 D.1).
            self.streams[self.requestor].limit = pdu.max_length or None
            self.streams[1 - self.requestor].limit = (self.rq.max_length or None) if self.rq else None
            return
        if isinstance(pdu, AAssociateRJ):
            if from_rq or self.ac is not None or self.rj is not None:
                self._unexpected(direction, ts, "A-ASSOCIATE-RJ")
                return
            self.rj, self.rj_ts = pdu, ts
            return
        if isinstance(pdu, AReleaseRQ):
            if self.ac is None and not self.answer_lost:
                self._unexpected(direction, ts, "A-RELEASE-RQ")
            if self.release_rq is None:
                self.release_rq = (direction, ts)
            return
        if isinstance(pdu, AReleaseRP):
            if self.release_rq is None:
                self._unexpected(direction, ts, "A-RELEASE-RP")
            if self.release_rp is None:
                self.release_rp = (direction, ts)
            return
        if isinstance(pdu, AAbort):
            if self.abort is None:
                self.abort = (pdu, direction, ts)

    def on_message(self, direction: int, ts_start: float, ts_end: float, am: AssembledMessage,
                   dataset_bytes: int, identifier: bytes | None, pdus: int) -> None:
        msg = am.message
        self._trace(ts_end, direction, summarize_message(msg, dataset_bytes, pdus, am.context_id),
                    len(am.command) + dataset_bytes, msg, "P-DATA-TF")
        if self.ac is None and not self.answer_lost:
            self.on_violation(direction, ts_end, "unexpected-pdu",
                              f"{msg.name} sent by the {self.who(direction)} before the association was accepted",
                              "error")
        elif self.ac is not None and not self._context_ok(am.context_id):
            self.on_violation(direction, ts_end, "context-not-accepted",
                              f"{msg.name} on presentation context {am.context_id}, which the acceptor did not "
                              f"accept", "error")
        self._partial[direction] = None  # complete: not interrupted
        name = msg.name
        if name == "C-CANCEL-RQ":
            self.cancels += 1
            return
        self.workflow.message(self, direction, ts_end, am.context_id, msg, identifier)
        if not getattr(msg, "IS_RESPONSE", False):
            op = name[:-3] if name.endswith("-RQ") else name
            self.operations[op] = self.operations.get(op, 0) + 1
            if self.first_request_ts is None:
                self.first_request_ts = ts_start
            mid = getattr(msg, "message_id", 0)
            self.pending[(direction, mid)] = Pending(op, msg.service, mid, ts_end, am.context_id)
            if identifier is not None and name in KEEP_IDENTIFIER and len(self.queries) < MAX_LISTED:
                self.queries.append(self._query(op, am.context_id, identifier))
            return
        self._response(direction, ts_end, msg)

    def on_violation(self, direction: int, ts: float, code: str, message: str, severity: str = "error",
                     **details: Any) -> None:
        self.violation_counts[code] = self.violation_counts.get(code, 0) + 1
        # Oversized PDUs come in hundreds when a peer ignores the limit: list the first few, count the rest.
        if len(self.violations) < MAX_VIOLATIONS and not (code == "pdu-length-violation"
                                                          and self.violation_counts[code] > 3):
            entry = {"code": code, "severity": severity, "direction": self.who(direction), "message": message,
                     "t_ms": self._ms(ts)}
            entry.update({k: v for k, v in details.items() if v is not None})
            self.violations.append(entry)

    def on_lost(self, direction: int, ts: float, reason: str) -> None:
        self.lost.append({"direction": self.who(direction), "reason": reason, "t_ms": self._ms(ts)})
        # Answers from this direction can no longer be seen: its peer's requests are not "unanswered".
        for key in [k for k in self.pending if k[0] != direction]:
            del self.pending[key]

    # ----------------------------------------------------------------------------------------- helpers
    def _ms(self, ts: float) -> float:
        return round((ts - self.first_ts) * 1000, 3)

    def _unexpected(self, direction: int, ts: float, what: str) -> None:
        self.on_violation(direction, ts, "unexpected-pdu", f"{what} from the {self.who(direction)} at this point of "
                                                           f"the association (PS3.8 state machine)", "error")

    def _trace(self, ts: float, direction: int, summary: str, length: int, pdu: Any, kind: str) -> None:
        if len(self.trace) >= MAX_TRACE:
            self.trace_dropped += 1
            return
        self.trace.append(TraceEntry(ts - self.first_ts, SENT if direction == self.requestor else RECV,
                                     kind, summary, length, pdu))

    def _context_ok(self, context_id: int) -> bool:
        assert self.ac is not None
        return any(pc.context_id == context_id and pc.result == 0 for pc in self.ac.presentation_contexts)

    def abstract_syntax(self, context_id: int) -> str | None:
        """The SOP class the requestor proposed on this presentation context."""
        for pc in self.rq.presentation_contexts if self.rq is not None else ():
            if pc.context_id == context_id:
                return pc.abstract_syntax
        return None

    def _sop_class(self, context_id: int, message: Any) -> str | None:
        return getattr(message, "affected_sop_class_uid", None) or getattr(message, "requested_sop_class_uid",
                                                                           None) or self.abstract_syntax(context_id)

    def transfer_syntax(self, context_id: int) -> str | None:
        if self.ac is None:
            return None
        for pc in self.ac.presentation_contexts:
            if pc.context_id == context_id:
                return pc.transfer_syntax
        return None

    def _query(self, op: str, context_id: int, identifier: bytes) -> dict[str, Any]:
        """Level and key names of a query identifier; never the values (they may be patient data)."""
        out: dict[str, Any] = {"operation": op}
        ts = self.transfer_syntax(context_id) or "1.2.840.10008.1.2"
        try:
            from io import BytesIO

            from pydicom.filereader import read_dataset

            ds = read_dataset(BytesIO(identifier), ts == "1.2.840.10008.1.2", ts != "1.2.840.10008.1.2.2")
            out["level"] = str(ds.get("QueryRetrieveLevel", "") or "")
            out["keys"] = [e.keyword or f"({e.tag.group:04X},{e.tag.element:04X})" for e in ds
                           if e.keyword != "QueryRetrieveLevel"]
        except Exception as exc:  # a broken identifier is a finding detail, never a crash
            out["error"] = f"identifier not decodable: {type(exc).__name__}"
        return out

    def _response(self, direction: int, ts: float, msg: Any) -> None:
        from ..dimse import response_evidence

        service = msg.service
        status = msg.status if 0x00000900 not in msg.missing else None
        key = (service, status if isinstance(status, int) else -1)
        entry = self.statuses.get(key)
        if entry is None:
            ev = response_evidence(msg, service)
            entry = {"service": service, "count": 0, **{k: v for k, v in ev.items()
                                                      if k not in ("remaining", "completed", "failed", "warning")}}
            self.statuses[key] = entry
        entry["count"] += 1
        category = entry["category"]
        mid = msg.message_id_being_responded_to
        req = self.pending.get((1 - direction, mid))
        if category == "pending":
            self.pending_responses += 1
            if service == "c-find":
                self.find_matches += 1
            return
        self.last_response_ts = ts
        op = req.operation if req is not None else (msg.name[:-4] if msg.name.endswith("-RSP") else msg.name)
        if req is not None:
            del self.pending[(1 - direction, mid)]
            ms = (ts - req.ts) * 1000
            self.rtt.setdefault(op, OpStats()).add(ms)
            if self.slowest is None or ms > self.slowest["ms"]:
                self.slowest = {"operation": op, "message_id": mid, "ms": round(ms, 3)}
        else:
            self.on_violation(direction, ts, "unexpected-response",
                              f"{msg.name} answers message id {mid}, which no request of the other side carried",
                              "warning")
        if service in ("c-move", "c-get"):
            counters = {k: getattr(msg, f"number_of_{k}_suboperations", None)
                        for k in ("remaining", "completed", "failed", "warning")}
            if any(v is not None for v in counters.values()) and len(self.suboperations) < MAX_LISTED:
                self.suboperations.append({"operation": op, "message_id": mid, "status_hex": entry.get("status_hex"),
                                           **{k: v for k, v in counters.items() if v is not None}})
        if category in ("failure", "warning") and len(self.failures) < MAX_LISTED:
            item = {"operation": op, "message_id": mid, "status": entry.get("status"),
                    "status_hex": entry.get("status_hex"), "status_name": entry.get("status_name"),
                    "category": category, "by": self.who(direction), "t_ms": self._ms(ts)}
            if getattr(msg, "error_comment", None):
                item["error_comment"] = msg.error_comment
            if getattr(msg, "offending_element", None):
                from ..dimse import decode_offending_elements

                item["offending_elements"] = decode_offending_elements(msg.offending_element)
            self.failures.append(item)

"""``ULConnection``: the h11-style sans-I/O Upper Layer (STYLE.md #1), driving the fsm.py table.

The driver (net/) owns the socket and the clock::

    conn = ULConnection("requestor", max_pdu_length=16384)
    conn.connection_made(now=loop.time())
    writer.write(conn.send(rq, now=loop.time()))
    while True:
        conn.receive_data(await reader.read(65536), now=loop.time())     # b"" = the peer closed
        while (event := conn.next_event()) is not NEED_DATA:
            ...                                                           # AssociateAccept, DataTransfer...
        if out := conn.data_to_send():                                   # provider-generated PDUs
            writer.write(out)
        if conn.must_close:
            writer.close()
        # arm a timer for conn.artim_deadline (if not None) that calls conn.on_timer(loop.time())

Peer misbehaviour never raises out of ``next_event``: it becomes a ``ProtocolViolation`` event (fatal ones
make the provider answer with an A-ABORT, PS3.8 AA-8, queued in ``data_to_send()``), like wsproto.
``send`` raises ``LocalProtocolError`` when the table does not allow the PDU in the current state.

Requestor start: PS3.8 has Evt1 (A-ASSOCIATE request: AE-1, connect the transport) then Evt2 (connect
confirm: AE-2, send the RQ). A driver connects before it has anything to send, so ``send(AAssociateRQ)`` in
Sta1 fires both and returns the RQ's bytes; ``connection_made()`` on a requestor only records the fact.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Callable, Literal, Union

from .codec import decode_pdu_body, encode_pdu
from .errors import LocalProtocolError, PDUTooLarge, RemoteProtocolError, UnrecognizedPDU
from .fsm import (
    CloseTransport,
    Event,
    Indication,
    SendPDU,
    StartARTIM,
    State,
    StateMachine,
    StopARTIM,
    Transition,
    TRANSITIONS,
)
from .pdu import PDU, PDU_NAMES, AAbort, AAssociateAC, AAssociateRJ, AAssociateRQ, AReleaseRP, AReleaseRQ, PDataTF
from .reader import PDUReader
from .validate import Violation, validate

__all__ = [
    "ULConnection", "NEED_DATA", "ULEvent", "AssociateRequest", "AssociateAccept", "AssociateReject",
    "DataTransfer", "ReleaseRequest", "ReleaseConfirm", "Aborted", "TransportClosed", "ProtocolViolation",
    "ARTIMExpired",
]


class _Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA = _Sentinel.NEED_DATA
"""Returned by ``next_event`` when more bytes (or a timer) are needed."""


@dataclass(frozen=True, slots=True)
class AssociateRequest:
    """A-ASSOCIATE indication (acceptor): answer with ``send(AAssociateAC)`` or ``send(AAssociateRJ)``."""

    pdu: AAssociateRQ


@dataclass(frozen=True, slots=True)
class AssociateAccept:
    """A-ASSOCIATE confirmation, accepted (requestor)."""

    pdu: AAssociateAC


@dataclass(frozen=True, slots=True)
class AssociateReject:
    """A-ASSOCIATE confirmation, rejected (requestor); the transport is to be closed (``must_close``)."""

    pdu: AAssociateRJ


@dataclass(frozen=True, slots=True)
class DataTransfer:
    """P-DATA indication: one P-DATA-TF PDU (hand it to dimse's Reassembler)."""

    pdu: PDataTF


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    """A-RELEASE indication: answer with ``send(AReleaseRP())``. ``collision`` when we had sent an
    A-RELEASE-RQ too (PS3.8 §7.2.2, AR-8): the requestor answers now, the acceptor after its confirm."""

    collision: bool = False


@dataclass(frozen=True, slots=True)
class ReleaseConfirm:
    """A-RELEASE confirmation: the peer sent A-RELEASE-RP. ``collision`` as for ReleaseRequest; an acceptor
    in a collision must still ``send(AReleaseRP())`` afterwards."""

    collision: bool = False


@dataclass(frozen=True, slots=True)
class Aborted:
    """A-ABORT / A-P-ABORT indication: the peer sent an A-ABORT (``pdu`` set, PS3.8 Table 9-26 codes)."""

    pdu: AAbort | None
    source: int
    reason: int


@dataclass(frozen=True, slots=True)
class TransportClosed:
    """The peer closed the transport. ``expected`` when the association was already over (Sta13, after a
    release, reject or abort); otherwise it is an A-P-ABORT (PS3.8 AA-4) or a peer leaving before its RQ."""

    expected: bool
    state: State = State.STA1


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The peer broke the protocol. ``fatal``: the association is over; an A-ABORT (source 2) is queued in
    ``data_to_send()`` where PS3.8 asks for one. Non-fatal ones come from ``validate()`` on a PDU that was
    still processed (lenient), just before that PDU's own event."""

    violation: Violation
    fatal: bool = True
    pdu: PDU | None = None


@dataclass(frozen=True, slots=True)
class ARTIMExpired:
    """The ARTIM timer ran out (PS3.8 §9.1.5): the peer sent no A-ASSOCIATE-RQ, or did not close the
    transport after the association ended. The transport is to be closed (``must_close``)."""

    state: State


ULEvent = Union[AssociateRequest, AssociateAccept, AssociateReject, DataTransfer, ReleaseRequest, ReleaseConfirm,
                Aborted, TransportClosed, ProtocolViolation, ARTIMExpired]

_SEND_EVENTS: dict[type, Event] = {
    AAssociateRQ: Event.EVT1, AAssociateAC: Event.EVT7, AAssociateRJ: Event.EVT8, PDataTF: Event.EVT9,
    AReleaseRQ: Event.EVT11, AReleaseRP: Event.EVT14, AAbort: Event.EVT15,
}
_RECV_EVENTS: dict[type, Event] = {
    AAssociateAC: Event.EVT3, AAssociateRJ: Event.EVT4, AAssociateRQ: Event.EVT6, PDataTF: Event.EVT10,
    AReleaseRQ: Event.EVT12, AReleaseRP: Event.EVT13, AAbort: Event.EVT16,
}
_ROLE_ONLY: dict[type, str] = {AAssociateRQ: "requestor", AAssociateAC: "acceptor", AAssociateRJ: "acceptor"}


class ULConnection:
    """One association's Upper Layer, without I/O. See the module docstring for the driver loop.

    ``max_pdu_length`` is what we advertise (and enforce on received P-DATA-TF); an RQ/AC we send with a
    maximum length sub-item replaces it. ``artim_timeout`` is seconds (PS3.8 §9.1.5 leaves it local).
    Every method that can start a timer takes ``now`` (any monotonic clock, the driver's choice); without it
    the last ``now`` seen is used (0.0 at first), which keeps pure tests short.
    """

    def __init__(self, role: str = "requestor", max_pdu_length: int = 16384, artim_timeout: float = 30.0, *,
                 validate_pdus: bool = True, on_transition: Callable[[Transition], None] | None = None) -> None:
        self._fsm = StateMachine(role)
        self.role = role
        self.artim_timeout = artim_timeout
        self.validate_pdus = validate_pdus
        self.on_transition = on_transition
        self._reader = PDUReader(max_pdu_length)
        self._events: deque[ULEvent] = deque()
        self._out = bytearray()
        self._now = 0.0
        self._artim_deadline: float | None = None
        self._eof = False
        self._eof_done = False
        self._dead = False  # framing lost after a fatal error: ignore further bytes
        self._connected = False
        self.must_close = False
        self.peer_max_pdu_length: int | None = None
        self.associate_rq: AAssociateRQ | None = None
        self.associate_ac: AAssociateAC | None = None
        self.last_transition: Transition | None = None

    # -- introspection --------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._fsm.state

    @property
    def artim_deadline(self) -> float | None:
        """When ``on_timer`` should be called next (same clock as the ``now`` values), or None."""
        return self._artim_deadline

    @property
    def max_pdu_length(self) -> int | None:
        """The P-DATA-TF maximum we advertised and enforce (0 = unlimited, bounded by the reader's cap)."""
        return self._reader.max_pdu_length

    @property
    def reader(self) -> PDUReader:
        """The framing reader: ``last_raw`` / ``last_raw_head()`` give the bytes of the last PDU received."""
        return self._reader

    @property
    def is_established(self) -> bool:
        return self._fsm.state is State.STA6

    def can_send(self, pdu_type: type) -> bool:
        """Whether ``send`` would accept a PDU of this class now."""
        event = _SEND_EVENTS.get(pdu_type)
        if event is None or _ROLE_ONLY.get(pdu_type, self.role) != self.role:
            return False
        if event is Event.EVT1:
            return self._fsm.state is State.STA1
        return self._fsm.allowed(event)

    # -- the clock ------------------------------------------------------------------------------------
    def _tick(self, now: float | None) -> None:
        if now is not None:
            self._now = now

    def on_timer(self, now: float) -> None:
        """Tell the connection the time; fires Evt18 when the ARTIM deadline has passed."""
        self._tick(now)
        if self._artim_deadline is None or now < self._artim_deadline:
            return
        if not self._fsm.allowed(Event.EVT18):  # ARTIM only runs in Sta2/Sta13; a stale deadline
            self._artim_deadline = None
            return
        state = self._fsm.state
        self._run(self._fsm.fire(Event.EVT18), outbound=True)
        self._events.append(ARTIMExpired(state))

    # -- local primitives -----------------------------------------------------------------------------
    def connection_made(self, now: float | None = None) -> None:
        """The transport is open. Acceptor: Evt5 (AE-5, start ARTIM awaiting the RQ). Requestor: noted."""
        self._tick(now)
        if self._connected:
            return
        self._connected = True
        if self.role == "acceptor":
            self._run(self._fsm.fire(Event.EVT5), outbound=True)

    def send(self, pdu: PDU, now: float | None = None) -> bytes:
        """Encode ``pdu`` and advance the machine; returns the bytes to write. Raises ``LocalProtocolError``
        if the PDU is not allowed in this state or role (nothing changes then)."""
        self._tick(now)
        event = _SEND_EVENTS.get(type(pdu))
        if event is None:
            raise LocalProtocolError(f"not a PDU: {pdu!r}")
        role = _ROLE_ONLY.get(type(pdu), self.role)
        if role != self.role:
            raise LocalProtocolError(f"a {self.role} does not send {PDU_NAMES[pdu.pdu_type]}")
        if not self._fsm.allowed(event):
            raise LocalProtocolError(f"cannot send {PDU_NAMES[pdu.pdu_type]} in {self.state.value} "
                                     f"({self.state.description})")
        data = encode_pdu(pdu)  # before any state change: an encoding error leaves us untouched
        # On this path every SendPDU effect is the user's PDU, already encoded as `data`.
        if isinstance(pdu, AAssociateRQ):
            self.associate_rq = pdu
            self._adopt_our_max(pdu.max_length)
            self._run(self._fsm.fire(Event.EVT1, pdu=pdu))   # AE-1: connect (the driver has done it)
            self._run(self._fsm.fire(Event.EVT2, pdu=pdu))   # AE-2: send the RQ
        else:
            if isinstance(pdu, AAssociateAC):
                self.associate_ac = pdu
                self._adopt_our_max(pdu.max_length)
            self._run(self._fsm.fire(event, pdu=pdu))
        return data

    def note_sent_pdata(self, now: float | None = None) -> None:
        """Record that the driver wrote P-DATA-TF bytes it encoded itself (dimse.fragment): Evt9 without
        encoding. Cheap; call once per write batch. Raises ``LocalProtocolError`` outside Sta6/Sta8."""
        self._tick(now)
        if not self._fsm.allowed(Event.EVT9):
            raise LocalProtocolError(f"cannot send P-DATA-TF in {self.state.value} ({self.state.description})")
        # DT-1 and AR-7 keep the state and only send; skip building effect values on this hot path
        # unless someone watches the transitions.
        if self.on_transition is not None:
            self._run(self._fsm.fire(Event.EVT9, pdu=None))

    def data_to_send(self) -> bytes:
        """Bytes the provider generated on its own (A-ABORT after a peer's protocol error, A-ASSOCIATE-RJ for
        an unsupported protocol version); write them, then honour ``must_close``."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # -- the network --------------------------------------------------------------------------------
    def receive_data(self, data: bytes | bytearray | memoryview, now: float | None = None) -> None:
        """Bytes from the peer; ``b""`` means the peer closed the transport. Events come from next_event."""
        self._tick(now)
        if not data:
            self._eof = True
            return
        if self._dead or self._eof:
            return
        if self.role == "acceptor" and not self._connected:
            self.connection_made()
        self._reader.feed(data)

    def next_event(self) -> ULEvent | Literal[_Sentinel.NEED_DATA]:
        """The next event, or NEED_DATA. Processes at most one PDU per call (so the P-DATA cap follows the
        negotiation). Never raises for anything the peer sends."""
        while not self._events:
            if not self._pump():
                return NEED_DATA
        return self._events.popleft()

    def _pump(self) -> bool:
        if not self._dead and self._reader.buffered:
            try:
                frame = self._reader.next_frame()
                if frame is not None:
                    self._on_pdu(decode_pdu_body(frame[0], frame[1], 6))
                    return True
            except RemoteProtocolError as exc:
                self._on_remote_error(exc)
                return True
        if self._eof and not self._eof_done:
            self._eof_done = True
            if self._reader.buffered and not self._dead:
                self._events.append(ProtocolViolation(Violation(
                    "truncated-pdu", f"transport closed with {self._reader.buffered} bytes of an incomplete PDU "
                                     f"(starting {self._reader.pending_header.hex(' ')})"), fatal=False))
            self._dead = True
            state = self._fsm.state
            if self._fsm.allowed(Event.EVT17):  # AA-4 (an A-P-ABORT), AA-5 (Sta2) or AR-5 (Sta13)
                self._run(self._fsm.fire(Event.EVT17), outbound=True)
                self._events.append(TransportClosed(expected=state is State.STA13, state=state))
            elif self._connected or self.associate_rq is not None:
                self._events.append(TransportClosed(expected=self.must_close, state=state))
            self.must_close = True
            return True
        return False

    def _on_remote_error(self, exc: RemoteProtocolError) -> None:
        """Evt19: unrecognized or invalid PDU. Framing is lost, so later bytes are ignored."""
        self._dead = True
        if isinstance(exc, PDUTooLarge):
            code = "pdu-too-large"
        elif isinstance(exc, UnrecognizedPDU):
            code = "unrecognized-pdu"  # exc.head often says what the peer is (TLS 16 03, HTTP 48 54)
        else:
            code = "malformed"
        violation = Violation(code, exc.message, getattr(exc, "offset", None))
        self._events.append(ProtocolViolation(violation, fatal=True))
        abort = AAbort(2, exc.abort_reason)
        if self._fsm.allowed(Event.EVT19):
            self._run(self._fsm.fire(Event.EVT19, abort=abort), outbound=True)
        else:  # Sta1/Sta4 requestor that has not sent its RQ: nothing to abort, just close
            self.must_close = True

    def _on_pdu(self, pdu: PDU) -> None:
        if self.validate_pdus and not isinstance(pdu, PDataTF):
            for v in validate(pdu, self._reader.last_raw):
                self._events.append(ProtocolViolation(v, fatal=False, pdu=pdu))
        event = _RECV_EVENTS[type(pdu)]
        state = self._fsm.state
        if not self._fsm.allowed(event):
            # Only Sta1/Sta4 lack network events: a requestor hearing from the peer before its RQ.
            self._events.append(ProtocolViolation(Violation(
                "unexpected-pdu", f"{PDU_NAMES[pdu.pdu_type]} received before the A-ASSOCIATE-RQ was sent"),
                fatal=True, pdu=pdu))
            if isinstance(pdu, AAbort):
                self._events.append(Aborted(pdu, pdu.source, pdu.reason))
            self._dead = True
            self.must_close = True
            return
        reject = None
        if isinstance(pdu, AAssociateRQ) and state is State.STA2:
            self.associate_rq = pdu
            self.peer_max_pdu_length = pdu.max_length
            if not pdu.protocol_version & 1:  # AE-6: the provider rejects, source 2 reason 2 (Table 9-21)
                reject = AAssociateRJ(1, 2, 2)
        elif isinstance(pdu, AAssociateAC) and state is State.STA5:
            self.associate_ac = pdu
            self.peer_max_pdu_length = pdu.max_length
        abort = None
        action = TRANSITIONS[(event, state)]
        if action in ("AA-1", "AA-8", "AA-7"):
            abort = AAbort(2, 2)  # unexpected-PDU (Table 9-26)
            if action != "AA-7":
                self._events.append(ProtocolViolation(Violation(
                    "unexpected-pdu", f"{PDU_NAMES[pdu.pdu_type]} received in {state.value} "
                                      f"({state.description})"), fatal=True, pdu=pdu))
        t = self._fsm.fire(event, pdu=pdu, abort=abort, reject=reject)
        if reject is not None and isinstance(pdu, AAssociateRQ):
            self._events.append(ProtocolViolation(Violation(
                "protocol-version", f"A-ASSOCIATE-RQ protocol version 0x{pdu.protocol_version:04x} "
                                    f"lacks version 1; rejected (1/2/2)"), fatal=True, pdu=pdu))
        self._run(t, outbound=True)
        if isinstance(pdu, AAbort) and state is State.STA2:  # AA-2: the peer aborted before its RQ
            self._events.append(Aborted(pdu, pdu.source, pdu.reason))

    # -- effects ----------------------------------------------------------------------------------------
    def _adopt_our_max(self, max_length: int | None) -> None:
        if max_length is not None:
            self._reader.max_pdu_length = max_length

    def _run(self, t: Transition, outbound: bool = False) -> None:
        """Carry out the effects. ``outbound``: PDUs the provider generated go to data_to_send(); on the
        send() path they are the user's PDU, which send() returns itself."""
        self.last_transition = t
        if self.on_transition is not None:
            self.on_transition(t)
        for effect in t.effects:
            if isinstance(effect, SendPDU):
                if outbound and effect.pdu is not None:
                    self._out += encode_pdu(effect.pdu)
            elif isinstance(effect, StartARTIM):
                self._artim_deadline = self._now + self.artim_timeout
            elif isinstance(effect, StopARTIM):
                self._artim_deadline = None
            elif isinstance(effect, CloseTransport):
                self.must_close = True
            elif isinstance(effect, Indication):
                self._indicate(t, effect)
        if t.next_state is State.STA1 and t.state is not State.STA1:
            # The association is over (AE-4, AR-3, AR-5, AA-2..AA-5): close, and ignore later bytes.
            self.must_close = True
            self._dead = True
            self._artim_deadline = None

    def _indicate(self, t: Transition, ind: Indication) -> None:
        pdu, primitive = ind.pdu, ind.primitive
        if primitive == "A-ASSOCIATE" and isinstance(pdu, AAssociateRQ):
            self._events.append(AssociateRequest(pdu))
        elif primitive == "A-ASSOCIATE-accept" and isinstance(pdu, AAssociateAC):
            self._events.append(AssociateAccept(pdu))
        elif primitive == "A-ASSOCIATE-reject" and isinstance(pdu, AAssociateRJ):
            self._events.append(AssociateReject(pdu))
        elif primitive == "P-DATA" and isinstance(pdu, PDataTF):
            self._events.append(DataTransfer(pdu))
        elif primitive == "A-RELEASE":
            self._events.append(ReleaseRequest(collision=t.action == "AR-8"))
        elif primitive == "A-RELEASE-confirm":
            self._events.append(ReleaseConfirm(collision=t.state in (State.STA10, State.STA11)))
        elif t.action == "AA-3" and isinstance(pdu, AAbort):
            self._events.append(Aborted(pdu, pdu.source, pdu.reason))
        # AA-4's A-P-ABORT is the TransportClosed(expected=False) event; AA-8's was announced as a fatal
        # ProtocolViolation just before.

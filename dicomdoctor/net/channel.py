"""The one asyncio loop under both our SCU (association.py) and our SCP (scp.py).

A `Channel` owns a connected stream pair and drives a `ul.ULConnection` (the PS3.8 state machine): a reader
task reads big chunks (bounded: `READ_SIZE` per read, PDUs capped by the UL's reader before their body is
buffered), takes the UL events, reassembles DIMSE messages with `dimse.Reassembler`, records the trace and
puts `ChannelEvent`s on a small bounded queue (its bound is the backpressure: a slow consumer stops the
reads, and TCP then stops the peer). PDUs the provider must send on its own (an A-ABORT after a peer's
protocol error) are written as the UL hands them out.

Sending writes the ready P-DATA-TF chunks `dimse.fragment()` yields. Chunks are batched into writes of
about `WRITE_BATCH` bytes with `writelines` (on Python >= 3.12 that is a zero-copy sendmsg; on 3.11 a
join), then `drain()` applies backpressure. No per-PDU encode: the PDU headers come prebuilt.

A peer that breaks the protocol is the normal case: P-DATA-TF over our advertised maximum is recorded as a
`pdu-length-violation` and accepted up to `PDATA_TOLERANCE` x that maximum; malformed PDUs and broken
fragment sequences become a violation, an A-ABORT with the reason the error carries, and an "error" event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ..dimse.errors import DimseProtocolError, FragmentationError
from ..dimse.fragment import AssembledMessage, Reassembler, fragment, fragment_command, fragment_dataset_stream
from ..dimse.messages import CCancelRQ, CStoreRQ, DimseMessage
from ..ul.connection import (NEED_DATA, Aborted, AssociateAccept, AssociateReject, AssociateRequest, DataTransfer,
                             ProtocolViolation, ReleaseConfirm, ReleaseRequest, TransportClosed, ULConnection)
from ..ul.codec import encode_pdu
from ..ul.errors import LocalProtocolError
from ..ul.pdu import PDU, AAbort, AReleaseRP, AReleaseRQ
from ..ul.validate import Violation
from .limits import MAX_BUFFERED_DATASET, SPOOL_IN_MEMORY, default_max_dataset
from .timeouts import within
from .tls import close_transport
from .trace import RECV, SENT, Trace

READ_SIZE = 1 << 18            # one read() takes at most 256 KiB
WRITE_BATCH = 1 << 18          # bytes of P-DATA chunks per writelines()
PDATA_TOLERANCE = 4            # accept P-DATA up to 4x our maximum (and record the violation) before aborting
MIN_TOLERATED_PDATA = 1 << 20  # ... and at least 1 MiB, so a small advertised maximum is not a trap
EVENT_QUEUE = 8                # events buffered ahead of the consumer (each at most one message)
DEFAULT_MAX_DATASET = MAX_BUFFERED_DATASET  # a buffered (non-C-STORE) data set: see limits.py
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """kind: "pdu" (an association PDU: RQ/AC/RJ/release/abort), "message" (a whole DIMSE message),
    "closed" (the peer closed the transport; `error` may hold the OS/TLS error), "error" (a protocol error
    by the peer: we sent an A-ABORT and closed)."""

    kind: str
    pdu: PDU | None = None
    message: AssembledMessage | None = None
    error: BaseException | None = None
    raw: bytes | None = None  # the whole PDU for association PDUs (for ul.validate offsets)


class Channel:
    """`role`: "requestor" (our SCU) or "acceptor" (our SCP). `our_max_pdu` is the maximum we advertise."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, our_max_pdu: int,
                 role: str = "requestor", trace: Trace | None = None,
                 max_dataset_bytes: int | None = DEFAULT_MAX_DATASET, label: str = "",
                 max_stored_bytes: int | None = None) -> None:
        self.reader = reader
        self.writer = writer
        self.transport = writer.transport
        self.trace = trace
        self.label = label
        self.role = role
        self.our_max_pdu = our_max_pdu
        self.peer_max_pdu = 16384  # until negotiation says otherwise
        # ARTIM is not used: the drivers bound every wait with their own per-phase timeouts.
        self.ul = ULConnection(role, max_pdu_length=our_max_pdu, artim_timeout=1e9)
        # C-STORE data sets (ours as SCP, or C-GET sub-operations) go to a spool file as they arrive, capped
        # at --max-dataset; the rest is buffered, capped at `max_dataset_bytes` (limits.py).
        self.max_stored_bytes = max_stored_bytes if max_stored_bytes is not None else default_max_dataset()
        if max_dataset_bytes is not None:
            max_dataset_bytes = min(max_dataset_bytes, self.max_stored_bytes)
        self._spool: Any = None
        self.reassembler = Reassembler(max_dataset_bytes=max_dataset_bytes, dataset_sink=self._store_sink)
        self.events: asyncio.Queue[ChannelEvent] = asyncio.Queue(EVENT_QUEUE)
        self.violations: list[Violation] = []
        self.cancelled: set[int] = set()   # message ids a peer sent C-CANCEL-RQ for (SCP side)
        self.cancel_event = asyncio.Event()
        self.bytes_sent = 0
        self.bytes_received = 0
        self.closed = False
        self._oversize_seen = 0
        self._largest_pdata = 0
        self._pdata_count = 0          # P-DATA PDUs since the last completed message (for the trace)
        self._pdata_bytes = 0
        self._task: asyncio.Task[None] | None = None
        self._sock = writer.get_extra_info("socket")
        self._quickack = _QUICKACK is not None and self._sock is not None
        if role == "acceptor":
            self.ul.connection_made()

    # ----------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._read_loop(), name=f"dicom-read {self.label}")

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        return self.writer.get_extra_info("ssl_object")

    @property
    def largest_pdata(self) -> int:
        """Largest P-DATA-TF length field received (what a pdu-length check compares with our maximum)."""
        return self._largest_pdata

    def _tolerate_oversize(self) -> None:
        """After we advertised our maximum, let the reader accept up to PDATA_TOLERANCE times it, so a peer
        that ignores it is recorded (pdu-length-violation) rather than cut off at the first PDU."""
        if self.our_max_pdu:
            self.ul.reader.max_pdu_length = max(self.our_max_pdu * PDATA_TOLERANCE, MIN_TOLERATED_PDATA)

    def _stop_reader(self) -> None:
        task = self._task
        if task is not None and not task.done() and asyncio.current_task() is not task:
            task.cancel()

    def close(self) -> None:
        """Close at once (no waiting for the peer; TLS: close_notify, then TCP, tls.close_transport). Idempotent."""
        self.closed = True
        self._stop_reader()
        close_transport(self.transport)

    def abort_transport(self) -> None:
        self.closed = True
        self._stop_reader()
        self.transport.abort()

    async def wait_closed(self, timeout: float = 2.0) -> None:
        try:
            await within(timeout, self.writer.wait_closed())
        except (TimeoutError, OSError, ssl.SSLError, asyncio.CancelledError):
            pass

    # ---------------------------------------------------------------------------------------------- send
    async def send_pdu(self, pdu: PDU) -> None:
        """Send an association PDU through the state machine (LocalProtocolError if it is not allowed now)."""
        data = self.ul.send(pdu)
        if getattr(pdu, "pdu_type", 0) in (0x01, 0x02):
            self._tolerate_oversize()
        await self._write_pdu(pdu, data)

    async def send_raw(self, data: bytes, note: str = "raw bytes") -> None:
        """Bytes outside the state machine (probes sending crafted PDUs, the simulator's garbage)."""
        if self.trace is not None:
            self.trace.add(SENT, "RAW", f"{note} ({len(data)} bytes)", len(data))
        self.writer.write(data)
        self.bytes_sent += len(data)
        await self.writer.drain()

    async def _write_pdu(self, pdu: PDU, data: bytes) -> None:
        if self.trace is not None:
            self.trace.pdu(SENT, pdu, len(data))
        self.writer.write(data)
        self.bytes_sent += len(data)
        await self.writer.drain()

    async def send_abort(self, source: int = 0, reason: int = 0) -> None:
        """Best effort A-ABORT, then close: an abort must not wait on a peer that may be the problem."""
        if self.transport.is_closing():
            self.closed = True
            return
        pdu = AAbort(source, reason)
        try:
            data = self.ul.send(pdu)
        except LocalProtocolError:
            data = encode_pdu(pdu)  # e.g. before the RQ: PS3.8 has no abort there, but a peer may still read it
        if self.trace is not None:
            self.trace.pdu(SENT, pdu, len(data))
        try:
            self.writer.write(data)
            self.bytes_sent += len(data)
            await within(1.0, self.writer.drain())
        except (OSError, TimeoutError, ssl.SSLError, RuntimeError):
            pass
        self.close()

    async def send_message(self, context_id: int, message: DimseMessage,
                           dataset: bytes | bytearray | memoryview | Iterable[Any] | None = None,
                           *, dataset_length: int | None = None) -> int:
        """Send one DIMSE message (command + optional data set) on a presentation context. `dataset` may be
        a buffer (sent as zero-copy slices) or an iterable of chunks (a file read piecewise). Returns bytes
        written. Raises LocalProtocolError when the association is not established."""
        self.ul.note_sent_pdata()
        command = message.to_command_bytes()
        limit = self.peer_max_pdu
        if dataset is None or isinstance(dataset, (bytes, bytearray, memoryview)):
            chunks: Iterator[Any] = fragment(context_id, command, dataset, limit)
            ds_len = None if dataset is None else len(dataset)
        else:
            def gen() -> Iterator[Any]:
                yield from fragment_command(context_id, command, limit)
                yield from fragment_dataset_stream(context_id, dataset, limit)  # type: ignore[arg-type]
            chunks = gen()
            ds_len = dataset_length
        written, pdus = await self._write_chunks(chunks)
        self._ack_quickly()
        if self.trace is not None:
            self.trace.message(SENT, message, written, pdus, ds_len, context_id)
        return written

    def _ack_quickly(self) -> None:
        """Leave Linux's delayed-ACK ("pingpong") mode after a request. Peers that write a response in two
        small pieces with Nagle on (dcmtk writes the PDU header, then the rest) otherwise wait for our
        delayed ACK: 40 ms lost per C-STORE, measured against storescp. Cheap; re-armed after every read."""
        if self._quickack:
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                self._quickack = False

    async def _write_chunks(self, chunks: Iterator[Any]) -> tuple[int, int]:
        writer = self.writer
        batch: list[Any] = []
        size = total = pdus = 0
        for chunk in chunks:
            n = len(chunk)
            if n >= 12 and chunk[0] == 0x04 and isinstance(chunk, bytes):  # a PDU starts with its header
                pdus += 1
            batch.append(chunk)
            size += n
            if size >= WRITE_BATCH:
                if self.transport.is_closing():
                    raise ConnectionResetError("the connection closed while sending")
                writer.writelines(batch)
                total += size
                batch, size = [], 0
                await writer.drain()
        if batch:
            if self.transport.is_closing():
                raise ConnectionResetError("the connection closed while sending")
            writer.writelines(batch)
            total += size
            await writer.drain()
        self.bytes_sent += total
        return total, pdus

    # ------------------------------------------------------------------------------------------- receive
    async def next_event(self, timeout: float | None) -> ChannelEvent:
        """The next event, or TimeoutError after `timeout` seconds (None = wait forever)."""
        if not self.events.empty():
            return self.events.get_nowait()  # the common case under load: no timer task needed
        return await within(timeout, self.events.get())

    def _violation(self, v: Violation) -> None:
        if len(self.violations) < 100:
            self.violations.append(v)

    async def _read_loop(self) -> None:
        reader = self.reader
        ul = self.ul
        while True:
            error: BaseException | None = None
            try:
                data = await reader.read(READ_SIZE)
            except (OSError, ssl.SSLError, EOFError) as exc:
                data, error = b"", exc
            self.bytes_received += len(data)
            if data:
                self._ack_quickly()
            ul.receive_data(data)
            try:
                while (event := ul.next_event()) is not NEED_DATA:
                    if await self._on_event(event, error):
                        return
            except DimseProtocolError as exc:  # broken fragment sequence: abort with the reason it carries
                self._violation(Violation("dimse-fragmentation", exc.message, getattr(exc, "offset", None)))
                if self.trace is not None:
                    self.trace.note(f"protocol error by the peer: {exc.message}", RECV)
                await self.send_abort(2, exc.abort_reason)
                await self.events.put(ChannelEvent("error", error=exc))
                return
            except Exception as exc:  # a bug of ours must still end in an event, never in a silent hang
                self._violation(Violation("internal-error", f"{type(exc).__name__}: {exc}"))
                await self.send_abort(2, 0)
                await self.events.put(ChannelEvent("error", error=exc))
                return
            out = ul.data_to_send()
            if out:
                self.writer.write(out)
            if not data:
                await self._emit_closed(error)
                return

    async def _on_event(self, event: Any, error: BaseException | None) -> bool:
        """Handle one UL event; True when the read loop is over."""
        ul = self.ul
        if isinstance(event, DataTransfer):
            length = ul.reader.last_length - 6
            self._pdata_count += 1
            self._pdata_bytes += length + 6
            if length > self._largest_pdata:
                self._largest_pdata = length
            if self.our_max_pdu and length > self.our_max_pdu:
                self._oversize_seen += 1
                if self._oversize_seen == 1:
                    self._violation(Violation("pdu-length-violation",
                                              f"peer sent a P-DATA-TF of {length} bytes, over the maximum of "
                                              f"{self.our_max_pdu} we advertised (PS3.8 Annex D.1)"))
            for assembled in self.reassembler.add(event.pdu):  # type: ignore[arg-type]  # PDataLike wants a settable attr
                await self._on_message(assembled)
            return False
        if isinstance(event, ProtocolViolation):
            v = event.violation
            if v.code == "pdu-too-large":
                v = Violation("pdu-length-violation", v.message, v.offset)
            self._violation(v)
            if event.fatal:
                if self.trace is not None:
                    self.trace.note(f"protocol error by the peer: {v.message}", RECV)
                out = ul.data_to_send()  # the A-ABORT the provider owes the peer (PS3.8 AA-8)
                if out and not self.transport.is_closing():
                    if self.trace is not None:
                        self.trace.add(SENT, "A-ABORT", f"A-ABORT (provider) after: {v.code}", len(out))
                    self.writer.write(out)
                self.close()
                await self.events.put(ChannelEvent("error", error=RuntimeError(v.message)))
                return True
            return False
        if isinstance(event, (AssociateRequest, AssociateAccept, AssociateReject)):
            pdu: Any = event.pdu
        elif isinstance(event, ReleaseRequest):
            pdu = AReleaseRQ()
        elif isinstance(event, ReleaseConfirm):
            pdu = AReleaseRP()
        elif isinstance(event, Aborted):
            pdu = event.pdu or AAbort(event.source, event.reason)
        elif isinstance(event, TransportClosed):
            await self._emit_closed(error)
            return True
        else:
            return False  # ARTIMExpired: not armed by us
        raw = ul.reader.last_raw if isinstance(event, (AssociateRequest, AssociateAccept)) else None
        if self.trace is not None:
            self.trace.pdu(RECV, pdu, ul.reader.last_length)
        await self.events.put(ChannelEvent("pdu", pdu=pdu, raw=raw))
        return False

    def _store_sink(self, context_id: int, message: DimseMessage) -> Any:
        """Spool a C-STORE-RQ's data set (SpooledTemporaryFile: memory up to SPOOL_IN_MEMORY, then disk)."""
        if not isinstance(message, CStoreRQ):
            return None
        import tempfile
        spool = self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="dicomdoctor-")
        cap, seen = self.max_stored_bytes, [0]

        def write(data: Any, last: bool) -> None:
            seen[0] += len(data)
            if seen[0] > cap:
                spool.close()
                raise FragmentationError(f"C-STORE-RQ data set exceeds the {cap}-byte limit (--max-dataset)",
                                         abort_reason=0)
            spool.write(data)
        return write

    def _unspool(self, assembled: AssembledMessage) -> AssembledMessage:
        """The whole spooled data set, for handlers that take bytes (the spool file is closed after)."""
        spool, self._spool = self._spool, None
        if spool is None:
            return assembled
        try:
            spool.seek(0)
            data = spool.read()
        finally:
            spool.close()
        return dataclasses.replace(assembled, dataset=data, dataset_streamed=False)

    async def _on_message(self, assembled: AssembledMessage) -> None:
        if assembled.dataset_streamed:
            assembled = self._unspool(assembled)
        msg = assembled.message
        if self.trace is not None:
            ds_len = None if assembled.dataset is None else len(assembled.dataset)
            self.trace.message(RECV, msg, self._pdata_bytes, self._pdata_count, ds_len, assembled.context_id)
        self._pdata_count = self._pdata_bytes = 0
        if isinstance(msg, CCancelRQ):
            # Handled here, not queued: the SCP is busy sending responses and must see it at once.
            self.cancelled.add(msg.message_id_being_responded_to)
            self.cancel_event.set()
            return
        await self.events.put(ChannelEvent("message", message=assembled))

    async def _emit_closed(self, exc: BaseException | None) -> None:
        self.closed = True
        if not self.transport.is_closing():
            self.transport.close()
        await self.events.put(ChannelEvent("closed", error=exc))

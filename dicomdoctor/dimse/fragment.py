"""DIMSE message <-> P-DATA-TF fragments (PS3.8 §9.3.5, Annex E; PS3.7 §9.3.1 message structure).

Sending: `fragment()` yields ready-to-write P-DATA-TF PDU bytes, one PDV per PDU. Some SCPs cannot take a
command PDV and a data-set PDV in one PDU (failure-modes FM-44), and one PDV per PDU keeps every data-set
payload a zero-copy ``memoryview`` slice of the caller's buffer: for each data-set PDU we yield the 12
header bytes, then the slice. A writer that accepts buffers (asyncio transports do) sends a 100 MB
C-STORE without copying it in Python.

Size rule (PS3.8 §9.3.5, Annex D.1): the peer's Maximum Length Received bounds the P-DATA-TF *variable
field*, i.e. the PDU-length value = PDV item-length field (4) + context id (1) + message control header (1)
+ data. So data per PDV <= max_pdu_length - 6. A Maximum Length of 0 means "no limit"; we still cut the data
set into `UNLIMITED_CHUNK` pieces so writes, progress and cancellation stay granular.

Receiving: `Reassembler` takes the PDVs of P-DATA-TF PDUs and returns whole messages. It checks the
PS3.8 Annex E rules (command before data set, no interleaving of messages, nothing after the last fragment)
and raises `FragmentationError` with a sentence a finding can quote. With a ``dataset_sink`` the data-set
fragments are handed out as they arrive instead of buffered (bounded memory for big C-STORE / C-GET).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, Union

from .commands import decode_command, peek_dataset_type
from .errors import DimseProtocolError, FragmentationError
from .messages import DimseMessage, Message, message_from_command

Buffer = Union[bytes, bytearray, memoryview]

P_DATA_TF = 0x04
PDV_OVERHEAD = 6  # PDV item-length field (4) + presentation context id (1) + message control header (1)
UNLIMITED_CHUNK = 1 << 20  # data per PDV when the peer sets no limit (Maximum Length Received = 0)
# Receiving: a command set is a few hundred bytes (PS3.7 §9.3; the longest, an N-GET with a long Attribute
# Identifier List, a few kB); anything near this cap is a broken or hostile peer.
MAX_COMMAND_BYTES = 8192
# What one received fragment costs us beyond its payload (the PDV header, the event and the Python objects
# holding it); charged against the caps so that tiny fragments cannot outrun them.
FRAGMENT_OVERHEAD = 64

# Message control header (PS3.8 Annex E.2): bit 0 set = command, clear = data set; bit 1 set = last fragment.
MCH_COMMAND = 0x01
MCH_LAST = 0x02

# type, reserved, PDU length | PDV item length, context id, message control header.
_HEADER = struct.Struct(">BBIIBB")


def max_pdv_data(max_pdu_length: int) -> int:
    """Data bytes per PDV allowed by a peer's Maximum Length Received (0 = unlimited)."""
    if max_pdu_length == 0:
        return UNLIMITED_CHUNK
    if max_pdu_length <= PDV_OVERHEAD:
        raise ValueError(f"max PDU length {max_pdu_length} leaves no room for PDV data "
                         f"(needs more than {PDV_OVERHEAD} bytes)")
    return max_pdu_length - PDV_OVERHEAD


def pdv_header(context_id: int, is_command: bool, is_last: bool, data_length: int) -> bytes:
    """The 12 bytes before a PDV's data in a one-PDV P-DATA-TF PDU: PDU header (6) + PDV header (6)."""
    control = (MCH_COMMAND if is_command else 0) | (MCH_LAST if is_last else 0)
    return _HEADER.pack(P_DATA_TF, 0, data_length + PDV_OVERHEAD, data_length + 2, context_id, control)


def _view(data: Buffer) -> memoryview:
    mv = data if isinstance(data, memoryview) else memoryview(data)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


def fragment_command(context_id: int, command_bytes: Buffer, max_pdu_length: int) -> Iterator[bytes]:
    """P-DATA-TF PDUs for a command set. Commands are small, so each PDU is one joined ``bytes``."""
    limit = max_pdv_data(max_pdu_length)
    mv = _view(command_bytes)
    if not len(mv):
        raise ValueError("empty command set")
    for pos in range(0, len(mv), limit):
        piece = mv[pos:pos + limit]
        yield pdv_header(context_id, True, pos + limit >= len(mv), len(piece)) + bytes(piece)


def fragment_dataset(context_id: int, dataset: Buffer, max_pdu_length: int) -> Iterator[bytes | memoryview]:
    """P-DATA-TF PDUs for a data set: header ``bytes``, then a zero-copy ``memoryview`` slice, per PDU.
    An empty data set is one empty last fragment, so the peer still sees the message end."""
    limit = max_pdv_data(max_pdu_length)
    mv = _view(dataset)
    total = len(mv)
    if total == 0:
        yield pdv_header(context_id, False, True, 0)
        return
    for pos in range(0, total, limit):
        piece = mv[pos:pos + limit]
        yield pdv_header(context_id, False, pos + limit >= total, len(piece))
        yield piece


def fragment_dataset_stream(context_id: int, chunks: Iterable[Buffer],
                            max_pdu_length: int) -> Iterator[bytes | memoryview]:
    """Like `fragment_dataset` over a data set that arrives in chunks (e.g. read from a file after the
    Part 10 header, see part10.py), so a big file is never held whole. PDVs never span chunks (to stay
    zero-copy); the last-fragment bit needs one chunk of look-ahead. The caller must not reuse a chunk's
    buffer for the next one (``f.read(n)`` returns fresh bytes; ``readinto`` into one buffer does not)."""
    limit = max_pdv_data(max_pdu_length)
    pending: memoryview | None = None
    for chunk in chunks:
        mv = _view(chunk)
        if not len(mv):
            continue
        if pending is not None:
            yield pdv_header(context_id, False, False, len(pending))
            yield pending
        pos = 0
        while len(mv) - pos > limit:
            yield pdv_header(context_id, False, False, limit)
            yield mv[pos:pos + limit]
            pos += limit
        pending = mv[pos:]
    if pending is None:
        yield pdv_header(context_id, False, True, 0)
        return
    yield pdv_header(context_id, False, True, len(pending))
    yield pending


def fragment(context_id: int, command_bytes: Buffer, dataset: Buffer | None,
             max_pdu_length: int) -> Iterator[bytes | memoryview]:
    """All P-DATA-TF PDUs of one message, ready to write in order: the command, then the data set (if
    any). One PDV per PDU; data-set payloads are memoryview slices of ``dataset`` (zero copy)."""
    if not 1 <= context_id <= 255 or not context_id % 2:
        # PS3.8 §9.3.2.2: presentation context ids are odd integers 1-255.
        raise ValueError(f"presentation context id {context_id} is not an odd number in 1..255")
    yield from fragment_command(context_id, command_bytes, max_pdu_length)
    if dataset is not None:
        yield from fragment_dataset(context_id, dataset, max_pdu_length)


# --- receiving ---------------------------------------------------------------------------------------

class PDVLike(Protocol):
    """What the Reassembler needs from a PDV (dicomdoctor.ul.pdu.PDV has exactly these)."""

    context_id: int
    is_command: bool
    is_last: bool
    data: Any


class PDataLike(Protocol):
    pdvs: Any


# A writer receives one data-set fragment at a time; ``last`` is True on the final one. The fragment may be
# a memoryview into the received PDU (ul decodes without copying): write or copy it before returning.
DatasetWriter = Callable[[Buffer, bool], None]
# Called once the command of a message with a data set is complete: return a writer to stream that
# data set, or None to have the Reassembler buffer it as usual (e.g. stream C-STORE-RQ, buffer C-FIND-RSP).
DatasetSink = Callable[[int, DimseMessage], Union[DatasetWriter, None]]


@dataclass(frozen=True, slots=True)
class AssembledMessage:
    """A complete message off the wire. ``dataset`` is None when the command announced no data set or
    when it went to a sink (then ``dataset_streamed`` is True). ``message`` is the decoded command."""

    context_id: int
    command: bytes
    dataset: bytes | None
    message: DimseMessage
    dataset_streamed: bool = False

    def to_message(self) -> Message:
        return Message(self.context_id, self.message, self.dataset)


class Reassembler:
    """Turns PDVs into messages; one message at a time on one association (PS3.8 Annex E: fragments of
    different messages are never interleaved, even with asynchronous operations).

    ``max_command_bytes`` caps a command set (default `MAX_COMMAND_BYTES`, a few kB: PS3.7 command sets
    are a few hundred bytes); ``max_dataset_bytes`` (None = no cap) caps a *buffered* data set, so a hostile
    peer cannot make us hold more than we chose. Both caps charge `FRAGMENT_OVERHEAD` bytes per fragment on
    top of its payload: a peer sending millions of 1-byte PDVs pays for the work and the objects they cost
    us, not just for one byte each. Streamed data sets are not capped here: their writer decides.
    Buffered fragments are copied into one ``bytearray`` as they arrive: a memoryview into a received PDU
    would keep the whole PDU (and the read buffer behind it) alive for one byte of data.
    """

    def __init__(self, max_command_bytes: int = MAX_COMMAND_BYTES, *,
                 max_dataset_bytes: int | None = None, dataset_sink: DatasetSink | None = None) -> None:
        self.max_command_bytes = max_command_bytes
        self.max_dataset_bytes = max_dataset_bytes
        self.dataset_sink = dataset_sink
        self.pdv_count = 0  # PDVs seen, so an error can say which one
        self._last_without_dataset: str | None = None
        self._clear()

    def _clear(self) -> None:
        self._ctx: int | None = None
        self._command = bytearray()
        self._message: DimseMessage | None = None  # set once the command is complete
        self._command_bytes = b""
        self._command_cost = 0
        self._data = bytearray()
        self._first: bytes | None = None  # a data set that came in one fragment, kept without a copy
        self._size = 0  # payload + FRAGMENT_OVERHEAD per fragment, buffered or streamed
        self._writer: DatasetWriter | None = None

    def reset(self) -> None:
        """Drop a half-received message (after an abort, or to resynchronise a capture)."""
        self._clear()

    @property
    def in_progress(self) -> bool:
        """True while a message is partly received (a release or abort now loses it)."""
        return self._ctx is not None

    @property
    def context_id(self) -> int | None:
        return self._ctx

    def add(self, pdata: PDataLike) -> list[AssembledMessage]:
        """Add every PDV of a P-DATA-TF PDU; returns the messages completed by it (often none or one)."""
        done: list[AssembledMessage] = []
        for pdv in pdata.pdvs:
            msg = self.add_pdv(pdv)
            if msg is not None:
                done.append(msg)
        return done

    def add_pdv(self, pdv: PDVLike) -> AssembledMessage | None:
        """Add one PDV; returns the message it completes, if any. On a protocol error the partial message
        is dropped (the Reassembler is ready for the next message, e.g. when reading a capture)."""
        try:
            return self._add_pdv(pdv)
        except DimseProtocolError:
            self._clear()
            raise

    def _add_pdv(self, pdv: PDVLike) -> AssembledMessage | None:
        self.pdv_count += 1
        n = self.pdv_count
        ctx = pdv.context_id
        if self._ctx is None:
            if not pdv.is_command:
                hint = f" (the previous message, {self._last_without_dataset}, announced no data set)" \
                    if self._last_without_dataset else ""
                raise FragmentationError(
                    f"PDV #{n}: data-set fragment on presentation context {ctx} with no command before it"
                    f"{hint}; PS3.7 §9.3.1 puts the command first", offset=n)
            self._ctx = ctx
        elif ctx != self._ctx:
            raise FragmentationError(
                f"PDV #{n}: fragment for presentation context {ctx} while a message on context {self._ctx} "
                "is incomplete; PS3.8 Annex E forbids interleaving messages", offset=n)

        if pdv.is_command:
            if self._message is not None:
                raise FragmentationError(
                    f"PDV #{n}: command fragment on context {ctx} after the command's last fragment "
                    f"({self._message.name}); its data set was expected", offset=n)
            self._command += pdv.data
            self._command_cost += FRAGMENT_OVERHEAD
            if len(self._command) + self._command_cost > self.max_command_bytes:
                raise FragmentationError(
                    f"PDV #{n}: command set on context {ctx} exceeds {self.max_command_bytes} bytes",
                    offset=n, abort_reason=0)
            if not pdv.is_last:
                return None
            command = bytes(self._command)
            message = message_from_command(decode_command(command, limit=self.max_command_bytes))
            if not message.has_dataset:
                self._last_without_dataset = message.name
                self._clear()
                return AssembledMessage(ctx, command, None, message)
            self._message = message
            self._command_bytes = command
            if self.dataset_sink is not None:
                self._writer = self.dataset_sink(ctx, message)
            return None

        # a data-set fragment
        if self._message is None:
            raise FragmentationError(
                f"PDV #{n}: data-set fragment on context {ctx} before the command's last fragment; "
                "PS3.7 §9.3.1 sends the whole command first", offset=n)
        data = pdv.data
        self._size += len(data) + FRAGMENT_OVERHEAD
        if self._writer is not None:
            self._writer(data, bool(pdv.is_last))
        else:
            if self.max_dataset_bytes is not None and self._size > self.max_dataset_bytes:
                raise FragmentationError(
                    f"PDV #{n}: data set of {self._message.name} on context {ctx} exceeds "
                    f"{self.max_dataset_bytes} bytes (counting {FRAGMENT_OVERHEAD} bytes per fragment, "
                    f"{self._size - len(self._data) - len(data)} of them overhead)", offset=n, abort_reason=0)
            if pdv.is_last and self._first is None and not self._data:
                self._first = data if isinstance(data, bytes) else bytes(data)
            else:
                self._data += data
        if not pdv.is_last:
            return None
        message = self._message
        command = self._command_bytes
        streamed = self._writer is not None
        if streamed:
            dataset = None
        elif self._first is not None:
            dataset = self._first
        else:
            dataset = bytes(self._data)
        self._last_without_dataset = None
        self._clear()
        return AssembledMessage(ctx, command, dataset, message, streamed)

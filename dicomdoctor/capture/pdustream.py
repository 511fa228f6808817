"""One direction of a DICOM association in a capture: ordered TCP bytes in, PDUs and DIMSE messages out.

This is the capture's counterpart of ``ul.PDUReader``, and it differs on purpose in one way: P-DATA-TF is
framed *incrementally* (PDU header, then each PDV header) and data-set bytes are skipped where they lie in
the TCP payload, never copied or buffered. A 50 MB C-STORE costs a few counter updates per TCP segment, a
PDU claiming 4 GB costs nothing, and a PDU over the negotiated maximum is reported and still followed (the
live reader must refuse it; an analyser must see what happens next). Everything else goes through the same
sans-I/O cores as the live path: association PDUs through ``ul.decode_pdu`` + ``ul.validate``, PDVs through
``dimse.Reassembler`` (whose ``dataset_sink`` receives the data-set PDVs; skipped ones as empty fragments,
since their size is counted here), commands through ``dimse.decode_message``.

Small identifiers (C-FIND/C-MOVE/C-GET requests) are kept, up to ``IDENTIFIER_CAP`` bytes, so the analysis
can say which level and keys were asked, never their values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Protocol

from ..dimse import DEFAULT_MAX_COMMAND_BYTES, DimseMessage, DimseProtocolError, MalformedCommand, Reassembler
from ..dimse.fragment import AssembledMessage
from ..ul import ASSOCIATION_PDU_CAP, PDV, MalformedPDU, decode_pdu, validate

__all__ = ["PduStream", "StreamSink", "DatasetCounter", "IDENTIFIER_CAP", "KEEP_IDENTIFIER"]

IDENTIFIER_CAP = 64 << 10
KEEP_IDENTIFIER = frozenset({"C-FIND-RQ", "C-MOVE-RQ", "C-GET-RQ"})
_HDR = struct.Struct(">BBI")
_PDV_HDR = struct.Struct(">IBB")
_PDU_PDV = struct.Struct(">BBIIBB")  # a P-DATA-TF header and its first PDV header

# framer modes
_HEADER, _BODY, _PDATA, _SKIP, _LOST = range(5)


class StreamSink(Protocol):
    """What the association receives from one direction."""

    def on_pdu(self, direction: int, ts: float, pdu: Any, length: int) -> None: ...

    def on_message(self, direction: int, ts_start: float, ts_end: float, am: AssembledMessage,
                   dataset_bytes: int, identifier: bytes | None, pdus: int) -> None: ...

    def on_violation(self, direction: int, ts: float, code: str, message: str, severity: str = "error",
                     **details: Any) -> None: ...

    def on_lost(self, direction: int, ts: float, reason: str) -> None: ...


class DatasetCounter:
    """The ``dataset_sink`` writer: discards data-set bytes (the stream counts them) and keeps a small
    identifier when asked to."""

    __slots__ = ("keep", "buf")

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.buf = bytearray()

    def __call__(self, fragment: Any, last: bool) -> None:
        if self.keep:
            if len(self.buf) + len(fragment) > IDENTIFIER_CAP:
                self.keep = False
                self.buf = bytearray()
            else:
                self.buf += fragment


@dataclass(slots=True)
class _Pdv:
    ctx: int
    command: bool
    last: bool
    remaining: int
    keep: bool
    start: int  # stream offset of the PDV header
    drop: bool = False  # skipped and not given to the Reassembler (an oversized command fragment)


class PduStream:
    """Frame one direction. ``limit`` = the receiver's Maximum Length Received (None/0 = no limit), set
    by the association once negotiated; PDUs over it are violations, not errors."""

    def __init__(self, direction: int, sink: StreamSink) -> None:
        self.direction = direction
        self.sink = sink
        self.limit: int | None = None
        self.mode = _HEADER
        self.offset = 0           # stream bytes consumed
        self._hdr = bytearray()
        self._body = bytearray()
        self._remaining = 0       # bytes left in the current PDU (BODY, PDATA, SKIP)
        self._pdu_type = 0
        self._pdu_start = 0
        self._pdu_length = 0
        self._pdv: _Pdv | None = None
        self._pdv_hdr = bytearray()
        self._pdv_buf = bytearray()
        self._writer: DatasetCounter | None = None
        self.reassembler = Reassembler(DEFAULT_MAX_COMMAND_BYTES, dataset_sink=self._sink)
        # per message in progress
        self._msg_start = 0.0
        self._msg_pdus = 0
        self._msg_dataset = 0
        self._msg_last_pdu = -1
        # totals
        self.pdus = 0
        self.pdata_pdus = 0
        self.dataset_bytes = 0
        self.over_limit = 0
        self.largest_pdu = 0
        self.lost = False

    # -- dimse sink -------------------------------------------------------------------------------------
    def _sink(self, context_id: int, message: DimseMessage) -> DatasetCounter:
        self._writer = DatasetCounter(message.name in KEEP_IDENTIFIER)
        return self._writer

    # -- input ----------------------------------------------------------------------------------------
    def feed(self, ts: float, data: memoryview | bytes) -> None:
        pos, n = 0, len(data)
        while pos < n:
            mode = self.mode
            if mode == _PDATA:
                pdv = self._pdv
                if pdv is not None and not pdv.keep:
                    # The hot path: skip data-set bytes where they are.
                    take = n - pos
                    if pdv.remaining < take:
                        take = pdv.remaining
                    pdv.remaining -= take
                    self._remaining -= take
                    self._msg_dataset += take
                    pos += take
                    if not pdv.remaining:
                        self._pdv_done(ts)
                elif pdv is None and not self._pdv_hdr and self._remaining >= 6 and n - pos >= 6:
                    # A whole PDV header in this chunk: no byte-by-byte assembly.
                    plen, ctx, mch = _PDV_HDR.unpack_from(data, pos)
                    pos += 6
                    self._remaining -= 6
                    self._start_pdv(ts, plen, ctx, mch, self.offset + pos - 6)
                else:
                    pos = self._pdata(ts, data, pos, n)
            elif mode == _HEADER:
                if not self._hdr and n - pos >= 12 and data[pos] == 4 and self._writer is not None \
                        and not self._writer.keep:
                    # Express lane: a whole middle data-set PDU (one PDV, neither command nor last) of the
                    # message in progress lies in this chunk. Account for it exactly as the slow path would
                    # (counters, Reassembler PDV count) and jump over it without a single call.
                    _t, _r, length, plen, ctx, mch = _PDU_PDV.unpack_from(data, pos)
                    if mch == 0 and plen == length - 4 and n - pos >= 6 + length and \
                            ctx == self.reassembler.context_id and not (self.limit and length > self.limit):
                        self.pdus += 1
                        self.pdata_pdus += 1
                        if 6 + length > self.largest_pdu:
                            self.largest_pdu = 6 + length
                        self.reassembler.pdv_count += 1
                        self._msg_pdus += 1
                        self._msg_last_pdu = self.pdata_pdus
                        self._msg_dataset += plen - 2
                        pos += 6 + length
                        continue
                if not self._hdr and n - pos >= 6 and data[pos] == 4:
                    # A whole P-DATA-TF header in this chunk (the common case).
                    self._pdu_start = self.offset + pos
                    _t, _r, length = _HDR.unpack_from(data, pos)
                    pos += 6
                    self._begin_pdata(ts, length)
                else:
                    pos = self._header(ts, data, pos, n)
            elif mode == _BODY:
                take = min(self._remaining, n - pos)
                self._body += data[pos:pos + take]
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._body_done(ts)
            elif mode == _SKIP:
                take = min(self._remaining, n - pos)
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self.mode = _HEADER
            else:  # _LOST: nothing after a framing error can be trusted
                pos = n
        self.offset += n

    def gap(self, ts: float, offset: int, length: int) -> bool:
        """``length`` bytes are missing at stream ``offset``. Returns True when framing survives: the hole is
        inside data-set bytes we skip anyway, or inside a PDU we were skipping."""
        self.offset += length
        if self.mode == _PDATA and self._pdv is not None and not self._pdv.keep and length <= self._pdv.remaining:
            self._pdv.remaining -= length
            self._remaining -= length
            self._msg_dataset += length
            if not self._pdv.remaining:
                self._pdv_done(ts)
            return True
        if self.mode == _SKIP and length <= self._remaining:
            self._remaining -= length
            if not self._remaining:
                self.mode = _HEADER
            return True
        if self.mode != _LOST:
            self._lose(ts, f"{length} bytes missing at stream offset {offset}; PDU boundaries cannot be found "
                           f"after a hole, so the rest of this direction is not analysed")
        return False

    def end(self, ts: float) -> None:
        """The TCP stream ended: a PDU cut in the middle is a violation (the peer closed mid-PDU)."""
        if self.mode == _LOST:
            return
        if self.mode == _HEADER and not self._hdr:
            return
        what = {_HEADER: f"{len(self._hdr)} byte(s) of a PDU header",
                _BODY: "an association PDU", _PDATA: "a P-DATA-TF PDU", _SKIP: "a PDU"}[self.mode]
        missing = self._remaining if self.mode != _HEADER else 6 - len(self._hdr)
        self.sink.on_violation(self.direction, ts, "pdu-truncated",
                               f"the connection ended inside {what} that started at stream offset "
                               f"{self._pdu_start}; {missing} byte(s) never came", "error",
                               stream_offset=self._pdu_start)

    # -- framing --------------------------------------------------------------------------------------
    def _lose(self, ts: float, reason: str) -> None:
        self.mode = _LOST
        self.lost = True
        self.reassembler.reset()
        self.sink.on_lost(self.direction, ts, reason)

    def _header(self, ts: float, data: memoryview | bytes, pos: int, n: int) -> int:
        hdr = self._hdr
        if not hdr:
            self._pdu_start = self.offset + pos
            if data[pos] not in (1, 2, 3, 4, 5, 6, 7):
                head = bytes(data[pos:pos + 8])
                self.sink.on_violation(self.direction, ts, "unrecognized-pdu",
                                       f"unrecognized PDU type 0x{data[pos]:02x} at stream offset "
                                       f"{self._pdu_start} (first bytes {head.hex(' ')})", "error",
                                       stream_offset=self._pdu_start, first_bytes=head.hex(" "))
                self._lose(ts, "unrecognized PDU type: the stream cannot be resynchronised")
                return n
        take = min(6 - len(hdr), n - pos)
        hdr += data[pos:pos + take]
        pos += take
        if len(hdr) < 6:
            return pos
        pdu_type, _reserved, length = _HDR.unpack(hdr)
        hdr.clear()
        if pdu_type != 4:
            self._pdu_type = pdu_type
            self._pdu_length = length
            self._remaining = length
            self.pdus += 1
            if 6 + length > self.largest_pdu:
                self.largest_pdu = 6 + length
        if pdu_type == 4:
            self._begin_pdata(ts, length)
            return pos
        if length > ASSOCIATION_PDU_CAP:
            self.sink.on_violation(self.direction, ts, "pdu-too-large",
                                   f"PDU type 0x{pdu_type:02x} at stream offset {self._pdu_start} claims "
                                   f"{length} bytes, above the cap of {ASSOCIATION_PDU_CAP}; skipped",
                                   "error", stream_offset=self._pdu_start, length=length)
            self.mode = _SKIP
            return pos
        self._body = bytearray(_HDR.pack(pdu_type, _reserved, length))
        self.mode = _BODY
        if length == 0:
            self._body_done(ts)
        return pos

    def _begin_pdata(self, ts: float, length: int) -> None:
        self._pdu_type = 4
        self._pdu_length = length
        self._remaining = length
        self.pdus += 1
        if 6 + length > self.largest_pdu:
            self.largest_pdu = 6 + length
        self.pdata_pdus += 1
        if self.limit and length > self.limit:
            self.over_limit += 1
            self.sink.on_violation(self.direction, ts, "pdu-length-violation",
                                   f"P-DATA-TF of {length} bytes (length field) at stream offset "
                                   f"{self._pdu_start} exceeds the receiver's maximum of {self.limit}",
                                   "error", stream_offset=self._pdu_start, length=length, limit=self.limit)
        if length == 0:
            self.sink.on_violation(self.direction, ts, "pdata-empty",
                                   f"P-DATA-TF at stream offset {self._pdu_start} carries no PDV",
                                   "error", stream_offset=self._pdu_start)
            self.mode = _HEADER
            return
        self.mode = _PDATA
        self._pdv = None
        self._pdv_hdr.clear()

    def _body_done(self, ts: float) -> None:
        raw = bytes(self._body)
        self._body = bytearray()
        self.mode = _HEADER
        try:
            pdu = decode_pdu(raw)
        except MalformedPDU as exc:
            self.sink.on_violation(self.direction, ts, "malformed-pdu",
                                   f"{_pdu_name(self._pdu_type)} at stream offset {self._pdu_start}: {exc.message}",
                                   "error", stream_offset=self._pdu_start, offset=exc.offset)
            return
        for v in validate(pdu, raw):
            self.sink.on_violation(self.direction, ts, v.code,
                                   f"{_pdu_name(self._pdu_type)} at stream offset {self._pdu_start}: {v.message}",
                                   v.severity, stream_offset=self._pdu_start, offset=v.offset)
        self.sink.on_pdu(self.direction, ts, pdu, len(raw))

    def _pdata(self, ts: float, data: memoryview | bytes, pos: int, n: int) -> int:
        pdv = self._pdv
        if pdv is None:  # a PDV header, or the end of the PDU
            if not self._remaining:
                self.mode = _HEADER
                return pos
            if not self._pdv_hdr:
                if self._remaining < 6:
                    self.sink.on_violation(self.direction, ts, "malformed-pdu",
                                           f"P-DATA-TF at stream offset {self._pdu_start}: {self._remaining} stray "
                                           f"byte(s) at offset {6 + self._pdu_length - self._remaining}, too few "
                                           f"for a PDV item", "error", stream_offset=self._pdu_start,
                                           offset=6 + self._pdu_length - self._remaining)
                    self.mode = _SKIP
                    return pos
            take = min(6 - len(self._pdv_hdr), n - pos)
            self._pdv_hdr += data[pos:pos + take]
            pos += take
            self._remaining -= take
            if len(self._pdv_hdr) < 6:
                return pos
            plen, ctx, mch = _PDV_HDR.unpack(self._pdv_hdr)
            self._pdv_hdr.clear()
            self._start_pdv(ts, plen, ctx, mch, self.offset + pos - 6)
            return pos
        # kept PDV data: a command fragment or a small identifier
        take = min(pdv.remaining, n - pos)
        self._pdv_buf += data[pos:pos + take]
        pos += take
        pdv.remaining -= take
        self._remaining -= take
        if not pdv.command:
            self._msg_dataset += take
        if not pdv.remaining:
            self._pdv_done(ts)
        return pos

    def _start_pdv(self, ts: float, plen: int, ctx: int, mch: int, start: int) -> None:
        at = 6 + self._pdu_length - self._remaining - 6  # PDV offset inside the PDU
        if plen < 2 or plen - 2 > self._remaining:
            self.sink.on_violation(self.direction, ts, "malformed-pdu",
                                   f"P-DATA-TF at stream offset {self._pdu_start}: PDV at offset {at} claims "
                                   f"{plen} bytes, {self._remaining + 2} remain", "error",
                                   stream_offset=self._pdu_start, offset=at)
            self.reassembler.reset()
            self._writer = None
            self.mode = _SKIP if self._remaining else _HEADER
            return
        if mch & 0xFC:
            self.sink.on_violation(self.direction, ts, "reserved-nonzero",
                                   f"PDV at offset {at} of the P-DATA-TF at stream offset {self._pdu_start} "
                                   f"sets reserved message control header bits (0x{mch:02x})", "warning",
                                   stream_offset=self._pdu_start, offset=at + 5)
        command = bool(mch & 1)
        size = plen - 2
        drop = False
        if command and size > DEFAULT_MAX_COMMAND_BYTES:
            # Never buffer a hostile "command" of megabytes: report it and skip its bytes.
            self.sink.on_violation(self.direction, ts, "malformed-command",
                                   f"command fragment of {size} bytes at stream offset {start} "
                                   f"exceeds {DEFAULT_MAX_COMMAND_BYTES} bytes; skipped", "error",
                                   stream_offset=start)
            self.reassembler.reset()
            self._writer = None
            keep, drop = False, True
        elif command:
            keep = True
            if not self.reassembler.in_progress:
                self._msg_start = ts
                self._msg_pdus = 0
                self._msg_dataset = 0
                self._msg_last_pdu = -1
        else:
            w = self._writer
            keep = w is not None and w.keep and size <= IDENTIFIER_CAP
        if self._msg_last_pdu != self.pdata_pdus:
            self._msg_last_pdu = self.pdata_pdus
            self._msg_pdus += 1
        self._pdv = _Pdv(ctx, command, bool(mch & 2), size, keep, start, drop)
        self._pdv_buf.clear()
        if not size:
            self._pdv_done(ts)

    def _pdv_done(self, ts: float) -> None:
        pdv = self._pdv
        assert pdv is not None
        self._pdv = None
        if not self._remaining:
            self.mode = _HEADER  # the PDU is complete: a stream that ends here ends cleanly
        # Skipped data-set bytes reach the Reassembler as an empty fragment: it only needs the flags, and
        # their size was counted as they streamed past.
        if pdv.drop:
            return
        reasm = self.reassembler
        if not (pdv.keep or pdv.command or pdv.last) and self._writer is not None and reasm.context_id == pdv.ctx:
            # A middle data-set fragment of the message in progress, on its context: add_pdv would only count
            # it and hand the writer an empty fragment. Counting it here keeps its PDV numbering exact.
            reasm.pdv_count += 1
            return
        data = bytes(self._pdv_buf) if pdv.keep else b""
        self._pdv_buf.clear()
        if not self.reassembler.in_progress and not pdv.command:
            self._msg_start = ts
        try:
            am = reasm.add_pdv(PDV(pdv.ctx, pdv.command, pdv.last, data))  # type: ignore[arg-type]  # frozen PDV
        except (DimseProtocolError, MalformedCommand) as exc:
            self._writer = None
            self._msg_dataset = self._msg_pdus = 0
            self._msg_last_pdu = -1
            self.sink.on_violation(self.direction, ts, "dimse-fragmentation" if not isinstance(
                exc, MalformedCommand) else "malformed-command", f"{exc} (PDV at stream offset {pdv.start})",
                "error", stream_offset=pdv.start)
            return
        if am is None:
            return
        writer, self._writer = self._writer, None
        identifier = bytes(writer.buf) if writer is not None and writer.keep and writer.buf else None
        ds = self._msg_dataset
        self.dataset_bytes += ds
        self.sink.on_message(self.direction, self._msg_start, ts, am, ds, identifier, self._msg_pdus)
        self._msg_dataset = 0
        self._msg_pdus = 0
        self._msg_last_pdu = -1


def _pdu_name(pdu_type: int) -> str:
    from ..ul import PDU_NAMES

    return PDU_NAMES.get(pdu_type, f"PDU type 0x{pdu_type:02x}")

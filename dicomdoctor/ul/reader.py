"""Bounded, transactional PDU framing over a byte stream (PS3.8 §9.3.1; STYLE.md #5).

For each PDU: read the 6-byte header; check the type (an unknown first byte is reported at once: it is
often TLS ``16 03`` or HTTP ``48 54``); check the claimed length against a cap *before* buffering the body,
so a claim of 4 GB raises ``PDUTooLarge`` with nothing allocated; then wait for the body and decode it.

Caps (on the header's length field, i.e. the variable part; the whole PDU is 6 bytes more):
- P-DATA-TF: ``max_pdu_length``, the maximum length *we* advertised (PS3.8 Annex D.1: the limit is on the
  P-DATA-TF variable field). ``0``/``None`` means "no limit" in the protocol; we still bound it by
  ``UNLIMITED_PDATA_CAP`` (128 MiB) so a peer cannot make us buffer without end.
- every other PDU: ``ASSOCIATION_PDU_CAP`` (1 MiB). A-ASSOCIATE-RQ/AC with 128 contexts, user identity and
  extended negotiation stay well under 100 KiB; RJ, release and abort are 4 bytes.

Cost: received bytes are appended to a ``bytearray`` read at an offset, compacted only when the consumed
prefix is large, so a 100 MB stream costs two linear copies (append, body extraction) and no quadratic
re-buffering. Each body becomes one immutable ``bytes``; P-DATA-TF PDVs are ``memoryview`` slices of it.

After a framing error (unknown type, length over the cap) the stream cannot be resynchronised: the reader
keeps raising the same error. A body that fails to decode (``MalformedPDU``) has been consumed; ``last_raw``
holds it for the trace.
"""

from __future__ import annotations

from .codec import PDU_HEADER, decode_pdu_body
from .errors import PDUTooLarge, RemoteProtocolError, UnrecognizedPDU
from .pdu import PDU, PDU_TYPES

__all__ = ["PDUReader", "ASSOCIATION_PDU_CAP", "UNLIMITED_PDATA_CAP"]

ASSOCIATION_PDU_CAP = 1 << 20       # 1 MiB for A-ASSOCIATE-RQ/AC/RJ, A-RELEASE-RQ/RP, A-ABORT
UNLIMITED_PDATA_CAP = 128 << 20     # P-DATA-TF bound when the advertised maximum is 0 ("no limit")
_COMPACT_AT = 1 << 20               # drop the consumed prefix once it is this large


class PDUReader:
    """Feed bytes, take PDUs. ``max_pdu_length`` may be changed between PDUs (after negotiation)."""

    def __init__(self, max_pdu_length: int | None = 16384, *, association_cap: int = ASSOCIATION_PDU_CAP,
                 unlimited_cap: int = UNLIMITED_PDATA_CAP) -> None:
        self.max_pdu_length = max_pdu_length
        self.association_cap = association_cap
        self.unlimited_cap = unlimited_cap
        self._buf = bytearray()
        self._pos = 0
        self._error: RemoteProtocolError | None = None
        self._last_header = b""
        self._last_body = b""
        self.pdus_read = 0
        self.bytes_read = 0

    # -- configuration --------------------------------------------------------------------------------
    @property
    def pdata_cap(self) -> int:
        """Largest P-DATA-TF length field accepted (the whole PDU may be 6 bytes more)."""
        if not self.max_pdu_length:
            return self.unlimited_cap
        return self.max_pdu_length

    def cap_for(self, pdu_type: int) -> int:
        return self.pdata_cap if pdu_type == 0x04 else self.association_cap

    # -- input ----------------------------------------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._pos and (self._pos == len(self._buf) or self._pos >= _COMPACT_AT):
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as a PDU (a partial PDU at end of stream is a violation)."""
        return len(self._buf) - self._pos

    @property
    def pending_header(self) -> bytes:
        """The first bytes of what is buffered (up to 16), for messages about a truncated stream."""
        return bytes(self._buf[self._pos:self._pos + 16])

    # -- output ---------------------------------------------------------------------------------------
    def next_frame(self) -> tuple[int, bytes] | None:
        """The next (pdu_type, body) with framing checked and nothing decoded, or None if incomplete."""
        if self._error is not None:
            raise self._error
        buf, pos = self._buf, self._pos
        avail = len(buf) - pos
        if avail == 0:
            return None
        if buf[pos] not in PDU_TYPES:  # decided on the first byte: no need to wait for a header
            self._error = UnrecognizedPDU(buf[pos], bytes(buf[pos:pos + 16]))
            raise self._error
        if avail < 6:
            return None
        pdu_type, _reserved, length = PDU_HEADER.unpack_from(buf, pos)
        cap = self.cap_for(pdu_type)
        if length > cap:
            self._error = PDUTooLarge(length, cap, pdu_type=pdu_type)
            raise self._error
        end = pos + 6 + length
        if len(buf) < end:
            return None
        view = memoryview(buf)
        try:
            self._last_header = bytes(view[pos:pos + 6])
            body = bytes(view[pos + 6:end])
        finally:
            view.release()  # a live export would stop the bytearray from growing
        self._last_body = body
        self._pos = end
        self.pdus_read += 1
        self.bytes_read += 6 + length
        return pdu_type, body

    def next_pdu(self) -> PDU | None:
        """The next decoded PDU, or None until more bytes arrive. Raises only ``RemoteProtocolError``
        subclasses: ``UnrecognizedPDU``, ``PDUTooLarge``, ``MalformedPDU``."""
        frame = self.next_frame()
        if frame is None:
            return None
        return decode_pdu_body(frame[0], frame[1], 6)

    # -- the trace ------------------------------------------------------------------------------------
    @property
    def last_header(self) -> bytes:
        """The 6-byte header of the last PDU taken."""
        return self._last_header

    @property
    def last_raw(self) -> bytes:
        """The complete last PDU. Built on access (a copy): cheap for association PDUs; for P-DATA-TF a
        trace should prefer ``last_raw_head()``."""
        return self._last_header + self._last_body

    def last_raw_head(self, n: int = 64) -> bytes:
        """The first ``n`` bytes of the last PDU (header included), without copying the rest."""
        return self._last_header + self._last_body[:max(0, n - 6)]

    @property
    def last_length(self) -> int:
        return len(self._last_header) + len(self._last_body)

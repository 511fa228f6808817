"""Errors of the Upper Layer, by meaning rather than by string (STYLE.md #6).

``LocalProtocolError`` means *we* tried something the protocol forbids (sending a PDU the state machine does
not allow, encoding a value that cannot fit its field). ``RemoteProtocolError`` means the *peer* did; it
carries the A-ABORT source/reason a conformant provider would send back (PS3.8 Table 9-26), so a driver can
answer a broken peer without inventing codes.
"""

from __future__ import annotations

__all__ = [
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "MalformedPDU",
    "UnrecognizedPDU",
    "PDUTooLarge",
]

# A-ABORT reasons (PS3.8 Table 9-26), repeated here so errors.py imports nothing else of ours.
_REASON_NOT_SPECIFIED = 0
_UNRECOGNIZED_PDU = 1
_INVALID_PARAMETER_VALUE = 6


class ProtocolError(Exception):
    """Abstract base: catch this to handle every UL protocol problem. Never raised directly."""

    def __init__(self, message: str) -> None:
        if type(self) is ProtocolError:  # like h11: the base exists to be caught, not raised
            raise TypeError("ProtocolError is abstract; raise a LocalProtocolError or RemoteProtocolError")
        super().__init__(message)
        self.message = message


class LocalProtocolError(ProtocolError):
    """Our side broke the protocol: a PDU not allowed in the current state, a field that cannot be encoded."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol. ``abort_source``/``abort_reason`` are the A-ABORT a conformant provider
    sends in reply (PS3.8 §9.3.8, Table 9-26): source 2 = service provider."""

    def __init__(self, message: str, *, abort_reason: int = _REASON_NOT_SPECIFIED) -> None:
        super().__init__(message)
        self.abort_source = 2
        self.abort_reason = abort_reason


class MalformedPDU(RemoteProtocolError):
    """A PDU whose framing cannot be decoded (an item running past its parent, a fixed field cut short).

    ``offset`` is the byte offset from the start of the PDU (its type byte) where decoding gave up.
    """

    def __init__(self, message: str, *, offset: int | None = None, pdu_type: int | None = None,
                 abort_reason: int = _INVALID_PARAMETER_VALUE) -> None:
        if offset is not None and "offset" not in message:
            message = f"{message} (offset {offset})"
        super().__init__(message, abort_reason=abort_reason)
        self.offset = offset
        self.pdu_type = pdu_type


class UnrecognizedPDU(MalformedPDU):
    """The first byte is not a PDU type of PS3.8 §9.3.1 (Evt19). ``head`` holds the first bytes seen, which
    often say what the peer really is: ``16 03`` a TLS handshake, ``48 54 54 50`` an HTTP reply."""

    def __init__(self, pdu_type: int, head: bytes) -> None:
        super().__init__(f"unrecognized PDU type 0x{pdu_type:02x} (first bytes {head[:8].hex(' ')})",
                         offset=0, pdu_type=pdu_type, abort_reason=_UNRECOGNIZED_PDU)
        self.head = bytes(head[:16])


class PDUTooLarge(RemoteProtocolError):
    """A PDU header claims a length above the cap. Raised from the 6-byte header alone, before any of the
    claimed body is buffered, so a hostile 4 GB claim costs nothing (STYLE.md #5)."""

    def __init__(self, claimed: int, cap: int, *, pdu_type: int | None = None) -> None:
        what = f"PDU type 0x{pdu_type:02x}" if pdu_type is not None else "PDU"
        super().__init__(f"{what} claims {claimed} bytes, above the cap of {cap}",
                         abort_reason=_INVALID_PARAMETER_VALUE)
        self.claimed = claimed
        self.cap = cap
        self.pdu_type = pdu_type

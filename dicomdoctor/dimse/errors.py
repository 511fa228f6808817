"""DIMSE errors. They subclass the Upper Layer's `RemoteProtocolError` so net/ handles a peer's broken
P-DATA the same way as a broken PDU: record the violation and answer with the A-ABORT the error carries
(PS3.8 §9.3.8, Table 9-26)."""

from __future__ import annotations

from dicomdoctor.ul.errors import RemoteProtocolError

__all__ = ["DimseProtocolError", "MalformedCommand", "FragmentationError"]

_REASON_NOT_SPECIFIED = 0
_UNEXPECTED_PDU_PARAMETER = 5


class DimseProtocolError(RemoteProtocolError):
    """The peer broke PS3.7 (or the PS3.8 Annex E message framing). ``offset`` locates it when known
    (byte offset in the command set, or PDV index)."""

    def __init__(self, message: str, *, offset: int | None = None,
                 abort_reason: int = _REASON_NOT_SPECIFIED) -> None:
        super().__init__(message, abort_reason=abort_reason)
        self.offset = offset


class MalformedCommand(DimseProtocolError):
    """A command set that cannot be walked: truncated element, undefined length, oversized."""


class FragmentationError(DimseProtocolError):
    """A PDV sequence that breaks PS3.8 Annex E / PS3.7 §9.3.1: data set before the command, interleaved
    presentation contexts, a command fragment after the last one, a data set the command did not announce,
    a message over the cap. A PDV in the wrong place is an unexpected PDU parameter (reason 5)."""

    def __init__(self, message: str, *, offset: int | None = None,
                 abort_reason: int = _UNEXPECTED_PDU_PARAMETER) -> None:
        super().__init__(message, offset=offset, abort_reason=abort_reason)

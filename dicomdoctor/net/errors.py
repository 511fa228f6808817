"""Association failures, by meaning (STYLE.md #6): each carries what a probe needs as evidence.
`ConnectFailed` / `TLSHandshakeFailed` (connect.py) are the transport-level siblings."""

from __future__ import annotations

from typing import Any

from ..errors import DicomDoctorError
from ..ul.pdu import AAbort, AAssociateRJ
from ..ul.validate import Violation
from . import datasets as _ds



class AssociationError(DicomDoctorError):
    """Base of association failures (ConnectFailed, from connect.py, is the transport-level sibling)."""


class AssociationRejected(AssociationError):
    def __init__(self, pdu: AAssociateRJ) -> None:
        self.pdu = pdu
        self.result, self.source, self.reason = pdu.result, pdu.source, pdu.reason
        self.result_name, self.source_name, self.reason_name = pdu.result_name, pdu.source_name, pdu.reason_name
        super().__init__(f"association rejected: {pdu.describe()} ({pdu.result}/{pdu.source}/{pdu.reason})")

    def evidence(self) -> dict[str, Any]:
        return {"result": self.result, "source": self.source, "reason": self.reason,
                "result_name": self.result_name, "source_name": self.source_name, "reason_name": self.reason_name}


class AssociationAborted(AssociationError):
    """The peer sent A-ABORT (`source`, `reason`, `pdu` set) or closed the transport without one (all None;
    `detail` says what we saw). `phase`: "association" | "dimse" | "release"."""

    def __init__(self, source: int | None, reason: int | None, *, pdu: AAbort | None = None, detail: str = "",
                 phase: str = "dimse") -> None:
        self.source, self.reason, self.pdu, self.detail, self.phase = source, reason, pdu, detail, phase
        if pdu is not None:
            text = f"peer aborted the association: {pdu.source_name}, {pdu.reason_name} ({source}/{reason})"
        else:
            text = f"connection closed by the peer without A-ABORT during {phase}"
        super().__init__(text + (f": {detail}" if detail else ""))

    @property
    def source_name(self) -> str | None:
        return self.pdu.source_name if self.pdu else None

    @property
    def reason_name(self) -> str | None:
        return self.pdu.reason_name if self.pdu else None


class AssociationTimeout(AssociationError):
    def __init__(self, phase: str, seconds: float | None, detail: str = "") -> None:
        self.phase, self.seconds, self.detail = phase, seconds, detail
        super().__init__(f"no answer from the peer within {seconds} s ({phase} phase)"
                         + (f": {detail}" if detail else ""))


class PeerProtocolError(AssociationError):
    def __init__(self, violation: Violation, error: BaseException | None = None) -> None:
        self.violation, self.error = violation, error
        super().__init__(f"peer broke the protocol: {violation.message}")


class NoAcceptedContext(AssociationError):
    """No accepted presentation context for what we want to send (checked locally, nothing was sent)."""

    def __init__(self, abstract_syntax: str, transfer_syntax: str | None = None, detail: str = "") -> None:
        self.abstract_syntax, self.transfer_syntax = abstract_syntax, transfer_syntax
        super().__init__(f"no accepted presentation context for {_ds.uid_name(abstract_syntax)}"
                         + (f" ({detail})" if detail else ""))

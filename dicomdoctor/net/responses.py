"""DIMSE results as our SCU returns them: `Response` (one response, status decoded) and `RetrieveResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

from ..dimse.messages import DimseMessage
from ..dimse.status import StatusInfo, lookup, response_evidence



@dataclass
class Response:
    """One DIMSE response, decoded: status (service-specific name/category via dimse.status), Error Comment,
    Offending Element, the identifier of a C-FIND match, round-trip time from the request."""

    message: DimseMessage
    context_id: int
    rtt_ms: float
    identifier: Dataset | None = None
    info: StatusInfo | None = None

    def __post_init__(self) -> None:
        if self.info is None:
            self.info = lookup(self.status if self.status is not None else 0xFFFF, self.message.SERVICE)

    @property
    def status(self) -> int | None:
        if 0x00000900 in getattr(self.message, "missing", ()):
            return None
        return getattr(self.message, "status", None)

    @property
    def status_name(self) -> str:
        return self.info.name if self.info else ""

    @property
    def category(self) -> str:
        return "failure" if self.status is None else (self.info.category if self.info else "failure")

    @property
    def ok(self) -> bool:
        return self.category == "success"

    @property
    def pending(self) -> bool:
        return self.category == "pending"

    @property
    def error_comment(self) -> str | None:
        return getattr(self.message, "error_comment", None)

    @property
    def offending_element(self) -> tuple[int, ...] | None:
        return getattr(self.message, "offending_element", None)

    def evidence(self) -> dict[str, Any]:
        ev = response_evidence(self.message)
        ev["rtt_ms"] = round(self.rtt_ms, 3)
        return ev


@dataclass
class RetrieveResult:
    """C-MOVE / C-GET outcome: the final response, the pending ones, and the sub-operation counts."""

    final: Response
    pending: list[Response] = field(default_factory=list)
    stores: list[tuple[str, str, int]] = field(default_factory=list)  # C-GET: (sop_class, sop_instance, status)
    # `pending` keeps only the last pending response; these count them all (and every C-GET sub-operation,
    # of which `stores` keeps the first few).
    pending_count: int = 0
    store_count: int = 0

    def _count(self, name: str) -> int | None:
        for rsp in (self.final, *reversed(self.pending)):
            value = getattr(rsp.message, f"number_of_{name}_suboperations", None)
            if value is not None:
                return value
        return None

    @property
    def completed(self) -> int | None:
        return self._count("completed")

    @property
    def failed(self) -> int | None:
        return self._count("failed")

    @property
    def warning(self) -> int | None:
        return self._count("warning")

    @property
    def remaining(self) -> int | None:
        return self._count("remaining")

"""One entry of a PDU trace: the live path (net/trace.py) and the capture analysis (capture/) both record
these, and the renderers and the TUI read them. It lives at the top so that neither path imports the other
(the capture path must not pay for asyncio and ssl)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RECV", "SENT", "TraceEntry"]

SENT = "sent"  # from us (live) or from the requestor (capture)
RECV = "recv"  # from the peer (live) or from the acceptor (capture)


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """`t`: seconds since the trace started (monotonic). `pdu_type`: "A-ASSOCIATE-RQ", ..., "P-DATA-TF", or
    "TRANSPORT" / "NOTE" for events that are not PDUs (connected, closed, timeout, violation). `length`: bytes
    on the wire (all PDUs of a message for P-DATA). `pdu`: the decoded PDU for association PDUs, the decoded
    DIMSE message (dimse.messages) for P-DATA entries, None for notes."""

    t: float
    direction: str
    pdu_type: str
    summary: str
    length: int
    pdu: Any = None

    def line(self) -> str:
        arrow = ">>" if self.direction == SENT else ("<<" if self.direction == RECV else "--")
        return f"{self.t * 1000:9.1f} ms {arrow} {self.summary}"

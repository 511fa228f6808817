"""The trace: every PDU sent and received, as values (STYLE.md #7). The TUI, the reports and `-v` read it.

Association PDUs are one entry each with a one-line summary ("A-ASSOCIATE-RQ DICOMDOCTOR -> PACS, 3
contexts, max PDU 16384"). P-DATA-TF is summarised per DIMSE *message*, not per PDU: a 100 MB C-STORE is one
entry ("C-STORE-RQ #7 CTImageStorage 1.2.3..., data set 524,288 bytes in 33 PDUs"), so the trace stays small.
It is also capped by entries (`max_entries`) and by bytes (`max_bytes`: each entry is charged its summary
plus `ENTRY_COST` for the objects it holds; a PDU object is kept only while it is small), so a peer that
floods us with PDUs cannot grow it without bound; entries past a cap are counted in `dropped`.
"""

from __future__ import annotations

import time
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..dimse.summary import summarize_message
from ..trace_entry import RECV, SENT, TraceEntry


ENTRY_COST = 256          # bytes charged per entry beyond its summary (the entry, its floats, the PDU ref)
KEEP_PDU_BELOW = 64 << 10  # a PDU object is kept in its entry only when its encoded length is below this
MAX_SUMMARY = 512         # characters of one summary kept (peers' AE titles and comments can be long)


@dataclass
class Trace:
    max_entries: int = 5000
    max_bytes: int = 4 << 20
    entries: list[TraceEntry] = field(default_factory=list)
    dropped: int = 0
    size: int = 0  # bytes charged so far (see ENTRY_COST)
    started_wall: float = field(default_factory=time.time)
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def now(self) -> float:
        return time.monotonic() - self._t0

    def add(self, direction: str, pdu_type: str, summary: str, length: int = 0, pdu: Any = None) -> None:
        if len(summary) > MAX_SUMMARY:
            summary = summary[:MAX_SUMMARY] + f"... ({len(summary)} characters)"
        cost = len(summary) + ENTRY_COST
        if len(self.entries) >= self.max_entries or self.size + cost > self.max_bytes:
            self.dropped += 1
            return
        if pdu is not None and length >= KEEP_PDU_BELOW:
            pdu = None  # the summary says what it was; holding a big PDU is what the caps are against
        self.size += cost
        self.entries.append(TraceEntry(self.now(), direction, pdu_type, summary, length, pdu))

    def pdu(self, direction: str, pdu: Any, length: int) -> None:
        self.add(direction, pdu_name(pdu), summarize_pdu(pdu), length, pdu)

    def message(self, direction: str, message: Any, length: int, pdus: int, dataset_bytes: int | None,
                context_id: int | None = None) -> None:
        summary = summarize_message(message, dataset_bytes, pdus, context_id, uid_name=_uid_name)
        self.add(direction, "P-DATA-TF", summary, length, message)

    def note(self, text: str, direction: str = "note") -> None:
        self.add(direction, "NOTE", text, 0, None)

    def __iter__(self) -> Iterator[TraceEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def lines(self) -> list[str]:
        out = [e.line() for e in self.entries]
        if self.dropped:
            out.append(f"... {self.dropped} more entries not kept")
        return out

    def to_list(self) -> list[dict[str, Any]]:
        """JSON-friendly view (no PDU objects)."""
        return [{"t_ms": round(e.t * 1000, 3), "direction": e.direction, "pdu_type": e.pdu_type,
                 "summary": e.summary, "length": e.length} for e in self.entries]


# ------------------------------------------------------------------------------------------- summaries

_PDU_NAMES = {0x01: "A-ASSOCIATE-RQ", 0x02: "A-ASSOCIATE-AC", 0x03: "A-ASSOCIATE-RJ", 0x04: "P-DATA-TF",
              0x05: "A-RELEASE-RQ", 0x06: "A-RELEASE-RP", 0x07: "A-ABORT"}


def pdu_name(pdu: Any) -> str:
    return _PDU_NAMES.get(getattr(pdu, "pdu_type", -1), type(pdu).__name__)


@lru_cache(maxsize=512)
def _uid_name(uid: str | None) -> str:
    if not uid:
        return "?"
    common = {"1.2.840.10008.1.1": "Verification", "1.2.840.10008.1.2": "ImplicitVRLittleEndian",
              "1.2.840.10008.1.2.1": "ExplicitVRLittleEndian", "1.2.840.10008.1.2.2": "ExplicitVRBigEndian",
              "1.2.840.10008.3.1.1.1": "DICOMApplicationContext"}
    if uid in common:
        return common[uid]
    try:
        from pydicom.uid import UID
        name = UID(uid).keyword
        return name or uid
    except Exception:
        return uid


def summarize_pdu(pdu: Any) -> str:
    name = pdu_name(pdu)
    t = getattr(pdu, "pdu_type", None)
    if t in (0x01, 0x02):
        ui = getattr(pdu, "user_information", None)
        max_pdu = getattr(ui, "max_length", None) if ui else None
        pcs = getattr(pdu, "presentation_contexts", ())
        text = f"{name} {pdu.calling_ae} -> {pdu.called_ae}, "
        if t == 0x01:
            text += f"{len(pcs)} context{'s' if len(pcs) != 1 else ''}"
        else:
            ok = sum(1 for pc in pcs if getattr(pc, "result", 1) == 0)
            text += f"{ok} of {len(pcs)} contexts accepted"
        text += f", max PDU {max_pdu if max_pdu is not None else 'absent'}"
        if ui is not None and getattr(ui, "implementation_version_name", None):
            text += f", {ui.implementation_version_name}"
        roles = getattr(ui, "role_selections", ()) if ui else ()
        if roles:
            text += f", {len(roles)} role selection{'s' if len(roles) != 1 else ''}"
        ident = getattr(ui, "user_identity_rq", None) if ui else None
        if ident is not None:  # the type and the lengths only: never the user name's passcode or a token
            text += (f", user identity type {ident.identity_type} ({len(ident.primary_field)}"
                     f"+{len(ident.secondary_field)} bytes"
                     f"{', response requested' if ident.positive_response_requested else ''})")
        if ui is not None and getattr(ui, "user_identity_ac", None) is not None:
            text += f", user identity response ({len(ui.user_identity_ac.server_response)} bytes)"
        return text
    if t == 0x03:
        describe = getattr(pdu, "describe", None)
        detail = describe() if callable(describe) else f"result {pdu.result} source {pdu.source} reason {pdu.reason}"
        return f"{name} {detail} ({pdu.result}/{pdu.source}/{pdu.reason})"
    if t == 0x07:
        src = getattr(pdu, "source_name", pdu.source)
        reason = getattr(pdu, "reason_name", pdu.reason)
        return f"{name} from {src}: {reason} ({pdu.source}/{pdu.reason})"
    if t == 0x04:
        pdvs = getattr(pdu, "pdvs", ())
        return f"{name} {len(pdvs)} PDV(s), {sum(len(p.data) for p in pdvs)} bytes"
    return name



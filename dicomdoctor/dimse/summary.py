"""Human-readable one-line summaries of DIMSE messages (pure: used by traces, live and from captures)."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["summarize_message"]


def summarize_message(message: Any, dataset_bytes: int | None, pdus: int, context_id: int | None = None, *,
                      uid_name: Callable[[str], str] = str) -> str:
    """One line for a DIMSE message in a trace: "C-STORE-RQ #3 CTImageStorage 1.2.3.4, data set 524,288 bytes in
    33 PDUs [pc 1]". Shared by the live trace (net/trace.py, which names UIDs) and the capture analysis."""
    name = getattr(message, "name", None) or type(message).__name__
    parts = [name]
    mid = getattr(message, "message_id", None)
    if mid is None:
        mid = getattr(message, "message_id_being_responded_to", None)
    if mid is not None:
        parts.append(f"#{mid}")
    sop_class = getattr(message, "affected_sop_class_uid", None)
    if sop_class:
        parts.append(uid_name(sop_class))
    inst = getattr(message, "affected_sop_instance_uid", None)
    if inst and name.startswith("C-STORE-RQ"):
        parts.append(inst)
    status = getattr(message, "status", None)
    if status is not None and getattr(message, "IS_RESPONSE", False):
        parts.append(f"status 0x{status:04X}")
        try:
            parts.append(f"({message.category})")
        except Exception:
            pass
    dest = getattr(message, "move_destination", None)
    if dest:
        parts.append(f"to {dest}")
    counts = [getattr(message, f"number_of_{k}_suboperations", None)
              for k in ("remaining", "completed", "failed", "warning")]
    if any(c is not None for c in counts):
        parts.append("sub-ops " + "/".join("-" if c is None else str(c) for c in counts) + " (rem/ok/fail/warn)")
    comment = getattr(message, "error_comment", None)
    if comment:
        parts.append(f"comment {comment!r}")
    text = " ".join(parts)
    if dataset_bytes is not None:
        text += f", data set {dataset_bytes:,} bytes"
    if pdus > 1:
        text += f" in {pdus} PDUs"
    if context_id is not None:
        text += f" [pc {context_id}]"
    return text

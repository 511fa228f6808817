"""Judgement of the DIMSE services dimse.echo and dimse.store, and what every DIMSE check shares (qr.py:
dimse.find/.move/.get; perf.py; capacity.py): the not-completed diagnosis, the status -> cause table, the
Q/R key helpers.

Each check runs one service through probes.dimse and judges the facts. Statuses are judged by their
category (dimse.status decodes every code, service-specific); the evidence keeps the raw code, its name,
the Error Comment and Offending Element. A check that meets a reject, an abort or a timeout says so with the
cause, since in a one-off playbook (the SCU commands, quick.yaml) no assoc.* check ran before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ...errors import BadInput
from ...probes import dimse as pd
from ..context import CheckContext, CheckResult, errored, failed, passed, warned
from ..registry import check

_CONNECT_CAUSES = {
    "refused": ("server-not-running", "wrong-port", "firewall-reject"),
    "timeout": ("firewall-drop", "host-unreachable", "server-overloaded"),
    "unreachable": ("host-unreachable",),
    "reset": ("firewall-reject", "server-overloaded"),
    "dns": ("dns-failure",),
    "unknown-ca": ("tls-unknown-ca",), "self-signed": ("tls-self-signed",), "expired": ("tls-expired",),
    "not-yet-valid": ("tls-not-yet-valid",), "hostname-mismatch": ("tls-hostname-mismatch",),
    "client-cert-required": ("tls-client-cert-required",), "no-tls": ("peer-not-tls",),
    "protocol-mismatch": ("tls-protocol-mismatch",), "other": ("tls-client-cert-required", "peer-not-tls"),
}


def service_kwargs(ctx: CheckContext) -> dict[str, Any]:
    return dict(max_pdu=ctx.options.max_pdu, timeouts=ctx.timeouts, trace=ctx.trace,
                tls_context=ctx.ssl_context())


def _record_violations(ctx: CheckContext, f: pd.DimseFacts) -> None:
    """PDU length violations seen here feed assoc.pdu-length when it runs later."""
    if f.pdu_violations:
        ctx.facts.setdefault("pdu-violations", []).extend(f.pdu_violations)


def _base_evidence(f: pd.DimseFacts) -> dict[str, Any]:
    ev: dict[str, Any] = {"outcome": f.outcome, "status": f.status, "status_name": f.status_name or None,
                          "category": f.category or None,
                          "rtt_ms": round(f.rtt_ms, 1) if f.rtt_ms is not None else None,
                          "elapsed_ms": round(f.elapsed_ms, 1)}
    for key in ("status_hex", "meaning", "error_comment", "error_id", "offending_elements", "vendor_notes"):
        if key in f.response:
            ev[key] = f.response[key]
    if f.reject:
        ev["reject"] = f.reject
    if f.abort:
        ev["abort"] = f.abort
    if f.phase:
        ev["phase"] = f.phase
    if f.detail:
        ev["detail"] = f.detail
    if f.violations:
        ev["violations"] = f.violations
    return ev


def not_completed(f: pd.DimseFacts, what: str, ev: dict[str, Any], *,
                  abort_causes: tuple[str, ...] = ("peer-aborted",),
                  no_context_causes: tuple[str, ...] = ("no-presentation-context",)) -> CheckResult:
    """The service got no final response: why (shared by every DIMSE check)."""
    if f.outcome == "connect-failed":
        return failed(f"{what}: the connection failed ({f.connect_outcome}: {f.detail})",
                      _CONNECT_CAUSES.get(f.connect_outcome, ("server-not-running",)), **ev)
    if f.outcome == "rejected" and f.reject:
        rj = f.reject
        codes = f"{rj['result']}/{rj['source']}/{rj['reason']} {rj['reason_name']}"
        if rj["source"] == 1 and rj["reason"] == 7:
            causes: tuple[str, ...] = ("called-ae-not-recognized", "ae-title-invalid")
        elif rj["source"] == 1 and rj["reason"] == 3:
            causes = ("calling-ae-not-recognized", "calling-host-mismatch")
        elif rj["source"] == 3:
            causes = ("too-many-associations", "server-overloaded")
        else:
            causes = ("reject-no-reason", "calling-ae-not-recognized", "called-ae-not-recognized")
        return failed(f"{what}: the peer rejected the association ({codes})", causes, **ev)
    if f.outcome == "aborted":
        how = (f"A-ABORT {f.abort.get('source_name') or f.abort.get('source')}, "
               f"{f.abort.get('reason_name') or f.abort.get('reason')}"
               if f.abort and f.abort.get("source") is not None else "the connection was closed")
        if f.phase == "association":
            return failed(f"{what}: the peer ended the association request ({how})",
                          ("peer-aborted", "calling-ae-not-recognized", "too-many-associations"), **ev)
        return failed(f"{what}: the peer aborted during the {f.phase or 'DIMSE'} phase ({how})", abort_causes, **ev)
    if f.outcome == "timeout":
        if f.phase == "association":
            return failed(f"{what}: no answer to the A-ASSOCIATE-RQ ({f.detail}); the server may be busy with "
                          f"another client (Orthanc 1.10 serves one at a time) or hung",
                          ("association-timeout", "server-overloaded"), **ev)
        return failed(f"{what}: no response within the DIMSE timeout ({f.detail})",
                      ("dimse-timeout", "server-overloaded"), **ev)
    if f.outcome == "protocol-error":
        return failed(f"{what}: the peer broke the protocol ({f.detail})", ("malformed-pdu",), **ev)
    if f.outcome == "no-context":
        return failed(f"{what}: the peer accepted no presentation context for it ({f.detail})",
                      no_context_causes, **ev)
    return errored(f"{what}: {f.outcome}: {f.detail}", **ev)


_STATUS_CAUSES: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0xA801, 0xA801, ("move-destination-unknown",)),
    (0xA702, 0xA702, ("move-connect-back-failed", "out-of-resources")),
    (0xA700, 0xA7FF, ("out-of-resources",)),
    (0xA900, 0xA9FF, ("dataset-sop-mismatch",)),
    (0xC000, 0xCFFF, ("cannot-understand",)),
    (0x0122, 0x0122, ("service-not-supported", "store-missing-sop-class")),
    (0x0124, 0x0124, ("calling-ae-not-authorized",)),
    (0x0110, 0x0110, ("processing-failure",)),
    (0xB000, 0xBFFF, ("dataset-sop-mismatch",)),
)
# The same code means different things per service (PS3.4 Annexes B and C): checked before the table above.
_QR_STATUS = {0xA900: ("unique-key-required", "dataset-sop-mismatch"),
              0xFF01: ("attribute-list-error",), 0x0107: ("attribute-list-error",),
              0x0116: ("attribute-list-error",)}
_SERVICE_STATUS: dict[str, dict[int, tuple[str, ...]]] = {
    "C-STORE": {0x0122: ("store-missing-sop-class",), 0xB000: ("store-coerced",), 0xB006: ("store-coerced",),
                0xB007: ("dataset-sop-mismatch",)},
    "C-FIND": _QR_STATUS,
    "C-MOVE": {**_QR_STATUS, 0xB000: ("retrieve-suboperations-failed", "move-connect-back-failed"),
               0xA701: ("out-of-resources",)},
    "C-GET": {**_QR_STATUS, 0xB000: ("retrieve-suboperations-failed", "role-selection-ignored"),
              0xA701: ("out-of-resources",), 0xA702: ("retrieve-suboperations-failed", "role-selection-ignored",
                                                      "out-of-resources")},
}


def status_causes(status: int | None, service: str = "") -> tuple[str, ...]:
    """Cause ids for a DIMSE status, most likely first, by service (`"C-STORE"`...) then by range."""
    if status is None:
        return ("malformed-pdu",)
    specific = _SERVICE_STATUS.get(service.upper().replace("_", "-"), {}).get(status)
    if specific:
        return specific
    for lo, hi, causes in _STATUS_CAUSES:
        if lo <= status <= hi:
            return causes
    return ("processing-failure",)


def _status_text(f: pd.DimseFacts) -> str:
    hexcode = f.response.get("status_hex") or (f"0x{f.status:04X}" if f.status is not None else "no status")
    text = f"{hexcode} {f.status_name}".strip()
    if f.response.get("error_comment"):
        text += f" (Error Comment: {f.response['error_comment']})"
    return text


# --------------------------------------------------------------------------------------------- dimse.echo

@check("dimse.echo", depends=("assoc.ae-title",), title="C-ECHO", timeout=60.0, params={"repeat": 1})
async def echo(ctx: CheckContext) -> CheckResult:
    repeat = max(1, int(ctx.params.get("repeat") or 1))
    f = await pd.echo(ctx.target, repeat, **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    if f.outcome != "ok":
        return not_completed(f, "C-ECHO failed", ev)
    if f.category == "success":
        if len(f.rtts_ms) > 1:
            ev.update(echoes=len(f.rtts_ms), rtt_min_ms=round(min(f.rtts_ms), 1),
                      rtt_max_ms=round(max(f.rtts_ms), 1), rtt_avg_ms=round(sum(f.rtts_ms) / len(f.rtts_ms), 1))
            return passed(f"{len(f.rtts_ms)} C-ECHOs answered {_status_text(f)}, round trip "
                          f"{ev['rtt_min_ms']}-{ev['rtt_max_ms']} ms (average {ev['rtt_avg_ms']})", **ev)
        return passed(f"C-ECHO answered {_status_text(f)} in {f.rtt_ms:.1f} ms", **ev)
    return failed(f"C-ECHO answered {_status_text(f)}", status_causes(f.status, "C-ECHO"), **ev)


# ------------------------------------------------------------------------------------------- dimse.store

def _expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            files += sorted(q for q in path.rglob("*") if q.is_file() and not q.name.startswith("."))
        elif path.is_file():
            files.append(path)
        else:
            raise BadInput(f"{p}: no such file or folder")
    return files


def collect_sources(paths: list[str], synthetic: int) -> tuple[list[Any], list[dict[str, str]]]:
    """Store sources from files/folders or synthetic instances, and the files that fail local validation
    (Part 10 but no SOP Class / Instance UID: a finding, store-missing-sop-class). Anything that is not
    DICOM at all is bad input (exit 3): the user named the wrong file."""
    from ...net.datasets import SourceError, load_source

    if synthetic:
        return [load_source(ds) for ds in pd.synthetic_instances(synthetic)], []
    files = _expand(paths)
    if not files:
        raise BadInput("nothing to store: the folders given hold no files")
    out, invalid = [], []
    for path in files:
        try:
            src = load_source(path)
        except (SourceError, OSError, ValueError) as exc:
            if "SOP Class UID" in str(exc) or "SOP Instance UID" in str(exc):
                invalid.append({"file": str(path), "problem": str(exc)})
                continue
            raise BadInput(f"{path}: not a DICOM file we can send ({exc})") from None
        missing = [name for name, v in (("SOP Class UID", src.sop_class_uid),
                                        ("SOP Instance UID", src.sop_instance_uid)) if not str(v or "").strip()]
        if missing:
            invalid.append({"file": str(path), "problem": f"no {' and no '.join(missing)}"})
            continue
        out.append(src)
    return out, invalid


def load_sources(paths: list[str], synthetic: int) -> list[Any]:
    """The sendable sources (see collect_sources); the store command calls it to validate before sending."""
    return collect_sources(paths, synthetic)[0]


def _no_context_causes(entry: dict[str, Any]) -> tuple[str, ...]:
    """No accepted context for an instance: why, from the peer's answer for its SOP class."""
    result = entry.get("context_result")
    if result == 3:
        return ("abstract-syntax-not-supported", "store-missing-sop-class")
    if result in (4, 0):  # 0: accepted, but not in a syntax we can send this (compressed) instance in
        return ("transfer-syntax-not-supported",)
    return ("no-presentation-context", "store-missing-sop-class")


def _store_why(entry: dict[str, Any]) -> str:
    why = f"{entry.get('status_hex') or ''} {entry.get('status_name') or ''}".strip()
    if entry.get("error_comment"):
        why += f" (Error Comment: {entry['error_comment']})"
    if entry.get("offending_elements"):
        why += " (Offending Element: " + ", ".join(o.get("keyword") or o.get("tag", "")
                                                   for o in entry["offending_elements"]) + ")"
    return why


@check("dimse.store", depends=("assoc.ae-title",), title="C-STORE", timeout=600.0, writes=True,
       params={"files": [], "synthetic": 0})
async def store(ctx: CheckContext) -> CheckResult:
    files = [str(p) for p in ctx.params.get("files") or []]
    synthetic = int(ctx.params.get("synthetic") or 0) or (0 if files else 1)
    sources, invalid = collect_sources(files, synthetic)
    base: dict[str, Any] = {"synthetic": bool(synthetic)}
    if invalid:
        base["invalid_files"] = invalid[:pd.KEEP_RESULTS]
    if not sources:
        return failed(f"C-STORE not attempted: none of the {len(invalid)} files has both a SOP Class UID and a SOP "
                      f"Instance UID, so no request can be built (nothing was sent)", ("store-missing-sop-class",),
                      instances=0, **base)
    f = await pd.store(ctx.target, sources, **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    ev.update(base)
    counts = {c: sum(1 for s in f.stores if s.get("category") == c) for c in ("success", "warning", "failure")}
    ev.update(instances=len(sources), completed=counts["success"], warning=counts["warning"],
              failed=counts["failure"], stores=f.stores[:pd.KEEP_RESULTS])
    bad = next((s for s in f.stores if s.get("category") == "failure"), None)
    if f.outcome != "ok" and bad is None:
        # The association ended under us (abort, timeout, closed): the one diagnosis shared by all services.
        done = counts["success"] + counts["warning"]
        what = (f"C-STORE stopped after {done} of {len(sources)} instances" if f.stores or done
                else "C-STORE failed")
        return not_completed(f, what, ev, no_context_causes=("store-missing-sop-class",
                                                              "transfer-syntax-not-supported"))
    if bad is not None:
        causes = (status_causes(bad.get("status"), "C-STORE") if bad.get("status") is not None
                  else _no_context_causes(bad))
        why = _store_why(bad) if bad.get("status") is not None else \
            f"no accepted presentation context for {bad.get('sop_class_uid')} ({bad.get('detail', '')})"
        ended = "" if f.outcome == "ok" else f"; then the association ended ({f.outcome})"
        return failed(f"C-STORE: {counts['failure']} of {len(sources)} instances failed: {why}{ended}", causes, **ev)
    sent = len(f.stores)
    if counts["warning"]:
        w = next(s for s in f.stores if s.get("category") == "warning")
        return warned(f"C-STORE: {counts['warning']} of {sent} instances stored with a warning ({_store_why(w)})",
                      status_causes(w.get("status"), "C-STORE"), **ev)
    if invalid:
        return failed(f"C-STORE: {sent} instances stored, but {len(invalid)} files were not sent: they lack a SOP "
                      f"Class or Instance UID", ("store-missing-sop-class",), **ev)
    return passed(f"C-STORE: all {sent} instances stored", **ev)


# -------------------------------------------------------------------------------------------- queries

def query_keys(keys: Any) -> dict[str, Any]:
    """{keyword: value}; `Key=Value` strings too. Unknown keywords are bad input (pydicom's dictionary)."""
    from pydicom.datadict import tag_for_keyword

    if isinstance(keys, (list, tuple)):
        pairs: dict[str, Any] = {}
        for item in keys:
            if not isinstance(item, str) or "=" not in item:
                if isinstance(item, str) and item:
                    pairs[item] = ""
                    continue
                raise BadInput(f"query key {item!r} is not Key=Value")
            k, v = item.split("=", 1)
            pairs[k.strip()] = v
        keys = pairs
    if not isinstance(keys, Mapping):
        raise BadInput(f"query keys must be a mapping of keyword to value, not {type(keys).__name__}")
    for k in keys:
        if tag_for_keyword(str(k)) is None:
            raise BadInput(f"unknown DICOM keyword {k!r} in the query keys (e.g. PatientID, StudyInstanceUID)")
    return {str(k): ("" if v is None else v) for k, v in keys.items()}


def query_model(model: str, level: str) -> str:
    if model:
        return model
    return "patient" if level.upper() == "PATIENT" else "study"


def _level(value: Any) -> str:
    level = str(value or "STUDY").upper()
    if level not in ("PATIENT", "STUDY", "SERIES", "IMAGE"):
        raise BadInput(f"Q/R level {value!r} is not one of PATIENT, STUDY, SERIES, IMAGE")
    return level


_QR_ABORT = ("calling-ae-not-authorized", "peer-aborted")  # Orthanc aborts a C-FIND/MOVE/GET from an unknown AE

"""Judgement of the DIMSE services: dimse.echo, dimse.store, dimse.find, dimse.move, dimse.get.

Each check runs one service through probes.dimse and judges the facts. Statuses are judged by their
category (dimse.status decodes every code, service-specific); the evidence keeps the raw code, its name,
the Error Comment and Offending Element. A check that meets a reject, an abort or a timeout says so with the
cause, since in a one-off playbook (the SCU commands, quick.yaml) no assoc.* check ran before it.
"""

from __future__ import annotations

import os
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


def status_causes(status: int | None, service: str = "") -> tuple[str, ...]:
    if status is None:
        return ("malformed-pdu",)
    if status == 0x0122 and service == "C-STORE":
        return ("store-missing-sop-class",)
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


def load_sources(paths: list[str], synthetic: int) -> list[Any]:
    """Store sources from files/folders (each must be a DICOM Part-10 file) or synthetic instances."""
    from ...net.datasets import SourceError, load_source

    if synthetic:
        return [load_source(ds) for ds in pd.synthetic_instances(synthetic)]
    files = _expand(paths)
    if not files:
        raise BadInput("nothing to store: the folders given hold no files")
    out = []
    for path in files:
        try:
            out.append(load_source(path))
        except (SourceError, OSError, ValueError) as exc:
            raise BadInput(f"{path}: not a DICOM file we can send ({exc})") from None
    return out


@check("dimse.store", depends=("assoc.ae-title",), title="C-STORE", timeout=600.0, writes=True,
       params={"files": [], "synthetic": 0})
async def store(ctx: CheckContext) -> CheckResult:
    files = [str(p) for p in ctx.params.get("files") or []]
    synthetic = int(ctx.params.get("synthetic") or 0) or (0 if files else 1)
    sources = load_sources(files, synthetic)
    f = await pd.store(ctx.target, sources, **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    counts = {c: sum(1 for s in f.stores if s.get("category") == c) for c in ("success", "warning", "failure")}
    ev.update(instances=len(sources), completed=counts["success"], warning=counts["warning"],
              failed=counts["failure"], stores=f.stores[:pd.KEEP_RESULTS], synthetic=bool(synthetic))
    if f.outcome != "ok" and not f.stores:
        return not_completed(f, "C-STORE failed", ev, no_context_causes=("store-missing-sop-class",
                                                                          "transfer-syntax-not-supported"))
    sent = len(f.stores)
    if counts["failure"] or f.outcome != "ok":
        bad = next((s for s in f.stores if s.get("category") == "failure"), None)
        causes: tuple[str, ...] = ("peer-aborted",)
        if bad is not None:
            causes = status_causes(bad.get("status"), "C-STORE") if bad.get("status") is not None else \
                ("store-missing-sop-class", "transfer-syntax-not-supported")
            why = f"{bad.get('status_hex', '')} {bad.get('status_name', '')}".strip()
            if bad.get("error_comment"):
                why += f" (Error Comment: {bad['error_comment']})"
        else:
            why = f.detail
        return failed(f"C-STORE: {counts['failure']} of {len(sources)} instances failed"
                      f"{'' if f.outcome == 'ok' else f' and the association ended early ({f.outcome})'}: {why}",
                      causes, **ev)
    if counts["warning"]:
        w = next(s for s in f.stores if s.get("category") == "warning")
        return warned(f"C-STORE: {counts['warning']} of {sent} instances stored with a warning "
                      f"({w.get('status_hex', '')} {w.get('status_name', '')})",
                      status_causes(w.get("status"), "C-STORE"), **ev)
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


@check("dimse.find", depends=("assoc.ae-title",), title="C-FIND", timeout=300.0,
       params={"level": "STUDY", "keys": {}, "model": "", "max_results": 0})
async def find(ctx: CheckContext) -> CheckResult:
    level = _level(ctx.params.get("level"))
    keys = query_keys(ctx.params.get("keys") or {})
    model = query_model(str(ctx.params.get("model") or ""), level)
    f = await pd.find(ctx.target, level, keys, model=model, max_results=int(ctx.params.get("max_results") or 0),
                      **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    ev.update(level=level, model=model, keys=keys, matches=f.matches, results=f.results, cancelled=f.cancelled)
    if f.outcome != "ok":
        return not_completed(f, "C-FIND failed", ev, abort_causes=_QR_ABORT,
                             no_context_causes=("service-not-supported", "abstract-syntax-not-supported"))
    if f.category in ("success", "cancel"):
        if f.matches == 0:
            return warned(f"C-FIND at {level} level found no matches", ("find-no-matches",), **ev)
        extra = " (cancelled after the maximum asked for)" if f.cancelled else ""
        return passed(f"C-FIND at {level} level returned {f.matches} match{'es' if f.matches != 1 else ''}{extra}",
                      **ev)
    if f.category == "warning":
        return warned(f"C-FIND ended with {_status_text(f)} after {f.matches} matches",
                      status_causes(f.status, "C-FIND"), **ev)
    return failed(f"C-FIND failed: {_status_text(f)}", status_causes(f.status, "C-FIND"), **ev)


def _retrieve_evidence(f: pd.DimseFacts, ev: dict[str, Any]) -> None:
    ev.update(completed=f.completed, failed=f.failed, warning=f.warning, remaining=f.remaining,
              received=f.received, pending_responses=f.pending)


@check("dimse.move", depends=("assoc.ae-title",), title="C-MOVE", timeout=600.0,
       params={"destination": "", "listen_port": 0, "listen_host": "127.0.0.1", "level": "STUDY", "keys": {},
               "model": "", "out": ""})
async def move(ctx: CheckContext) -> CheckResult:
    level = _level(ctx.params.get("level"))
    keys = query_keys(ctx.params.get("keys") or {})
    model = query_model(str(ctx.params.get("model") or ""), level)
    destination = str(ctx.params.get("destination") or ctx.target.calling_ae)
    port = int(ctx.params.get("listen_port") or 0) or None
    out = str(ctx.params.get("out") or "") or None
    f = await pd.move(ctx.target, level, keys, destination, model=model, listen_port=port,
                      listen_host=str(ctx.params.get("listen_host") or "127.0.0.1"), out_dir=out,
                      **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    _retrieve_evidence(f, ev)
    ev.update(destination=destination, listen_port=port, connect_back=f.connect_back, level=level, keys=keys)
    if f.outcome == "local-error":
        return errored(f.detail, **ev)
    if f.outcome != "ok":
        return not_completed(f, "C-MOVE failed", ev, abort_causes=_QR_ABORT,
                             no_context_causes=("service-not-supported", "abstract-syntax-not-supported"))
    listening = port is not None
    counts = f"completed {f.completed or 0}, failed {f.failed or 0}, warning {f.warning or 0}"
    if listening:
        counts += f"; our Storage SCP received {f.received}"
    if f.status == 0xA801:
        return failed(f"C-MOVE: the peer does not know the move destination {destination} ({_status_text(f)})",
                      ("move-destination-unknown",), **ev)
    if f.category in ("failure", "warning") or (f.failed or 0) > 0:
        causes = status_causes(f.status, "C-MOVE")
        nothing_tried = not f.completed and not f.failed and not f.warning and not f.connect_back
        if f.status is not None and 0xC000 <= f.status <= 0xCFFF and nothing_tried:
            # Orthanc 1.10 answers an unknown destination AE with a bare 0xC000 and no sub-operations.
            causes = ("move-destination-unknown",) + causes
        if listening and not f.connect_back:
            causes = ("move-connect-back-failed",) + tuple(c for c in causes if c != "move-connect-back-failed")
            why = f"; the peer never connected back to {destination} on port {port}"
        else:
            why = ""
        result = warned if f.category == "warning" and not (listening and not f.connect_back) else failed
        return result(f"C-MOVE to {destination}: {_status_text(f)} ({counts}){why}", causes, **ev)
    if (f.completed or 0) == 0 and f.received == 0:
        return warned(f"C-MOVE to {destination} matched nothing to send ({counts})", ("find-no-matches",), **ev)
    if listening and f.received < (f.completed or 0):
        return warned(f"C-MOVE to {destination} reports {f.completed} completed but only {f.received} arrived "
                      f"at our Storage SCP", ("move-connect-back-failed",), **ev)
    return passed(f"C-MOVE to {destination} succeeded ({counts})", **ev)


@check("dimse.get", depends=("assoc.ae-title",), title="C-GET", timeout=600.0,
       params={"level": "STUDY", "keys": {}, "model": "", "out": ""})
async def get(ctx: CheckContext) -> CheckResult:
    level = _level(ctx.params.get("level"))
    keys = query_keys(ctx.params.get("keys") or {})
    model = query_model(str(ctx.params.get("model") or ""), level)
    out = str(ctx.params.get("out") or "") or None
    if out is not None and os.path.exists(out) and not os.path.isdir(out):
        raise BadInput(f"--out {out}: exists and is not a folder")
    f = await pd.get(ctx.target, level, keys, model=model, out_dir=out, **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    _retrieve_evidence(f, ev)
    ev.update(level=level, keys=keys, out=out)
    if f.outcome != "ok":
        return not_completed(f, "C-GET failed", ev, abort_causes=_QR_ABORT,
                             no_context_causes=("service-not-supported", "abstract-syntax-not-supported"))
    counts = f"completed {f.completed or 0}, failed {f.failed or 0}, warning {f.warning or 0}; received {f.received}"
    if f.category == "failure" or (f.failed or 0) > 0:
        return failed(f"C-GET: {_status_text(f)} ({counts})", status_causes(f.status, "C-GET"), **ev)
    if f.category == "warning":
        return warned(f"C-GET: {_status_text(f)} ({counts})", status_causes(f.status, "C-GET"), **ev)
    if f.received == 0:
        return warned(f"C-GET matched nothing to send ({counts})", ("find-no-matches",), **ev)
    return passed(f"C-GET received {f.received} instance{'s' if f.received != 1 else ''} ({counts})", **ev)

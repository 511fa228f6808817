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
from .. import judge
from ..context import CheckContext, CheckResult, errored, failed, passed, warned
from ...wording import all_of, count, were
from ..registry import check

def service_kwargs(ctx: CheckContext) -> dict[str, Any]:
    return dict(max_pdu=ctx.options.max_pdu, timeouts=ctx.timeouts, trace=ctx.trace,
                tls_context=ctx.ssl_context())


def _record_violations(ctx: CheckContext, f: pd.DimseFacts) -> None:
    """PDU length violations seen here feed assoc.pdu-length when it runs later. The peer named in the
    A-ASSOCIATE-AC goes to the report unless an assoc.* check already named it (SCU commands run no assoc.*
    check when all is well: one association)."""
    if f.peer and ctx.peer is None:
        from ..model import PeerInfo
        ctx.set_peer(PeerInfo(f.peer.get("implementation_class_uid"), f.peer.get("implementation_version_name"),
                              f.peer.get("max_pdu")))
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
    if f.connect_outcome:
        ev["connect_outcome"] = f.connect_outcome
    ev["associated"] = f.peer is not None  # the A-ASSOCIATE-AC came: a failure after it is the service's
    if f.detail:
        ev["detail"] = f.detail
    if f.violations:
        ev["violations"] = f.violations
    return ev


def _answered(f: pd.DimseFacts) -> bool:
    """Had the peer answered anything of the request (a response, a match, a sub-operation) before it ended?"""
    return bool(f.rtts_ms or f.matches or f.pending or f.received or f.stores or f.completed)


def not_completed(f: pd.DimseFacts, what: str, ev: dict[str, Any], *, prior: judge.Prior | None = None,
                  no_context_causes: tuple[str, ...] = ("no-presentation-context",)) -> CheckResult:
    """The service got no final response: why (shared by every DIMSE check). `prior`: the earlier checks'
    evidence (ctx.prior()), so that a refusal after net.reachable saw the port open is judged as such."""
    if f.outcome == "connect-failed":
        verdict = judge.judge_transport(f.connect_outcome, prior, phase=f.phase)
        if verdict.evidence:
            ev["judgement"] = dict(verdict.evidence)  # which earlier evidence decided the causes
        return failed(f"{what}: the connection failed ({f.connect_outcome}: {f.detail}){verdict.summary_note()}",
                      verdict.causes, **ev)
    if f.outcome == "rejected" and f.reject:
        rj = f.reject
        codes = f"{rj['result']}/{rj['source']}/{rj['reason']} {rj['reason_name']}"
        return failed(f"{what}: the peer rejected the association ({codes})",
                      judge.reject_causes(rj["result"], rj["source"], rj["reason"], prior), **ev)
    if f.outcome == "aborted":
        aborted = bool(f.abort and f.abort.get("source") is not None)
        how = (f"A-ABORT {f.abort.get('source_name') or f.abort.get('source')}, "
               f"{f.abort.get('reason_name') or f.abort.get('reason')}"
               if f.abort and aborted else "the connection was closed")
        verdict = judge.judge_abort(f.abort.get("source") if f.abort else None,
                                    f.abort.get("reason") if f.abort else None, f.phase or "dimse", prior,
                                    service=f.service, answered=_answered(f))
        if f.phase == "association":
            return failed(f"{what}: the peer ended the association request ({how}){verdict.summary_note()}",
                          verdict.causes, **ev)
        when = "right after our request, before any response" if not _answered(f) else \
            f"during the {f.phase or 'DIMSE'} phase"
        return failed(f"{what}: the peer aborted {when} ({how}){verdict.summary_note()}", verdict.causes, **ev)
    if f.outcome == "timeout":
        causes = judge.timeout_causes(f.phase, prior, service=f.service)
        if f.phase == "association":
            return failed(f"{what}: no answer to the A-ASSOCIATE-RQ ({f.detail}); the server may be busy with "
                          f"another client (Orthanc 1.10 serves one at a time) or hung", causes, **ev)
        return failed(f"{what}: no response within the DIMSE timeout ({f.detail})", causes, **ev)
    if f.outcome == "protocol-error":
        return failed(f"{what}: the peer broke the protocol ({f.detail})", judge.violation_causes(f.violation),
                      **ev)
    if f.outcome == "no-context":
        return failed(f"{what}: the peer accepted no presentation context for it ({f.detail})",
                      no_context_causes, **ev)
    return errored(f"{what}: {f.outcome}: {f.detail}", kind="usage" if f.outcome == "listen-failed" else "bug", **ev)


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
        return not_completed(f, "C-ECHO failed", ev, prior=ctx.prior())
    if f.category == "success":
        if len(f.rtts_ms) > 1:
            ev.update(echoes=len(f.rtts_ms), rtt_min_ms=round(min(f.rtts_ms), 1),
                      rtt_max_ms=round(max(f.rtts_ms), 1), rtt_avg_ms=round(sum(f.rtts_ms) / len(f.rtts_ms), 1))
            return passed(f"{len(f.rtts_ms)} C-ECHOs answered {_status_text(f)}, round trip "
                          f"{ev['rtt_min_ms']}-{ev['rtt_max_ms']} ms (average {ev['rtt_avg_ms']})", **ev)
        return passed(f"C-ECHO answered {_status_text(f)} in {f.rtt_ms:.1f} ms", **ev)
    return failed(f"C-ECHO answered {_status_text(f)}", judge.status_causes(f.status, "C-ECHO"), **ev)


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
        problem = _sop_class_problem(path, src.sop_class_uid)
        if problem is not None:
            invalid.append(problem)
            continue
        out.append(src)
    return out, invalid


def _sop_class_problem(path: Path, meta_uid: str | None) -> dict[str, Any] | None:
    """The data set's own SOP Class UID (0008,0016) against the File Meta's (0002,0002): a C-STORE sends the
    data set, so one that lacks it (or disagrees) is broken DICOM a PACS indexes wrongly or rejects, even
    though the File Meta made the request look right. None when they agree."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        ds = dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return None  # load_source read it; what pydicom cannot is not this check's question
    ds_uid = str(ds.get("SOPClassUID") or "").strip() or None
    meta = getattr(ds, "file_meta", None)
    meta_uid = str((meta.get("MediaStorageSOPClassUID") if meta is not None else None) or meta_uid or "").strip()
    causes, which = judge.sop_class_causes(ds_uid, meta_uid or None)
    if not causes:
        return None
    if which == "disagree":
        text = (f"the data set's SOP Class UID (0008,0016) {ds_uid} disagrees with the File Meta's Media Storage "
                f"SOP Class UID (0002,0002) {meta_uid}")
    elif which == "dataset":
        text = (f"the data set has no SOP Class UID (0008,0016); only the File Meta names one "
                f"(Media Storage SOP Class UID (0002,0002) {meta_uid})")
    else:
        text = "neither the data set (0008,0016) nor the File Meta (0002,0002) has a SOP Class UID"
    return {"file": str(path), "problem": text, "missing_in": which, "causes": list(causes),
            "dataset_sop_class_uid": ds_uid, "file_meta_sop_class_uid": meta_uid or None}


def load_sources(paths: list[str], synthetic: int) -> list[Any]:
    """The sendable sources (see collect_sources); the store command calls it to validate before sending."""
    return collect_sources(paths, synthetic)[0]


async def _no_context_judgement(ctx: CheckContext, entry: dict[str, Any], live: bool) -> tuple[tuple[str, ...], str]:
    """No accepted context for an instance: (causes, a clause for the summary), judged from every answer the
    peer gave for its SOP class (judge.store_refusal_causes): this run's matrix, or one small negotiation
    learned only now (`live`: the peer still answers), since a result 3 can mean "not in this transfer
    syntax" (Orthanc 1.10)."""
    from ...net.datasets import uid_name as _uid_name
    from .assoc import SHORT_TS_NAMES, class_answer

    def uid_name(uid: str) -> str:
        return SHORT_TS_NAMES.get(uid) or _uid_name(uid)

    sop = str(entry.get("sop_class_uid") or "")
    learned = await class_answer(ctx, sop) if live and sop else None
    causes, convert = judge.store_refusal_causes(entry.get("context_result"), learned)
    if convert:
        entry["convert_to"] = convert
        only = ", ".join(uid_name(t) for t in (learned.accepted if learned else (convert,)))
        return causes, (f"; the peer accepts {uid_name(sop)} only as {only}: convert the instance to "
                        f"{uid_name(convert)} before sending, or let the peer accept the transfer syntax the "
                        f"instance has")
    if learned is not None and learned.refused and not learned.accepted:
        return causes, f"; the peer refused {uid_name(sop)} with every transfer syntax we tried"
    return causes, ""


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
    # Files the user names win over a playbook's synthetic default (store.yaml: synthetic 1).
    synthetic = 0 if files else (int(ctx.params.get("synthetic") or 0) or 1)
    sources, invalid = collect_sources(files, synthetic)
    base: dict[str, Any] = {"synthetic": bool(synthetic)}
    if invalid:
        base["invalid_files"] = invalid[:pd.KEEP_RESULTS]
    invalid_causes = tuple(dict.fromkeys(c for i in invalid for c in i.get("causes") or ["store-missing-sop-class"]))
    first_problem = f"{Path(invalid[0]['file']).name}: {invalid[0]['problem']}" if invalid else ""
    if not sources:
        which = "the file is" if len(invalid) == 1 else f"all {len(invalid)} files are"
        return failed(f"C-STORE not attempted: {which} broken DICOM that a PACS would index wrongly or reject "
                      f"({first_problem}); nothing was sent", invalid_causes, instances=0, **base)
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
        what = (f"C-STORE stopped after {done} of {count(len(sources), 'instance')}" if f.stores or done
                else "C-STORE failed")
        return not_completed(f, what, ev, prior=ctx.prior(), no_context_causes=("store-missing-sop-class",
                                                              "transfer-syntax-not-supported"))
    if bad is not None:
        learned = ""
        if bad.get("status") is not None:
            causes = judge.status_causes(bad.get("status"), "C-STORE")
        else:
            causes, learned = await _no_context_judgement(ctx, bad, f.outcome == "ok")
            ev["stores"] = f.stores[:pd.KEEP_RESULTS]
        why = _store_why(bad) if bad.get("status") is not None else \
            f"no accepted presentation context for {bad.get('sop_class_uid')} ({bad.get('detail', '')}){learned}"
        ended = "" if f.outcome == "ok" else f"; then the association ended ({f.outcome})"
        return failed(f"C-STORE: {counts['failure']} of {count(len(sources), 'instance')} failed: {why}{ended}", causes,
                      **ev)
    sent = len(f.stores)
    if counts["warning"]:
        w = next(s for s in f.stores if s.get("category") == "warning")
        return warned(f"C-STORE: {counts['warning']} of {count(sent, 'instance')} stored with a warning "
                      f"({_store_why(w)})",
                      judge.status_causes(w.get("status"), "C-STORE"), **ev)
    if invalid:
        return failed(f"C-STORE: {count(sent, 'instance')} stored, but {count(len(invalid), 'file')} "
                      f"{were(len(invalid))} not sent, broken DICOM that a PACS would index wrongly or reject "
                      f"({first_problem})", invalid_causes, **ev)
    return passed(f"C-STORE: {all_of(sent, 'instance')} {were(sent)} stored", **ev)


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

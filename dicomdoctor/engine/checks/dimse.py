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
from ...messages import Text, cat, counted, msg
from ...probes import dimse as pd
from .. import judge
from ..context import CheckContext, CheckResult, errored, failed, passed, warned
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


def not_completed(f: pd.DimseFacts, what: Text, ev: dict[str, Any], *, prior: judge.Prior | None = None,
                  no_context_causes: tuple[str, ...] = ("no-presentation-context",)) -> CheckResult:
    """The service got no final response: why (shared by every DIMSE check). `what` (a message, so that the
    summary translates as a whole) names the service: "C-ECHO failed". `prior`: the earlier checks'
    evidence (ctx.prior()), so that a refusal after net.reachable saw the port open is judged as such.
    `f.detail` is the network layer's own words (an exception's text): quoted as data, like an OS error."""
    if f.outcome == "connect-failed":
        verdict = judge.judge_transport(f.connect_outcome, prior, phase=f.phase)
        if verdict.evidence:
            ev["judgement"] = dict(verdict.evidence)  # which earlier evidence decided the causes
        return failed(msg("{what}: the connection failed ({outcome}: {detail}){note}", what=what,
                          outcome=f.connect_outcome, detail=f.detail, note=verdict.summary_note()),
                      verdict.causes, **ev)
    if f.outcome == "rejected" and f.reject:
        rj = f.reject
        codes = f"{rj['result']}/{rj['source']}/{rj['reason']} {rj['reason_name']}"
        return failed(msg("{what}: the peer rejected the association ({codes})", what=what, codes=codes),
                      judge.reject_causes(rj["result"], rj["source"], rj["reason"], prior), **ev)
    if f.outcome == "aborted":
        aborted = bool(f.abort and f.abort.get("source") is not None)
        how = (msg("A-ABORT {source}, {reason}", source=f.abort.get("source_name") or f.abort.get("source"),
                   reason=f.abort.get("reason_name") or f.abort.get("reason"))
               if f.abort and aborted else msg("the connection was closed"))
        verdict = judge.judge_abort(f.abort.get("source") if f.abort else None,
                                    f.abort.get("reason") if f.abort else None, f.phase or "dimse", prior,
                                    service=f.service, answered=_answered(f))
        if f.phase == "association":
            return failed(msg("{what}: the peer ended the association request ({how}){note}", what=what, how=how,
                              note=verdict.summary_note()), verdict.causes, **ev)
        when = msg("right after our request, before any response") if not _answered(f) else \
            msg("during the {phase} phase", phase=f.phase or "DIMSE")
        return failed(msg("{what}: the peer aborted {when} ({how}){note}", what=what, when=when, how=how,
                          note=verdict.summary_note()), verdict.causes, **ev)
    if f.outcome == "timeout":
        causes = judge.timeout_causes(f.phase, prior, service=f.service)
        if f.phase == "association":
            return failed(msg("{what}: no answer to the A-ASSOCIATE-RQ ({detail}); the server may be busy with "
                              "another client (Orthanc 1.10 serves one at a time) or hung", what=what,
                              detail=f.detail), causes, **ev)
        return failed(msg("{what}: no response within the DIMSE timeout ({detail})", what=what, detail=f.detail),
                      causes, **ev)
    if f.outcome == "protocol-error":
        return failed(msg("{what}: the peer broke the protocol ({detail})", what=what, detail=f.detail),
                      judge.violation_causes(f.violation), **ev)
    if f.outcome == "no-context":
        return failed(msg("{what}: the peer accepted no presentation context for it ({detail})", what=what,
                          detail=f.detail), no_context_causes, **ev)
    return errored(msg("{what}: {outcome}: {detail}", what=what, outcome=f.outcome, detail=f.detail),
                   kind="usage" if f.outcome == "listen-failed" else "bug", **ev)


def _status_text(f: pd.DimseFacts) -> Text:
    """"0xA700 Out of Resources (Error Comment: ...)": the code and the standard's name are data; the Error
    Comment is the peer's text."""
    hexcode: Text = f.response.get("status_hex") or (f"0x{f.status:04X}" if f.status is not None
                                                       else msg("no status"))
    name = (f.status_name or "").rstrip()
    text: Text = msg("{code} {name}", code=hexcode, name=name) if name else hexcode
    if f.response.get("error_comment"):
        text = cat(text, msg(" (Error Comment: {comment})", comment=f.response["error_comment"]))
    return text


# --------------------------------------------------------------------------------------------- dimse.echo

@check("dimse.echo", depends=("assoc.ae-title",), title="C-ECHO", timeout=60.0, params={"repeat": 1})
async def echo(ctx: CheckContext) -> CheckResult:
    repeat = max(1, int(ctx.params.get("repeat") or 1))
    f = await pd.echo(ctx.target, repeat, **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    if f.outcome != "ok":
        return not_completed(f, msg("C-ECHO failed"), ev, prior=ctx.prior())
    if f.category == "success":
        if len(f.rtts_ms) > 1:
            ev.update(echoes=len(f.rtts_ms), rtt_min_ms=round(min(f.rtts_ms), 1),
                      rtt_max_ms=round(max(f.rtts_ms), 1), rtt_avg_ms=round(sum(f.rtts_ms) / len(f.rtts_ms), 1))
            return passed(msg("{n} C-ECHOs answered {status}, round trip {low}-{high} ms (average {avg})",
                              n=len(f.rtts_ms), status=_status_text(f), low=ev["rtt_min_ms"],
                              high=ev["rtt_max_ms"], avg=ev["rtt_avg_ms"]), **ev)
        return passed(msg("C-ECHO answered {status} in {ms:.1f} ms", status=_status_text(f), ms=f.rtt_ms), **ev)
    return failed(msg("C-ECHO answered {status}", status=_status_text(f)), judge.status_causes(f.status, "C-ECHO"),
                  **ev)


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
            raise BadInput(msg("{path}: no such file or folder", path=p))
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
        raise BadInput(msg("nothing to store: the folders given hold no files"))
    out, invalid = [], []
    for path in files:
        try:
            src = load_source(path)
        except (SourceError, OSError, ValueError) as exc:
            if "SOP Class UID" in str(exc) or "SOP Instance UID" in str(exc):
                invalid.append({"file": str(path), "problem": str(exc)})
                continue
            raise BadInput(msg("{path}: not a DICOM file we can send ({error})", path=str(path),
                               error=str(exc))) from None
        missing = [name for name, v in (("SOP Class UID", src.sop_class_uid),
                                        ("SOP Instance UID", src.sop_instance_uid)) if not str(v or "").strip()]
        if missing:
            invalid.append({"file": str(path), "problem": str(_missing_text(missing))})
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
    return {"file": str(path), "problem": str(_sop_class_text(which, ds_uid, meta_uid)), "missing_in": which,
            "causes": list(causes), "dataset_sop_class_uid": ds_uid, "file_meta_sop_class_uid": meta_uid or None}


# The evidence keeps a file's problem in English (`problem`); the summary quotes it as a message, rebuilt from
# the entry's facts by these two, so that it reads in the run's language.

def _missing_text(missing: list[str]) -> Text:
    """"no SOP Class UID and no SOP Instance UID": `missing` holds the attributes' names (data)."""
    if len(missing) == 1:
        return msg("no {attribute}", attribute=missing[0])
    return msg("no {first} and no {second}", first=missing[0], second=missing[1])


def _sop_class_text(which: str | None, ds_uid: str | None, meta_uid: str | None) -> Text:
    if which == "disagree":
        return msg("the data set's SOP Class UID (0008,0016) {dataset_uid} disagrees with the File Meta's Media "
                   "Storage SOP Class UID (0002,0002) {meta_uid}", dataset_uid=ds_uid, meta_uid=meta_uid)
    if which == "dataset":
        return msg("the data set has no SOP Class UID (0008,0016); only the File Meta names one (Media Storage "
                   "SOP Class UID (0002,0002) {meta_uid})", meta_uid=meta_uid)
    return msg("neither the data set (0008,0016) nor the File Meta (0002,0002) has a SOP Class UID")


_MISSING_ATTRIBUTES = (["SOP Class UID"], ["SOP Instance UID"], ["SOP Class UID", "SOP Instance UID"])


def _problem_text(entry: Mapping[str, Any]) -> Text:
    """An invalid file's problem as a message (the reader of a local file's text: as it is)."""
    if "missing_in" in entry:
        return _sop_class_text(entry["missing_in"], entry.get("dataset_sop_class_uid"),
                               entry.get("file_meta_sop_class_uid") or "")
    problem = str(entry.get("problem") or "")
    for missing in _MISSING_ATTRIBUTES:
        text = _missing_text(missing)
        if str(text) == problem:
            return text
    return problem


def load_sources(paths: list[str], synthetic: int) -> list[Any]:
    """The sendable sources (see collect_sources); the store command calls it to validate before sending."""
    return collect_sources(paths, synthetic)[0]


async def _no_context_judgement(ctx: CheckContext, entry: dict[str, Any],
                                live: bool) -> tuple[tuple[str, ...], Text]:
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
        return causes, msg("; the peer accepts {sop_class} only as {accepted}: convert the instance to "
                           "{convert_to} before sending, or let the peer accept the transfer syntax the instance "
                           "has", sop_class=uid_name(sop), accepted=only, convert_to=uid_name(convert))
    if learned is not None and learned.refused and not learned.accepted:
        return causes, msg("; the peer refused {sop_class} with every transfer syntax we tried",
                           sop_class=uid_name(sop))
    return causes, ""


def _store_why(entry: dict[str, Any]) -> Text:
    why: Text = f"{entry.get('status_hex') or ''} {entry.get('status_name') or ''}".strip()
    if entry.get("error_comment"):
        why = cat(why, msg(" (Error Comment: {comment})", comment=entry["error_comment"]))
    if entry.get("offending_elements"):
        why = cat(why, msg(" (Offending Element: {elements})", elements=", ".join(
            o.get("keyword") or o.get("tag", "") for o in entry["offending_elements"])))
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
    first_problem = msg("{file}: {problem}", file=Path(invalid[0]["file"]).name,
                        problem=_problem_text(invalid[0])) if invalid else ""
    if not sources:
        if len(invalid) == 1:
            text = msg("C-STORE not attempted: the file is broken DICOM that a PACS would index wrongly or reject "
                       "({problem}); nothing was sent", problem=first_problem)
        else:
            text = msg("C-STORE not attempted: all {n} files are broken DICOM that a PACS would index wrongly or "
                       "reject ({problem}); nothing was sent", n=len(invalid), problem=first_problem)
        return failed(text, invalid_causes, instances=0, **base)
    f = await pd.store(ctx.target, sources, **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    ev.update(base)
    counts = {c: sum(1 for s in f.stores if s.get("category") == c) for c in ("success", "warning", "failure")}
    ev.update(instances=len(sources), completed=counts["success"], warning=counts["warning"],
              failed=counts["failure"], stores=f.stores[:pd.KEEP_RESULTS])
    bad = next((s for s in f.stores if s.get("category") == "failure"), None)
    total = _instances(len(sources))
    if f.outcome != "ok" and bad is None:
        # The association ended under us (abort, timeout, closed): the one diagnosis shared by all services.
        done = counts["success"] + counts["warning"]
        what = (msg("C-STORE stopped after {done} of {total}", done=done, total=total) if f.stores or done
                else msg("C-STORE failed"))
        return not_completed(f, what, ev, prior=ctx.prior(), no_context_causes=("store-missing-sop-class",
                                                              "transfer-syntax-not-supported"))
    if bad is not None:
        learned: Text = ""
        if bad.get("status") is not None:
            causes = judge.status_causes(bad.get("status"), "C-STORE")
        else:
            causes, learned = await _no_context_judgement(ctx, bad, f.outcome == "ok")
            ev["stores"] = f.stores[:pd.KEEP_RESULTS]
        why = _store_why(bad) if bad.get("status") is not None else \
            msg("no accepted presentation context for {sop_class} ({detail}){learned}",
                sop_class=bad.get("sop_class_uid"), detail=bad.get("detail", ""), learned=learned)
        ended = "" if f.outcome == "ok" else msg("; then the association ended ({outcome})", outcome=f.outcome)
        return failed(msg("C-STORE: {failed} of {total} failed: {why}{ended}", failed=counts["failure"], total=total,
                          why=why, ended=ended), causes, **ev)
    sent = len(f.stores)
    if counts["warning"]:
        w = next(s for s in f.stores if s.get("category") == "warning")
        return warned(msg("C-STORE: {warned} of {total} stored with a warning ({why})", warned=counts["warning"],
                          total=_instances(sent), why=_store_why(w)),
                      judge.status_causes(w.get("status"), "C-STORE"), **ev)
    if invalid:
        if len(invalid) == 1:
            text = msg("C-STORE: {stored} stored, but {n} file was not sent, broken DICOM that a PACS would index "
                       "wrongly or reject ({problem})", stored=_instances(sent), n=len(invalid),
                       problem=first_problem)
        else:
            text = msg("C-STORE: {stored} stored, but {n} files were not sent, broken DICOM that a PACS would "
                       "index wrongly or reject ({problem})", stored=_instances(sent), n=len(invalid),
                       problem=first_problem)
        return failed(text, invalid_causes, **ev)
    if sent == 1:
        return passed(msg("C-STORE: the 1 instance was stored"), **ev)
    if sent == 2:
        return passed(msg("C-STORE: both instances were stored"), **ev)
    return passed(msg("C-STORE: all {n} instances were stored", n=sent), **ev)


def _instances(n: int) -> Text:
    return counted(n, "{n} instance", "{n} instances")


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
                raise BadInput(msg("query key {item!r} is not Key=Value", item=item))
            k, v = item.split("=", 1)
            pairs[k.strip()] = v
        keys = pairs
    if not isinstance(keys, Mapping):
        raise BadInput(msg("query keys must be a mapping of keyword to value, not {type}", type=type(keys).__name__))
    for k in keys:
        if tag_for_keyword(str(k)) is None:
            raise BadInput(msg("unknown DICOM keyword {keyword!r} in the query keys (e.g. PatientID, StudyInstanceUID)",
                               keyword=k))
    return {str(k): ("" if v is None else v) for k, v in keys.items()}


def query_model(model: str, level: str) -> str:
    if model:
        return model
    return "patient" if level.upper() == "PATIENT" else "study"


def _level(value: Any) -> str:
    level = str(value or "STUDY").upper()
    if level not in ("PATIENT", "STUDY", "SERIES", "IMAGE"):
        raise BadInput(msg("Q/R level {value!r} is not one of PATIENT, STUDY, SERIES, IMAGE", value=value))
    return level

"""Judgement of the DIMSE workflow services: mwl.find (Modality Worklist), mpps.cycle (MPPS N-CREATE +
N-SET), commitment.request (Storage Commitment N-ACTION + N-EVENT-REPORT). Facts from probes/workflow.py;
causes from engine/judge.py (its workflow section) and the knowledge base.

Summaries name keywords and statuses, never values: a patient's name stays in the evidence, under its
keyword, where the reports redact it unless --show-phi.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...errors import BadInput
from ...probes import workflow as pw
from .. import judge
from ..context import CheckContext, CheckResult, failed, passed, skipped, warned
from ..registry import check
from .dimse import _base_evidence, _record_violations, _status_text, not_completed, query_keys, service_kwargs


# ------------------------------------------------------------------------------------------------- mwl.find

def worklist_query(params: Mapping[str, Any]) -> dict[str, Any]:
    """The check's params -> MWL keys: `station_ae`, `modality`, `date` pin the Scheduled Procedure Step
    (empty = any); `keys` adds or overrides any key (bad keywords are bad input)."""
    keys: dict[str, Any] = {}
    for param, kw in (("station_ae", "ScheduledStationAETitle"), ("modality", "Modality"),
                      ("date", "ScheduledProcedureStepStartDate")):
        value = str(params.get(param) or "").strip()
        if value:
            keys[kw] = value
    keys.update(query_keys(params.get("keys") or {}))
    date = str(keys.get("ScheduledProcedureStepStartDate") or "")
    if date and not all(part.strip().lower() == "today" or (part.isdigit() and len(part) == 8) or part == ""
                        for part in date.split("-")):
        raise BadInput(f"worklist date {date!r}: give YYYYMMDD, a range YYYYMMDD-YYYYMMDD, or today")
    return keys


def _pinned(keys: Mapping[str, Any]) -> list[str]:
    return [k for k in judge.WORKLIST_PINS if str(keys.get(k) or "").strip() not in ("", "*")]


_PIN_WORDS = {"ScheduledStationAETitle": "the Scheduled Station AE Title",
              "ScheduledProcedureStepStartDate": "the Scheduled Procedure Step Start Date",
              "Modality": "the Modality"}


@check("mwl.find", depends=("assoc.ae-title",), title="Modality Worklist C-FIND", timeout=120.0,
       params={"station_ae": "", "modality": "", "date": "today", "keys": {}, "relax": True})
async def mwl_find(ctx: CheckContext) -> CheckResult:
    keys = worklist_query(ctx.params)
    wf = await pw.worklist(ctx.target, keys, relax=bool(ctx.params.get("relax", True)), **service_kwargs(ctx))
    f, extra = wf.dimse, wf.extra
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    ev.update(keys=keys, matches=f.matches, pinned=_pinned(keys))
    for key in ("keys_asked", "keys_returned", "keys_empty", "character_sets", "non_ascii", "undecodable",
                "relaxed", "entries"):
        if key in extra:
            ev[key] = extra[key]
    if f.outcome != "ok":
        return not_completed(f, "Modality Worklist C-FIND failed", ev, prior=ctx.prior(),
                             no_context_causes=("worklist-not-supported", "service-not-supported"))
    if f.category not in ("success", "cancel"):
        causes = judge.status_causes(f.status, "C-FIND")
        if f.category == "warning":
            return warned(f"Modality Worklist C-FIND ended with {_status_text(f)}", causes, **ev)
        return failed(f"Modality Worklist C-FIND failed: {_status_text(f)}", causes, **ev)
    suspects = judge.worklist_suspects(extra.get("relaxed") or [])
    missing = judge.worklist_missing_keys(extra.get("keys_returned") or [], extra.get("keys_asked") or []) \
        if f.matches else []
    charset = judge.charset_problem(extra.get("character_sets") or [], extra.get("non_ascii") or [],
                                    extra.get("undecodable") or [])
    causes = judge.worklist_causes(matches=f.matches, suspects=suspects, missing=missing, charset=charset)
    ev.update(suspects=suspects, missing_keys=missing, charset_problem=charset or None)
    parts: list[str] = []
    if f.matches == 0:
        pinned = ev["pinned"]
        if suspects:
            back = next((r["matches"] for r in extra.get("relaxed") or [] if r["without"] == suspects[0]), 0)
            words = " and ".join(_PIN_WORDS.get(k, k) for k in suspects[0].split("+"))
            which = "entry matches" if back == 1 else "entries match"
            parts.append(f"the worklist is empty for this query, but {back} {which} "
                         f"without {words}: the entries are scheduled for another value of it")
        elif pinned:
            parts.append("the worklist is empty, even without the pinned " +
                         ", ".join(_PIN_WORDS.get(k, k).removeprefix("the ") for k in pinned) +
                         ": nothing is scheduled for this called AE title")
        else:
            parts.append("the worklist is empty: nothing is scheduled for this called AE title")
    else:
        parts.append(f"{f.matches} worklist entr{'y' if f.matches == 1 else 'ies'} returned")
    if charset == "undeclared":
        parts.append(f"non-ASCII text in {', '.join(extra.get('non_ascii') or [])} without a Specific Character Set")
    elif charset == "undecodable":
        parts.append(f"{', '.join(extra.get('undecodable') or [])} cannot be decoded in the declared character set "
                     f"{', '.join(c for c in extra.get('character_sets') or [] if c) or '(none)'}")
    if missing:
        parts.append(f"no value for {', '.join(missing)} in any entry")
    summary = "Modality Worklist C-FIND: " + "; ".join(parts)
    if causes:
        return warned(summary, causes, **ev)
    return passed(summary, **ev)


# ----------------------------------------------------------------------------------------------- mpps.cycle

MPPS_FINALS = ("COMPLETED", "DISCONTINUED")


def _mpps_why(step: Mapping[str, Any]) -> str:
    why = f"{step.get('status_hex') or ''} {step.get('status_name') or ''}".strip() or "no status"
    if step.get("error_comment"):
        why += f" (Error Comment: {step['error_comment']})"
    if step.get("offending_elements"):
        why += " (Offending Element: " + ", ".join(o.get("keyword") or o.get("tag", "")
                                                   for o in step["offending_elements"]) + ")"
    if step.get("attributes"):
        why += " (Attribute Identifier List: " + ", ".join(o.get("keyword") or o.get("tag", "")
                                                          for o in step["attributes"]) + ")"
    return why


def _aborted_request(f: Any, ev: dict[str, Any], ctx: CheckContext, what: str, request: str, own: str,
                     note: str) -> CheckResult:
    """The peer aborted right after `request`, before answering it: a refusal without a status."""
    ab = f.abort or {}
    how = (f"A-ABORT {ab.get('source_name') or ab.get('source')}, {ab.get('reason_name') or ab.get('reason')}"
           if ab.get("source") is not None else "the connection was closed")
    ev["waiting_for"] = request
    causes = judge.request_abort_causes(own, ab.get("source"), ab.get("reason"), ctx.prior(), service=request.lower())
    return failed(f"{what}: the peer aborted right after our {request}-RQ instead of answering it ({how}); {note}",
                  causes, **ev)


def _left(state: Any) -> str:
    return "no step was created" if state in (None, "none") else f"the step is left {state}"


def judge_mpps(wf: pw.WorkflowFacts, ctx: CheckContext, what: str) -> CheckResult:
    """The facts of probes.workflow.mpps -> a finding (shared by mpps.cycle and the workflow chain)."""
    f, extra = wf.dimse, wf.extra
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    steps = extra.get("steps") or []
    ev.update(sop_instance_uid=extra.get("sop_instance_uid"), steps=steps, state=extra.get("state"),
              statuses=[s.get("status") for s in steps])
    if f.outcome != "ok":
        waiting = extra.get("waiting_for")
        if f.outcome == "timeout" and waiting:
            ev["waiting_for"] = waiting
            causes = judge.no_response_causes("mpps-no-response", f.phase, ctx.prior(), service=waiting.lower())
            return failed(f"{what}: no response to the {waiting}-RQ within the DIMSE timeout ({f.detail}); "
                          f"{_left(extra.get('state'))}", causes, **ev)
        if f.outcome == "aborted" and waiting and f.phase != "association":
            return _aborted_request(f, ev, ctx, what, waiting, "mpps-refused", _left(extra.get("state")))
        return not_completed(f, f"{what} failed", ev, prior=ctx.prior(),
                             no_context_causes=("mpps-not-supported", "service-not-supported"))
    last = steps[-1] if steps else {}
    if last.get("category") not in ("success", "warning"):
        op = str(last.get("operation") or "")
        causes = judge.workflow_status_causes(last.get("status"), op.lower(), "mpps-refused")
        return failed(f"{what}: the {op} was refused: {_mpps_why(last)}; {_left(extra.get('state'))}",
                      causes, **ev)
    done = " then ".join(f"{s['operation']} {s.get('status_hex') or ''}".strip() for s in steps)
    warn = next((s for s in steps if s.get("category") == "warning"), None)
    if warn is not None:
        return warned(f"{what}: {done}, with a warning ({_mpps_why(warn)}); state {extra.get('state')}",
                      judge.status_causes(warn.get("status"), str(warn.get("operation") or "").lower()), **ev)
    return passed(f"{what}: {done}; the step reached {extra.get('state')}", **ev)


@check("mpps.cycle", depends=("assoc.ae-title",), title="MPPS N-CREATE + N-SET", timeout=120.0, writes=True,
       params={"final": "COMPLETED"})
async def mpps_cycle(ctx: CheckContext) -> CheckResult:
    final = str(ctx.params.get("final") or "COMPLETED").upper()
    if final not in MPPS_FINALS:
        raise BadInput(f"mpps.cycle final {final!r}: give COMPLETED or DISCONTINUED")
    wf = await pw.mpps(ctx.target, stage="cycle", final=final, **service_kwargs(ctx))
    return judge_mpps(wf, ctx, "MPPS")


# ---------------------------------------------------------------------------------------- commitment.request

def _sources(ctx: CheckContext) -> list[Any]:
    from .dimse import collect_sources

    files = [str(p) for p in ctx.params.get("files") or []]
    synthetic = 0 if files else (int(ctx.params.get("synthetic") or 0) or 1)
    sources, _invalid = collect_sources(files, synthetic)
    if not sources:
        raise BadInput("storage commitment: none of the files given can be sent (no SOP Class / Instance UID)")
    return sources


def judge_commitment(wf: pw.WorkflowFacts, ctx: CheckContext, what: str) -> CheckResult:
    """The facts of probes.workflow.commitment -> a finding (commitment.request and the workflow chain)."""
    f, extra = wf.dimse, wf.extra
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    report = extra.get("report")
    ev.update(transaction_uid=extra.get("transaction_uid"), requested=extra.get("requested"),
              report_received=report is not None, listening=extra.get("listening"),
              listener_connections=extra.get("listener_connections"), report_ms=extra.get("report_ms"),
              stored=len(extra.get("stores") or []))
    if extra.get("action"):
        ev["action"] = extra["action"]
    if report is not None:
        ev.update(success=report["success"], failed=report["failed"], failed_items=report["failed_items"],
                  report_via=report["via"], event_type_id=report["event_type_id"])
    action = extra.get("action")
    if f.outcome == "listen-failed":
        return not_completed(f, what, ev)
    if action is None:
        if f.outcome == "timeout" and extra.get("waiting_for"):
            return failed(f"{what}: no response to the N-ACTION-RQ within the DIMSE timeout ({f.detail})",
                          judge.no_response_causes("commitment-no-report", f.phase, ctx.prior(), service="n-action"),
                          **ev)
        if f.outcome == "aborted" and extra.get("waiting_for") == "N-ACTION" and f.phase != "association":
            return _aborted_request(f, ev, ctx, what, "N-ACTION", "commitment-refused",
                                    "an archive that cannot report to our AE title often refuses so")
        if f.outcome == "no-context" and extra.get("waiting_for") == "N-ACTION":
            return failed(f"{what}: the peer accepted no presentation context for Storage Commitment Push Model "
                          f"({f.detail})", ("commitment-not-supported", "service-not-supported"), **ev)
        if extra.get("store_failed"):
            last = (extra.get("stores") or [{}])[-1]
            return failed(f"{what} not requested: the C-STORE before it failed ({_status_text(f)})",
                          judge.status_causes(last.get("status"), "C-STORE"), **ev)
        if f.outcome != "ok":
            return not_completed(f, f"{what} failed", ev, prior=ctx.prior(),
                                 no_context_causes=("store-missing-sop-class", "transfer-syntax-not-supported"))
    if action is not None and action.get("category") not in ("success", "warning"):
        causes = judge.workflow_status_causes(action.get("status"), "n-action", "commitment-refused")
        return failed(f"{what}: the N-ACTION was refused: {_mpps_why(action)}", causes, **ev)
    causes = judge.commitment_causes(report_received=report is not None, failed=int((report or {}).get("failed") or 0),
                                     listener_connected=bool(extra.get("listener_connections"))
                                     if extra.get("listening") else None, listening=bool(extra.get("listening")))
    n = extra.get("requested") or 0
    if report is None:
        wait = ctx.params.get("wait") or "the DIMSE timeout"
        if extra.get("listening") and not extra.get("listener_connections"):
            how = (f"and it never connected to our listener on port {ctx.params.get('listen_port')} (it does not know "
                   f"our AE title {ctx.target.calling_ae}, or cannot reach this host)")
        elif extra.get("listening"):
            how = f"though it associated to our listener (as {', '.join(extra['listener_connections'])})"
        else:
            how = "on this association (give --listen PORT if it reports on a new one)"
        return failed(f"{what}: the N-ACTION was accepted but no N-EVENT-REPORT came within {wait} s, {how}",
                      causes, **ev)
    if report["failed"]:
        first = report["failed_items"][0] if report["failed_items"] else {}
        return failed(f"{what}: {report['failed']} of {n} instance(s) not committed (first: "
                      f"{first.get('failure_reason_hex')} {first.get('reason_name')})", causes, **ev)
    return passed(f"{what}: all {report['success']} of {n} instance(s) committed (report via {report['via']}, "
                  f"event type {report.get('event_type_id')}, after {extra.get('report_ms')} ms)", **ev)


def _wait(ctx: CheckContext) -> float:
    wait = float(ctx.params.get("wait") or 0)
    return wait if wait > 0 else float(ctx.timeouts.dimse or 30.0)


@check("commitment.request", depends=("assoc.ae-title",), title="Storage Commitment", timeout=300.0, writes=True,
       params={"files": [], "synthetic": 0, "store": True, "listen_port": 0, "listen_host": "127.0.0.1",
               "wait": 0.0})
async def commitment_request(ctx: CheckContext) -> CheckResult:
    sources = _sources(ctx)
    wf = await pw.commitment(ctx.target, sources, store=bool(ctx.params.get("store", True)),
                             listen_port=int(ctx.params.get("listen_port") or 0),
                             listen_host=str(ctx.params.get("listen_host") or "127.0.0.1"), wait=_wait(ctx),
                             **service_kwargs(ctx))
    return judge_commitment(wf, ctx, "Storage Commitment")


# --------------------------------------------------------------------------------------- assoc.user-identity

def _secret(params: Mapping[str, Any], file_key: str, env_key: str, what: str) -> bytes:
    """A passcode or token from a file or an environment variable (never from the command line or a
    playbook in clear, and never printed). Missing or unreadable: bad input naming the file or variable."""
    import os
    from pathlib import Path

    path = str(params.get(file_key) or "")
    env = str(params.get(env_key) or "")
    if path:
        try:
            return Path(path).expanduser().read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise BadInput(f"{what} file {path}: {exc.strerror or exc}") from None
    if env:
        value = os.environ.get(env)
        if value is None:
            raise BadInput(f"{what}: the environment variable {env} is not set")
        return value.encode("utf-8")
    return b""


def identity_from_params(params: Mapping[str, Any]) -> tuple[int, bytes, bytes]:
    """(identity type, primary field, secondary field) from the check's params; type 0 = none configured."""
    kind = str(params.get("type") or "").strip().lower()
    username = str(params.get("username") or "").encode("utf-8")
    passcode = _secret(params, "passcode_file", "passcode_env", "user identity passcode")
    token = _secret(params, "token_file", "token_env", "user identity token")
    if not kind:
        kind = "jwt" if token else ("username-passcode" if passcode else ("username" if username else ""))
    if not kind:
        return 0, b"", b""
    if kind not in pw.IDENTITY_TYPES:
        raise BadInput(f"user identity type {kind!r}: give one of {', '.join(pw.IDENTITY_TYPES)}")
    code = pw.IDENTITY_TYPES[kind]
    if code in (1, 2) and not username:
        raise BadInput(f"user identity type {kind}: give a username")
    if code == 2 and not passcode:
        raise BadInput("user identity type username-passcode: give passcode_file or passcode_env")
    if code in (3, 4, 5) and not token:
        raise BadInput(f"user identity type {kind}: give token_file or token_env (the ticket, assertion or JWT)")
    if code in (3, 4, 5):
        return code, token, b""
    return code, username, passcode if code == 2 else b""


_TYPE_NAMES = {1: "a user name", 2: "a user name and passcode", 3: "a Kerberos ticket", 4: "a SAML assertion",
               5: "a JWT"}


def _how(attempt: Mapping[str, Any]) -> str:
    if attempt.get("outcome") == "rejected":
        rj = attempt.get("reject") or {}
        codes = f"{rj.get('result')}/{rj.get('source')}/{rj.get('reason')}"
        return f"rejected ({codes} {rj.get('reason_name', '')})".strip()
    if attempt.get("outcome") == "aborted":
        ab = attempt.get("abort") or {}
        return f"aborted ({ab.get('source_name') or 'connection closed'})"
    return str(attempt.get("outcome"))


@check("assoc.user-identity", depends=("net.reachable",), title="User identity negotiation", timeout=60.0,
       params={"type": "", "username": "", "passcode_file": "", "passcode_env": "", "token_file": "",
               "token_env": "", "positive_response": True, "compare": True})
async def user_identity(ctx: CheckContext) -> CheckResult:
    code, primary, secondary = identity_from_params(ctx.params)
    positive = bool(ctx.params.get("positive_response", True))
    facts = await pw.user_identity(ctx.target, code, primary, secondary, positive_response=positive,
                                   compare=bool(ctx.params.get("compare", True)), max_pdu=ctx.options.max_pdu,
                                   timeouts=ctx.timeouts, trace=ctx.trace, tls_context=ctx.ssl_context())
    w, wo = facts.get("with_identity"), facts.get("without_identity")
    ev: dict[str, Any] = {"type_proposed": None if facts["dummy"] else facts["identity_type"],
                          "positive_response_requested": positive, "dummy": facts["dummy"],
                          "with_identity": w, "without_identity": wo,
                          "positive_response": bool(w and w.get("server_response"))}
    decoy = facts.get("decoy")
    if decoy is not None:
        ev["decoy"] = decoy
    causes = judge.user_identity_causes(w, wo, positive_response=positive, dummy=facts["dummy"], decoy=decoy)
    if facts["dummy"]:
        if wo and wo.get("outcome") == "accepted":
            return passed("no user identity configured; the peer accepts associations without one", **ev)
        if causes:
            return failed(f"the association without a user identity was {_how(wo or {})}, with a bare user name "
                          f"{_how(w or {})}: the peer wants a user identity (configure one: username and "
                          f"passcode_file, or token_file)", causes, **ev)
        return skipped(f"the association is {_how(wo or {})} with or without a user identity: not an identity "
                       f"problem (assoc.ae-title explains it)", **ev)
    what = _TYPE_NAMES.get(facts["identity_type"], "a user identity")
    w = w or {}
    if w.get("outcome") == "accepted":
        if causes:
            extra = " and without one too" if wo and wo.get("outcome") == "accepted" else ""
            return warned(f"the peer accepted the association with {what}{extra} but sent no User Identity "
                          f"response although we asked for one: it does not check identities (positive response "
                          f"requested, none in the A-ASSOCIATE-AC)", causes, **ev)
        if not positive:
            return passed(f"the peer accepted the association with {what} (no positive response requested)", **ev)
        if decoy is not None:
            return passed(f"the peer accepted {what} and {_how(decoy)} a wrong one: it verifies identities, though "
                          f"it sends no User Identity response (PS3.7 D.3.3.7.2 asks for an empty one)", **ev)
        return passed(f"the peer accepted {what} and confirmed it (User Identity server response, "
                      f"{w.get('server_response_length', 0)} bytes)", **ev)
    if w.get("outcome") in ("rejected", "aborted"):
        if causes:
            without = f"; without one it is {_how(wo)}" if wo else ""
            return failed(f"the association with {what} was {_how(w)}{without}", causes, **ev)
        return skipped(f"the association is {_how(w)} with or without a user identity: not an identity problem "
                       f"(assoc.ae-title explains it)", **ev)
    if w.get("outcome") == "connect-failed":
        return failed(f"user identity not tried: the connection failed ({w.get('detail')})",
                      judge.connect_causes(str(w.get("connect_outcome") or ""), ctx.prior()), **ev)
    return failed(f"user identity not tried: {w.get('outcome')} ({w.get('detail', '')})",
                  judge.timeout_causes("association", ctx.prior()), **ev)


# ------------------------------------------------------------------------------ the IHE Scheduled Workflow chain
# playbooks/workflow.yaml: mwl.find -> workflow.mpps-start -> workflow.store -> workflow.commit ->
# workflow.mpps-complete -> workflow.readback, each depending on the one before, so the report shows the chain
# in order and the steps after a break are skipped naming it. Each step reads what it needs from the evidence of
# the steps before (the worklist entry, the MPPS instance, the stored instance): nothing hidden between them.

def _evidence(ctx: CheckContext, check_id: str) -> Mapping[str, Any]:
    r = ctx.result(check_id)
    return r.evidence if r is not None else {}


def _chain_entry(ctx: CheckContext) -> dict[str, Any]:
    """The worklist entry the chain performs: the first mwl.find match, or {} (a synthetic procedure)."""
    entries = _evidence(ctx, "mwl.find").get("entries") or []
    return dict(entries[0]) if entries else {}


@check("workflow.mpps-start", depends=("mwl.find",), title="Workflow: MPPS IN PROGRESS", timeout=120.0,
       writes=True, params={})
async def chain_mpps_start(ctx: CheckContext) -> CheckResult:
    entry = _chain_entry(ctx)
    wf = await pw.mpps(ctx.target, stage="create", entry=entry or None, **service_kwargs(ctx))
    from dataclasses import replace

    result = judge_mpps(wf, ctx, "MPPS N-CREATE (IN PROGRESS)")
    return replace(result, evidence={**result.evidence, "study_instance_uid": entry.get("StudyInstanceUID") or None,
                                     "from_worklist": bool(entry)})


@check("workflow.store", depends=("workflow.mpps-start",), title="Workflow: store an instance", timeout=300.0,
       writes=True, params={})
async def chain_store(ctx: CheckContext) -> CheckResult:
    from pydicom.uid import generate_uid

    from ...net.datasets import load_source
    from ...probes import dimse as pd
    from ...synthetic import file_meta_for, make_instance

    entry = _chain_entry(ctx)
    study = str(_evidence(ctx, "workflow.mpps-start").get("study_instance_uid") or entry.get("StudyInstanceUID")
                or generate_uid())
    ds = make_instance("SC", 32, 32, patient_id=str(entry.get("PatientID") or "DD-TEST-WF"), study_uid=study,
                       accession_number=str(entry.get("AccessionNumber") or "DDTEST"))
    ds.file_meta = file_meta_for(ds)
    source = load_source(ds)
    f = await pd.store(ctx.target, [source], **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    ev.update(sop_class_uid=source.sop_class_uid, sop_instance_uid=source.sop_instance_uid, study_instance_uid=study,
              series_instance_uid=str(ds.SeriesInstanceUID), stores=f.stores)
    bad = next((s for s in f.stores if s.get("category") == "failure"), None)
    if f.outcome != "ok" and bad is None:
        return not_completed(f, "C-STORE failed", ev, prior=ctx.prior(),
                             no_context_causes=("store-missing-sop-class", "transfer-syntax-not-supported"))
    if bad is not None:
        causes = judge.status_causes(bad.get("status"), "C-STORE") if bad.get("status") is not None else \
            ("store-missing-sop-class",)
        return failed(f"C-STORE of the performed instance failed: {_mpps_why(bad)}", causes, **ev)
    return passed(f"C-STORE of one synthetic instance of the performed study: {_status_text(f)}", **ev)


@check("workflow.commit", depends=("workflow.store",), title="Workflow: storage commitment", timeout=300.0,
       writes=True, params={"listen_port": 0, "listen_host": "127.0.0.1", "wait": 0.0})
async def chain_commit(ctx: CheckContext) -> CheckResult:
    from ...net.datasets import StoreSource

    stored = _evidence(ctx, "workflow.store")
    # Only the two UIDs are read (store=False: the instance was stored by workflow.store)
    ref = StoreSource(sop_class_uid=str(stored.get("sop_class_uid")),
                      sop_instance_uid=str(stored.get("sop_instance_uid")), transfer_syntax=None)
    wf = await pw.commitment(ctx.target, [ref], store=False, listen_port=int(ctx.params.get("listen_port") or 0),
                             listen_host=str(ctx.params.get("listen_host") or "127.0.0.1"), wait=_wait(ctx),
                             **service_kwargs(ctx))
    return judge_commitment(wf, ctx, "Storage Commitment of the performed instance")


@check("workflow.mpps-complete", depends=("workflow.commit",), title="Workflow: MPPS COMPLETED", timeout=120.0,
       writes=True, params={"final": "COMPLETED"})
async def chain_mpps_complete(ctx: CheckContext) -> CheckResult:
    final = str(ctx.params.get("final") or "COMPLETED").upper()
    if final not in MPPS_FINALS:
        raise BadInput(f"workflow.mpps-complete final {final!r}: give COMPLETED or DISCONTINUED")
    started, stored = _evidence(ctx, "workflow.mpps-start"), _evidence(ctx, "workflow.store")
    images = ((str(stored.get("sop_class_uid")), str(stored.get("sop_instance_uid"))),)
    wf = await pw.mpps(ctx.target, stage="set", final=final, instance_uid=str(started.get("sop_instance_uid")),
                       images=images, **service_kwargs(ctx))
    return judge_mpps(wf, ctx, f"MPPS N-SET ({final})")


@check("workflow.readback", depends=("workflow.mpps-complete",), title="Workflow: C-FIND read-back",
       timeout=120.0, params={})
async def chain_readback(ctx: CheckContext) -> CheckResult:
    from ...probes import dimse as pd

    stored = _evidence(ctx, "workflow.store")
    study = str(stored.get("study_instance_uid") or "")
    keys = {"StudyInstanceUID": study, "PatientID": "", "AccessionNumber": ""}
    f = await pd.find(ctx.target, "STUDY", keys, model="study", **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    ev.update(keys=keys, matches=f.matches, results=f.results[:5])
    if f.outcome != "ok":
        return not_completed(f, "C-FIND read-back failed", ev, prior=ctx.prior(),
                             no_context_causes=("service-not-supported", "abstract-syntax-not-supported"))
    if f.category != "success":
        return failed(f"C-FIND read-back failed: {_status_text(f)}", judge.status_causes(f.status, "C-FIND"), **ev)
    if f.matches == 0:
        return failed("C-FIND read-back: the study just stored and committed is not found at STUDY level (indexing "
                      "lags, or stored to another archive than the one queried)", ("find-no-matches",), **ev)
    return passed(f"C-FIND read-back: the performed study is found ({f.matches} match"
                  f"{'' if f.matches == 1 else 'es'})", **ev)

"""Judgement of the DIMSE workflow services: mwl.find (Modality Worklist), mpps.cycle (MPPS N-CREATE +
N-SET), commitment.request (Storage Commitment N-ACTION + N-EVENT-REPORT). Facts from probes/workflow.py;
causes from engine/judge.py (its workflow section) and the knowledge base.

Summaries name keywords and statuses, never values: a patient's name stays in the evidence, under its
keyword, where the reports redact it unless --show-phi.
"""

from __future__ import annotations

import dataclasses

from typing import Any, Mapping

from ...errors import BadInput
from ...messages import Msg, Text, cat, counted, msg
from ...probes import workflow as pw
from ...target import Target, parse_target
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


# The pinned keys by their attribute names (DICOM names: the same in every language).
_PIN_NAMES = {"ScheduledStationAETitle": "Scheduled Station AE Title",
              "ScheduledProcedureStepStartDate": "Scheduled Procedure Step Start Date",
              "Modality": "Modality"}


def _pin_word(key: str) -> Text:
    return msg("the {pin}", pin=_PIN_NAMES[key]) if key in _PIN_NAMES else key


def _clauses(parts: "list[Text]") -> Msg:
    """Clauses of one summary, "; " between them (the separator in the summary's language)."""
    return cat(*parts[:1], *(msg("; {note}", note=p) for p in parts[1:]))


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
        return not_completed(f, msg("Modality Worklist C-FIND failed"), ev, prior=ctx.prior(),
                             no_context_causes=("worklist-not-supported", "service-not-supported"))
    if f.category not in ("success", "cancel"):
        causes = judge.status_causes(f.status, "C-FIND")
        if f.category == "warning":
            return warned(msg("Modality Worklist C-FIND ended with {status}", status=_status_text(f)), causes, **ev)
        return failed(msg("Modality Worklist C-FIND failed: {status}", status=_status_text(f)), causes, **ev)
    suspects = judge.worklist_suspects(extra.get("relaxed") or [])
    missing = judge.worklist_missing_keys(extra.get("keys_returned") or [], extra.get("keys_asked") or []) \
        if f.matches else []
    charset = judge.charset_problem(extra.get("character_sets") or [], extra.get("non_ascii") or [],
                                    extra.get("undecodable") or [])
    # Cancel without our C-CANCEL (this probe sends none): the SCP stopped matching at its limit
    truncated = f.category == "cancel" and not f.cancelled
    causes = judge.worklist_causes(matches=f.matches, suspects=suspects, missing=missing, charset=charset,
                                   truncated=truncated)
    ev.update(suspects=suspects, missing_keys=missing, charset_problem=charset or None, truncated=truncated)
    parts: list[Text] = []
    if f.matches == 0:
        pinned = ev["pinned"]
        if suspects:
            back = next((r["matches"] for r in extra.get("relaxed") or [] if r["without"] == suspects[0]), 0)
            pins = [_pin_word(k) for k in suspects[0].split("+")]
            words = cat(*pins[:1], *(msg(" and {pin}", pin=p) for p in pins[1:]))
            parts.append(msg("the worklist is empty for this query, but {matching} without {words}: the entries "
                             "are scheduled for another value of it",
                             matching=counted(back, "{n} entry matches", "{n} entries match"), words=words))
        elif pinned and not ctx.params.get("relax", True):
            # relax off (the workflow chain): the query was not retried without its pins, so say only what was
            # asked, not that nothing is scheduled at all
            parts.append(msg("the worklist is empty for the pinned {keys} (not retried without them: relax is "
                             "off)", keys=", ".join(_PIN_NAMES.get(k, k) for k in pinned)))
        elif pinned:
            parts.append(msg("the worklist is empty, even without the pinned {keys}: nothing is scheduled for this "
                             "called AE title", keys=", ".join(_PIN_NAMES.get(k, k) for k in pinned)))
        else:
            parts.append(msg("the worklist is empty: nothing is scheduled for this called AE title"))
        station = str(keys.get("ScheduledStationAETitle") or "").strip()
        if judge.worklist_issuer_suspect(station, ctx.target.calling_ae, f.matches, suspects):
            ev["calling_ae_suspect"] = True
            parts.append(msg("our calling AE title {calling} is not the station's ({station}): an SCP that filters "
                             "on the calling AE title (Orthanc FilterIssuerAet) answers it nothing; ask as the "
                             "station (--calling-ae {station})", calling=ctx.target.calling_ae, station=station))
    else:
        parts.append(counted(f.matches, "{n} worklist entry returned", "{n} worklist entries returned"))
    if truncated:
        parts.append(msg("the SCP ended with {status} though we sent no C-CANCEL: it caps its answers and the "
                         "worklist is incomplete", status=_status_text(f)))
    if charset == "undeclared":
        parts.append(msg("non-ASCII text in {keys} without a Specific Character Set",
                         keys=", ".join(extra.get("non_ascii") or [])))
    elif charset == "undecodable":
        undecodable = ", ".join(extra.get("undecodable") or [])
        sets = ", ".join(c for c in extra.get("character_sets") or [] if c)
        parts.append(msg("{keys} cannot be decoded in the declared character set {sets}", keys=undecodable,
                         sets=sets) if sets else
                     msg("{keys} cannot be decoded in the declared character set (none)", keys=undecodable))
    if missing:
        parts.append(msg("no value for {keys} in any entry", keys=", ".join(missing)))
    summary = msg("Modality Worklist C-FIND: {parts}", parts=_clauses(parts))
    if causes:
        return warned(summary, causes, **ev)
    return passed(summary, **ev)


# ----------------------------------------------------------------------------------------------- mpps.cycle

MPPS_FINALS = ("COMPLETED", "DISCONTINUED")


def _mpps_why(step: Mapping[str, Any]) -> Msg:
    status = f"{step.get('status_hex') or ''} {step.get('status_name') or ''}".strip()
    why = cat(status or msg("no status"))
    if step.get("error_comment"):
        why += msg(" (Error Comment: {comment})", comment=step["error_comment"])
    if step.get("offending_elements"):
        why += msg(" (Offending Element: {elements})", elements=", ".join(
            o.get("keyword") or o.get("tag", "") for o in step["offending_elements"]))
    if step.get("attributes"):
        why += msg(" (Attribute Identifier List: {elements})", elements=", ".join(
            o.get("keyword") or o.get("tag", "") for o in step["attributes"]))
    return why


def _aborted_request(f: Any, ev: dict[str, Any], ctx: CheckContext, what: Text, request: str, own: str,
                     note: Text, prior: Any = ...) -> CheckResult:
    """The peer aborted right after `request`, before answering it: a refusal without a status. `prior`:
    ctx.prior() unless given (None for an SCP other than the target: its earlier checks say nothing of it)."""
    ab = f.abort or {}
    ev["waiting_for"] = request
    causes = judge.request_abort_causes(own, ab.get("source"), ab.get("reason"),
                                        ctx.prior() if prior is ... else prior, service=request.lower())
    if ab.get("source") is None:
        return failed(msg("{what}: the peer aborted right after our {request}-RQ instead of answering it (the "
                          "connection was closed); {note}", what=what, request=request, note=note), causes, **ev)
    how = f"A-ABORT {ab.get('source_name') or ab.get('source')}, {ab.get('reason_name') or ab.get('reason')}"
    return failed(msg("{what}: the peer aborted right after our {request}-RQ instead of answering it ({how}); "
                      "{note}", what=what, request=request, how=how, note=note), causes, **ev)


def _left(state: Any) -> Msg:
    return msg("no step was created") if state in (None, "none") else msg("the step is left {state}", state=state)


def mpps_target(ctx: CheckContext, text: str = "") -> Target:
    """The MPPS SCP: `text` or the check's `mpps_target` param ("[AE@]HOST[:PORT]", as the CLI target) when
    MPPS goes to another AE than the rest (a RIS beside the PACS), else the target. Our calling AE title and
    the TLS settings and the user identity stay the target's."""
    text = str(text or ctx.params.get("mpps_target") or "").strip()
    if not text:
        return ctx.target
    try:
        return dataclasses.replace(parse_target(text, calling_ae=ctx.target.calling_ae, tls=ctx.target.tls),
                                   user_identity=ctx.target.user_identity)
    except BadInput as exc:
        raise BadInput(f"mpps_target: {exc}") from None


def judge_mpps(wf: pw.WorkflowFacts, ctx: CheckContext, what: str, target: Target | None = None) -> CheckResult:
    """The facts of probes.workflow.mpps -> a finding (shared by mpps.cycle and the workflow chain). `target`:
    the MPPS SCP when it is not the check's target (the earlier checks then say nothing about it)."""
    f, extra = wf.dimse, wf.extra
    apart = target is not None and target != ctx.target
    if not apart:  # another SCP's peer name and PDU violations are not the target's
        _record_violations(ctx, f)
    ev = _base_evidence(f)
    if apart:
        assert target is not None
        ev["mpps_target"] = target.id
    prior = None if apart else ctx.prior()
    steps = extra.get("steps") or []
    ev.update(sop_instance_uid=extra.get("sop_instance_uid"), steps=steps, state=extra.get("state"),
              statuses=[s.get("status") for s in steps])
    if f.outcome != "ok":
        waiting = extra.get("waiting_for")
        if f.outcome == "timeout" and waiting:
            ev["waiting_for"] = waiting
            causes = judge.no_response_causes("mpps-no-response", f.phase, prior, service=waiting.lower())
            return failed(msg("{what}: no response to the {request}-RQ within the DIMSE timeout ({detail}); {left}",
                              what=what, request=waiting, detail=f.detail, left=_left(extra.get("state"))),
                          causes, **ev)
        if f.outcome == "aborted" and waiting and f.phase != "association":
            return _aborted_request(f, ev, ctx, what, waiting, "mpps-refused", _left(extra.get("state")), prior)
        return not_completed(f, msg("{what} failed", what=what), ev, prior=prior,
                             no_context_causes=("mpps-not-supported", "service-not-supported"))
    last = steps[-1] if steps else {}
    if last.get("category") not in ("success", "warning"):
        op = str(last.get("operation") or "")
        causes = judge.workflow_status_causes(last.get("status"), op.lower(), "mpps-refused")
        return failed(msg("{what}: the {operation} was refused: {why}; {left}", what=what, operation=op,
                          why=_mpps_why(last), left=_left(extra.get("state"))), causes, **ev)
    done_steps = [f"{s['operation']} {s.get('status_hex') or ''}".strip() for s in steps]
    done = cat(*done_steps[:1], *(msg(" then {step}", step=s) for s in done_steps[1:]))
    warn = next((s for s in steps if s.get("category") == "warning"), None)
    if warn is not None:
        return warned(msg("{what}: {done}, with a warning ({why}); state {state}", what=what, done=done,
                          why=_mpps_why(warn), state=extra.get("state")),
                      judge.status_causes(warn.get("status"), str(warn.get("operation") or "").lower()), **ev)
    return passed(msg("{what}: {done}; the step reached {state}", what=what, done=done, state=extra.get("state")),
                  **ev)


@check("mpps.cycle", depends=("assoc.ae-title",), title="MPPS N-CREATE + N-SET", timeout=120.0, writes=True,
       params={"final": "COMPLETED", "mpps_target": ""})
async def mpps_cycle(ctx: CheckContext) -> CheckResult:
    final = str(ctx.params.get("final") or "COMPLETED").upper()
    if final not in MPPS_FINALS:
        raise BadInput(f"mpps.cycle final {final!r}: give COMPLETED or DISCONTINUED")
    target = mpps_target(ctx)
    wf = await pw.mpps(target, stage="cycle", final=final, **service_kwargs(ctx))
    return judge_mpps(wf, ctx, "MPPS", target)


# ---------------------------------------------------------------------------------------- commitment.request

def _sources(ctx: CheckContext) -> list[Any]:
    from .dimse import collect_sources

    files = [str(p) for p in ctx.params.get("files") or []]
    synthetic = 0 if files else (int(ctx.params.get("synthetic") or 0) or 1)
    sources, _invalid = collect_sources(files, synthetic)
    if not sources:
        raise BadInput("storage commitment: none of the files given can be sent (no SOP Class / Instance UID)")
    return sources


def judge_commitment(wf: pw.WorkflowFacts, ctx: CheckContext, what: Text) -> CheckResult:
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
            return failed(msg("{what}: no response to the N-ACTION-RQ within the DIMSE timeout ({detail})", what=what,
                              detail=f.detail),
                          judge.no_response_causes("commitment-no-report", f.phase, ctx.prior(), service="n-action"),
                          **ev)
        if f.outcome == "aborted" and extra.get("waiting_for") == "N-ACTION" and f.phase != "association":
            return _aborted_request(f, ev, ctx, what, "N-ACTION", "commitment-refused",
                                    msg("an archive that cannot report to our AE title often refuses so"))
        if f.outcome == "no-context" and extra.get("waiting_for") == "N-ACTION":
            return failed(msg("{what}: the peer accepted no presentation context for Storage Commitment Push Model "
                              "({detail})", what=what, detail=f.detail),
                          ("commitment-not-supported", "service-not-supported"), **ev)
        if extra.get("store_failed"):
            last = (extra.get("stores") or [{}])[-1]
            return failed(msg("{what} not requested: the C-STORE before it failed ({status})", what=what,
                              status=_status_text(f)),
                          judge.status_causes(last.get("status"), "C-STORE"), **ev)
        if f.outcome != "ok":
            return not_completed(f, msg("{what} failed", what=what), ev, prior=ctx.prior(),
                                 no_context_causes=("store-missing-sop-class", "transfer-syntax-not-supported"))
    if action is not None and action.get("category") not in ("success", "warning"):
        causes = judge.workflow_status_causes(action.get("status"), "n-action", "commitment-refused")
        return failed(msg("{what}: the N-ACTION was refused: {why}", what=what, why=_mpps_why(action)), causes, **ev)
    causes = judge.commitment_causes(report_received=report is not None, failed=int((report or {}).get("failed") or 0),
                                     listener_connected=bool(extra.get("listener_connections"))
                                     if extra.get("listening") else None, listening=bool(extra.get("listening")))
    n = extra.get("requested") or 0
    if report is None:
        wait = ctx.params.get("wait")
        if extra.get("listening") and not extra.get("listener_connections"):
            how = msg("and it never connected to our listener on port {port} (it does not know our AE title "
                      "{calling}, or cannot reach this host)", port=ctx.params.get("listen_port"),
                      calling=ctx.target.calling_ae)
        elif extra.get("listening"):
            how = msg("though it associated to our listener (as {callers})",
                      callers=", ".join(extra["listener_connections"]))
        else:
            how = msg("on this association (give --listen PORT if it reports on a new one)")
        if not wait:
            return failed(msg("{what}: the N-ACTION was accepted but no N-EVENT-REPORT came within the DIMSE "
                              "timeout s, {how}", what=what, how=how), causes, **ev)
        return failed(msg("{what}: the N-ACTION was accepted but no N-EVENT-REPORT came within {wait} s, {how}",
                          what=what, wait=wait, how=how), causes, **ev)
    if report["failed"]:
        first = report["failed_items"][0] if report["failed_items"] else {}
        return failed(msg("{what}: {failed} of {n} instance(s) not committed (first: {reason_hex} {reason_name})",
                          what=what, failed=report["failed"], n=n, reason_hex=first.get("failure_reason_hex"),
                          reason_name=first.get("reason_name")), causes, **ev)
    return passed(msg("{what}: all {success} of {n} instance(s) committed (report via {via}, event type "
                      "{event_type}, after {ms} ms)", what=what, success=report["success"], n=n, via=report["via"],
                      event_type=report.get("event_type_id"), ms=extra.get("report_ms")), **ev)


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
    return judge_commitment(wf, ctx, msg("Storage Commitment"))


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


_IDENTITY_PARAMS = ("type", "username", "passcode_file", "passcode_env", "token_file", "token_env")


def identity_from_params(params: Mapping[str, Any], default: Any = None) -> tuple[int, bytes, bytes]:
    """(identity type, primary field, secondary field) from the check's params; type 0 = none configured.
    `default`: the target's user identity (--user... or the playbook target's), used when the params name
    none; an identity in the params (--set) replaces it whole."""
    if default is not None and not any(params.get(k) for k in _IDENTITY_PARAMS):
        from ...user_identity import identity_fields
        return identity_fields(default)
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


_TYPE_NAMES = {1: msg("a user name"), 2: msg("a user name and passcode"), 3: msg("a Kerberos ticket"),
               4: msg("a SAML assertion"), 5: msg("a JWT")}


def _how(attempt: Mapping[str, Any]) -> Text:
    if attempt.get("outcome") == "rejected":
        rj = attempt.get("reject") or {}
        codes = f"{rj.get('result')}/{rj.get('source')}/{rj.get('reason')}"
        return msg("rejected ({codes} {reason})", codes=codes, reason=rj.get("reason_name", ""))
    if attempt.get("outcome") == "aborted":
        ab = attempt.get("abort") or {}
        if ab.get("source_name"):
            return msg("aborted ({source})", source=ab["source_name"])
        return msg("aborted (connection closed)")
    if attempt.get("outcome") == "accepted":
        return msg("accepted")
    return str(attempt.get("outcome"))


@check("assoc.user-identity", depends=("net.reachable",), title="User identity negotiation", timeout=60.0,
       params={"type": "", "username": "", "passcode_file": "", "passcode_env": "", "token_file": "",
               "token_env": "", "positive_response": True, "compare": True})
async def user_identity(ctx: CheckContext) -> CheckResult:
    code, primary, secondary = identity_from_params(ctx.params, ctx.target.user_identity)
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
            return passed(msg("no user identity configured; the peer accepts associations without one"), **ev)
        if causes:
            return failed(msg("the association without a user identity was {without}, with a bare user name {bare}: "
                              "the peer wants a user identity (configure one: username and passcode_file, or "
                              "token_file)", without=_how(wo or {}), bare=_how(w or {})), causes, **ev)
        return skipped(_not_identity(_how(wo or {})), **ev)
    what = _TYPE_NAMES.get(facts["identity_type"], msg("a user identity"))
    w = w or {}
    if w.get("outcome") == "accepted":
        if causes:
            if wo and wo.get("outcome") == "accepted":
                what = msg("{what} and without one too", what=what)
            return warned(msg("the peer accepted the association with {what} but sent no User Identity response "
                              "although we asked for one: it does not check identities (positive response "
                              "requested, none in the A-ASSOCIATE-AC)", what=what), causes, **ev)
        if not positive:
            return passed(msg("the peer accepted the association with {what} (no positive response requested)",
                              what=what), **ev)
        if decoy is not None:
            return passed(msg("the peer accepted {what} and {how} a wrong one: it verifies identities, though it "
                              "sends no User Identity response (PS3.7 D.3.3.7.2 asks for an empty one)", what=what,
                              how=_how(decoy)), **ev)
        return passed(msg("the peer accepted {what} and confirmed it (User Identity server response, {n} bytes)",
                          what=what, n=w.get("server_response_length", 0)), **ev)
    if w.get("outcome") in ("rejected", "aborted"):
        if causes:
            if wo:
                return failed(msg("the association with {what} was {how}; without one it is {without}", what=what,
                                  how=_how(w), without=_how(wo)), causes, **ev)
            return failed(msg("the association with {what} was {how}", what=what, how=_how(w)), causes, **ev)
        return skipped(_not_identity(_how(w)), **ev)
    if w.get("outcome") == "connect-failed":
        return failed(msg("user identity not tried: the connection failed ({detail})", detail=w.get("detail")),
                      judge.connect_causes(str(w.get("connect_outcome") or ""), ctx.prior()), **ev)
    return failed(msg("user identity not tried: {outcome} ({detail})", outcome=w.get("outcome"),
                      detail=w.get("detail", "")),
                  judge.timeout_causes("association", ctx.prior()), **ev)


def _not_identity(how: Text) -> Msg:
    return msg("the association is {how} with or without a user identity: not an identity problem (assoc.ae-title "
               "explains it)", how=how)


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
       writes=True, params={"mpps_target": ""})
async def chain_mpps_start(ctx: CheckContext) -> CheckResult:
    entry = _chain_entry(ctx)
    target = mpps_target(ctx)
    wf = await pw.mpps(target, stage="create", entry=entry or None, **service_kwargs(ctx))
    from dataclasses import replace

    result = judge_mpps(wf, ctx, "MPPS N-CREATE (IN PROGRESS)", target)
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
        return not_completed(f, msg("C-STORE failed"), ev, prior=ctx.prior(),
                             no_context_causes=("store-missing-sop-class", "transfer-syntax-not-supported"))
    if bad is not None:
        causes = judge.status_causes(bad.get("status"), "C-STORE") if bad.get("status") is not None else \
            ("store-missing-sop-class",)
        return failed(msg("C-STORE of the performed instance failed: {why}", why=_mpps_why(bad)), causes, **ev)
    return passed(msg("C-STORE of one synthetic instance of the performed study: {status}", status=_status_text(f)),
                  **ev)


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
    return judge_commitment(wf, ctx, msg("Storage Commitment of the performed instance"))


@check("workflow.mpps-complete", depends=("workflow.commit",), title="Workflow: MPPS COMPLETED", timeout=120.0,
       writes=True, params={"final": "COMPLETED", "mpps_target": ""})
async def chain_mpps_complete(ctx: CheckContext) -> CheckResult:
    final = str(ctx.params.get("final") or "COMPLETED").upper()
    if final not in MPPS_FINALS:
        raise BadInput(f"workflow.mpps-complete final {final!r}: give COMPLETED or DISCONTINUED")
    started, stored = _evidence(ctx, "workflow.mpps-start"), _evidence(ctx, "workflow.store")
    images = ((str(stored.get("sop_class_uid")), str(stored.get("sop_instance_uid"))),)
    # The N-SET goes where the N-CREATE went (only that SCP holds the step): workflow.mpps-start's mpps_target
    target = mpps_target(ctx, str(ctx.params.get("mpps_target") or started.get("mpps_target") or ""))
    wf = await pw.mpps(target, stage="set", final=final, instance_uid=str(started.get("sop_instance_uid")),
                       images=images, **service_kwargs(ctx))
    return judge_mpps(wf, ctx, f"MPPS N-SET ({final})", target)


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
        return not_completed(f, msg("C-FIND read-back failed"), ev, prior=ctx.prior(),
                             no_context_causes=("service-not-supported", "abstract-syntax-not-supported"))
    if f.category != "success":
        return failed(msg("C-FIND read-back failed: {status}", status=_status_text(f)),
                      judge.status_causes(f.status, "C-FIND"), **ev)
    if f.matches == 0:
        return failed(msg("C-FIND read-back: the study just stored and committed is not found at STUDY level "
                          "(indexing lags, or stored to another archive than the one queried)"),
                      ("find-no-matches",), **ev)
    return passed(counted(f.matches, "C-FIND read-back: the performed study is found ({n} match)",
                          "C-FIND read-back: the performed study is found ({n} matches)"), **ev)

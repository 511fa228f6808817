"""Query/Retrieve judgement: dimse.find, dimse.move, dimse.get (the facts come from probes.dimse / .retrieve).

Summaries name DICOM keywords, levels and statuses, never the values of the keys: the values (a patient's
name or ID) stay in the evidence, under their keyword, where report/redact.py hides them unless --show-phi.
"""

from __future__ import annotations

import dataclasses

import os
import re
from typing import Any, Mapping

from ...errors import BadInput
from ...messages import Msg, Text, cat, counted, join, msg, render
from ...probes import dimse as pd
from ...probes import retrieve as pr
from .. import judge
from ..context import CheckContext, CheckResult, failed, passed, skipped, warned
from ..registry import check
from .dimse import (_base_evidence, _level, _record_violations, _status_text, not_completed, query_keys,
                    query_model, service_kwargs)

_QR_NO_CONTEXT = ("service-not-supported", "abstract-syntax-not-supported")

# Common keys by the level they belong to (PS3.4 C.6.1.1 / C.6.2.1); used only to explain zero matches.
_KEY_LEVEL = {
    "PatientName": "PATIENT", "PatientID": "PATIENT", "PatientBirthDate": "PATIENT", "PatientSex": "PATIENT",
    "StudyInstanceUID": "STUDY", "StudyDate": "STUDY", "StudyTime": "STUDY", "AccessionNumber": "STUDY",
    "StudyID": "STUDY", "StudyDescription": "STUDY", "ModalitiesInStudy": "STUDY",
    "ReferringPhysicianName": "STUDY",
    "SeriesInstanceUID": "SERIES", "Modality": "SERIES", "SeriesNumber": "SERIES", "SeriesDate": "SERIES",
    "SeriesDescription": "SERIES", "BodyPartExamined": "SERIES",
    "SOPInstanceUID": "IMAGE", "InstanceNumber": "IMAGE", "SOPClassUID": "IMAGE",
}
_ORDER = {"PATIENT": 0, "STUDY": 1, "SERIES": 2, "IMAGE": 3}
_DATE = re.compile(r"^(\d{8})?-?(\d{8})?$")
_TIME = re.compile(r"^(\d{2,6}(\.\d{1,6})?)?-?(\d{2,6}(\.\d{1,6})?)?$")
# Result counts that look like a server-side cap (Orthanc LimitFindResults, many PACS stop at 100 or 500).
_ROUND_LIMITS = {50, 100, 200, 250, 500, 1000, 2000, 5000, 10000}


def _vr(keyword: str) -> str:
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    tag = tag_for_keyword(keyword)
    try:
        return str(dictionary_VR(tag)) if tag is not None else ""
    except KeyError:
        return ""


def no_match_reasons(level: str, model: str, keys: Mapping[str, Any]) -> list[str]:
    """Why a C-FIND may have matched nothing, from the query alone (FM-36, FM-38). Keywords only, no values.
    English, for the evidence; the summary says them in the run's language (_no_match_messages)."""
    return [str(m) for m in _no_match_messages(level, model, keys)]


def _no_match_messages(level: str, model: str, keys: Mapping[str, Any]) -> list[Msg]:
    reasons: list[Msg] = []
    filters = {k: str(v) for k, v in keys.items() if str(v if v is not None else "").strip() not in ("", "*")}
    for k, v in filters.items():
        vr = _vr(k)
        if vr == "PN" and not any(c in v for c in "*?"):
            reasons.append(msg("{key} is matched exactly (no * wildcard): case, spacing and the ^ components must "
                               "be identical; try a trailing *", key=k))
        elif vr == "DA" and not _DATE.match(v.strip()):
            reasons.append(msg("{key} is not a date (YYYYMMDD) or a range (YYYYMMDD-YYYYMMDD, YYYYMMDD-, "
                               "-YYYYMMDD)", key=k))
        elif vr == "TM" and not _TIME.match(v.strip()):
            reasons.append(msg("{key} is not a time (HHMMSS) or a range (HHMMSS-HHMMSS)", key=k))
        elif vr == "UI" and any(c in v for c in "*?"):
            reasons.append(msg("{key} is a UID: UIDs take no wildcards, only exact values or a list", key=k))
        if any(ord(c) > 127 for c in v) and "SpecificCharacterSet" not in keys:
            reasons.append(msg("{key} has non-ASCII characters but no SpecificCharacterSet was sent (e.g. "
                               "ISO_IR 192)", key=k))
        own = _KEY_LEVEL.get(k)
        if own is not None and _ORDER[own] > _ORDER.get(level, 1):
            hint = msg(" (use ModalitiesInStudy)") if k == "Modality" else ""
            reasons.append(msg("{key} is a {own}-level key, below the {level} level of the query: most SCPs "
                               "ignore it or match nothing{hint}", key=k, own=own, level=level, hint=hint))
    m = pr.model_key(model)
    if m == "patient" and level != "PATIENT" and not filters.get("PatientID"):
        reasons.append(msg("Patient Root at {level} level without a PatientID: hierarchical SCPs match nothing "
                           "(use the Study Root model)", level=level))
    needed = pr.missing_unique_keys(level, keys, model) or []
    above = [k for k in needed if _KEY_LEVEL.get(k) != level and not (m == "patient" and k == "PatientID")]
    if above:
        reasons.append(msg("no {keys} for the levels above {level}: a hierarchical search needs them",
                           keys=" / ".join(above), level=level))
    if not filters:
        reasons.append(msg("the query has no filter at all: the SCP shows this AE title nothing at this level "
                           "(an empty archive, or access rules for the calling AE title)"))
    unique: dict[str, Msg] = {}  # a reason once, first place kept (Msg holds a dict: not hashable)
    for reason in reasons:
        unique.setdefault(str(reason), reason)
    return list(unique.values())


def _qr_params(ctx: CheckContext) -> tuple[str, dict[str, Any], str]:
    level = _level(ctx.params.get("level"))
    keys = query_keys(ctx.params.get("keys") or {})
    model = query_model(str(ctx.params.get("model") or ""), level)
    if pr.missing_unique_keys(level, keys, model) is None:
        raise BadInput(msg("the {model} information model has no {level} level (Study Root starts at STUDY; use "
                           "--model patient or another level)", model=model, level=level))
    return level, keys, model


# ------------------------------------------------------------------------------------------------ dimse.find

@check("dimse.find", depends=("assoc.ae-title",), title="C-FIND", timeout=300.0,
       params={"level": "STUDY", "keys": {}, "model": "", "max_results": 0, "keep": 100})
async def find(ctx: CheckContext) -> CheckResult:
    level, keys, model = _qr_params(ctx)
    max_results = max(0, int(ctx.params.get("max_results") or 0))
    keep = max(0, min(int(ctx.params.get("keep") or 0), pd.KEEP_RESULTS))
    f = await pd.find(ctx.target, level, keys, model=model, max_results=max_results, keep=keep,
                      **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev = _base_evidence(f)
    ev.update(level=level, model=model, keys=keys, matches=f.matches, results=f.results,
              results_kept=len(f.results), cancelled=f.cancelled, max_results=max_results or None,
              pending_statuses=f.pending_statuses)
    if f.outcome != "ok":
        return not_completed(f, msg("C-FIND failed"), ev, prior=ctx.prior(), no_context_causes=_QR_NO_CONTEXT)
    root = pr.model_key(model)
    where = msg("C-FIND at {level} level (Patient Root)", level=level) if root == "patient" else \
        msg("C-FIND at {level} level (Study Root)", level=level) if root == "study" else \
        msg("C-FIND at {level} level", level=level)
    optional = f.pending_statuses.get("FF01", 0)
    note = msg("; the peer did not support some optional keys (0xFF01 on {n})", n=optional) if optional else ""
    matches = counted(f.matches, "{n} match", "{n} matches")
    if f.category in ("success", "cancel"):
        if f.matches == 0:
            said = _no_match_messages(level, model, keys)
            reasons = [str(r) for r in said]
            ev["no_match_reasons"] = reasons
            causes = ["find-no-matches"]
            if any("SpecificCharacterSet" in r for r in reasons):
                causes.append("character-set")
            if any("hierarchical" in r or "Patient Root" in r for r in reasons):
                causes.append("unique-key-required")
            hint = msg("; check: {reasons}", reasons=join(said, sep=msg("; "))) if said else \
                msg("; the keys look well-formed, so perhaps nothing matches them")
            return warned(msg("{where} found no matches{hint}", where=where, hint=hint), causes, **ev)
        if f.cancelled:
            how = msg("cancelled by C-CANCEL") if f.category == "cancel" else \
                msg("C-CANCEL sent; the peer had finished")
            return passed(msg("{where} returned {matches} ({how} after the {asked} asked for){note}", where=where,
                              matches=matches, how=how, asked=max_results, note=note), **ev)
        if f.matches in _ROUND_LIMITS and f.category == "success":
            return warned(msg("{where} returned exactly {n} matches, a round number: the peer may cap the results "
                              "without saying so{note}", where=where, n=f.matches, note=note),
                          ("find-results-truncated",), **ev)
        return passed(msg("{where} returned {matches}{note}", where=where, matches=matches, note=note), **ev)
    if f.category == "warning":
        return warned(msg("{where} ended with {status} after {matches}", where=where, status=_status_text(f),
                          matches=matches), judge.status_causes(f.status, "C-FIND"), **ev)
    return failed(msg("{where} failed: {status}", where=where, status=_status_text(f)),
                  judge.status_causes(f.status, "C-FIND"), **ev)


# ------------------------------------------------------------------------------------------------- retrieve

def _retrieve_evidence(f: pd.DimseFacts, ev: dict[str, Any]) -> None:
    ev.update(completed=f.completed, failed=f.failed, warning=f.warning, remaining=f.remaining,
              received=f.received, pending_responses=f.pending)
    optional = {"retrieved": f.retrieved, "sampled": f.sampled, "roles": f.roles,
                "random_destination": f.random_destination, "query_matches": f.query_matches}
    ev.update((key, value) for key, value in optional.items() if value is not None)


def _counts(f: pd.DimseFacts, listening: bool = True) -> Msg:
    """The sub-operation counters ("completed", "failed", "warning" are the standard's counter names)."""
    if listening:
        return msg("completed {completed}, failed {failed}, warning {warning}; received {received}",
                   completed=f.completed or 0, failed=f.failed or 0, warning=f.warning or 0, received=f.received)
    return msg("completed {completed}, failed {failed}, warning {warning}", completed=f.completed or 0,
               failed=f.failed or 0, warning=f.warning or 0)


def _what(service: str, f: pd.DimseFacts) -> Msg:
    if (f.retrieved or {}).get("stage") == "sampling":
        return msg("{service} not attempted: the C-FIND that picks one instance to retrieve (sample: true) failed",
                   service=service)
    return msg("{service} failed", service=service)


def _nothing_detail(f: pd.DimseFacts) -> Text:
    """Why there was nothing to retrieve (probes.retrieve's words), as a message when it is the known one."""
    if f.detail == pr.NOTHING_TO_SAMPLE:
        return msg("no instance matched the keys, nothing to sample")
    return f.detail


def _unique_keys_missing(level: str, keys: Mapping[str, Any], model: str, what: str,
                         ev: dict[str, Any]) -> CheckResult | None:
    """Record the unique keys a hierarchical retrieve lacks (`missing_keys`). Lenient archives retrieve by
    other keys (a PatientID at STUDY level), so a request is still sent; only one with no value at all is
    refused here: on such an archive it would retrieve everything at that level."""
    missing = pr.missing_unique_keys(level, keys, model) or []
    if missing:
        ev["missing_keys"] = missing
    if not missing or any(str(v if v is not None else "").strip() not in ("", "*") for v in keys.values()):
        return None
    if len(missing) > 1:
        text = msg("{what} at {level} level without any key value would ask for everything at that level; it needs "
                   "the unique keys {keys} (exact values: a hierarchical retrieve names the unique key of its level "
                   "and of every level above, PS3.4 C.4.2.2.1). Nothing was sent. Give them with -k (or, in a "
                   "playbook, sample: true retrieves one instance found by C-FIND)", what=what, level=level,
                   keys=", ".join(missing))
    else:
        text = msg("{what} at {level} level without any key value would ask for everything at that level; it needs "
                   "the unique key {keys} (exact values: a hierarchical retrieve names the unique key of its level "
                   "and of every level above, PS3.4 C.4.2.2.1). Nothing was sent. Give them with -k (or, in a "
                   "playbook, sample: true retrieves one instance found by C-FIND)", what=what, level=level,
                   keys=", ".join(missing))
    return failed(text, ("unique-key-required",), **ev)


def _needs_unique_keys(f: pd.DimseFacts, ev: Mapping[str, Any], causes: tuple[str, ...]) -> tuple[str, ...]:
    """A refused retrieve (nothing sent, a failure status) whose identifier lacks unique keys: that is the
    likeliest reason (Orthanc: 0xC000 "No DICOM identifier provided ... for this query retrieve level")."""
    if ev.get("missing_keys") and f.category == "failure" and not (f.completed or f.failed or f.warning) \
            and not f.received and f.status != 0xA801 and f.query_matches != 0:
        return ("unique-key-required",) + tuple(c for c in causes if c != "unique-key-required")
    return causes


@check("dimse.move", depends=("assoc.ae-title",), title="C-MOVE", timeout=600.0,
       params={"destination": "", "listen_port": 0, "listen_host": "127.0.0.1", "level": "STUDY", "keys": {},
               "model": "", "out": "", "sample": False, "discriminate": True, "listen_auto": False})
async def move(ctx: CheckContext) -> CheckResult:
    level, keys, model = _qr_params(ctx)
    destination = str(ctx.params.get("destination") or ctx.target.calling_ae)
    port = int(ctx.params.get("listen_port") or 0) or None
    out = str(ctx.params.get("out") or "") or None
    sample = bool(ctx.params.get("sample"))
    ev: dict[str, Any] = {"destination": destination, "listen_port": port, "level": level, "model": model,
                          "keys": keys}
    if not sample:
        refused = _unique_keys_missing(level, keys, model, "C-MOVE", ev)
        if refused is not None:
            return refused
    f = await pr.move(ctx.target, level, keys, destination, model=model, listen_port=port,
                      listen_host=str(ctx.params.get("listen_host") or "127.0.0.1"), out_dir=out, sample=sample,
                      discriminate=bool(ctx.params.get("discriminate", True)), **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev.update(_base_evidence(f))
    _retrieve_evidence(f, ev)
    ev.update(connect_back=f.connect_back, destination_scp=f.destination)
    if f.outcome == "listen-failed":
        return failed(_listen_failed(f, str(ctx.params.get("listen_host") or "127.0.0.1"), port, destination),
                      ("move-listener-failed",), **ev)
    if f.outcome == "nothing-to-retrieve":
        return skipped(msg("not applicable: nothing to move ({detail})", detail=_nothing_detail(f)), **ev)
    if f.outcome != "ok":
        return not_completed(f, _what("C-MOVE", f), ev, prior=ctx.prior(),
                             no_context_causes=_QR_NO_CONTEXT)
    named = bool(ctx.params.get("destination")) and destination.strip() != ctx.target.calling_ae.strip()
    if not ctx.params.get("listen_auto") or port is None:
        return judge_move(f, destination, port, ev, named=named)
    # commands/move.py chose a free port for our receiver: a PACS that knows our AE title has it with another
    # port, so a missing connect-back is first of all that (the order judge_move gives a named destination).
    ev["listen_auto"] = True
    result = judge_move(f, destination, port, ev, named=True)
    text = cat(result.text, msg("; our Storage SCP listened as {destination} on {host}:{port}, a free port chosen "
                                "because no --listen was given", destination=destination,
                                host=ctx.params.get("listen_host") or "127.0.0.1", port=port),
               "" if f.connect_back else msg(": if the PACS has {destination} with another port, run again with "
                                             "--listen THAT_PORT (or register this one)", destination=destination))
    return dataclasses.replace(result, summary=render(text, "en"), message=text)


def _listen_failed(f: pd.DimseFacts, host: str, port: int | None, destination: str) -> Text:
    """probes.retrieve's "cannot listen on ..." as a message; the OS error at its end stays as it is."""
    prefix = f"cannot listen on {host}:{port} as the move destination {destination}: "
    if not f.detail.startswith(prefix):
        return f.detail
    return msg("cannot listen on {host}:{port} as the move destination {destination}: {error}", host=host,
               port=port, destination=destination, error=f.detail[len(prefix):])


def _spent_longer(f: pd.DimseFacts, rnd: Mapping[str, Any]) -> bool:
    """Did our move take clearly longer than the one to a random AE title? Then the peer did something for
    our destination (tried to connect) that it did not do for an unknown one."""
    ours, theirs = f.rtt_ms, rnd.get("rtt_ms")
    return ours is not None and isinstance(theirs, (int, float)) and ours > 3 * theirs + 250.0


def judge_move(f: pd.DimseFacts, destination: str, port: int | None, ev: dict[str, Any], *,
               named: bool = False) -> CheckResult:
    """The final status, the counters, whether the peer connected back, and the follow-ups (FM-31..35)."""
    listening = port is not None
    counts = _counts(f, listening)
    rnd = f.random_destination
    rnd_status = rnd.get("status") if rnd else None
    no_call = listening and not f.connect_back
    came = msg("; no connection reached our port {port}", port=port) if no_call else ""
    if f.status == 0xA801:
        return failed(msg("C-MOVE: the peer does not know the move destination {destination} ({status})",
                          destination=destination, status=_status_text(f)), ("move-destination-unknown",), **ev)
    if f.connect_back and (f.category in ("failure", "warning") or (f.failed or 0) > 0):
        # The PACS knew us and reached us: the sub-operations themselves failed.
        sub = ("retrieve-suboperations-failed",) + tuple(c for c in judge.status_causes(f.status, "C-MOVE")
                                                         if c not in ("move-connect-back-failed",
                                                                      "move-destination-unknown"))
        result = warned if f.category == "warning" and (f.completed or 0) > 0 else failed
        return result(msg("C-MOVE to {destination}: {status} ({counts}); the peer did connect back, so its "
                          "sub-operations failed", destination=destination, status=_status_text(f), counts=counts),
                      tuple(dict.fromkeys(sub)), **ev)
    if f.category in ("failure", "warning") or (f.failed or 0) > 0:
        base = judge.status_causes(f.status, "C-MOVE")
        why: Text = ""
        if f.query_matches == 0:
            causes: tuple[str, ...] = ("find-no-matches",) + base
            why = msg("; a C-FIND with the same keys matches nothing, so there was nothing to move")
        elif f.status is not None and f.status in (0xA701, 0xA702):
            causes = (("move-connect-back-failed", "out-of-resources") if f.status == 0xA702 or no_call
                      else ("out-of-resources", "move-connect-back-failed"))
        elif rnd is not None and rnd_status is not None and rnd_status != f.status:
            causes = ("move-connect-back-failed",) + tuple(c for c in base if c != "move-connect-back-failed")
            why = msg("; a move to a random AE title answered {status}, so the peer does know {destination} and "
                      "failed afterwards, most likely reaching it",
                      status=f"{rnd.get('status_hex')} {rnd.get('status_name')}", destination=destination)
        elif rnd is not None and rnd_status is not None and _spent_longer(f, rnd):
            causes = ("move-connect-back-failed", "move-destination-unknown") + base
            why = msg("; a move to a random AE title answers the same {status}, but ours took {ours:.0f} ms against "
                      "{theirs:.0f} ms: the peer spent the time trying to reach {destination}",
                      status=rnd.get("status_hex"), ours=f.rtt_ms, theirs=rnd.get("rtt_ms"), destination=destination)
        elif rnd is not None and rnd_status is not None:
            # The peer answers an unknown destination exactly as it answered ours (Orthanc 1.10: a bare 0xC000
            # for an unknown AE, an unreachable one, and no match alike). No wire evidence separates the two,
            # so the order follows who chose the destination: our own calling AE title (the default) is rarely
            # registered on a PACS; a destination the user named was most likely registered by them.
            pair = ("move-connect-back-failed", "move-destination-unknown") if named and no_call else \
                ("move-destination-unknown", "move-connect-back-failed")
            causes = pair + base
            likely = msg("most likely it has it with an address or port where we do not listen") if pair[0] == \
                "move-connect-back-failed" else msg("most likely it does not know {destination}",
                                                    destination=destination)
            why = msg("; a move to a random AE title answers the same {status}, so this peer does not tell an unknown "
                      "destination from an unreachable one: {likely}", status=rnd.get("status_hex"), likely=likely)
        elif no_call:
            causes = ("move-connect-back-failed",) + tuple(c for c in base if c != "move-connect-back-failed")
        else:
            causes = base
        causes = _needs_unique_keys(f, ev, causes)
        if causes[0] == "unique-key-required":
            why = msg("; the identifier lacks the unique key(s) {keys} of its level, the likeliest reason for a "
                      "refusal before any sub-operation", keys=", ".join(ev["missing_keys"]))
        result = warned if f.category == "warning" and not no_call else failed
        return result(msg("C-MOVE to {destination}: {status} ({counts}){came}{why}", destination=destination,
                          status=_status_text(f), counts=counts, came=came, why=why),
                      tuple(dict.fromkeys(causes)), **ev)
    # Success.
    if (f.completed or 0) == 0 and f.received == 0:
        if f.query_matches:
            return warned(msg("C-MOVE to {destination} reported success but sent nothing ({counts}), although a "
                              "C-FIND with the same keys matches{came}", destination=destination, counts=counts,
                              came=came), ("move-connect-back-failed", "retrieve-suboperations-failed"), **ev)
        return warned(msg("C-MOVE to {destination} matched nothing to send ({counts})", destination=destination,
                          counts=counts), ("find-no-matches",), **ev)
    if listening and f.received < (f.completed or 0):
        if f.connect_back:
            return warned(msg("C-MOVE to {destination} reports {completed} completed but only {received} arrived at "
                              "our Storage SCP (the final status came before the sub-operations, or they went "
                              "elsewhere)", destination=destination, completed=f.completed, received=f.received),
                          ("retrieve-suboperations-failed",), **ev)
        return warned(msg("C-MOVE to {destination} reports {completed} completed but nothing arrived at our port "
                          "{port}: the peer sends {destination} somewhere else", destination=destination,
                          completed=f.completed, port=port), ("move-connect-back-failed",), **ev)
    back = msg("; the peer connected back to our Storage SCP") if f.connect_back else ""
    return passed(msg("C-MOVE to {destination} succeeded ({counts}){back}", destination=destination, counts=counts,
                      back=back), **ev)


@check("dimse.get", depends=("assoc.ae-title",), title="C-GET", timeout=600.0,
       params={"level": "STUDY", "keys": {}, "model": "", "out": "", "sample": False})
async def get(ctx: CheckContext) -> CheckResult:
    level, keys, model = _qr_params(ctx)
    out = str(ctx.params.get("out") or "") or None
    if out is not None and os.path.exists(out) and not os.path.isdir(out):
        raise BadInput(msg("--out {out}: exists and is not a folder", out=out))
    sample = bool(ctx.params.get("sample"))
    ev: dict[str, Any] = {"level": level, "model": model, "keys": keys, "out": out}
    if not sample:
        refused = _unique_keys_missing(level, keys, model, "C-GET", ev)
        if refused is not None:
            return refused
    f = await pr.get(ctx.target, level, keys, model=model, out_dir=out, sample=sample, **service_kwargs(ctx))
    _record_violations(ctx, f)
    ev.update(_base_evidence(f))
    _retrieve_evidence(f, ev)
    if f.files:
        ev["files"] = f.files
    if f.outcome == "nothing-to-retrieve":
        return skipped(msg("not applicable: nothing to retrieve ({detail})", detail=_nothing_detail(f)), **ev)
    if f.outcome != "ok":
        return not_completed(f, _what("C-GET", f), ev, prior=ctx.prior(),
                             no_context_causes=_QR_NO_CONTEXT)
    return judge_get(f, ev)


def judge_get(f: pd.DimseFacts, ev: dict[str, Any]) -> CheckResult:
    counts = _counts(f)
    roles = f.roles or {}
    no_roles = roles.get("scp_accepted", 0) == 0
    if (f.category == "failure" or (f.failed or 0) > 0) and f.received == 0 and no_roles:
        # FM-25: without the SCP role the peer may not send C-STOREs on our association, whatever it answers.
        if not roles.get("answered"):
            text = msg("C-GET: {status} ({counts}): the peer ignored every SCP role selection we proposed ({n} "
                       "storage classes), so it could not send the instances back on this association",
                       status=_status_text(f), counts=counts, n=roles.get("proposed", 0))
        else:
            text = msg("C-GET: {status} ({counts}): the peer refused every SCP role selection we proposed ({n} "
                       "storage classes), so it could not send the instances back on this association",
                       status=_status_text(f), counts=counts, n=roles.get("proposed", 0))
        return failed(text, ("role-selection-ignored", "retrieve-suboperations-failed"), **ev)
    if f.category == "failure" or (f.failed or 0) > 0:
        causes = judge.status_causes(f.status, "C-GET") if f.category == "failure" else ("retrieve-suboperations-failed",)
        causes = _needs_unique_keys(f, ev, causes)
        why = (msg("; the identifier lacks the unique key(s) {keys}", keys=", ".join(ev["missing_keys"]))
               if causes[0] == "unique-key-required" else "")
        return failed(msg("C-GET: {status} ({counts}){why}", status=_status_text(f), counts=counts, why=why),
                      causes, **ev)
    if f.category == "warning":
        return warned(msg("C-GET: {status} ({counts}){why}", status=_status_text(f), counts=counts, why=""),
                      judge.status_causes(f.status, "C-GET"), **ev)
    if f.received == 0:
        if (f.completed or 0) > 0:
            return warned(msg("C-GET reports {completed} completed but no instance arrived on the association",
                              completed=f.completed), ("retrieve-suboperations-failed",), **ev)
        return warned(msg("C-GET matched nothing to send ({counts})", counts=counts), ("find-no-matches",), **ev)
    if f.received < (f.completed or 0):
        return warned(msg("C-GET reports {completed} completed but only {received} arrived", completed=f.completed,
                          received=f.received), ("retrieve-suboperations-failed",), **ev)
    return passed(msg("C-GET received {instances} ({counts})",
                      instances=counted(f.received, "{n} instance", "{n} instances"), counts=counts), **ev)

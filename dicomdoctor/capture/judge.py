"""Judge one captured association: three findings (capture.association, capture.dimse, capture.violations)
with evidence, status and ranked causes, using the same cause ids as the live checks.

Facts come from association.py; causes from engine/judge.py, the one judgement the live checks use too
(rejects, aborts and statuses, driven by checks/*.yaml), so a PACS admin who adds a rule there changes the pcap
analysis as well. Titles and texts come from the knowledge base.
"""

from __future__ import annotations

from typing import Any

from ..engine import judge
from ..engine.kb import KnowledgeBase
from ..engine.model import Cause, Finding, PeerInfo, Status, TargetResult, worst
from ..messages import Text, join, msg, render
from ..ul import pc_result_name
from .association import CapturedAssociation

__all__ = ["judge_association", "TITLES"]

# Fallback titles for check ids without a knowledge-base file.
TITLES = {"capture.association": "Association in a capture", "capture.dimse": "DIMSE operations in a capture",
          "capture.violations": "Protocol violations in a capture", "capture.file": "Capture file",
          "capture.workflow": "Workflow services in a capture"}
_FAIL_CODES = frozenset({"pdu-length-violation", "malformed-pdu", "unrecognized-pdu", "pdu-too-large",
                         "dimse-fragmentation", "malformed-command", "unexpected-pdu", "pdata-empty",
                         "context-not-accepted", "pdu-truncated"})


def _prior(a: CapturedAssociation) -> judge.Prior:
    """What the capture itself shows of the acceptor before the fact: its product (A-ASSOCIATE-AC items),
    for the product rules of the judgement."""
    ui = a.ac.user_information if a.ac is not None else None
    if ui is None:
        return judge.Prior()
    return judge.prior_from({}, PeerInfo(ui.implementation_class_uid, ui.implementation_version_name))


def _causes(kb: KnowledgeBase, ids: Any, lang: str) -> tuple[Cause, ...]:
    out: list[Cause] = []
    seen: set[str] = set()
    for cid in ids:
        if cid not in seen:
            seen.add(cid)
            out.append(kb.cause(cid, lang, strict=False))
    return tuple(out)


def _title(kb: KnowledgeBase, check: str, lang: str) -> str:
    return kb.check_title(check, lang) if check in kb.checks else TITLES[check]


def _ms(a: float | None, b: float | None) -> float | None:
    return round((b - a) * 1000, 3) if a is not None and b is not None else None


def target_id(a: CapturedAssociation) -> str:
    called = a.rq.called_ae if a.rq else "?"
    calling = a.rq.calling_ae if a.rq else "?"
    return f"{called}@{a.acceptor_end} <- {calling}@{a.requestor_end}"


# --------------------------------------------------------------------------------------- association

def _negotiation(a: CapturedAssociation) -> dict[str, Any]:
    ev: dict[str, Any] = {"requestor": str(a.requestor_end), "acceptor": str(a.acceptor_end)}
    rq, ac = a.rq, a.ac
    if rq is not None:
        ev["called_ae"], ev["calling_ae"] = rq.called_ae, rq.calling_ae
        ui = rq.user_information
        ev["requestor_identity"] = {"implementation_class_uid": ui.implementation_class_uid if ui else None,
                                    "implementation_version_name": ui.implementation_version_name if ui else None}
        if ui is not None and ui.user_identity_rq is not None:
            ev["user_identity_type"] = ui.user_identity_rq.identity_type  # never the credentials
    results = {pc.context_id: pc for pc in ac.presentation_contexts} if ac is not None else {}
    contexts = []
    for pc in rq.presentation_contexts if rq is not None else ():
        item: dict[str, Any] = {"id": pc.context_id, "abstract_syntax": pc.abstract_syntax,
                                "proposed_transfer_syntaxes": list(pc.transfer_syntaxes)}
        got = results.get(pc.context_id)
        if got is not None:
            item.update(result=got.result, result_name=pc_result_name(got.result),
                        transfer_syntax=got.transfer_syntax if got.result == 0 else None)
        contexts.append(item)
    ev["contexts"] = contexts
    if ac is not None:
        ev["accepted_contexts"] = sum(1 for pc in ac.presentation_contexts if pc.result == 0)
        ui = ac.user_information
        ev["acceptor_identity"] = {"implementation_class_uid": ui.implementation_class_uid if ui else None,
                                   "implementation_version_name": ui.implementation_version_name if ui else None}
    ev["max_pdu"] = {"requestor": rq.max_length if rq is not None else None,
                     "acceptor": ac.max_length if ac is not None else None}
    ev["time_to_accept_ms"] = _ms(a.rq_ts, a.ac_ts)
    return ev


def _association_finding(a: CapturedAssociation, kb: KnowledgeBase, lang: str, tid: str) -> Finding:
    ev = _negotiation(a)
    status = Status.PASS
    summary: Text = ""
    causes: tuple[str, ...] = ()
    end_how = a.end[0] if a.end else "capture-end"
    ev["end"] = end_how
    if a.abort is not None:
        pdu, d, ts = a.abort
        ev["abort"] = {"source": pdu.source, "source_name": pdu.source_name, "reason": pdu.reason,
                       "reason_name": pdu.reason_name, "by": a.who(d), "t_ms": a._ms(ts),
                       "phase": "negotiation" if a.ac is None and a.rj is None else "data transfer"}
        ev["end"] = "abort"
    if a.release_rq is not None:
        ev["release"] = {"requested_by": a.who(a.release_rq[0]), "answered": a.release_rp is not None,
                         "ms": _ms(a.release_rq[1], a.release_rp[1] if a.release_rp else None)}
        if a.release_rp is not None and a.abort is None:
            ev["end"] = "release"
    if a.rj is not None:
        rj = a.rj
        ev["outcome"] = "rejected"
        ev["reject"] = {"result": rj.result, "result_name": rj.result_name, "source": rj.source,
                        "source_name": rj.source_name, "reason": rj.reason, "reason_name": rj.reason_name}
        ev["time_to_reject_ms"] = _ms(a.rq_ts, a.rj_ts)
        status, causes = Status.FAIL, judge.reject_causes(rj.result, rj.source, rj.reason, _prior(a))
        summary = msg("association rejected: {reject} ({result}/{source}/{reason})", reject=rj.describe(),
                      result=rj.result, source=rj.source, reason=rj.reason)
    elif a.ac is None:
        if a.answer_lost:
            ev["outcome"] = "answer-not-captured"
            status = Status.WARN
            summary = msg("the acceptor's answer to the A-ASSOCIATE-RQ is missing from the capture (see "
                          "capture.violations); the association cannot be judged")
        elif a.abort is not None:
            by = ev["abort"]["by"]
            ev["outcome"] = "aborted"
            status = Status.FAIL
            causes = judge.abort_causes(pdu.source, pdu.reason, "association", _prior(a), by=by)
            if by == "acceptor":
                summary = msg("the acceptor aborted during negotiation ({reason})", reason=ev['abort']['reason_name'])
            else:
                summary = msg("the requestor gave up and aborted before any answer to its A-ASSOCIATE-RQ")
        elif end_how == "capture-end":
            ev["outcome"] = "no-answer-in-capture"
            status = Status.WARN
            summary = msg("the capture ended before the acceptor answered the A-ASSOCIATE-RQ")
        elif a.rq is None:
            ev["outcome"] = "undecodable"
            status = Status.FAIL
            causes = ("malformed-pdu",)
            summary = msg("the A-ASSOCIATE-RQ could not be decoded")
        else:
            ev["outcome"] = "no-answer"
            status = Status.FAIL
            # Who ended the connection is not in a capture's FIN or RST.
            causes = judge.abort_causes(None, None, "association", _prior(a), by="unknown",
                                        kind="reset" if end_how == "rst" else "closed")
            summary = msg("the A-ASSOCIATE-RQ got no answer before the connection ended ({how})", how=end_how)
    else:
        ev["outcome"] = "accepted"
        accepted = ev["accepted_contexts"]
        total = len(ev["contexts"])
        took = msg(" in {ms:.1f} ms", ms=ev['time_to_accept_ms']) if ev["time_to_accept_ms"] is not None else ""
        summary = msg("accepted{took}: {accepted} of {total} presentation contexts", took=took, accepted=accepted,
                      total=total)
        if not accepted:
            status = Status.FAIL
            results = [c.get("result") for c in ev["contexts"]]
            causes = ("abstract-syntax-not-supported", "no-presentation-context") if 3 in results else \
                ("transfer-syntax-not-supported", "no-presentation-context") if 4 in results else \
                ("no-presentation-context", "abstract-syntax-not-supported")
            summary += msg(", so no operation was possible")
        if a.abort is not None:
            by = ev["abort"]["by"]
            pdu = a.abort[0]
            if by == "acceptor":
                status = Status.FAIL
                causes = causes + judge.abort_causes(pdu.source, pdu.reason, "dimse", _prior(a), by=by)
                summary += msg("; then aborted by the acceptor ({source}, {reason})",
                               source=ev['abort']['source_name'], reason=ev['abort']['reason_name'])
            else:
                status = max(status, Status.WARN, key=_rank)
                causes = causes + judge.abort_causes(pdu.source, pdu.reason, "release", _prior(a), by=by)
                summary += msg("; ended by an A-ABORT from the requestor instead of a release")
        elif ev["end"] == "release":
            summary += msg("; released")
        elif a.release_rq is not None:
            status = max(status, Status.WARN, key=_rank)
            causes = causes + judge.abort_causes(None, None, "release", _prior(a), by="unknown", kind="no-reply")
            summary += msg("; A-RELEASE-RQ got no A-RELEASE-RP")
        elif end_how in ("fin", "rst", "reused", "idle"):
            status = max(status, Status.WARN, key=_rank)
            causes = causes + judge.abort_causes(None, None, "release", _prior(a), by="unknown",
                                                 kind="reset" if end_how == "rst" else "closed")
            summary += msg("; the TCP connection was reset without a release") if end_how == "rst" else \
                msg("; the TCP connection was closed without a release")
        else:
            summary += msg("; still open when the capture ended")
    duration = _ms(a.first_ts, a.end[1] if a.end else a.last_ts)
    ev["duration_ms"] = duration
    return Finding(tid, "capture.association", _title(kb, "capture.association", lang), status,
                   render(summary, lang), ev,
                   _causes(kb, causes, lang), 0.0)


_ORDER = {Status.PASS: 0, Status.SKIP: 0, Status.WARN: 1, Status.ERROR: 2, Status.FAIL: 3}


def _rank(s: Status) -> int:
    return _ORDER[s]


# -------------------------------------------------------------------------------------------- dimse

def _causes_of_statuses(statuses: list[dict[str, Any]], category: str) -> list[str]:
    out: list[str] = []
    for st in statuses:
        if st["category"] == category and st.get("status") is not None:
            out += judge.status_causes(st["status"], st.get("service"))
    return out


def _dimse_finding(a: CapturedAssociation, kb: KnowledgeBase, lang: str, tid: str) -> Finding:
    statuses = sorted(a.statuses.values(), key=lambda s: (-s["count"], s.get("status") or 0))
    counts = {c: 0 for c in ("success", "warning", "failure", "cancel", "pending")}
    for st in statuses:
        counts[st["category"]] = counts.get(st["category"], 0) + st["count"]
    ev: dict[str, Any] = {"operations": dict(a.operations), "responses": counts, "statuses": statuses}
    if a.failures:
        ev["failures"] = a.failures
    unanswered = [{"operation": p.operation, "message_id": p.message_id, "t_ms": a._ms(p.ts),
                   **({"incomplete": True} if p.incomplete else {})} for p in list(a.pending.values())[:20]]
    if unanswered:
        ev["unanswered"] = unanswered
        ev["unanswered_count"] = len(a.pending)
    timings: dict[str, Any] = {"time_to_accept_ms": _ms(a.rq_ts, a.ac_ts),
                               "rtt_ms": {op: s.to_dict() for op, s in a.rtt.items()}}
    if a.slowest is not None:
        timings["slowest"] = a.slowest
    if a.first_request_ts is not None and a.last_response_ts is not None:
        timings["operations_span_ms"] = _ms(a.first_request_ts, a.last_response_ts)
    ev["timings"] = timings
    assert a.streams is not None
    ev["dataset_bytes"] = {"requestor": a.streams[a.requestor].dataset_bytes,
                           "acceptor": a.streams[1 - a.requestor].dataset_bytes}
    stored = ev["dataset_bytes"]["requestor"] + ev["dataset_bytes"]["acceptor"]
    span = timings.get("operations_span_ms")
    if a.operations.get("C-STORE") and span:
        ev["store_mb_per_s"] = round(stored / 1e6 / (span / 1000), 3) if span > 0 else None
    if a.find_matches:
        ev["find_matches"] = a.find_matches
    if a.suboperations:
        ev["suboperations"] = a.suboperations
    if a.queries:
        ev["queries"] = a.queries
    if a.cancels:
        ev["cancels"] = a.cancels

    ops = ", ".join(f"{op} x{n}" for op, n in sorted(a.operations.items(), key=lambda kv: -kv[1]))
    finals = [s for s in statuses if s["category"] != "pending"]
    causes: list[str] = []
    summary: Text
    if not a.operations:
        status, summary = Status.PASS, msg("no DIMSE operations on this association")
    else:
        summary = ops
        if finals:
            summary += msg(": {statuses}", statuses=join([
                msg("{count} {status} ({name})", count=s['count'], status=s.get('status_hex') or msg("no status"),
                    name=s['status_name']) for s in finals[:4]], sep=msg(", ")))
        if len(finals) > 4:
            summary += msg(", {n} more statuses", n=len(finals) - 4)
        status = Status.PASS
        if counts["failure"]:
            status = Status.FAIL
            causes += _causes_of_statuses(statuses, "failure")
        elif counts["warning"]:
            status = Status.WARN
            causes += _causes_of_statuses(statuses, "warning")
        if a.pending and a.end and a.end[0] != "capture-end":
            status = Status.FAIL
            aborted_by = a.who(a.abort[1]) if a.abort is not None else None
            summary += msg("; {n} request(s) never answered", n=len(a.pending))
            cut = [p for p in a.pending.values() if p.incomplete]
            if cut:  # a request cut mid-data-set by the connection's end (capture/association.py)
                how = {"rst": msg("a TCP reset"), "fin": msg("the connection's close")}.get(
                    a.end[0], msg("the connection's end"))
                summary += msg(" ({operation}-RQ message {message_id} was cut by {how} before its data set was "
                               "complete)", operation=cut[0].operation, message_id=cut[0].message_id, how=how)
            abort = a.abort[0] if a.abort is not None else None
            causes += judge.abort_causes(
                abort.source if abort else None, abort.reason if abort else None, "dimse", _prior(a),
                by=aborted_by or "unknown", kind=None if abort else ("reset" if a.end[0] == "rst" else "closed"))
        elif a.pending:
            summary += msg("; {n} request(s) still waiting when the capture ended", n=len(a.pending))
        if a.slowest is not None:
            summary += msg("; slowest {operation} {ms:.1f} ms", operation=a.slowest['operation'], ms=a.slowest['ms'])
    return Finding(tid, "capture.dimse", _title(kb, "capture.dimse", lang), status, render(summary, lang), ev,
                   _causes(kb, causes, lang), 0.0)


# --------------------------------------------------------------------------------------- violations

def _side(direction: Any) -> Text:
    """"requestor" / "acceptor" as a word of the sentence (a gap before detection has a direction number)."""
    return {"requestor": msg("requestor"), "acceptor": msg("acceptor")}.get(direction, str(direction))


def _violations_finding(a: CapturedAssociation, kb: KnowledgeBase, lang: str, tid: str) -> Finding:
    ev: dict[str, Any] = {"count": sum(a.violation_counts.values()), "by_code": dict(a.violation_counts),
                          "violations": a.violations}
    if a.streams is not None:
        ev["pdus"] = {"requestor": a.streams[a.requestor].pdus, "acceptor": a.streams[1 - a.requestor].pdus}
        ev["largest_pdu"] = {"requestor": a.streams[a.requestor].largest_pdu,
                             "acceptor": a.streams[1 - a.requestor].largest_pdu}
        over = {a.who(s.direction): s.over_limit for s in a.streams if s.over_limit}
        if over:
            ev["pdus_over_limit"] = over
    if a.missing_bytes:
        ev["missing_bytes"] = a.missing_bytes
        ev["gaps"] = a.gaps
    if a.lost:
        ev["analysis_stopped"] = a.lost
    errors = {c: n for c, n in a.violation_counts.items() if c in _FAIL_CODES}
    causes: list[str] = []
    summary: Text
    if errors:
        status = Status.FAIL
        if "pdu-length-violation" in errors:
            causes.append("pdu-length-violation")
        if set(errors) - {"pdu-length-violation"}:
            causes.append("malformed-pdu")
        first = next(v for v in a.violations if v["code"] in errors) if any(
            v["code"] in errors for v in a.violations) else None
        summary = msg("{n} protocol violation(s)", n=sum(errors.values()))
        if first is not None:
            summary += msg(", first: {message} (from the {side})", message=first['message'],
                           side=_side(first['direction']))
    elif a.violation_counts:
        status = Status.WARN
        summary = msg("{n} minor deviation(s) from the standard (warnings), first: {message}",
                      n=sum(a.violation_counts.values()), message=a.violations[0]['message'] if a.violations else '?')
    else:
        status, summary = Status.PASS, msg("no protocol violations")
    if a.missing_bytes:
        if status is Status.PASS:
            status = Status.WARN
            summary = msg("no protocol violations in what was captured")
        g = a.gaps[0]
        summary += msg("; {n} byte(s) missing from the capture (first: {bytes} bytes missing at seq {seq}, from the "
                       "{side})", n=a.missing_bytes, bytes=g['bytes'], seq=g['seq'], side=_side(g['direction']))
    if a.lost:
        summary += msg("; analysis of the {side}'s stream stopped early", side=_side(a.lost[0]['direction']))
    return Finding(tid, "capture.violations", _title(kb, "capture.violations", lang), status, render(summary, lang),
                   ev,
                   _causes(kb, causes, lang), 0.0)


# ------------------------------------------------------------------------------------------ entry

def judge_association(a: CapturedAssociation, kb: KnowledgeBase, lang: str,
                      tid: str) -> tuple[TargetResult, list[Finding]]:
    findings = [_association_finding(a, kb, lang, tid)]
    if a.ac is not None and a.streams is not None:
        findings.append(_dimse_finding(a, kb, lang, tid))
    findings.append(_violations_finding(a, kb, lang, tid))
    ac_ui = a.ac.user_information if a.ac is not None else None
    peer = PeerInfo(ac_ui.implementation_class_uid if ac_ui else None,
                    ac_ui.implementation_version_name if ac_ui else None,
                    a.ac.max_length if a.ac is not None else None)
    acc = a.acceptor_end
    target = TargetResult(id=tid, host=acc.host, port=acc.port, called_ae=a.rq.called_ae if a.rq else "",
                          calling_ae=a.rq.calling_ae if a.rq else "", tls=False,
                          verdict=worst([f.status for f in findings]), peer=peer, trace=tuple(a.trace))
    return target, findings

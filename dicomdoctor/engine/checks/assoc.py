"""Judgement of association negotiation: assoc.ae-title, assoc.presentation-contexts, assoc.pdu-length.

All three (and peer.identity) read ONE association attempt, the `assoc.probe` fact: an A-ASSOCIATE-RQ with
the default capability matrix (13 SOP classes x 7 transfer syntaxes = 91 contexts, within the 128 limit), so
a standard diagnosis costs the peer one association, plus AE probing only after a rejection.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

from ...errors import BadInput
from ...probes.ae import AEFacts, learn_ae_titles
from ...probes.association import AssociationFacts, ContextProposal, probe_association, proposals_matrix
from ...probes.contexts import (DEFAULT_ABSTRACT_SYNTAXES, DEFAULT_TRANSFER_SYNTAXES, MatrixFacts, probe_matrix,
                                resolve_uid, uid_name)
from ...probes.firstbytes import Kind
from ...probes.tls import speaks_tls
from ..context import CheckContext, CheckResult, failed, passed, warned
from ..registry import check
from ..model import PeerInfo

PDU_WARN_BELOW = 16384


# ------------------------------------------------------------------------------------------------- facts

def default_matrix() -> tuple[list[str], list[str]]:
    """The default SOP classes and transfer syntaxes, as UIDs."""
    return ([resolve_uid(a) for a in DEFAULT_ABSTRACT_SYNTAXES], [resolve_uid(t) for t in DEFAULT_TRANSFER_SYNTAXES])


def default_proposals() -> list[ContextProposal]:
    return proposals_matrix(*default_matrix())


def _timeouts(ctx: CheckContext) -> tuple[float, float]:
    t = ctx.timeouts
    return float(t.connect or 10.0), float(t.association or 10.0)


def _server_name(ctx: CheckContext) -> str | None:
    tls = ctx.target.tls
    return (tls.server_name or ctx.target.host) if tls is not None else None


async def _probe(ctx: CheckContext, proposals: Sequence[ContextProposal] = (), called_ae: str | None = None,
                 calling_ae: str | None = None) -> AssociationFacts:
    """One association attempt with the target's TLS and our options (Verification when no proposals),
    with the target's AE titles unless others are given (AE probing)."""
    t = ctx.target
    connect_timeout, timeout = _timeouts(ctx)
    return await probe_association(
        t.host, t.port, called_ae=called_ae or t.called_ae, calling_ae=calling_ae or t.calling_ae,
        proposals=proposals,
        our_max_pdu=ctx.options.max_pdu, connect_timeout=connect_timeout, timeout=timeout,
        tls_context=ctx.ssl_context(), server_hostname=_server_name(ctx), trace=ctx.trace)


async def association_facts(ctx: CheckContext) -> AssociationFacts:
    """The shared association attempt with the default matrix (memoized per target)."""
    return await ctx.fact("assoc.probe", lambda: _probe(ctx, default_proposals()))


async def ae_facts(ctx: CheckContext, first: AssociationFacts) -> AEFacts:
    if ctx.options.no_probe or (first.accepted and not ctx.params.get("probe_accepted", True)):
        return AEFacts()
    return await ctx.fact("assoc.ae-probe", lambda: learn_ae_titles(
        first, lambda called, calling: _probe(ctx, (), called, calling)))


# ------------------------------------------------------------------------------------------ assoc.ae-title

def _reject_causes(first: AssociationFacts, ae: AEFacts) -> tuple[str, ...]:
    rj = first.reject
    assert rj is not None
    found_other = ae.accepted_called_ae is not None and ae.accepted_called_ae != first.called_ae
    if rj.source == 1 and rj.reason == 7:
        return ("called-ae-not-recognized", "ae-title-invalid")
    if rj.source == 1 and rj.reason == 3:
        return ("calling-ae-not-recognized", "calling-host-mismatch", "ae-title-invalid")
    if rj.source == 3:
        return ("too-many-associations", "server-overloaded")
    if rj.reason == 2 and rj.source in (1, 2):
        # application context / protocol version not supported: our RQ is not what the peer expects.
        return ("application-context-not-supported", "not-dicom")
    if found_other:
        return ("called-ae-not-recognized", "reject-no-reason", "calling-ae-not-recognized")
    if ae.calling_ae_checked:
        return ("calling-ae-not-recognized", "reject-no-reason", "calling-host-mismatch")
    # "No reason given" (1/1/1, 1/2/1): many PACS use it for every policy refusal (FM-21).
    return ("reject-no-reason", "calling-ae-not-recognized", "calling-host-mismatch", "called-ae-not-recognized",
            "user-identity-required")


def _ae_evidence(first: AssociationFacts, ae: AEFacts) -> dict[str, Any]:
    return {
        "outcome": first.outcome, "called_ae": first.called_ae, "calling_ae": first.calling_ae,
        "reject": first.reject.to_json_dict() if first.reject else None,
        "abort": first.abort.to_json_dict() if first.abort else None,
        "first_bytes": first.first.to_json_dict() if first.first else None,
        "accepted_called_ae": ae.accepted_called_ae, "calling_ae_checked": ae.calling_ae_checked,
        "called_ae_checked": ae.called_ae_checked, "probed": ae.probed,
        "attempts": [a.to_json_dict() for a in ae.attempts],
        "response_ms": round(first.response_ms, 1) if first.response_ms is not None else None,
        "address": first.address,
    }


async def _no_answer_result(ctx: CheckContext, first: AssociationFacts, ev: dict[str, Any]) -> CheckResult:
    """The peer did not answer in DICOM: say what it is (failure-modes §0 step 4)."""
    t = ctx.target
    where = f"{t.host}:{t.port}"
    fb = first.first
    timeout = _timeouts(ctx)[1]
    if first.outcome == "connect-failed":
        return failed(f"connecting to {where} for the association failed: {first.error}",
                      ("server-not-running", "firewall-drop", "server-overloaded"), **ev)
    if first.outcome == "malformed":
        return failed(f"{where} answered with a PDU we cannot decode: {first.malformed}",
                      ("malformed-pdu", "not-dicom"), malformed=first.malformed, **ev)
    # A plain A-ASSOCIATE-RQ that meets TLS bytes, a close or silence may have hit a TLS port: ask it.
    tls_seen = fb is not None and fb.kind is Kind.TLS
    if t.tls is None and (tls_seen or first.outcome in ("closed", "reset", "silence")):
        session = await ctx.fact("assoc.speaks-tls", lambda: speaks_tls(t.host, t.port, _timeouts(ctx)[0]))
        if session or tls_seen:
            ev["tls_session"] = {k: session.get(k) for k in ("protocol", "cipher")} if session else None
            how = f"answered our plain A-ASSOCIATE-RQ with {fb.detail}" if fb is not None and tls_seen else \
                f"{'closed the connection' if first.outcome != 'silence' else 'stayed silent'} on our plain " \
                f"A-ASSOCIATE-RQ, and completes a TLS handshake"
            return failed(f"{where} expects DICOM over TLS: it {how}; run again with --tls",
                          ("peer-expects-tls",), **ev)
    if first.outcome == "silence":
        return failed(
            f"{where} accepted the TCP connection but did not answer the A-ASSOCIATE-RQ within {timeout:g} s; "
            f"a DICOM server that serves one client at a time (Orthanc 1.10) behaves like this while another "
            f"client holds it (listener busy), as does a hung or overloaded server or a non-DICOM service "
            f"waiting for input", ("association-timeout", "server-overloaded", "too-many-associations", "not-dicom"),
            listener_busy_possible=True, **ev)
    if first.outcome in ("closed", "reset"):
        how = "closed" if first.outcome == "closed" else "reset"
        return failed(f"{where} {how} the connection right after our A-ASSOCIATE-RQ without answering: DICOM "
                      f"servers do this to callers they do not accept (AE title or IP address not allowed), "
                      f"when they are out of association slots, or when they crash",
                      ("calling-ae-not-recognized", "calling-host-mismatch", "too-many-associations",
                       "peer-aborted", "not-dicom"), **ev)
    assert fb is not None
    if fb.kind is Kind.GARBAGE:
        return failed(f"{where} answered with bytes that are not a DICOM PDU: {fb.detail} at offset 0",
                      ("malformed-pdu", "not-dicom"), **ev)
    if fb.kind is Kind.DICOM_UNEXPECTED:
        return failed(f"{where} answered our A-ASSOCIATE-RQ with {fb.detail}, which is not a valid answer",
                      ("malformed-pdu", "not-dicom"), **ev)
    return failed(f"{where} is not a DICOM port: it answered with {fb.detail}", ("not-dicom", "wrong-port"), **ev)


@check("assoc.ae-title", depends=("net.reachable", "tls.handshake"), title="AE titles", timeout=120.0,
       params={"probe_accepted": True})
async def ae_title(ctx: CheckContext) -> CheckResult:
    t = ctx.target
    first = await association_facts(ctx)
    ae = AEFacts()
    if first.outcome in ("accepted", "rejected"):
        ae = await ae_facts(ctx, first)
    ev = _ae_evidence(first, ae)
    called, calling = first.called_ae, first.calling_ae
    default_note = "" if t.called_ae_given else f" (no called AE was given; we used the default {called})"
    if first.outcome == "accepted":
        # The report's target entry names the peer even when peer.identity is not in the playbook (echo).
        ctx.set_peer(PeerInfo(first.implementation_class_uid, first.implementation_version_name,
                              first.peer_max_pdu))
        notes = []
        if ae.called_ae_checked is False:
            notes.append("it does not check the called AE title (any title works)")
        if ae.calling_ae_checked is False:
            notes.append("it accepts any calling AE title")
        extra = f"; {'; '.join(notes)}" if notes else ""
        return passed(f"the peer accepted the association from {calling} to {called}{default_note}{extra}", **ev)
    if first.outcome == "aborted" and first.abort is not None:
        ab = first.abort.to_json_dict()
        return failed(f"the peer aborted the association request (A-ABORT source {ab['source']} "
                      f"{ab['source_name']}, reason {ab['reason']} {ab['reason_name']})",
                      ("peer-aborted", "calling-ae-not-recognized", "too-many-associations"), **ev)
    if first.outcome != "rejected" or first.reject is None:
        return await _no_answer_result(ctx, first, ev)
    rj = first.reject
    codes = f"result {rj.result} {rj.result_name}, source {rj.source}, reason {rj.reason} {rj.reason_name}"
    summary = f"the peer rejected the association from {calling} to {called} ({codes})"
    if rj.source == 1 and rj.reason == 7:
        summary = f"the PACS rejected the called AE title {called} (reason 7){default_note}"
    elif rj.source == 1 and rj.reason == 3:
        summary = f"the PACS rejected the calling AE title {calling} (reason 3): it does not know us"
    elif rj.source == 3:
        summary = (f"the peer refused the association for now ({rj.result_name}, {rj.reason_name}): "
                   f"it has too many associations open or is congested; retry later")
    variant = bool(ae.accepted_called_ae) and _same_title(ae.accepted_called_ae or "", called)
    if ae.accepted_called_ae and ae.accepted_called_ae != called:
        summary += f"; it answers to {ae.accepted_called_ae}"
        if variant:
            summary += " (the same title, written differently: AE titles are compared exactly)"
    elif ae.probed and ae.called_ae_checked and ae.accepted_called_ae is None and rj.reason == 7:
        summary += f"; none of the {len(ae.attempts) - 1} AE titles we tried was accepted either"
    if ae.accepted_called_ae and ae.calling_ae_checked and rj.reason != 3:
        summary += f", but it does not accept our calling AE title {calling} either"
    causes = _reject_causes(first, ae)
    if ae.accepted_called_ae and ae.calling_ae_checked and causes[0] == "called-ae-not-recognized":
        causes = ("called-ae-not-recognized", "calling-ae-not-recognized")
    if variant:  # FM-17: case or stray spaces, not a wrong title
        causes = ("ae-title-invalid",) + tuple(c for c in causes if c != "ae-title-invalid")
    return failed(summary, causes, **ev)


def _same_title(a: str, b: str) -> bool:
    def norm(x: str) -> str:
        return x.replace(" ", "").replace("_", "-").upper()
    return norm(a) == norm(b)


# ------------------------------------------------------------------------------ assoc.presentation-contexts

def _uids(values: Any, what: str) -> list[str]:
    if isinstance(values, str):
        values = [v for v in values.replace(";", ",").split(",") if v.strip()]
    if not values:
        raise BadInput(f"assoc.presentation-contexts: {what} is empty")
    return [resolve_uid(v, what.rstrip("s").replace("_", " ")) for v in values]


def _pairs(values: Any) -> list[tuple[str, str]]:
    out = []
    for item in values or ():
        if isinstance(item, str) and ":" in item:
            item = item.split(":", 1)
        if isinstance(item, dict):
            item = (item.get("abstract_syntax"), item.get("transfer_syntax"))
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise BadInput(f"assoc.presentation-contexts: required pair {item!r} is not "
                           f"[abstract_syntax, transfer_syntax]")
        out.append((resolve_uid(item[0], "abstract syntax"), resolve_uid(item[1], "transfer syntax")))
    return out


async def _matrix(ctx: CheckContext, abstracts: list[str], transfers: list[str]) -> MatrixFacts:
    """The shared default association when the params are the defaults; else a matrix of its own."""
    if (abstracts, transfers) == default_matrix():
        first = await association_facts(ctx)
        return MatrixFacts(first.contexts if first.accepted else (), (first,))
    return await probe_matrix(abstracts, transfers, lambda batch: _probe(ctx, batch))


def judge_matrix(contexts: Iterable[Any], required: Sequence[tuple[str, str]] = ()
                 ) -> tuple[str, str, tuple[str, ...], dict[str, Any]]:
    """(status, summary, causes, extra evidence) from the whole matrix.

    Judge from every pair, not one result code: Orthanc 1.10 answers 3 (abstract syntax not supported) for a
    SOP class it accepts with another transfer syntax, so a class with any accepted pair is supported, and
    its refused pairs are transfer syntax problems whatever code the peer used."""
    accepted: dict[str, list[str]] = defaultdict(list)
    refused: dict[str, list[str]] = defaultdict(list)
    order: list[str] = []
    for c in contexts:
        if c.abstract_syntax not in order:
            order.append(c.abstract_syntax)
        (accepted if c.result == 0 else refused)[c.abstract_syntax].append(c.transfer_syntax)
    supported = [a for a in order if accepted.get(a)]
    unsupported = [a for a in order if not accepted.get(a)]
    by_class = {uid_name(a): {"accepted": [uid_name(t) for t in accepted.get(a, [])],
                              "refused": [uid_name(t) for t in refused.get(a, [])]} for a in order}
    missing = [(a, ts) for a, ts in required if ts not in accepted.get(a, [])]
    extra = {"sop_classes": by_class, "supported": [uid_name(a) for a in supported],
             "unsupported": [uid_name(a) for a in unsupported],
             "required_missing": [{"abstract_syntax": a, "transfer_syntax": ts} for a, ts in missing]}
    if not order:
        return "fail", "no presentation context could be negotiated", ("no-presentation-context",), extra
    if not supported:
        return ("fail", f"the peer accepted none of the {len(order)} SOP classes we proposed, with any "
                f"transfer syntax", ("no-presentation-context", "abstract-syntax-not-supported"), extra)
    problems: list[str] = []
    causes: list[str] = []
    if unsupported:
        problems.append(f"it does not support {', '.join(uid_name(a) for a in unsupported)}")
        causes.append("abstract-syntax-not-supported")
    ts_missing = [(a, ts) for a, ts in missing if accepted.get(a)]
    as_missing = [(a, ts) for a, ts in missing if not accepted.get(a)]
    if ts_missing:
        problems.append("required pairs refused although the SOP class is accepted with another transfer "
                        "syntax: " + ", ".join(f"{uid_name(a)} with {uid_name(ts)} (accepted: "
                                               f"{', '.join(uid_name(x) for x in accepted[a])})"
                                               for a, ts in ts_missing))
        causes.insert(0, "transfer-syntax-not-supported")
    if as_missing and "abstract-syntax-not-supported" not in causes:
        causes.append("abstract-syntax-not-supported")
    head = f"the peer accepts {len(supported)} of {len(order)} SOP classes"
    if problems:
        return "warn", f"{head}; but {'; '.join(problems)}", tuple(dict.fromkeys(causes)), extra
    partial = [a for a in supported if refused.get(a)]
    note = (f" ({len(partial)} of them not with every transfer syntax; see sop_classes)" if partial else "")
    return "pass", f"{head} with at least one transfer syntax{note}", (), extra


@check("assoc.presentation-contexts", depends=("assoc.ae-title",), title="Presentation contexts",
       timeout=180.0, params={"abstract_syntaxes": list(DEFAULT_ABSTRACT_SYNTAXES),
                              "transfer_syntaxes": list(DEFAULT_TRANSFER_SYNTAXES), "required": []})
async def presentation_contexts(ctx: CheckContext) -> CheckResult:
    abstracts = _uids(ctx.params.get("abstract_syntaxes") or DEFAULT_ABSTRACT_SYNTAXES, "abstract_syntaxes")
    transfers = _uids(ctx.params.get("transfer_syntaxes") or DEFAULT_TRANSFER_SYNTAXES, "transfer_syntaxes")
    required = _pairs(ctx.params.get("required"))
    m = await _matrix(ctx, abstracts, transfers)
    contexts = [{"abstract_syntax": c.abstract_syntax, "transfer_syntax": c.transfer_syntax, "result": c.result,
                 "result_name": c.result_name} for c in m.contexts]
    ev: dict[str, Any] = {"contexts": contexts, "proposed": len(abstracts) * len(transfers),
                          "associations": len(m.associations)}
    if not m.complete:
        bad = next(a for a in m.associations if not a.accepted)
        ev["association_outcome"] = bad.outcome
        if not m.contexts:
            return failed(f"no association carrying the proposed contexts was accepted ({bad.outcome}); "
                          f"see assoc.ae-title", ("no-presentation-context",), **ev)
    status, summary, causes, extra = judge_matrix(m.contexts, required)
    ev.update(extra)
    if status == "pass":
        return passed(summary, **ev)
    if status == "warn":
        return warned(summary, causes, **ev)
    return failed(summary, causes, **ev)


# ------------------------------------------------------------------------------------------ assoc.pdu-length

@check("assoc.pdu-length", depends=("assoc.ae-title",), title="Maximum PDU length", timeout=60.0)
async def pdu_length(ctx: CheckContext) -> CheckResult:
    first = await association_facts(ctx)
    ours = ctx.options.max_pdu
    violations = [dict(v) for v in first.length_violations]
    violations += list(ctx.facts.get("pdu-violations", ()))  # seen by DIMSE checks that ran earlier
    peer = first.peer_max_pdu
    ev: dict[str, Any] = {"peer_max_pdu": peer, "our_max_pdu": ours, "violations": violations,
          "pdu_lengths": [{"pdu": n, "length": ln} for n, ln in first.pdu_lengths],
          "protocol_violations": list(first.violations)}
    our_text = "unlimited (0)" if ours == 0 else str(ours)
    if violations:
        v = violations[0]
        return failed(f"the peer sent a {v.get('pdu', 'PDU')} of {v.get('length')} bytes, above the maximum "
                      f"of {v.get('our_max_pdu', ours)} we announced", ("pdu-length-violation",), **ev)
    if peer is None:
        return warned("the peer's A-ASSOCIATE-AC has no maximum length item (PS3.8 Annex D.1 requires it); "
                      "senders will guess", ("malformed-pdu",), **ev)
    if peer == 0:
        return passed(f"the peer accepts P-DATA PDUs of any length (maximum 0 = unlimited); ours is {our_text}",
                      **ev)
    if peer < PDU_WARN_BELOW:
        return warned(f"the peer accepts PDUs of at most {peer} bytes, under 16 KiB: every large transfer is "
                      f"cut into many small PDUs (slow); ours is {our_text}", ("pdu-too-small",), **ev)
    return passed(f"the peer accepts PDUs of up to {peer} bytes; ours is {our_text}", **ev)

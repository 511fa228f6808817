"""Judgement of association negotiation: assoc.ae-title, assoc.presentation-contexts, assoc.pdu-length.

All three (and peer.identity) read ONE association attempt, the `assoc.probe` fact: an A-ASSOCIATE-RQ with
the default capability matrix (17 SOP classes x 7 transfer syntaxes = 119 contexts, within the 128 limit), so
a standard diagnosis costs the peer one association, plus AE probing only after a rejection.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any, Iterable, Sequence

from ...errors import BadInput
from ...messages import Msg, Text, cat, counted, join, msg
from ...probes.ae import AEFacts, host_hints, learn_ae_titles
from ...probes.association import AssociationFacts, ContextProposal, probe_association, proposals_matrix
from ...probes.contexts import (DEFAULT_ABSTRACT_SYNTAXES, DEFAULT_TRANSFER_SYNTAXES, MatrixFacts, probe_matrix,
                                resolve_uid, uid_name)
from ...probes.firstbytes import Kind
from ...probes.tls import speaks_tls
from .. import judge
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
    with the target's AE titles unless others are given (AE probing), and its user identity if it has one."""
    from ...user_identity import identity_rq

    t = ctx.target
    connect_timeout, timeout = _timeouts(ctx)
    return await probe_association(
        t.host, t.port, called_ae=called_ae or t.called_ae, calling_ae=calling_ae or t.calling_ae,
        proposals=proposals,
        our_max_pdu=ctx.options.max_pdu, connect_timeout=connect_timeout, timeout=timeout,
        tls_context=ctx.ssl_context(), server_hostname=_server_name(ctx), trace=ctx.trace,
        user_identity=identity_rq(t.user_identity))


async def association_facts(ctx: CheckContext) -> AssociationFacts:
    """The shared association attempt with the default matrix (memoized per target)."""
    return await ctx.fact("assoc.probe", lambda: _probe(ctx, default_proposals()))


async def verification_attempt(ctx: CheckContext) -> AssociationFacts:
    """One Verification-only association attempt (not memoized; net.reachable measures on it)."""
    return await _probe(ctx)


async def ae_facts(ctx: CheckContext, first: AssociationFacts) -> AEFacts:
    if ctx.options.no_probe or (first.accepted and not ctx.params.get("probe_accepted", True)):
        return AEFacts()
    # Polite by default (a handful of guesses); the long vendor list only when asked: the check's `guess`
    # param or --guess-ae wide.
    guess = str(ctx.params.get("guess") or ctx.options.guess_ae or "polite")
    if guess not in ("polite", "wide"):
        raise BadInput(msg("assoc.ae-title: guess {guess!r} is not polite or wide", guess=guess))
    return await ctx.fact("assoc.ae-probe", lambda: learn_ae_titles(
        first, lambda called, calling: _probe(ctx, (), called, calling), wide=guess == "wide",
        hints=host_hints(ctx.target.host, ctx.target.port)))


# ------------------------------------------------------------------------------------------ assoc.ae-title

def _ae_prior(ctx: CheckContext, first: AssociationFacts, ae: AEFacts) -> judge.Prior:
    """The earlier checks' evidence plus what AE probing just learned, for judging this association."""
    other = ae.accepted_called_ae if ae.accepted_called_ae and ae.accepted_called_ae != first.called_ae else None
    return replace(ctx.prior(), accepted_called_ae=other,
                   called_ae_variant=other is not None and judge.same_title(other, first.called_ae),
                   calling_ae_checked=bool(ae.calling_ae_checked), any_calling_ae=ae.calling_ae_checked is False)


def _ae_evidence(first: AssociationFacts, ae: AEFacts) -> dict[str, Any]:
    return {
        "outcome": first.outcome, "called_ae": first.called_ae, "calling_ae": first.calling_ae,
        "reject": first.reject.to_json_dict() if first.reject else None,
        "abort": first.abort.to_json_dict() if first.abort else None,
        "first_bytes": first.first.to_json_dict() if first.first else None,
        "accepted_called_ae": ae.accepted_called_ae, "calling_ae_checked": ae.calling_ae_checked,
        "called_ae_checked": ae.called_ae_checked, "probed": ae.probed,
        "called_ae_right": ae.called_ae_right, "refused_alike": ae.refused_alike, "guess": ae.mode,
        "associations": ae.associations if ae.probed else 1,
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
        verdict = judge.judge_transport(first.connect_outcome or "other", ctx.prior())
        if verdict.evidence:
            ev["judgement"] = dict(verdict.evidence)  # which earlier evidence decided the causes
        return failed(msg("connecting to {where} for the association failed: {error}{note}", where=where,
                          error=first.error, note=verdict.summary_note()), verdict.causes, **ev)
    if first.outcome == "malformed":
        return failed(msg("{where} answered with a PDU we cannot decode: {error}", where=where, error=first.malformed),
                      judge.wire_causes("malformed"), malformed=first.malformed, **ev)
    # A plain A-ASSOCIATE-RQ that meets TLS bytes or a close may have hit a TLS port: ask it. Not after
    # silence: a TLS server answers a plain RQ with an alert or a close at once, and a silent peer would keep
    # our ClientHello waiting as long again (--timeout bounds the whole command).
    tls_seen = fb is not None and fb.kind is Kind.TLS
    if t.tls is None and (tls_seen or first.outcome in ("closed", "reset")):
        session = await ctx.fact("assoc.speaks-tls", lambda: speaks_tls(t.host, t.port, _timeouts(ctx)[0]))
        if session or tls_seen:
            ev["tls_session"] = {k: session.get(k) for k in ("protocol", "cipher")} if session else None
            how = msg("answered our plain A-ASSOCIATE-RQ with {answer}", answer=fb.text) \
                if fb is not None and tls_seen else \
                msg("closed the connection on our plain A-ASSOCIATE-RQ, and completes a TLS handshake")
            return failed(msg("{where} expects DICOM over TLS: it {how}; run again with --tls", where=where, how=how),
                          judge.wire_causes("tls"), **ev)
    if first.outcome == "silence":
        return failed(msg(
            "{where} accepted the TCP connection but did not answer the A-ASSOCIATE-RQ within {seconds:g} s; a "
            "DICOM server that serves one client at a time (Orthanc 1.10) behaves like this while another client "
            "holds it (listener busy), as does a hung or overloaded server or a non-DICOM service waiting for "
            "input", where=where, seconds=timeout), judge.timeout_causes("association", ctx.prior()),
            listener_busy_possible=True, **ev)
    if first.outcome in ("closed", "reset"):
        causes = judge.abort_causes(None, None, "association", ctx.prior(), kind=first.outcome)
        if first.outcome == "closed":
            return failed(msg("{where} closed the connection right after our A-ASSOCIATE-RQ without answering: "
                              "DICOM servers do this to callers they do not accept (AE title or IP address not "
                              "allowed), when they are out of association slots, or when they crash", where=where),
                          causes, **ev)
        return failed(msg("{where} reset the connection right after our A-ASSOCIATE-RQ without answering: DICOM "
                          "servers do this to callers they do not accept (AE title or IP address not allowed), "
                          "when they are out of association slots, or when they crash", where=where), causes, **ev)
    assert fb is not None
    if fb.kind is Kind.GARBAGE:
        return failed(msg("{where} answered with bytes that are not a DICOM PDU: {answer} at offset 0", where=where,
                          answer=fb.text), judge.wire_causes("garbage"), **ev)
    if fb.kind is Kind.DICOM_UNEXPECTED:
        return failed(msg("{where} answered our A-ASSOCIATE-RQ with {answer}, which is not a valid answer",
                          where=where, answer=fb.text), judge.wire_causes("unexpected"), **ev)
    return failed(msg("{where} is not a DICOM port: it answered with {answer}", where=where, answer=fb.text),
                  judge.wire_causes("http" if fb.kind is Kind.HTTP else "text"), **ev)


def _silent_after_accept(ctx: CheckContext, first: AssociationFacts) -> CheckResult:
    """Accepted, then no A-RELEASE-RP: the peer went silent after its A-ASSOCIATE-AC. No AE probing: every
    further association would wait as long (the runner skips the checks after this one, `peer_silent`)."""
    ctx.set_peer(PeerInfo(first.implementation_class_uid, first.implementation_version_name, first.peer_max_pdu))
    wait = min(_timeouts(ctx)[1], 5.0)  # probes/association.py waits this long for the A-RELEASE-RP
    return failed(msg("the peer accepted the association from {calling} to {called}, then answered nothing: no "
                      "A-RELEASE-RP within {seconds:g} s. An SCP whose association worker hangs, or waits on a lock "
                      "another client holds, does this; the checks that would ask it again are skipped",
                      calling=first.calling_ae, called=first.called_ae, seconds=wait),
                  judge.timeout_causes("after-accept", ctx.prior()), peer_silent="after-ac",
                  **_ae_evidence(first, AEFacts()))


@check("assoc.ae-title", depends=("net.reachable", "tls.handshake"), title="AE titles", timeout=120.0,
       params={"probe_accepted": True, "guess": ""})
async def ae_title(ctx: CheckContext) -> CheckResult:
    t = ctx.target
    first = await association_facts(ctx)
    ae = AEFacts()
    if first.outcome == "accepted" and first.release == "no-release-reply":
        return _silent_after_accept(ctx, first)
    if first.outcome in ("accepted", "rejected"):
        ae = await ae_facts(ctx, first)
    ev = _ae_evidence(first, ae)
    called, calling = first.called_ae, first.calling_ae
    default_note: Text = "" if t.called_ae_given else \
        msg(" (no called AE was given; we used the default {called})", called=called)
    if first.outcome == "accepted":
        # The report's target entry names the peer even when peer.identity is not in the playbook (echo).
        ctx.set_peer(PeerInfo(first.implementation_class_uid, first.implementation_version_name,
                              first.peer_max_pdu))
        notes: list[Text] = []
        if ae.called_ae_checked is False:
            notes.append(msg("it does not check the called AE title (any title works)"))
        if ae.calling_ae_checked is False:
            # At association time only: some servers (Orthanc) check the calling AE per operation instead.
            notes.append(msg("it accepts associations from any calling AE title"))
        extra = msg("; {notes}", notes=join(notes, sep=msg("; "))) if notes else ""
        return passed(msg("the peer accepted the association from {calling} to {called}{default_note}{extra}",
                          calling=calling, called=called, default_note=default_note, extra=extra), **ev)
    if first.outcome == "aborted" and first.abort is not None:
        ab = first.abort.to_json_dict()
        return failed(msg("the peer aborted the association request (A-ABORT source {source} {source_name}, reason "
                          "{reason} {reason_name})", source=ab["source"], source_name=ab["source_name"],
                          reason=ab["reason"], reason_name=ab["reason_name"]),
                      judge.abort_causes(first.abort.source, first.abort.reason, "association", ctx.prior()),
                      **ev)
    if first.outcome != "rejected" or first.reject is None:
        return await _no_answer_result(ctx, first, ev)
    rj = first.reject
    summary: Text
    if rj.source == 1 and rj.reason == 7:
        summary = msg("the PACS rejected the called AE title {called} (reason 7){default_note}", called=called,
                      default_note=default_note)
    elif rj.source == 1 and rj.reason == 3:
        summary = msg("the PACS rejected the calling AE title {calling} (reason 3): it does not know us",
                      calling=calling)
    elif rj.source == 3:
        summary = msg("the peer refused the association for now ({result_name}, {reason_name}): it has too many "
                      "associations open or is congested; retry later", result_name=rj.result_name,
                      reason_name=rj.reason_name)
    else:
        codes = msg("result {result} {result_name}, source {source}, reason {reason} {reason_name}",
                    result=rj.result, result_name=rj.result_name, source=rj.source, reason=rj.reason,
                    reason_name=rj.reason_name)
        summary = msg("the peer rejected the association from {calling} to {called} ({codes})", calling=calling,
                      called=called, codes=codes)
    parts: list[Text] = [summary]
    variant = bool(ae.accepted_called_ae) and judge.same_title(ae.accepted_called_ae or "", called)
    if ae.accepted_called_ae and ae.accepted_called_ae != called:
        parts.append(msg("; it answers to {called}", called=ae.accepted_called_ae))
        if variant:
            parts.append(msg(" (the same title, written differently: AE titles are compared exactly)"))
    elif ae.called_ae_right:
        parts.append(msg("; but it accepted the same called AE {called} from a random calling AE title, so it is our "
                         "calling AE title {calling} (or this host) it refuses", called=called, calling=calling))
    elif ae.probed and ae.called_ae_checked and ae.accepted_called_ae is None and rj.reason == 7:
        parts.append(msg("; none of the {n} other AE title combinations we tried was accepted either",
                         n=len(ae.attempts) - 1))
    if ae.accepted_called_ae and ae.accepted_called_ae != called and ae.calling_ae_checked and rj.reason != 3:
        parts.append(msg(", but it does not accept our calling AE title {calling} either", calling=calling))
    verdict = judge.judge_ae_reject(rj.result, rj.source, rj.reason, _ae_prior(ctx, first, ae),
                                    called_ae_right=bool(ae.called_ae_right), refused_alike=ae.refused_alike,
                                    identity_proposed=ctx.target.user_identity is not None)
    if ae.probed:
        more: Text = "" if ae.mode == "wide" or ae.accepted_called_ae or ae.called_ae_right else \
            msg("; --guess-ae wide tries the long list of vendor defaults")
        parts.append(msg("{note} (AE probing cost the peer {associations}, {mode}{more})",
                         note=verdict.summary_note(),
                         associations=counted(ae.associations, "{n} association", "{n} associations"),
                         mode=ae.mode, more=more))
    else:
        parts.append(verdict.summary_note())
    return failed(cat(*parts), verdict.causes, **ev)


# ------------------------------------------------------------------------------ assoc.presentation-contexts

def _uids(values: Any, what: str) -> list[str]:
    if isinstance(values, str):
        values = [v for v in values.replace(";", ",").split(",") if v.strip()]
    if not values:
        raise BadInput(msg("assoc.presentation-contexts: {what} is empty", what=what))
    # "abstract_syntaxes" -> "abstract syntax" (rstrip("s") left "syntaxe")
    singular = what.replace("_", " ").removesuffix("es") if what.endswith("syntaxes") else what.replace("_", " ")
    return [resolve_uid(v, singular) for v in values]


def _pairs(values: Any) -> list[tuple[str, str]]:
    out = []
    for item in values or ():
        if isinstance(item, str) and ":" in item:
            item = item.split(":", 1)
        if isinstance(item, dict):
            item = (item.get("abstract_syntax"), item.get("transfer_syntax"))
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise BadInput(msg("assoc.presentation-contexts: required pair {item!r} is not "
                               "[abstract_syntax, transfer_syntax]", item=item))
        out.append((resolve_uid(item[0], "abstract syntax"), resolve_uid(item[1], "transfer syntax")))
    return out


async def _matrix(ctx: CheckContext, abstracts: list[str], transfers: list[str]) -> MatrixFacts:
    """The shared default association when the params are the defaults; else a matrix of its own."""
    if (abstracts, transfers) == default_matrix():
        first = await association_facts(ctx)
        return MatrixFacts(first.contexts if first.accepted else (), (first,))
    return await probe_matrix(abstracts, transfers, lambda batch: _probe(ctx, batch))


async def class_answer(ctx: CheckContext, abstract_syntax: str) -> "judge.ClassAnswer | None":
    """How the peer answers one SOP class with every default transfer syntax: from this run's
    assoc.presentation-contexts when it proposed the class, else one small association of its own (7
    contexts, memoized), asked only after a failure that needs it (dimse.store)."""
    earlier = ctx.results.get("assoc.presentation-contexts")
    contexts = [c for c in (earlier.evidence.get("contexts") or []) if c.get("abstract_syntax") == abstract_syntax] \
        if earlier is not None else []
    if not contexts:
        transfers = default_matrix()[1]
        m = await ctx.fact(f"assoc.class-matrix:{abstract_syntax}", lambda: probe_matrix(
            [abstract_syntax], transfers, lambda batch: _probe(ctx, batch)))
        contexts = list(m.contexts)
    answers = judge.class_answers(contexts)
    return answers[0] if answers else None


def default_roles() -> dict[str, str]:
    """The default matrix's SOP classes (UIDs) -> the role a peer plays by accepting them."""
    def role(name: str) -> str:
        if name == "Verification":
            return "verification"
        if name in WORKFLOW_CLASSES:
            return "workflow"
        return "query-retrieve" if "QueryRetrieve" in name else "storage"
    return {resolve_uid(a): role(a) for a in DEFAULT_ABSTRACT_SYNTAXES}


ROLE_NAMES = {"storage": msg("Storage"), "query-retrieve": msg("Query/Retrieve"),
              "verification": msg("Verification"), "workflow": msg("Workflow (MWL, MPPS, storage commitment)")}
# The workflow SOP classes of the default matrix (a role of their own: a PACS without them is healthy).
WORKFLOW_CLASSES = ("ModalityWorklistInformationModelFind", "ModalityPerformedProcedureStep",
                    "StorageCommitmentPushModel", "InstanceAvailabilityNotification")


# The names a PACS admin reads on a modality's screen, shorter than the standard's full ones.
SHORT_TS_NAMES = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian", "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian", "1.2.840.10008.1.2.1.99": "Deflated Explicit VR LE",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline", "1.2.840.10008.1.2.4.51": "JPEG Extended",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless", "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless", "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless", "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.5": "RLE Lossless",
}


def _names(uids: Iterable[str]) -> str:
    return ", ".join(SHORT_TS_NAMES.get(u) or uid_name(u) for u in uids)


def _narrow_text(narrow: Sequence[judge.ClassAnswer]) -> Msg:
    """"CT Image Storage: only Implicit VR Little Endian; JPEG 2000 Lossless refused", classes with the same
    answer named together."""
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for a in narrow:
        groups.setdefault((a.accepted, a.refused_syntaxes), []).append(a.abstract_syntax)
    return join([msg("{classes}: only {accepted}; {refused} refused", classes=_names(classes), accepted=_names(acc),
                     refused=_names(ref)) for (acc, ref), classes in groups.items()], sep=msg("; "))


def _refused_text(a: judge.ClassAnswer) -> Msg:
    results = sorted({r for _, r in a.refused})
    if results == [4]:
        return msg("{sop_class} (result 4, transfer syntaxes not supported: the SOP class is supported, not in "
                   "{syntaxes})", sop_class=uid_name(a.abstract_syntax), syntaxes=_names(a.refused_syntaxes))
    return msg("{sop_class} (result {results})", sop_class=uid_name(a.abstract_syntax),
               results="/".join(map(str, results)))


def judge_matrix(contexts: Iterable[Any], required: Sequence[tuple[str, str]] = (), *,
                 role_of: dict[str, str] | None = None, asked_roles: Sequence[str] = (),
                 asked_syntaxes: Sequence[str] = ()) -> tuple[str, Msg, tuple[str, ...], dict[str, Any]]:
    """(status, summary, causes, extra evidence) from the whole matrix; the rules are judge.judge_contexts
    (a class is judged from every answer, a peer by the role it plays), the words are here (a message)."""
    answers = judge.class_answers(contexts)
    j = judge.judge_contexts(answers, role_of=role_of, asked_roles=asked_roles, asked_syntaxes=asked_syntaxes,
                             required=required)
    supported = [a.abstract_syntax for a in answers if a.supported]
    by_class = {uid_name(a.abstract_syntax): {"accepted": [uid_name(t) for t in a.accepted],
                                              "refused": [uid_name(t) for t in a.refused_syntaxes]}
                for a in answers}
    extra: dict[str, Any] = {
        "sop_classes": by_class, "supported": [uid_name(a) for a in supported],
        "unsupported": [uid_name(a.abstract_syntax) for a in answers if not a.supported],
        "required_missing": [{"abstract_syntax": a, "transfer_syntax": ts} for a, ts in j.required_missing],
        "roles_not_played": {r: [uid_name(u) for u in v] for r, v in j.roles_missing.items()}}
    if not answers:
        return "fail", msg("no presentation context could be negotiated"), ("no-presentation-context",), extra
    if j.status == "fail":
        shown: list[Text] = [_refused_text(a) for a in answers[:4]]
        if len(answers) > 4:
            shown.append("...")
        which = (msg("the peer refused the one SOP class we proposed, with every transfer syntax")
                 if len(answers) == 1 else
                 msg("the peer accepted none of the {n} SOP classes we proposed, with any transfer syntax",
                     n=len(answers)))
        return "fail", msg("{which}: {what}", which=which, what=join(shown, sep=msg(", "))), j.causes, extra
    problems: list[Text] = []
    if j.unsupported:
        problems.append(msg("it does not support {classes}",
                            classes=join([_refused_text(a) for a in j.unsupported], sep=msg(", "))))
    if j.narrow:
        problems.append(_narrow_text(j.narrow))
    ts_missing = [(a, ts) for a, ts in j.required_missing if a in supported]
    if ts_missing:
        accepted = {a.abstract_syntax: a.accepted for a in answers}
        pairs = join([msg("{sop_class} with {syntax} (accepted: {accepted})", sop_class=uid_name(a),
                          syntax=uid_name(ts), accepted=_names(accepted[a])) for a, ts in ts_missing], sep=msg(", "))
        problems.append(msg("required pairs refused although the SOP class is accepted with another transfer "
                            "syntax: {pairs}", pairs=pairs))
    as_missing = [a for a, _ in j.required_missing if a not in supported]
    if as_missing:
        problems.append(msg("required SOP classes refused: {classes}", classes=_names(dict.fromkeys(as_missing))))
    head = msg("the peer accepts {supported} of {total} SOP classes", supported=len(supported), total=len(answers))
    info: list[Text] = []
    for role, uids in j.roles_missing.items():
        played = any(role_of and role_of.get(a) == role for a in supported)
        name: Text = ROLE_NAMES.get(role, role)
        if played:
            info.append(msg("it serves only part of {role} ({refused} refused)", role=name, refused=_names(uids)))
        elif role == "query-retrieve":
            info.append(msg("it serves no {role} (a Storage SCP)", role=name))
        else:
            info.append(msg("it serves no {role} (not its role)", role=name))
    info_text: Text = msg("; {info}", info=join(info, sep=msg("; "))) if info else ""
    if j.status == "warn":
        return "warn", msg("{head}; but {problems}{info}", head=head, problems=join(problems, sep=msg("; ")),
                           info=info_text), j.causes, extra
    partial = [a for a in answers if a.supported and a.refused]
    note: Text = msg(" ({n} of them not with every transfer syntax; see sop_classes)", n=len(partial)) \
        if partial else ""
    return "pass", msg("{head} with at least one transfer syntax{note}{info}", head=head, note=note,
                       info=info_text), (), extra


@check("assoc.presentation-contexts", depends=("assoc.ae-title",), title="Presentation contexts",
       timeout=180.0, params={"abstract_syntaxes": list(DEFAULT_ABSTRACT_SYNTAXES),
                              "transfer_syntaxes": list(DEFAULT_TRANSFER_SYNTAXES), "required": [],
                              "roles": []})
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
            return failed(msg("no association carrying the proposed contexts was accepted ({outcome}); see "
                              "assoc.ae-title", outcome=bad.outcome), ("no-presentation-context",), **ev)
    # A peer is judged by the role it plays: the default matrix's classes by their role, unless the playbook
    # names the roles it needs (`roles`) or its own classes; transfer syntaxes it names always count.
    defaults = default_matrix()
    roles = [str(r) for r in ctx.params.get("roles") or []]
    for r in roles:
        if r not in ROLE_NAMES:
            raise BadInput(msg("assoc.presentation-contexts: role {role!r} is not one of {roles}", role=r,
                               roles=", ".join(ROLE_NAMES)))
    status, summary, causes, extra = judge_matrix(
        m.contexts, required, role_of=default_roles() if abstracts == defaults[0] else {}, asked_roles=roles,
        asked_syntaxes=() if transfers == defaults[1] else transfers)
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
    our_text: Text = msg("unlimited (0)") if ours == 0 else str(ours)
    if first.release == "pdus-after-release":  # probes/association.py cut off a flood after A-RELEASE-RQ
        return failed(msg("the peer kept sending PDUs after our A-RELEASE-RQ instead of A-RELEASE-RP; aborted"),
                      judge.violation_causes("pdu-after-release-rq"), **ev)
    if violations:
        v = violations[0]
        return failed(msg("the peer sent a {pdu} of {length} bytes, above the maximum of {ours} we announced",
                          pdu=v.get("pdu", "PDU"), length=v.get("length"), ours=v.get("our_max_pdu", ours)),
                      ("pdu-length-violation",), **ev)
    if peer is None:
        return warned(msg("the peer's A-ASSOCIATE-AC has no maximum length item (PS3.8 Annex D.1 requires it); "
                          "senders will guess"), ("malformed-pdu",), **ev)
    if peer == 0:
        return passed(msg("the peer accepts P-DATA PDUs of any length (maximum 0 = unlimited); ours is {ours}",
                          ours=our_text), **ev)
    if peer < PDU_WARN_BELOW:
        return warned(msg("the peer accepts PDUs of at most {peer} bytes, under 16 KiB: every large transfer is cut "
                          "into many small PDUs (slow); ours is {ours}", peer=peer, ours=our_text),
                      ("pdu-too-small",), **ev)
    return passed(msg("the peer accepts PDUs of up to {peer} bytes; ours is {ours}", peer=peer, ours=our_text),
                  **ev)

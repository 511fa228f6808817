"""assoc.capacity: how many simultaneous associations the peer accepts, and how it refuses the next (opt-in).

A limit is not a fault in itself: every SCP has one, and answering the next request with A-ASSOCIATE-RJ
2/3/2 (transient, service provider, local limit exceeded; PS3.8 Table 9-21) is the polite way to say so.
The check warns when
  * the limit is below `expect` (default 5: a CT sends on a few associations at once, a router on more;
    a PACS taking fewer turns parallel senders into rejects, FM-18),
  * the refusal is impolite: an A-ABORT, a closed connection, or silence (the request waits in a queue
    until the sender times out: Orthanc 1.10 accepts associations on one thread), or an association that is
    accepted but never served (its C-ECHO times out: the worker pool is exhausted),
  * the peer does not accept a new association once ours are all released (it leaks them).
"""

from __future__ import annotations

from typing import Any

from ...messages import Msg, Text, counted, join, msg
from ...probes import capacity as pc
from ...probes import dimse as pd
from .. import judge
from ..context import CheckContext, CheckResult, failed, passed, warned
from ..registry import check
from .dimse import not_completed



def _as_dimse_facts(r: pc.Refusal) -> pd.DimseFacts:
    """A refusal of the first association, in the shape the DIMSE checks judge (one wording for all)."""
    f = pd.DimseFacts("A-ASSOCIATE", detail=r.detail, phase=r.phase if r.phase != "connect" else "")
    if r.kind == "rejected":
        f.outcome = "rejected"
        f.reject = {"result": r.result, "source": r.source, "reason": r.reason, "result_name": r.result_name,
                    "source_name": r.source_name, "reason_name": r.reason_name}
    elif r.kind in ("aborted", "closed"):
        f.outcome = "aborted"
        f.abort = {"source": r.source, "reason": r.reason, "source_name": r.source_name,
                   "reason_name": r.reason_name}
    elif r.kind == "timeout":
        f.outcome = "timeout"
    elif r.kind == "connect-failed":
        f.outcome, f.connect_outcome = "connect-failed", r.connect_outcome or ""
    elif r.kind == "protocol-error":
        f.outcome = "protocol-error"
    elif r.kind == "no-context":
        f.outcome = "no-context"
    else:
        f.outcome = "error"
    return f


def _how(r: pc.Refusal, *, again: bool = False) -> Msg:
    """How the peer refused association number r.attempt: "rejected it with ..." (`again`: of a new one after
    ours were released, "rejected with ...": the sentence names the association itself)."""
    if r.kind == "rejected":
        codes = dict(result=r.result, source=r.source, reason=r.reason, result_name=r.result_name,
                     source_name=r.source_name, reason_name=r.reason_name)
        if again:
            return msg("rejected with A-ASSOCIATE-RJ {result}/{source}/{reason} ({result_name}, {source_name}, "
                       "{reason_name})", **codes)
        return msg("rejected it with A-ASSOCIATE-RJ {result}/{source}/{reason} ({result_name}, {source_name}, "
                   "{reason_name})", **codes)
    if r.kind == "aborted":
        return msg("answered with an A-ABORT ({source_name}, {reason_name}) instead of a reject",
                   source_name=r.source_name, reason_name=r.reason_name)
    if r.kind == "closed":
        return msg("closed the connection without a word instead of rejecting")
    if r.kind == "timeout" and r.phase == "association":
        return msg("never answered the A-ASSOCIATE-RQ (queued, or the listener is held)")
    if r.kind == "timeout":
        return msg("accepted it but never answered its C-ECHO (no free worker to serve it)")
    if r.kind == "echo-refused":
        return msg("accepted it but refused its C-ECHO ({detail})", detail=r.message or r.detail)
    return msg("failed it ({kind}: {detail})", kind=r.kind, detail=r.detail)


@check("assoc.capacity", depends=("assoc.ae-title",), title="Association capacity", timeout=180.0,
       params={"max": 16, "expect": 5})
async def capacity(ctx: CheckContext) -> CheckResult:
    limit = max(1, min(int(ctx.params.get("max") or 16), pc.HARD_LIMIT))
    expect = max(1, int(ctx.params.get("expect") or 1))
    facts = await pc.probe_capacity(ctx.target, limit, timeouts=ctx.timeouts, max_pdu=ctx.options.max_pdu,
                                    trace=ctx.trace, tls_context=ctx.ssl_context())
    ev: dict[str, Any] = facts.evidence()
    ev["expect"] = expect
    r = facts.refusal
    if facts.accepted == 0:
        assert r is not None
        if r.kind in ("echo-refused",) or (r.kind == "timeout" and r.phase == "dimse"):
            return failed(msg("the peer accepted an association but {how}", how=_how(r)),
                          ("server-overloaded", "dimse-timeout"), **ev)
        return not_completed(_as_dimse_facts(r), msg("not even one association could be opened"), ev,
                             prior=ctx.prior())
    n = facts.accepted
    causes: list[str] = []
    problems: list[Text] = []
    headline: Text
    if r is None:
        headline = msg("the peer accepted all {n} simultaneous associations we tried (its limit, if any, is higher)",
                       n=n)
    else:
        headline = msg("the peer accepted {associations}; at number {attempt} it {how}",
                       associations=counted(n, "{n} simultaneous association", "{n} simultaneous associations"),
                       attempt=r.attempt, how=_how(r))
        polite = r.kind == "rejected" and r.result == 2 and r.source == 3
        if polite:
            if n < expect:
                causes.append(judge.reject_causes(2, 3, r.reason or 0)[0])
                problems.append(msg("fewer than the {expect} a busy site needs", expect=expect))
        elif r.kind == "rejected":
            causes += ["too-many-associations", "reject-no-reason"]
            problems.append(msg("a permanent reject where a transient 2/3/2 was due"))
        elif r.kind == "timeout" and r.phase == "association":
            causes += ["listener-busy", "too-many-associations", "server-overloaded"]
            problems.append(msg("senders beyond the limit hang until their timeout instead of being told"))
        elif r.kind in ("timeout", "echo-refused"):
            causes += ["server-overloaded", "too-many-associations"]
            problems.append(msg("associations beyond the worker pool are accepted but not served"))
        else:
            causes += ["too-many-associations", "server-overloaded", "peer-aborted"]
            problems.append(msg("an impolite refusal that senders report as a network error"))
    if facts.recovered is False:
        causes = ["too-many-associations", "server-overloaded"] + [c for c in causes if c not in
                                                                  ("too-many-associations", "server-overloaded")]
        how = _how(facts.recovery, again=True) if facts.recovery else msg("refused it")
        problems.append(msg("after we released all ours it still {how} a new one (it leaks or is slow to free "
                            "associations)", how=how))
    if facts.aborted:
        problems.append(msg("{n} of ours had to be aborted: no A-RELEASE-RP in time", n=facts.aborted))
    pool = facts.served_at_once()
    if pool is not None:
        # Not a fault by itself: a worker pool queues the rest, and they are served (slowly).
        headline = msg("{headline}; only {pool} were served at once: the C-ECHO on association {next} waited "
                       "{ms:.0f} ms for a free worker (e.g. Orthanc DicomThreadsCount)", headline=headline,
                       pool=pool, next=pool + 1, ms=facts.echo_ms[pool])
    if problems:
        if not causes:
            causes.append("server-overloaded")
        return warned(msg("{headline}: {problems}", headline=headline, problems=join(problems, sep=msg("; "))),
                      tuple(dict.fromkeys(causes)), **ev)
    return passed(headline, **ev)

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


def _how(r: pc.Refusal) -> str:
    if r.kind == "rejected":
        return (f"rejected it with A-ASSOCIATE-RJ {r.result}/{r.source}/{r.reason} "
                f"({r.result_name}, {r.source_name}, {r.reason_name})")
    if r.kind == "aborted":
        return f"answered with an A-ABORT ({r.source_name}, {r.reason_name}) instead of a reject"
    if r.kind == "closed":
        return "closed the connection without a word instead of rejecting"
    if r.kind == "timeout" and r.phase == "association":
        return "never answered the A-ASSOCIATE-RQ (queued, or the listener is held)"
    if r.kind == "timeout":
        return "accepted it but never answered its C-ECHO (no free worker to serve it)"
    if r.kind == "echo-refused":
        return f"accepted it but refused its C-ECHO ({r.detail})"
    return f"failed it ({r.kind}: {r.detail})"


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
            return failed(f"the peer accepted an association but {_how(r)}", ("server-overloaded",
                                                                                "dimse-timeout"), **ev)
        return not_completed(_as_dimse_facts(r), "not even one association could be opened", ev, prior=ctx.prior())
    n = facts.accepted
    causes: list[str] = []
    problems: list[str] = []
    if r is None:
        headline = f"the peer accepted all {n} simultaneous associations we tried (its limit, if any, is higher)"
    else:
        headline = f"the peer accepted {n} simultaneous association{'s' if n != 1 else ''}; at number {r.attempt} " \
                   f"it {_how(r)}"
        polite = r.kind == "rejected" and r.result == 2 and r.source == 3
        if polite:
            if n < expect:
                causes.append(judge.reject_causes(2, 3, r.reason or 0)[0])
                problems.append(f"fewer than the {expect} a busy site needs")
        elif r.kind == "rejected":
            causes += ["too-many-associations", "reject-no-reason"]
            problems.append("a permanent reject where a transient 2/3/2 was due")
        elif r.kind == "timeout" and r.phase == "association":
            causes += ["listener-busy", "too-many-associations", "server-overloaded"]
            problems.append("senders beyond the limit hang until their timeout instead of being told")
        elif r.kind in ("timeout", "echo-refused"):
            causes += ["server-overloaded", "too-many-associations"]
            problems.append("associations beyond the worker pool are accepted but not served")
        else:
            causes += ["too-many-associations", "server-overloaded", "peer-aborted"]
            problems.append("an impolite refusal that senders report as a network error")
    if facts.recovered is False:
        causes = ["too-many-associations", "server-overloaded"] + [c for c in causes if c not in
                                                                  ("too-many-associations", "server-overloaded")]
        how = _how(facts.recovery) if facts.recovery else "refused it"
        problems.append(f"after we released all ours it still {how.replace('rejected it', 'rejected')} a new one "
                        f"(it leaks or is slow to free associations)")
    if facts.aborted:
        problems.append(f"{facts.aborted} of ours had to be aborted: no A-RELEASE-RP in time")
    pool = facts.served_at_once()
    if pool is not None:
        # Not a fault by itself: a worker pool queues the rest, and they are served (slowly).
        headline += (f"; only {pool} were served at once: the C-ECHO on association {pool + 1} waited "
                     f"{facts.echo_ms[pool]:.0f} ms for a free worker (e.g. Orthanc DicomThreadsCount)")
    if problems:
        if not causes:
            causes.append("server-overloaded")
        return warned(f"{headline}: {'; '.join(problems)}", tuple(dict.fromkeys(causes)), **ev)
    return passed(headline, **ev)

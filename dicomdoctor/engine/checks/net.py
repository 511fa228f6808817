"""Judgement of name resolution and the TCP connection (net.dns, net.reachable). Facts come from probes.tcp."""

from __future__ import annotations

import asyncio
from typing import Any

from ...messages import Text, join, msg
from ...probes.raw import meaning, raw_probe
from ...probes.tcp import ConnectFacts, DNSFacts, resolve, tcp_connect
from .. import judge
from ..context import CheckContext, CheckResult, failed, passed, warned
from ..registry import check


async def dns_facts(ctx: CheckContext) -> DNSFacts:
    t = ctx.target
    return await ctx.fact("net.dns", lambda: resolve(t.host, t.port, float(ctx.timeouts.connect or 10.0)))


@check("net.dns", title="Name resolution", timeout=30.0)
async def dns(ctx: CheckContext) -> CheckResult:
    f = await dns_facts(ctx)
    ev: dict[str, Any] = dict(host=f.host, outcome=f.outcome, addresses=list(f.addresses), ipv4=list(f.ipv4),
              ipv6=list(f.ipv6), resolve_ms=round(f.resolve_ms, 1))
    if f.outcome == "literal":
        return passed(msg("{host} is an IP address; nothing to resolve", host=f.host), **ev)
    if f.outcome == "ok":
        return passed(msg("{host} resolves to {addresses}", host=f.host, addresses=", ".join(f.addresses)), **ev)
    if f.outcome == "timeout":
        return failed(msg("{host} did not resolve: the DNS server gave no answer ({error})", host=f.host,
                          error=f.error), "dns-failure", error=f.error, **ev)
    return failed(msg("{host} does not resolve: {error}", host=f.host, error=f.error), "dns-failure",
                  error=f.error, **ev)


async def _raw_evidence(ctx: CheckContext, outcome: str) -> dict[str, Any] | None:
    """The raw SYN probe (and, when asked, a TCP traceroute) for a connect that failed; None when off.

    Only with raw-socket privileges (otherwise the evidence says why not); bounded by its budget, so a dead
    target costs at most a few seconds more. Runs in a thread: scapy blocks.
    """
    if outcome not in ("refused", "timeout", "unreachable") or not ctx.params.get("raw_probe", True):
        return None
    t = ctx.target
    trace = bool(ctx.params.get("traceroute", False))
    return await asyncio.to_thread(raw_probe, t.host, t.port, traceroute=trace, timeout=1.5,
                                   budget=15.0 if trace else 4.0)


# Checks that read the shared association attempt (assoc.probe), and check families that open associations
# of their own. tls.handshake and net.* never send an A-ASSOCIATE-RQ.
_SHARED_PROBE_CHECKS = frozenset({"assoc.ae-title", "assoc.presentation-contexts", "assoc.pdu-length",
                                  "peer.identity"})
_ASSOCIATING_FAMILIES = ("assoc.", "dimse.", "peer.", "perf.")


async def connect_facts(ctx: CheckContext, timeout: float) -> ConnectFacts:
    """Reachability measured on the connection of the first association when the run holds one.

    Some legacy SCPs (RSNA CTN's simple_storage, older modality and PACS software) exit when a client connects
    and closes without sending an A-ASSOCIATE-RQ, so a bare connect would knock over the peer it diagnoses.
    When the run's later checks read the shared association attempt, that attempt runs now and its own TCP
    connect is the measurement; when only other associating checks follow (quick: dimse.echo), a one-context
    Verification association does the same. A bare connect-and-close is left for runs where no association
    follows."""
    from .assoc import association_facts, verification_attempt  # here: keeps the registration order

    t = ctx.target
    planned = set(ctx.planned)
    attempt = None
    try:
        if planned & _SHARED_PROBE_CHECKS:
            attempt = await association_facts(ctx)
        elif any(c.startswith(_ASSOCIATING_FAMILIES) for c in planned):
            attempt = await ctx.fact("net.reachable.association", lambda: verification_attempt(ctx))
    except Exception:  # the probe is bounded and never raises for the peer; a bug there falls back below
        attempt = None
    if attempt is not None and attempt.connect is not None:
        return attempt.connect
    return await ctx.fact("net.reachable", lambda: tcp_connect(t.host, t.port, timeout))


@check("net.reachable", depends=("net.dns",), title="TCP connection", timeout=60.0,
       params={"raw_probe": True, "traceroute": False})
async def reachable(ctx: CheckContext) -> CheckResult:
    t = ctx.target
    timeout = float(ctx.timeouts.connect or 10.0)
    f: ConnectFacts = await connect_facts(ctx, timeout)
    where = f"{t.host}:{t.port}"
    ev: dict[str, Any] = dict(outcome=f.outcome, address=f.address, port=t.port,
              connect_ms=round(f.connect_ms, 1) if f.connect_ms is not None else None,
              errno=f.errno, detail=f.detail, measured_on=f.measured_on)
    raw = await _raw_evidence(ctx, f.outcome)
    syn = ""
    if raw is not None:
        ev["raw_probe"] = raw
        syn = str((raw.get("syn") or {}).get("outcome") or "")
    # The raw probe's reading supports or contradicts the connect's; it never silently replaces it.
    verdict = judge.judge_connect(f.outcome, ctx.prior(), raw_syn=syn or None)
    causes = verdict.causes
    if syn:
        ev["judgement"] = {"confidence": verdict.confidence, **verdict.evidence}
    if f.outcome == "open":
        if f.connect_ms is not None and f.connect_ms > 1000:
            return warned(msg("{where} accepts TCP connections, but connecting took {ms:.0f} ms", where=where,
                              ms=f.connect_ms), "server-overloaded", **ev)
        if f.connect_ms is not None:
            return passed(msg("{where} accepts TCP connections in {ms:.1f} ms", where=where, ms=f.connect_ms),
                          **ev)
        return passed(msg("{where} accepts TCP connections", where=where), **ev)
    notes: list[Text] = []
    if raw and raw.get("meaning"):
        notes.append(msg("; raw SYN probe: {meaning}", meaning=meaning(raw)))
    if verdict.confidence == "low":
        notes.append(msg(" ({note}; confidence in the causes is low)", note=verdict.note))
    raw_note = join(notes, sep="")
    if f.outcome == "refused":
        return failed(msg("{where} refused the connection: nothing listens on port {port} there (or a firewall "
                          "rejects it){raw_note}", where=where, port=t.port, raw_note=raw_note), causes, **ev)
    if f.outcome == "timeout":
        return failed(msg("connecting to {where} timed out after {seconds:g} s: no answer at all, which is what a "
                          "firewall that drops packets or an absent host looks like{raw_note}", where=where,
                          seconds=timeout, raw_note=raw_note), causes, **ev)
    if f.outcome == "unreachable":
        return failed(msg("{where} is unreachable: no route to the host ({detail}){raw_note}", where=where,
                          detail=f.detail, raw_note=raw_note), causes, **ev)
    if f.outcome == "reset":
        return failed(msg("{where} reset the connection during the TCP handshake ({detail})", where=where,
                          detail=f.detail), causes, **ev)
    return failed(msg("connecting to {where} failed: {outcome} ({detail})", where=where, outcome=f.outcome,
                      detail=f.detail), causes, **ev)

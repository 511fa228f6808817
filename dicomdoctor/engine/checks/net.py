"""Judgement of name resolution and the TCP connection (net.dns, net.reachable). Facts come from probes.tcp."""

from __future__ import annotations

import asyncio
from typing import Any

from ...probes.raw import raw_probe
from ...probes.tcp import ConnectFacts, DNSFacts, resolve, tcp_connect
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
        return passed(f"{f.host} is an IP address; nothing to resolve", **ev)
    if f.outcome == "ok":
        return passed(f"{f.host} resolves to {', '.join(f.addresses)}", **ev)
    if f.outcome == "timeout":
        return failed(f"{f.host} did not resolve: the DNS server gave no answer ({f.error})", "dns-failure",
                      error=f.error, **ev)
    return failed(f"{f.host} does not resolve: {f.error}", "dns-failure", error=f.error, **ev)


_CAUSES = {
    # Ranked (failure-modes FM-02/03): a refusal is most often a stopped server or a wrong port.
    "refused": ("server-not-running", "wrong-port", "firewall-reject", "listening-on-other-address"),
    "timeout": ("firewall-drop", "host-unreachable", "server-overloaded"),
    "unreachable": ("host-unreachable",),
    "reset": ("firewall-reject", "server-overloaded", "server-not-running"),
    "dns": ("dns-failure",),
}


# What a raw SYN's answer says about a failed connect (probes/raw.py): who answered tells a stopped server
# (the host's own RST) from a firewall (an ICMP "administratively prohibited", or nothing at all).
_RAW_CAUSES = {
    "closed": ("server-not-running", "wrong-port", "listening-on-other-address", "firewall-reject"),
    "prohibited": ("firewall-reject", "server-not-running", "wrong-port"),
    "filtered": ("firewall-drop", "host-unreachable", "server-overloaded"),
    "unreachable": ("host-unreachable", "firewall-reject"),
}


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


@check("net.reachable", depends=("net.dns",), title="TCP connection", timeout=60.0,
       params={"raw_probe": True, "traceroute": False})
async def reachable(ctx: CheckContext) -> CheckResult:
    t = ctx.target
    timeout = float(ctx.timeouts.connect or 10.0)
    f: ConnectFacts = await ctx.fact("net.reachable", lambda: tcp_connect(t.host, t.port, timeout))
    where = f"{t.host}:{t.port}"
    ev: dict[str, Any] = dict(outcome=f.outcome, address=f.address, port=t.port,
              connect_ms=round(f.connect_ms, 1) if f.connect_ms is not None else None,
              errno=f.errno, detail=f.detail)
    causes = _CAUSES.get(f.outcome, ("host-unreachable",))
    raw = await _raw_evidence(ctx, f.outcome)
    if raw is not None:
        ev["raw_probe"] = raw
        syn = str((raw.get("syn") or {}).get("outcome") or "")
        causes = _RAW_CAUSES.get(syn, causes)
    if f.outcome == "open":
        ms = f" in {f.connect_ms:.1f} ms" if f.connect_ms is not None else ""
        if f.connect_ms is not None and f.connect_ms > 1000:
            return warned(f"{where} accepts TCP connections, but connecting took {f.connect_ms:.0f} ms",
                          "server-overloaded", **ev)
        return passed(f"{where} accepts TCP connections{ms}", **ev)
    raw_note = f"; raw SYN probe: {raw['meaning']}" if raw and raw.get("meaning") else ""
    if f.outcome == "refused":
        return failed(f"{where} refused the connection: nothing listens on port {t.port} there "
                      f"(or a firewall rejects it){raw_note}", causes, **ev)
    if f.outcome == "timeout":
        return failed(f"connecting to {where} timed out after {timeout:g} s: no answer at all, which is what "
                      f"a firewall that drops packets or an absent host looks like{raw_note}", causes, **ev)
    if f.outcome == "unreachable":
        return failed(f"{where} is unreachable: no route to the host ({f.detail}){raw_note}", causes, **ev)
    if f.outcome == "reset":
        return failed(f"{where} reset the connection during the TCP handshake ({f.detail})", causes, **ev)
    return failed(f"connecting to {where} failed: {f.outcome} ({f.detail})", causes, **ev)

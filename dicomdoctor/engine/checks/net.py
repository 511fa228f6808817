"""Judgement of name resolution and the TCP connection (net.dns, net.reachable). Facts come from probes.tcp."""

from __future__ import annotations

from typing import Any

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


@check("net.reachable", depends=("net.dns",), title="TCP connection", timeout=60.0)
async def reachable(ctx: CheckContext) -> CheckResult:
    t = ctx.target
    timeout = float(ctx.timeouts.connect or 10.0)
    f: ConnectFacts = await ctx.fact("net.reachable", lambda: tcp_connect(t.host, t.port, timeout))
    where = f"{t.host}:{t.port}"
    ev: dict[str, Any] = dict(outcome=f.outcome, address=f.address, port=t.port,
              connect_ms=round(f.connect_ms, 1) if f.connect_ms is not None else None,
              errno=f.errno, detail=f.detail)
    causes = _CAUSES.get(f.outcome, ("host-unreachable",))
    if f.outcome == "open":
        ms = f" in {f.connect_ms:.1f} ms" if f.connect_ms is not None else ""
        if f.connect_ms is not None and f.connect_ms > 1000:
            return warned(f"{where} accepts TCP connections, but connecting took {f.connect_ms:.0f} ms",
                          "server-overloaded", **ev)
        return passed(f"{where} accepts TCP connections{ms}", **ev)
    if f.outcome == "refused":
        return failed(f"{where} refused the connection: nothing listens on port {t.port} there "
                      f"(or a firewall rejects it)", causes, **ev)
    if f.outcome == "timeout":
        return failed(f"connecting to {where} timed out after {timeout:g} s: no answer at all, which is what "
                      f"a firewall that drops packets or an absent host looks like", causes, **ev)
    if f.outcome == "unreachable":
        return failed(f"{where} is unreachable: no route to the host ({f.detail})", causes, **ev)
    if f.outcome == "reset":
        return failed(f"{where} reset the connection during the TCP handshake ({f.detail})", causes, **ev)
    return failed(f"connecting to {where} failed: {f.outcome} ({f.detail})", causes, **ev)

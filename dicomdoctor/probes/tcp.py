"""Facts about name resolution and the TCP connection (failure-modes §0 steps 1-2). No judgement here.

Every connection a probe opens is closed at once: Orthanc 1.10 serves associations on one thread, and a
client that connects and lingers blocks everyone else (DESIGN.md "Probe politely").
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field

from ..net import ConnectFailed, probe_tcp
from ..net import resolve as net_resolve


@dataclass(frozen=True, slots=True)
class DNSFacts:
    host: str
    outcome: str                      # "ok" | "literal" | "failed" | "timeout"
    addresses: tuple[str, ...] = ()   # in the order getaddrinfo gave them (the order a client tries)
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    resolve_ms: float = 0.0
    error: str = ""


@dataclass(frozen=True, slots=True)
class ConnectFacts:
    host: str
    port: int
    outcome: str                      # open | refused | timeout | unreachable | reset | dns
    address: str | None = None        # the address actually connected (or tried)
    connect_ms: float | None = None
    errno: int | None = None
    detail: str = ""
    attempts: tuple[dict[str, object], ...] = field(default=())


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        return False


async def resolve(host: str, port: int = 104, timeout: float = 5.0) -> DNSFacts:
    """Resolve A and AAAA (one AF_UNSPEC lookup gives both, in the order a client tries them)."""
    if is_ip_literal(host):
        fam4 = ":" not in host
        return DNSFacts(host, "literal", (host,), (host,) if fam4 else (), () if fam4 else (host,))
    t0 = time.perf_counter()
    try:
        found = await net_resolve(host, port, timeout)
    except ConnectFailed as exc:
        outcome = "timeout" if "longer than" in exc.detail else "failed"
        return DNSFacts(host, outcome, resolve_ms=_ms(t0), error=exc.detail)
    ordered = tuple(dict.fromkeys(str(addr[0]) for _fam, addr in found))
    return DNSFacts(host, "ok", ordered, tuple(a for a in ordered if ":" not in a),
                    tuple(a for a in ordered if ":" in a), _ms(t0))


async def tcp_connect(host: str, port: int, timeout: float = 5.0) -> ConnectFacts:
    """Open a TCP connection, time it, and close it at once without sending a byte (net.probe_tcp)."""
    d = await probe_tcp(host, port, timeout)
    return ConnectFacts(host, port, str(d["outcome"]), d.get("address"), d.get("connect_ms"), d.get("errno"),
                        str(d.get("detail") or ""), tuple(d.get("attempts") or ()))


async def close_quietly(writer: asyncio.StreamWriter, wait: float = 1.0) -> None:
    """Close a connection without letting a misbehaving peer make us wait or raise."""
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), wait)
    except Exception:  # a reset while closing tells us nothing new
        pass


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0

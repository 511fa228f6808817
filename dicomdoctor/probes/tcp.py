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
from ..net.tls import close_transport


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
    # Which connection measured this: "association" (the one the first A-ASSOCIATE-RQ went over) or
    # "bare-connection" (connect and close at once, only when no association follows in the run).
    measured_on: str = "bare-connection"


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


def connected_facts(host: str, port: int, address: object, connect_ms: float | None,
                    measured_on: str = "association") -> ConnectFacts:
    """The reachability facts of a connection that was set up (its TCP part: a TLS failure after it is
    tls.handshake's business, not this one's)."""
    return ConnectFacts(host, port, "open", _fmt_address(address),
                        round(connect_ms, 3) if connect_ms is not None else None, measured_on=measured_on)


def failed_connect_facts(host: str, port: int, exc: ConnectFailed,
                         measured_on: str = "association") -> ConnectFacts:
    """The reachability facts of a connect that failed, from net.connect's ConnectFailed (a TLS handshake
    failure counts as an open TCP connection: TCP itself worked)."""
    if exc.phase == "tls":
        return connected_facts(host, port, exc.address, getattr(exc, "connect_ms", None), measured_on)
    attempts: tuple[dict[str, object], ...] = tuple(
        {"address": _fmt_address(a), "outcome": o, "detail": d} for a, o, d in exc.attempts)
    return ConnectFacts(host, port, str(exc.outcome), _fmt_address(exc.address) if exc.address else None, None,
                        exc.errno, str(exc.detail or ""), attempts, measured_on)


def _fmt_address(address: object) -> str | None:
    # "host:port", "[v6]:port": the form net.probe_tcp reports, so the evidence reads the same either way.
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address) if address is not None else None


async def close_quietly(writer: asyncio.StreamWriter, wait: float = 1.0) -> None:
    """Close a connection without letting a misbehaving peer make us wait or raise. A TLS connection is
    closed completely at once (net.tls.close_transport: a half-closed one holds a one-thread SCP)."""
    try:
        close_transport(writer.transport)
        await asyncio.wait_for(writer.wait_closed(), wait)
    except Exception:  # a reset while closing tells us nothing new
        pass


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0

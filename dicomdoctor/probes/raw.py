"""Raw TCP probes with scapy (needs root or CAP_NET_RAW): facts a plain connect() cannot give.

- ``syn_probe(host, port)``: one SYN, and what came back tells *closed* (RST: nothing listens, or a firewall
  that rejects with RST) from *filtered* (silence: a firewall that drops) from *prohibited* (ICMP
  administratively prohibited / host or port unreachable: a firewall or router that rejects with ICMP, and
  which one, from the ICMP source address). connect() folds these into "refused" and "timeout".
- ``tcp_traceroute(host, port)``: SYNs to the DICOM port with TTL 1, 2, ...; routers on the way answer ICMP
  time-exceeded, so the last router that answers is where a silent drop happens (unlike ICMP/UDP
  traceroute, the probes look like the real traffic and cross the same firewall rules).
- ``raw_probe(host, port)``: both, as one JSON-ready dict for the ``net.reachable`` check's evidence
  (``raw_probe: {...}``), or ``{"available": False, "reason": ...}`` when not privileged. Never raises.

Politeness: a SYN-ACK is answered by the kernel's RST (no socket owns the port we send from), so no
half-open connection is left behind; Orthanc's one-thread listener is never held (DESIGN.md Principles).
scapy is imported here only, lazily: it costs ~0.5 s and the rest of the tool never needs it.
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import time
from typing import Any

from ..messages import Msg, msg

__all__ = ["raw_probe", "syn_probe", "tcp_traceroute", "classify_answer", "privileged", "meaning"]

# ICMP destination-unreachable codes (RFC 792, RFC 1812): which mean "a rule rejected this".
_ICMP_UNREACH = {0: "net-unreachable", 1: "host-unreachable", 2: "protocol-unreachable", 3: "port-unreachable",
                 9: "net-prohibited", 10: "host-prohibited", 13: "communication-prohibited"}
_ICMP6_UNREACH = {0: "no-route", 1: "communication-prohibited", 3: "address-unreachable", 4: "port-unreachable",
                  5: "source-policy-failed", 6: "reject-route"}


def privileged() -> bool:
    """Raw sockets need root or CAP_NET_RAW; try to open one rather than guess from the uid."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    except (PermissionError, OSError):
        return False
    s.close()
    return True


def _resolve(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return str(socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)[0][4][0])


def _syn(addr: str, port: int, sport: int, ttl: int = 64) -> Any:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6

    tcp = TCP(sport=sport, dport=port, flags="S", seq=random.getrandbits(32), options=[("MSS", 1460)])
    if ":" in addr:
        return IPv6(dst=addr, hlim=ttl) / tcp
    return IP(dst=addr, ttl=ttl) / tcp


def classify_answer(answer: Any) -> dict[str, Any]:
    """What one answer to a SYN means: {"outcome": open|closed|prohibited|unreachable|time-exceeded|other,
    "from": address of the answering host, "icmp": {...} when ICMP}."""
    if answer is None:
        return {"outcome": "filtered"}
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6TimeExceeded, IPv6

    src = answer[IP].src if IP in answer else (answer[IPv6].src if IPv6 in answer else None)
    if TCP in answer and not (ICMP in answer):
        flags = int(answer[TCP].flags)
        if flags & 0x12 == 0x12:
            return {"outcome": "open", "from": src}
        if flags & 0x04:
            return {"outcome": "closed", "from": src}
        return {"outcome": "other", "from": src, "tcp_flags": str(answer[TCP].flags)}
    if ICMP in answer:
        t, c = int(answer[ICMP].type), int(answer[ICMP].code)
        icmp: dict[str, Any] = {"type": t, "code": c}
        if t == 11:
            return {"outcome": "time-exceeded", "from": src, "icmp": icmp}
        if t == 3:
            name = _ICMP_UNREACH.get(c, f"unreachable-code-{c}")
            icmp["name"] = name
            # Port unreachable for a TCP SYN is what iptables' default REJECT sends: a rule, not a route.
            kind = "prohibited" if c in (3, 9, 10, 13) else "unreachable"
            return {"outcome": kind, "from": src, "icmp": icmp}
        return {"outcome": "other", "from": src, "icmp": icmp}
    if ICMPv6DestUnreach in answer:
        c = int(answer[ICMPv6DestUnreach].code)
        kind = "prohibited" if c in (1, 4, 5, 6) else "unreachable"
        return {"outcome": kind, "from": src, "icmp": {"type": 1, "code": c, "name": _ICMP6_UNREACH.get(c, str(c))}}
    if ICMPv6TimeExceeded in answer:
        return {"outcome": "time-exceeded", "from": src, "icmp": {"type": 3, "code": 0}}
    return {"outcome": "other", "from": src}


def _send(pkt: Any, timeout: float) -> tuple[Any, float]:
    from scapy.sendrecv import sr1

    t0 = time.monotonic()
    answer = sr1(pkt, timeout=timeout, verbose=0)
    return answer, (time.monotonic() - t0) * 1000


def syn_probe(host: str, port: int, *, timeout: float = 2.0, retries: int = 1) -> dict[str, Any]:
    """One SYN (plus ``retries`` if silent). Outcome open / closed / filtered / prohibited / unreachable."""
    addr = _resolve(host)
    sport = random.randint(40000, 60000)
    result: dict[str, Any] = {"outcome": "filtered"}
    for attempt in range(retries + 1):
        answer, ms = _send(_syn(addr, port, sport), timeout)
        result = classify_answer(answer)
        result["attempts"] = attempt + 1
        if answer is not None:
            result["rtt_ms"] = round(ms, 3)
            break
    if result["outcome"] == "filtered":
        result["waited_ms"] = round(timeout * 1000 * (retries + 1), 1)
    result["address"] = addr
    return result


def tcp_traceroute(host: str, port: int, *, max_hops: int = 16, timeout: float = 1.0,
                   budget: float | None = None) -> dict[str, Any]:
    """SYNs with TTL 1..max_hops to ``port``; stops at the target's SYN-ACK/RST, an ICMP reject, or when
    ``budget`` seconds are spent (silent hops each cost ``timeout``)."""
    addr = _resolve(host)
    deadline = time.monotonic() + budget if budget is not None else None
    sport = random.randint(40000, 60000)
    hops: list[dict[str, Any]] = []
    reached = False
    for ttl in range(1, max_hops + 1):
        if deadline is not None and time.monotonic() + timeout > deadline:
            break
        answer, ms = _send(_syn(addr, port, sport, ttl), timeout)
        hop = {"ttl": ttl, **classify_answer(answer)}
        if answer is not None:
            hop["rtt_ms"] = round(ms, 3)
        hops.append(hop)
        if hop["outcome"] in ("open", "closed", "prohibited", "unreachable"):
            reached = hop["outcome"] in ("open", "closed")
            break
    last = next((h for h in reversed(hops) if h["outcome"] != "filtered"), None)
    out: dict[str, Any] = {"address": addr, "port": port, "hops": hops, "reached": reached}
    if not reached and last is not None:
        out["last_answer_from"] = last.get("from")
        out["last_answer_ttl"] = last["ttl"]
    return out


def raw_probe(host: str, port: int, *, traceroute: bool = True, timeout: float = 2.0,
              max_hops: int = 16, budget: float = 15.0) -> dict[str, Any]:
    """Evidence for ``net.reachable`` (``raw_probe: {...}``). ``available`` False when not privileged or
    scapy is missing; ``error`` when something unexpected happened. Never raises. Blocking (scapy): from
    asyncio call it as ``await asyncio.to_thread(raw_probe, host, port)``. Takes at most about ``budget``
    seconds (a dropped port: 2 SYN timeouts, then the traceroute until the budget is spent)."""
    started = time.monotonic()
    if not privileged():
        return {"available": False, "reason": "raw sockets need root or CAP_NET_RAW"}
    try:
        import scapy  # noqa: F401
    except ImportError:
        return {"available": False, "reason": "scapy is not installed"}
    try:
        out: dict[str, Any] = {"available": True, "syn": syn_probe(host, port, timeout=timeout)}
        if traceroute and out["syn"]["outcome"] != "open":
            # An open port needs no path analysis; a closed/filtered one is where it pays.
            left = budget - (time.monotonic() - started)
            out["traceroute"] = tcp_traceroute(host, port, max_hops=max_hops, timeout=min(timeout, 1.0),
                                               budget=max(left, 0.0))
        out["meaning"] = str(meaning(out))  # English in the evidence; net.reachable says it in the run's language
        return out
    except Exception as exc:  # a probe must never break the check that asked for it
        return {"available": True, "error": f"{type(exc).__name__}: {exc}"}


def meaning(out: dict[str, Any]) -> Msg:
    """What a raw_probe() result (with its `syn`) says, as a clause of net.reachable's summary."""
    syn = out["syn"]
    o = syn["outcome"]
    if o == "open":
        return msg("the port answers SYN with SYN-ACK: something listens")
    if o == "closed":
        return msg("the port answers SYN with RST from {source}: nothing listens there, or a firewall rejects "
                   "with RST", source=syn.get("from"))
    if o == "prohibited":
        return msg("{source} answers with ICMP {icmp}: a firewall rule rejects the traffic", source=syn.get("from"),
                   icmp=syn["icmp"].get("name"))
    if o == "unreachable":
        return msg("{source} answers with ICMP {icmp}: no route to the host", source=syn.get("from"),
                   icmp=syn["icmp"].get("name"))
    tr = out.get("traceroute") or {}
    if tr.get("last_answer_from"):
        return msg("no answer to SYN: the packets are dropped after {router} (hop {ttl}), by a firewall there or "
                   "just beyond it", router=tr["last_answer_from"], ttl=tr["last_answer_ttl"])
    return msg("no answer to SYN at all: a firewall drops the traffic (or the host is down)")

"""Association capacity as facts: how many simultaneous associations a peer accepts, and how it refuses the
next one (FM-18, FM-19, FM-29).

This is the one probe that holds several associations to one target at once (DESIGN: only a check about
concurrency may). It opens them one after another, each proven usable with a C-ECHO, stops at the first
refusal or at `limit`, and releases *every* association it opened, whatever happened (exceptions and
cancellation included: a leaked association is exactly the fault this probe looks for in others). Then it
checks that the peer recovered: one more association must be accepted once ours are gone.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from ..net import (Association, AssociationAborted, AssociationRejected, AssociationTimeout, ConnectFailed,
                   NoAcceptedContext, PeerProtocolError, TLSHandshakeFailed, Timeouts, Trace, associate)
from ..messages import Msg, msg
from ..net.datasets import VERIFICATION
from ..target import Target

HARD_LIMIT = 64  # never hold more than this many associations to one peer, whatever the playbook says


@dataclass
class Refusal:
    """How the peer turned down association number `attempt` (1-based). `kind`: "rejected" (A-ASSOCIATE-RJ),
    "aborted" (A-ABORT), "closed" (transport closed, no PDU), "timeout" (no answer: association phase, or
    the C-ECHO when `phase` is "dimse"), "connect-failed", "protocol-error"."""

    attempt: int
    kind: str
    phase: str = "association"
    detail: str = ""
    result: int | None = None
    source: int | None = None
    reason: int | None = None
    result_name: str | None = None
    source_name: str | None = None
    reason_name: str | None = None
    connect_outcome: str | None = None
    elapsed_ms: float = 0.0
    message: Msg | None = field(default=None, compare=False)  # `detail` for a summary, when it is our words

    def evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"attempt": self.attempt, "kind": self.kind, "phase": self.phase,
                              "elapsed_ms": round(self.elapsed_ms, 1)}
        for k in ("result", "source", "reason", "result_name", "source_name", "reason_name", "connect_outcome"):
            v = getattr(self, k)
            if v is not None:
                ev[k] = v
        if self.detail:
            ev["detail"] = self.detail
        return ev


@dataclass
class CapacityFacts:
    limit: int                                  # how many we were allowed to try
    accepted: int = 0                           # simultaneous associations accepted (and echoed)
    refusal: Refusal | None = None              # None: all `limit` were accepted
    associate_ms: list[float] = field(default_factory=list)
    echo_ms: list[float] = field(default_factory=list)  # C-ECHO round trip on each held association
    released: int = 0                           # released with A-RELEASE-RP
    aborted: int = 0                            # had to be aborted (no RP in time, or already broken)
    recovered: bool | None = None               # a fresh association worked after ours were released
    recovery: Refusal | None = None
    peer_implementation: str | None = None

    def evidence(self) -> dict[str, Any]:
        ms = self.associate_ms
        return {"limit_tried": self.limit, "accepted": self.accepted,
                "echo_ms": [round(x, 1) for x in self.echo_ms], "served_at_once": self.served_at_once(),
                "refusal": self.refusal.evidence() if self.refusal else None,
                "associate_ms_max": round(max(ms), 1) if ms else None,
                "associate_ms_avg": round(sum(ms) / len(ms), 1) if ms else None,
                "released": self.released, "aborted": self.aborted, "recovered": self.recovered,
                "recovery": self.recovery.evidence() if self.recovery else None}


    def served_at_once(self) -> int | None:
        """How many associations got a prompt C-ECHO before one had to wait (a worker pool: Orthanc serves
        DicomThreadsCount associations at a time and the next waits ~1 s for a free thread). None: no jump."""
        if len(self.echo_ms) < 2:
            return None
        first = max(self.echo_ms[0], 1.0)
        for i, ms in enumerate(self.echo_ms[1:], start=1):
            if ms > 250.0 and ms > 20 * first:
                return i
        return None


def _refusal(attempt: int, exc: BaseException, elapsed_ms: float) -> Refusal:
    """An exception from `associate()` or the C-ECHO -> how the peer refused."""
    if isinstance(exc, AssociationRejected):
        return Refusal(attempt, "rejected", detail=str(exc), result=exc.result, source=exc.source, reason=exc.reason,
                       result_name=exc.result_name, source_name=exc.source_name, reason_name=exc.reason_name,
                       elapsed_ms=elapsed_ms)
    if isinstance(exc, AssociationAborted):
        kind = "aborted" if exc.source is not None else "closed"
        return Refusal(attempt, kind, exc.phase, str(exc), source=exc.source, reason=exc.reason,
                       source_name=exc.source_name, reason_name=exc.reason_name, elapsed_ms=elapsed_ms)
    if isinstance(exc, AssociationTimeout):
        return Refusal(attempt, "timeout", exc.phase, str(exc), elapsed_ms=elapsed_ms)
    if isinstance(exc, ConnectFailed):  # TLSHandshakeFailed included
        phase = "tls" if isinstance(exc, TLSHandshakeFailed) else "connect"
        return Refusal(attempt, "connect-failed", phase, exc.detail, connect_outcome=exc.outcome,
                       elapsed_ms=elapsed_ms)
    if isinstance(exc, PeerProtocolError):
        return Refusal(attempt, "protocol-error", detail=str(exc), elapsed_ms=elapsed_ms)
    if isinstance(exc, NoAcceptedContext):
        return Refusal(attempt, "no-context", "dimse", str(exc), elapsed_ms=elapsed_ms)
    return Refusal(attempt, "error", detail=f"{type(exc).__name__}: {exc}", elapsed_ms=elapsed_ms)


_EXPECTED = (AssociationRejected, AssociationAborted, AssociationTimeout, ConnectFailed, PeerProtocolError,
             NoAcceptedContext, OSError, ssl.SSLError)


async def _open_one(target: Target, attempt: int, kw: dict[str, Any]) -> tuple[Association | None, Refusal | None,
                                                                                float, float]:
    t0 = time.monotonic()
    try:
        assoc = await associate(target, [VERIFICATION], **kw)
    except _EXPECTED as exc:
        return None, _refusal(attempt, exc, (time.monotonic() - t0) * 1000.0), 0.0, 0.0
    ms = (time.monotonic() - t0) * 1000.0
    try:
        # Accepted is not enough: an SCP with a fixed pool of worker threads (Orthanc DicomThreadsCount) may
        # accept the association and never serve it. The echo proves the association is really usable.
        rsp = await assoc.echo()
    except _EXPECTED as exc:
        await _end(assoc)
        return None, _refusal(attempt, exc, (time.monotonic() - t0) * 1000.0), ms, 0.0
    if rsp.category != "success":
        await _end(assoc)
        said = msg("C-ECHO answered {status} (0x{code:04X})", status=rsp.status_name, code=rsp.status or 0)
        return None, Refusal(attempt, "echo-refused", "dimse", str(said), elapsed_ms=ms, message=said), ms, rsp.rtt_ms
    return assoc, None, ms, rsp.rtt_ms


async def _end(assoc: Association) -> bool:
    """Release (True) or, failing that, abort (False). Never raises."""
    try:
        await assoc.release()
        return assoc.state == "released"
    except Exception:
        try:
            await assoc.abort()
        except Exception:
            pass
        assoc.channel.abort_transport()
        return False


async def release_all(held: list[Association], facts: CapacityFacts | None, timeout: float) -> None:
    """Release every held association concurrently within `timeout`; abort the transport of any left."""
    if not held:
        return
    try:
        async with asyncio.timeout(timeout):
            results = await asyncio.gather(*(_end(a) for a in held), return_exceptions=True)
    except (TimeoutError, asyncio.CancelledError) as exc:
        for a in held:
            if a.state not in ("released", "aborted", "closed"):
                a.channel.abort_transport()
        if facts is not None:
            facts.aborted += sum(1 for a in held if a.state != "released")
            facts.released += sum(1 for a in held if a.state == "released")
        if isinstance(exc, asyncio.CancelledError):
            raise
        return
    if facts is not None:
        facts.released += sum(1 for r in results if r is True)
        facts.aborted += sum(1 for r in results if r is not True)


async def probe_capacity(target: Target, limit: int, *, timeouts: Timeouts, max_pdu: int = 16384,
                         trace: Trace | None = None, tls_context: ssl.SSLContext | None = None,
                         recovery_delay: float = 0.3) -> CapacityFacts:
    limit = max(1, min(int(limit), HARD_LIMIT))
    facts = CapacityFacts(limit)
    kw: dict[str, Any] = dict(max_pdu=max_pdu, timeouts=timeouts, trace=trace, tls_context=tls_context)
    held: list[Association] = []
    release_budget = float(timeouts.release or 5.0) + 2.0
    try:
        for attempt in range(1, limit + 1):
            assoc, refusal, ms, echo_ms = await _open_one(target, attempt, kw)
            if assoc is None:
                facts.refusal = refusal
                break
            held.append(assoc)
            facts.accepted += 1
            facts.associate_ms.append(ms)
            facts.echo_ms.append(echo_ms)
            if facts.peer_implementation is None:
                facts.peer_implementation = assoc.peer_implementation_version_name
    finally:
        # Shielded from a check timeout's cancellation as far as asyncio allows; release_all aborts the
        # transports of whatever it could not release in time, so nothing stays open.
        await release_all(held, facts, release_budget)
    if facts.accepted:
        await asyncio.sleep(recovery_delay)  # let the peer notice the releases (its handler threads end)
        assoc, refusal, _ms, _echo = await _open_one(target, facts.accepted + 1, kw)
        if assoc is None and refusal is not None and refusal.kind == "rejected" and refusal.result == 2:
            # A transient reject right after the releases can be the peer's bookkeeping lagging: once more.
            await asyncio.sleep(1.0)
            assoc, refusal, _ms, _echo = await _open_one(target, facts.accepted + 1, kw)
        facts.recovered = assoc is not None
        facts.recovery = refusal
        if assoc is not None:
            await _end(assoc)
    return facts

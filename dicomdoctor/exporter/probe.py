"""One /probe: a playbook run against one target, within the scrape's deadline, politely.

* Probes of one peer (host and port) never overlap: each waits for the one before it (Orthanc 1.10 serves
  one association at a time, so an overlapping probe would fail *because of the monitor*). The wait counts
  against the deadline.
* At most `max_concurrency` probes run at once over all targets (a semaphore, also within the deadline).
* The deadline bounds every phase timeout of the run and the run as a whole: a probe answers in time, with
  the findings made so far and an `error` finding naming the check the deadline cut.
* Nothing here raises for the peer: every outcome is a `ProbeResult` (a metric), never an HTTP error.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..engine import model
from ..engine.context import RunOptions
from ..engine.model import Status
from ..engine.playbook import Playbook
from ..engine.runner import RunEvent, run_playbook
from ..net.timeouts import Timeouts
from ..target import Target
from .config import ExporterConfig


@dataclass(frozen=True)
class ProbeResult:
    id: int
    started: float  # Unix time
    target: Target
    module: str
    success: bool
    duration: float  # seconds, waiting for the target and a slot included
    deadline: float  # the budget it was given, seconds
    outcome: str  # done | deadline (cut by the deadline) | queued (never got its turn within the deadline)
    report: model.Report

    @property
    def first_problem(self) -> model.Finding | None:
        for status in (Status.FAIL, Status.ERROR, Status.WARN):
            for f in self.report.findings:
                if f.status is status:
                    return f
        return None


@dataclass
class ExporterStats:
    """The exporter's own counters, for /metrics."""

    probes: dict[tuple[str, str], int] = field(default_factory=dict)  # (module, success|failure) -> count
    requests: dict[tuple[str, int], int] = field(default_factory=dict)  # (path, status code) -> count
    probe_seconds: float = 0.0
    deadline_exceeded: int = 0
    queued_out: int = 0  # probes that never got their turn (target busy or no slot) within the deadline
    waited_for_target: int = 0  # probes that found another probe of their target running
    in_flight: int = 0
    in_flight_max: int = 0

    def count_request(self, path: str, status: int) -> None:
        key = (path, status)
        self.requests[key] = self.requests.get(key, 0) + 1


class _TargetLocks:
    """One lock per peer address, dropped when nobody holds or waits for it (bounded by the probes running)."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, int], tuple[asyncio.Lock, int]] = {}

    def busy(self, key: tuple[str, int]) -> bool:
        entry = self._locks.get(key)
        return entry is not None and entry[0].locked()

    def take(self, key: tuple[str, int]) -> asyncio.Lock:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        return lock

    def drop(self, key: tuple[str, int]) -> None:
        lock, users = self._locks[key]
        if users <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


def _capped(timeouts: Timeouts, budget: float) -> Timeouts:
    def cap(value: float | None) -> float:
        return budget if value is None else max(0.001, min(float(value), budget))

    return Timeouts(connect=cap(timeouts.connect), association=cap(timeouts.association), dimse=cap(timeouts.dimse),
                    release=cap(timeouts.release), operation=budget)


def _options(config: ExporterConfig, budget: float) -> RunOptions:
    d = config.defaults
    timeout = float(d.get("timeout", 10.0))
    base = Timeouts(connect=timeout, association=timeout, dimse=float(d.get("dimse_timeout", 30.0)),
                    release=min(5.0, timeout))
    return RunOptions(timeouts=_capped(base, budget), max_pdu=int(d.get("max_pdu", 16384)), concurrency=1)


class Prober:
    def __init__(self, config: ExporterConfig, *, kb: Any = None) -> None:
        self.config = config
        self.kb = kb
        self.stats = ExporterStats()
        self.history: deque[ProbeResult] = deque(maxlen=max(1, config.history))
        self._keep = config.history > 0
        self._ids = itertools.count(1)
        self._locks = _TargetLocks()
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self.listeners: list[Any] = []  # callables(ProbeResult) when a probe ends, e.g. tests waiting for scrapes
        self.arrivals: list[Any] = []  # callables(Target, busy) when a probe arrives (busy: its peer is probed)

    def find(self, probe_id: int) -> ProbeResult | None:
        return next((r for r in self.history if r.id == probe_id), None)

    def recent(self) -> Iterator[ProbeResult]:
        return reversed(self.history)

    async def probe(self, target: Target, module: str, playbook: Playbook, budget: float) -> ProbeResult:
        loop = asyncio.get_running_loop()
        started_wall, started = time.time(), loop.time()
        end = started + budget
        key = (target.host.lower(), target.port)
        busy = self._locks.busy(key)
        if busy:
            self.stats.waited_for_target += 1
        for arrival in list(self.arrivals):
            try:
                arrival(target, busy)
            except Exception:  # a listener must not break the probe
                pass
        lock = self._locks.take(key)
        collected: list[model.Finding] = []
        running: list[str] = []
        outcome = "done"
        report: model.Report | None = None
        try:
            try:
                await asyncio.wait_for(lock.acquire(), max(0.0, end - loop.time()))
            except asyncio.TimeoutError:
                outcome = "queued"
            else:
                try:
                    try:
                        await asyncio.wait_for(self._slots.acquire(), max(0.0, end - loop.time()))
                    except asyncio.TimeoutError:
                        outcome = "queued"
                    else:
                        try:
                            report, outcome = await self._run(target, playbook, end, collected, running)
                        finally:
                            self._slots.release()
                finally:
                    lock.release()
        finally:
            self._locks.drop(key)
        duration = loop.time() - started
        if report is None:
            report = _partial_report(playbook, target, collected, running, outcome, budget, duration)
        success = outcome == "done" and report.verdict in ("pass", "warn")
        result = ProbeResult(next(self._ids), started_wall, target, module, success, duration, budget, outcome,
                             report)
        self._account(result)
        return result

    async def _run(self, target: Target, playbook: Playbook, end: float, collected: list[model.Finding],
                   running: list[str]) -> tuple[model.Report | None, str]:
        loop = asyncio.get_running_loop()

        def on_event(event: RunEvent) -> None:
            if event.kind == "check-start" and event.check:
                running[:] = [event.check]
            elif event.kind == "finding" and event.finding is not None:
                collected.append(event.finding)
                running.clear()

        budget = max(0.001, end - loop.time())
        self.stats.in_flight += 1
        self.stats.in_flight_max = max(self.stats.in_flight_max, self.stats.in_flight)
        try:
            run = run_playbook(playbook, [target], _options(self.config, budget), kb=self.kb, on_event=on_event)
            return await asyncio.wait_for(run, budget), "done"
        except asyncio.TimeoutError:
            return None, "deadline"
        finally:
            self.stats.in_flight -= 1

    def _account(self, result: ProbeResult) -> None:
        s = self.stats
        key = (result.module, "success" if result.success else "failure")
        s.probes[key] = s.probes.get(key, 0) + 1
        s.probe_seconds += result.duration
        if result.outcome == "deadline":
            s.deadline_exceeded += 1
        elif result.outcome == "queued":
            s.queued_out += 1
        if self._keep:
            self.history.append(result)
        for listener in list(self.listeners):
            try:
                listener(result)
            except Exception:  # a listener must not break the probe's answer
                pass


def _partial_report(playbook: Playbook, target: Target, collected: list[model.Finding], running: list[str],
                    outcome: str, budget: float, duration: float) -> model.Report:
    """What a probe cut by its deadline (or never started) found, plus an `error` finding saying so."""
    from .. import __version__

    findings = list(collected)
    if outcome == "queued":
        why = (f"not run: the probe did not get its turn within the {budget:g} s scrape deadline (another probe "
               f"of this peer, or every probe slot, was busy)")
        check = "exporter.probe"
    else:
        check = running[0] if running else "exporter.probe"
        why = f"did not finish within the {budget:g} s scrape deadline"
    findings.append(model.Finding(target=target.id, check=check, title=check, status=Status.ERROR, summary=why,
                                  evidence={"error_kind": "connectivity", "deadline_s": round(budget, 3)},
                                  duration_ms=duration * 1000.0))
    verdict = model.worst([f.status for f in findings])
    result = model.TargetResult(id=target.id, host=target.host, port=target.port, called_ae=target.called_ae,
                                calling_ae=target.calling_ae, tls=target.tls is not None, verdict=verdict)
    return model.Report(playbook=playbook.name, verdict=verdict, duration_ms=duration * 1000.0, targets=(result,),
                        findings=tuple(findings), tool_version=__version__,
                        started_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - duration)))

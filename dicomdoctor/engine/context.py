"""What a check receives (`CheckContext`) and returns (`CheckResult`), and the run options.

A check judges; it does not render and does not know the knowledge base's wording: it returns a status, a
one-sentence summary, evidence (facts as plain values) and cause *ids*, most likely first. The runner turns
that into a `model.Finding` with titles, explanations and fixes from the KB in the user's language.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Mapping

from ..messages import Text, render
from ..net.timeouts import Timeouts
from ..target import Target, TLSOptions
from . import judge, model
from .model import Status

if TYPE_CHECKING:
    import ssl


# --------------------------------------------------------------------------------------------- results

def _causes(causes: "str | Iterable[str]") -> tuple[str, ...]:
    # A lone string is one cause id, not a sequence of one-letter ids.
    return (causes,) if isinstance(causes, str) else tuple(causes)


@dataclass(frozen=True)
class CheckResult:
    """The judgement of one check. `causes` are KB cause ids, most likely first; `extra_causes` are
    ad-hoc causes (e.g. built from a peer's Error Comment) that the KB cannot know."""

    status: Status
    summary: str  # English; the runner renders `message` in the run's language for the finding
    evidence: Mapping[str, Any] = field(default_factory=dict)
    causes: tuple[str, ...] = ()
    extra_causes: tuple[model.Cause, ...] = ()
    message: Text | None = None

    def __post_init__(self) -> None:
        # Accept Status("fail")-able strings and lists from checks, store canonical values.
        if not isinstance(self.status, Status):
            object.__setattr__(self, "status", Status(self.status))
        if not isinstance(self.causes, tuple):
            object.__setattr__(self, "causes", _causes(self.causes))
        if not isinstance(self.extra_causes, tuple):
            object.__setattr__(self, "extra_causes", tuple(self.extra_causes))

    @property
    def text(self) -> Text:
        """The summary as a message, to quote inside another check's summary in the same language."""
        return self.message if self.message is not None else self.summary

    def summary_in(self, lang: str) -> str:
        return render(self.text, lang)

    @property
    def ok(self) -> bool:
        """Did the check end so that checks depending on it can run?

        pass and warn do; fail and error do not. A skip blocks only when it was itself blocked (the runner
        sets `blocked_by`): a check that skips itself as *not applicable* (tls.handshake on a plain DICOM
        target) must not stop the association checks that depend on it when TLS is in use.
        """
        if self.status is Status.SKIP:
            return "blocked_by" not in self.evidence
        return self.status in (Status.PASS, Status.WARN)


def _result(status: Status, summary: Text, evidence: Mapping[str, Any], causes: tuple[str, ...] = (),
            extra: tuple[model.Cause, ...] = ()) -> CheckResult:
    # The English summary for logs and the silence bookkeeping; the message for the finding's language.
    message = None if isinstance(summary, str) else summary
    return CheckResult(status, render(summary, "en"), evidence, causes, extra, message)


def passed(summary: Text, **evidence: Any) -> CheckResult:
    return _result(Status.PASS, summary, evidence)


def warned(summary: Text, causes: "str | Iterable[str]" = (), *,
           extra_causes: Iterable[model.Cause] = (), **evidence: Any) -> CheckResult:
    return _result(Status.WARN, summary, evidence, _causes(causes), tuple(extra_causes))


def failed(summary: Text, causes: "str | Iterable[str]" = (), *,
           extra_causes: Iterable[model.Cause] = (), **evidence: Any) -> CheckResult:
    return _result(Status.FAIL, summary, evidence, _causes(causes), tuple(extra_causes))


def skipped(reason: Text, **evidence: Any) -> CheckResult:
    """Not run: not applicable, or blocked. The reason is the summary the user reads."""
    return _result(Status.SKIP, reason, evidence)


# Why a check could not run: a bug of ours, the network or peer in a way no cause covers (connectivity), or
# what the user asked for (usage). Renderers and the exit code may treat them apart; evidence["error_kind"].
ERROR_KINDS = ("bug", "connectivity", "usage")


def errored(reason: Text, *, kind: str = "bug", **evidence: Any) -> CheckResult:
    """The check could not run (an unexpected condition), of `kind` (ERROR_KINDS). The runner also produces
    these on exceptions."""
    if kind not in ERROR_KINDS:
        raise ValueError(f"errored(): kind {kind!r} is not one of {', '.join(ERROR_KINDS)}")
    return _result(Status.ERROR, reason, {"error_kind": kind, **evidence})


# --------------------------------------------------------------------------------------------- options

TLSContextFactory = Callable[[TLSOptions], "ssl.SSLContext"]


@dataclass(frozen=True)
class RunOptions:
    """Options of one run, the same for every target (per-target settings live in `Target`)."""

    timeouts: Timeouts = field(default_factory=Timeouts)
    max_pdu: int = 16384  # the maximum PDU length we receive; 0 = unlimited
    no_probe: bool = False  # do not probe AE title variants after a rejection
    guess_ae: str = "polite"  # AE title guessing after a reject: "polite" (a handful) or "wide" (probes/ae.py)
    lang: str = "en"
    show_phi: bool = False
    concurrency: int = 32  # targets checked at once
    # Builds the SSLContext for a target's TLSOptions; None = dicomdoctor.net.tls.client_context.
    tls_context: TLSContextFactory | None = None
    capture: str | None = None  # pcap path to record the session to, if asked
    # Whole-run deadline per target, in seconds from the target's first check (None = none): every phase
    # timeout a check reads from `CheckContext.timeouts` is cut to what is left, the runner stops a check at
    # it and skips the checks after it (commands: --deadline, whose default is in commands/_common.py).
    deadline: float | None = None

    def check_budget(self) -> float:
        """The least time a networked check may need: one connect, one association, one DIMSE exchange.

        The runner never cuts a check before this (plus a grace), so a slow peer is reported by the
        check's own phase timeout ("association timed out") rather than a bare "check timed out".
        """
        t = self.timeouts
        # None = unlimited (tests only): it adds nothing here, the check's own timeout still applies.
        phases = sum(float(x or 0.0) for x in (t.connect, t.association, t.dimse))
        return phases + 2.0 if phases else 0.0


# --------------------------------------------------------------------------------------------- context

class TargetState:
    """Shared by every check of one target: memoized facts, their locks, the peer seen."""

    def __init__(self, facts: dict[str, Any] | None = None, planned: tuple[str, ...] = ()) -> None:
        self.facts: dict[str, Any] = facts if facts is not None else {}
        # The check ids this run holds for the target (the runner's plan; () for a context built alone):
        # net.reachable measures on the first association's connection when one follows.
        self.planned: tuple[str, ...] = planned
        self.locks: dict[str, asyncio.Lock] = {}
        self.failures: dict[str, BaseException] = {}
        self.peer: model.PeerInfo | None = None
        self.ssl_contexts: dict[TLSOptions, "ssl.SSLContext"] = {}
        # Politeness (DESIGN): one association at a time per target. Checks of a target already run one
        # after another; this lock is for a check that runs helpers concurrently.
        self.association_lock = asyncio.Lock()
        # time.monotonic() when the run's deadline (RunOptions.deadline) passes for this target; None = never.
        self.deadline_at: float | None = None
        # Set by the runner once a check found the peer silent: later checks are skipped, not sent to wait.
        self.silence: Silence | None = None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never below 0); None without one."""
        return None if self.deadline_at is None else max(0.0, self.deadline_at - time.monotonic())


@dataclass(frozen=True)
class Silence:
    """The peer is known not to answer. `phase`: "association" (TCP accepted, then no answer to the
    A-ASSOCIATE-RQ or the TLS ClientHello) or "after-ac" (it accepted an association, then answered nothing
    more); `check`: the check that saw it; `summary`: that check's words."""

    phase: str
    check: str
    summary: str


# The shortest wait a phase gets when the deadline is (almost) over: enough to read what already arrived.
MIN_WAIT = 0.05


@dataclass
class CheckContext:
    """Everything a check may use. One per (target, check); `facts` and the state are shared per target."""

    target: Target
    params: dict[str, Any] = field(default_factory=dict)
    options: RunOptions = field(default_factory=RunOptions)
    results: dict[str, CheckResult] = field(default_factory=dict)  # earlier checks of this target, by id
    trace: Any = field(default_factory=list)  # a net.trace.Trace (or a list) recording this target's PDUs
    facts: dict[str, Any] = field(default_factory=dict)
    state: TargetState | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = TargetState(self.facts)
        else:
            self.facts = self.state.facts

    async def fact(self, name: str, factory: Callable[[], Awaitable[Any]]) -> Any:
        """Compute `factory()` once per target and share it: two checks that need the same association
        probe get one association (politeness). A failure is memoized too and re-raised to every caller,
        so a dead peer is not probed again by each check."""
        state = self.state
        assert state is not None
        if name in state.facts:
            return state.facts[name]
        if name in state.failures:
            raise state.failures[name]
        lock = state.locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name in state.facts:
                return state.facts[name]
            if name in state.failures:
                raise state.failures[name]
            try:
                value = await factory()
            except asyncio.CancelledError:
                raise  # a timed-out check: the next caller may try again
            except Exception as exc:
                state.failures[name] = exc
                raise
            state.facts[name] = value
            return value

    def set_peer(self, peer: model.PeerInfo) -> None:
        """Record who the peer is (from an A-ASSOCIATE-AC); the report's target entry shows it."""
        assert self.state is not None
        self.state.peer = peer

    @property
    def peer(self) -> model.PeerInfo | None:
        return self.state.peer if self.state is not None else None

    @property
    def planned(self) -> tuple[str, ...]:
        """The check ids of this run for this target, in run order (() when the context was built alone)."""
        return self.state.planned if self.state is not None else ()

    @property
    def association_lock(self) -> asyncio.Lock:
        assert self.state is not None
        return self.state.association_lock

    @property
    def timeouts(self) -> Timeouts:
        """The run's phase timeouts, each cut to the time left before the deadline (RunOptions.deadline), so
        a check's own timeout ends it ("no answer within ...", a finding) before the runner has to."""
        t = self.options.timeouts
        left = self.state.remaining() if self.state is not None else None
        if left is None:
            return t
        left = max(left, MIN_WAIT)
        cut: dict[str, float] = {}
        for f in dataclasses.fields(t):
            value = getattr(t, f.name)
            cut[f.name] = left if value is None else min(float(value), left)
        return dataclasses.replace(t, **cut)

    def result(self, check_id: str) -> CheckResult | None:
        """The result of an earlier check of this target, if it ran."""
        return self.results.get(check_id)

    def prior(self) -> "judge.Prior":
        """What the earlier checks of this target established, for judging this one (engine/judge.py)."""
        return judge.prior_from(self.results, self.peer)

    def ssl_context(self) -> "ssl.SSLContext | None":
        """The SSLContext for this target, None when it is not TLS."""
        if self.target.tls is None:
            return None
        state = self.state
        assert state is not None
        # Built once per target: loading the system CA store costs tens of milliseconds each time.
        cached = state.ssl_contexts.get(self.target.tls)
        if cached is None:
            factory = self.options.tls_context
            if factory is None:
                from ..net.tls import client_context  # lazy: ssl only for TLS targets

                factory = client_context
            cached = state.ssl_contexts[self.target.tls] = factory(self.target.tls)
        return cached

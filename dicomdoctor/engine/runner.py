"""Runs a playbook: per target, its checks one after another; targets concurrently. Produces a `model.Report`.

The runner is where "a check never stops the run" (STYLE.md 8) is enforced: a check that raises, hangs or
returns nonsense becomes a finding with status `error` and the reason, and the next check runs. A check whose
dependency did not pass is `skip`, saying which one. Within a target the checks run sequentially, which is
also the politeness rule of DESIGN.md (one association at a time per target); across targets they run
concurrently under a semaphore, so one dead target costs only its own timeouts.
"""

from __future__ import annotations

import asyncio
import copy
import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..errors import BadInput
from ..messages import Fixed, Msg, Text, msg
from ..net.trace import Trace
from ..target import Target
from . import model, registry
from .context import CheckContext, CheckResult, RunOptions, Silence, TargetState, errored, skipped
from .model import Status
from .playbook import CheckRef, Playbook

if TYPE_CHECKING:
    from .kb import KnowledgeBase

# How long a cancelled (timed-out) check gets to clean up (close its socket) before we move on without it.
_CANCEL_GRACE = 1.0
# How far past the run's deadline a check may go before the runner stops it: its phase timeouts are cut to
# the deadline (CheckContext.timeouts), so its own "no answer within ..." (a finding) normally comes first.
_DEADLINE_GRACE = 0.5
# A failed check whose first cause says the peer stopped answering, and which silence that is (a check may
# also say it outright with evidence `peer_silent`). Once known, the checks after it are skipped: each would
# only wait as long again (a user's --timeout is a promise for the whole command, not for each check).
_SILENT_CAUSES = {"association-timeout": "association", "dimse-timeout": "after-ac"}
_SILENT_PHASES = ("association", "after-ac")  # what the skip says for each: _silent_skip
# File descriptors a target may hold at once (probe socket, association, TLS probe, move listener...) and
# those kept back for everything else; see _fd_budget.
_FDS_PER_TARGET = 4
_FDS_RESERVED = 64
# Threads of the run's default executor (name resolution, blocking TLS probes) at most.
_MAX_RESOLVER_THREADS = 64


@dataclass(frozen=True)
class RunEvent:
    """Progress for live views (the TUI): `target-start`, `check-start`, `finding`, `target-done`."""

    kind: str
    target: str
    check: str | None = None
    finding: model.Finding | None = None
    result: model.TargetResult | None = None


EventSink = Callable[[RunEvent], None]


@dataclass(frozen=True)
class _Step:
    spec: registry.CheckSpec
    params: dict[str, Any]
    blockers: tuple[str, ...]  # in-run checks that must have passed (or warned) for this one to run


# ------------------------------------------------------------------------------------------------ plan

def plan(checks: Sequence[CheckRef]) -> list[_Step]:
    """Order the checks: playbook order, except that an in-run dependency listed later is moved before
    the check needing it. Dependencies count only when they are in this run, but they are followed
    *through* checks that are not: quick.yaml runs net.reachable and dimse.echo; dimse.echo depends on
    assoc.ae-title, which depends on net.reachable, so dimse.echo is skipped when the port is closed."""
    by_id = {ref.id: ref for ref in checks}
    specs = {ref.id: registry.get_check(ref.id) for ref in checks}

    def blockers(check_id: str) -> tuple[str, ...]:
        found: list[str] = []
        seen: set[str] = set()
        stack = list(specs[check_id].depends)
        while stack:
            dep = stack.pop(0)
            if dep in seen:
                continue
            seen.add(dep)
            if dep in by_id:
                found.append(dep)  # its own dependencies are handled by its own skip
            else:
                try:
                    stack.extend(registry.get_check(dep).depends)
                except BadInput:
                    pass  # a dependency on a check that does not exist yet: nothing to wait for
        return tuple(found)

    deps = {ref.id: blockers(ref.id) for ref in checks}
    ordered: list[CheckRef] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(ref: CheckRef) -> None:
        if ref.id in placed or ref.id in visiting:  # a cycle keeps playbook order
            return
        visiting.add(ref.id)
        for dep in deps[ref.id]:
            place(by_id[dep])
        visiting.discard(ref.id)
        placed.add(ref.id)
        ordered.append(ref)

    for ref in checks:
        place(ref)
    return [_Step(specs[ref.id], {**specs[ref.id].params, **ref.params}, deps[ref.id]) for ref in ordered]


# ------------------------------------------------------------------------------------- knowledge base

def _load_kb(lang: str) -> "KnowledgeBase":
    from .kb import load_kb  # lazy: the CLI's fast paths never load the knowledge base

    return load_kb(lang)


def _title(kb: "KnowledgeBase", spec: registry.CheckSpec, lang: str) -> str:
    try:
        return kb.check_title(spec.id, lang) or spec.title or spec.id
    except BadInput:  # a check registered without a knowledge-base file still gets a finding
        return spec.title or spec.id


def _cause(kb: "KnowledgeBase", cause_id: str, lang: str) -> model.Cause:
    # strict=False: an id the knowledge base lacks gives a named placeholder, never a lost finding (a test
    # asserts every id the rules return exists, so this is for checks added without their yaml).
    return kb.cause(cause_id, lang, strict=False)


# ------------------------------------------------------------------------------------------ one check

async def _call(step: _Step, ctx: CheckContext, deadline: float, why: Text = "") -> CheckResult:
    """Run one check to a CheckResult, whatever it does. `why`: words for a stop at `deadline`."""
    try:
        task = asyncio.ensure_future(step.spec.func(ctx))
    except Exception as exc:  # not a coroutine function, wrong signature...
        return _from_exception(exc)
    try:
        done, _ = await asyncio.wait({task}, timeout=deadline)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        # Let it close its sockets; a check that swallows cancellation is abandoned, not awaited forever.
        await asyncio.wait({task}, timeout=_CANCEL_GRACE)
        if not task.done():
            task.add_done_callback(_consume)
        return errored(msg("check timed out after {seconds:g} s{why}", seconds=deadline, why=why),
                       kind="connectivity", timeout_s=deadline)
    if task.cancelled():
        return errored(msg("check was cancelled"))
    raised = task.exception()
    if raised is not None:
        return _from_exception(raised)
    result = task.result()
    if not isinstance(result, CheckResult):
        return errored(msg("check returned {type}, not a CheckResult", type=type(result).__name__))
    return result


def _consume(task: "asyncio.Future[Any]") -> None:
    if not task.cancelled():
        task.exception()  # mark retrieved: no "exception was never retrieved" noise


def _from_exception(exc: BaseException) -> CheckResult:
    evidence: dict[str, Any] = {"exception": type(exc).__name__}
    if os.environ.get("DICOMDOCTOR_DEBUG"):
        evidence["traceback"] = "".join(traceback.format_exception(exc))
    text = str(exc)
    # Bad parameters are the user's to fix; a socket error no probe classified is the network's; else ours.
    kind = "usage" if isinstance(exc, BadInput) else "connectivity" if isinstance(exc, OSError) else "bug"
    if len(exc.args) == 1 and isinstance(exc.args[0], (Msg, Fixed)):
        # Raised with a message (a check's BadInput(msg(...))): said in the run's language like a summary.
        return errored(msg("{exception}: {text}", exception=type(exc).__name__, text=exc.args[0]), kind=kind,
                       **evidence)
    # Otherwise the exception's name and text are data (an OS error, a library's words).
    return errored(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, kind=kind, **evidence)


# ------------------------------------------------------------------------------------------ one target

async def _run_target(target: Target, steps: list[_Step], options: RunOptions, kb: Any,
                      emit: EventSink) -> tuple[model.TargetResult, list[model.Finding]]:
    emit(RunEvent("target-start", target.id))
    trace = Trace()
    state = TargetState(planned=tuple(step.spec.id for step in steps))
    if options.deadline is not None:
        state.deadline_at = time.monotonic() + options.deadline
    results: dict[str, CheckResult] = {}
    findings: list[model.Finding] = []
    for step in steps:
        spec = step.spec
        emit(RunEvent("check-start", target.id, spec.id))
        started = time.perf_counter()
        blocked = next((d for d in step.blockers if d in results and not results[d].ok), None)
        held = _held_back(state, options)
        if held is not None:
            result = held
        elif blocked is not None:
            # Name the root: "skipped: net.reachable failed" says more than "assoc.ae-title was skipped".
            # (A blocking skip always carries `blocked_by`: see CheckResult.ok.)
            root = results[blocked].evidence.get("blocked_by", blocked)
            if root not in results:
                root = blocked
            result = skipped(_blocked_text(root, results[root].status), blocked_by=root)
        else:
            ctx = CheckContext(target=target, params=copy.deepcopy(step.params), options=options,
                               results=dict(results), trace=trace, state=state)
            limit = max(spec.timeout, options.check_budget())
            why: Text = ""
            left = state.remaining()
            if left is not None and left + _DEADLINE_GRACE < limit:
                limit = left + _DEADLINE_GRACE
                why = msg(" (the run's deadline of {seconds:g} s, --deadline)", seconds=options.deadline)
            result = await _call(step, ctx, limit, why)
        results[spec.id] = result
        _note_silence(state, spec.id, result)
        finding = model.Finding(
            target=target.id, check=spec.id, title=_title(kb, spec, options.lang), status=result.status,
            summary=result.summary_in(options.lang), evidence=dict(result.evidence),
            causes=tuple(_cause(kb, c, options.lang) for c in dict.fromkeys(result.causes))
            + tuple(result.extra_causes),
            duration_ms=(time.perf_counter() - started) * 1000.0)
        findings.append(finding)
        emit(RunEvent("finding", target.id, spec.id, finding=finding))
    target_result = model.TargetResult(
        id=target.id, host=target.host, port=target.port, called_ae=target.called_ae,
        calling_ae=target.calling_ae, tls=target.tls is not None,
        verdict=model.worst([f.status for f in findings]), peer=state.peer or model.PeerInfo(),
        trace=tuple(trace.entries))
    emit(RunEvent("target-done", target.id, result=target_result))
    return target_result, findings


def _held_back(state: TargetState, options: RunOptions) -> CheckResult | None:
    """The skip of a check that must not run: the peer is known to be silent, or the deadline has passed."""
    silence = state.silence
    if silence is not None:
        return skipped(_silent_skip(silence), blocked_by=silence.check, peer_silent=silence.phase)
    left = state.remaining()
    if left is not None and left <= 0:
        return skipped(msg("skipped: the run's deadline of {seconds:g} s (--deadline) has passed",
                           seconds=options.deadline), blocked_by="deadline", deadline_s=options.deadline)
    return None


def _silent_skip(silence: Silence) -> Msg:
    if silence.phase == "association":
        return msg("skipped: the peer accepted TCP but did not answer ({check}); asking again would only wait as "
                   "long", check=silence.check)
    return msg("skipped: the peer accepted the association, then stopped answering ({check}); asking again would "
               "only wait as long", check=silence.check)


def _blocked_text(root: str, status: Status) -> Msg:
    """"skipped: net.reachable failed": the check that did not pass, by its id."""
    if status is Status.FAIL:
        return msg("skipped: {check} failed", check=root)
    if status is Status.ERROR:
        return msg("skipped: {check} could not run", check=root)
    if status is Status.SKIP:
        return msg("skipped: {check} was skipped", check=root)
    return msg("skipped: {check} did not pass", check=root)


def _note_silence(state: TargetState, check_id: str, result: CheckResult) -> None:
    """Remember the first check that found the peer silent (see _SILENT_CAUSES)."""
    if state.silence is not None or result.status is not Status.FAIL:
        return
    phase = result.evidence.get("peer_silent")
    if phase not in _SILENT_PHASES:
        phase = _SILENT_CAUSES.get(result.causes[0]) if result.causes else None
    if phase is not None:
        state.silence = Silence(str(phase), check_id, result.summary)


# ------------------------------------------------------------------------------------------ the run

async def run_playbook(playbook: Playbook, targets: Iterable[Target] | None = None,
                       options: RunOptions | None = None, *, kb: Any = None,
                       on_event: EventSink | None = None) -> model.Report:
    """Run `playbook` against `targets` (default: the playbook's own) and return the report.

    `kb`: a loaded knowledge base (default: `engine.kb.load_kb(options.lang)`). `on_event`: progress
    callback, called in the event loop; it must be quick (post a message, do not render).
    """
    from .. import __version__

    options = options or RunOptions()
    target_list = list(playbook.targets if targets is None else targets)
    if not target_list:
        raise BadInput(f"playbook {playbook.name} has no target to check")
    steps = plan(playbook.checks)
    if kb is None:
        kb = _load_kb(options.lang)

    def emit(event: RunEvent) -> None:
        if on_event is not None:
            try:
                on_event(event)
            except Exception:  # a broken progress view must not lose the diagnosis
                pass

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(max(1, min(options.concurrency, _fd_budget())))

    async def one(target: Target) -> tuple[model.TargetResult, list[model.Finding]]:
        async with semaphore:
            return await _run_target(target, steps, options, kb, emit)

    outcomes = await asyncio.gather(*(one(t) for t in target_list))
    findings = [f for _, fs in outcomes for f in fs]
    return model.Report(
        playbook=playbook.name,
        verdict=model.worst([f.status for f in findings]),
        duration_ms=(time.perf_counter() - started) * 1000.0,
        targets=tuple(tr for tr, _ in outcomes),
        findings=tuple(findings),
        tool_version=__version__,
        started_at=started_at,
    )


def _fd_budget() -> int:
    """How many targets may run at once before the process runs out of file descriptors. Past that, a
    connect fails with EMFILE, which would be reported as the *peer's* problem; a smaller concurrency only
    makes the run slower. Unlimited where the platform has no RLIMIT_NOFILE."""
    try:
        import resource
    except ImportError:  # Windows
        return 1 << 30
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 1 << 30
    return max(1, (soft - _FDS_RESERVED) // _FDS_PER_TARGET)


def run(playbook: Playbook, targets: Iterable[Target] | None = None, options: RunOptions | None = None,
        *, kb: Any = None, on_event: EventSink | None = None) -> model.Report:
    """Synchronous wrapper of `run_playbook` (one event loop for the whole run).

    The loop gets a default executor as wide as the run's concurrency: name resolution (getaddrinfo) runs
    there, and asyncio's default (cores + 4 threads) would queue a fleet's lookups behind one slow DNS
    server, so that healthy targets time out in the queue, charged to their own timeout."""
    options = options or RunOptions()
    workers = max(4, min(options.concurrency, _MAX_RESOLVER_THREADS))

    async def main() -> model.Report:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dicomdoctor-resolve"))
        return await run_playbook(playbook, targets, options, kb=kb, on_event=on_event)

    return asyncio.run(main())

"""Runner with fake checks: dependencies, timeouts, exceptions, facts, concurrency, verdicts, KB resolution."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

from dicomdoctor.engine import model, registry
from dicomdoctor.engine.context import (CheckContext, CheckResult, RunOptions, errored, failed, passed, skipped,
                                        warned)
from dicomdoctor.engine.model import Cause, PeerInfo, Status
from dicomdoctor.engine.playbook import make_playbook
from dicomdoctor.engine.registry import check
from dicomdoctor.engine.runner import RunEvent, run, run_playbook
from dicomdoctor.errors import BadInput
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.target import Target, parse_target

# Phase timeouts off, so a check's own `timeout` is its deadline (the budget floor is tested separately).
FAST = RunOptions(timeouts=Timeouts.uniform(None))
T = parse_target("PACS@127.0.0.1:1")


class FakeKB:
    def check_title(self, check_id: str, lang: str) -> str | None:
        return {"t.pass": "Always passes"}.get(check_id) if lang == "en" else "总是通过"

    def cause(self, cause_id: str, lang: str, *, strict: bool = True) -> Cause:
        if cause_id == "kb-cause":
            return Cause(id="kb-cause", title=f"A known cause ({lang})", fixes=("do this",))
        if strict:
            raise KeyError(cause_id)
        return Cause(id=cause_id, title=cause_id)  # as the real KB's placeholder for an unknown id


KB = FakeKB()
CALLS: dict[str, int] = {}
RUNNING: dict[str, int] = {}
GATES: dict[str, asyncio.Event] = {}  # made inside the run's event loop, cleared by the tests


@pytest.fixture
def fake() -> Iterator[None]:
    CALLS.clear()
    with registry.isolated_registry():
        @check("t.pass", params={"n": 1, "items": []}, title="pass title")
        async def p(ctx: CheckContext) -> CheckResult:
            ctx.params["items"].append("mutated")  # must not leak into the next target
            return passed(f"n={ctx.params['n']} items={len(ctx.params['items'])}", n=ctx.params["n"])

        @check("t.fail", title="fails")
        async def f(ctx: CheckContext) -> CheckResult:
            return failed("it failed", causes=("kb-cause", "not-in-kb", "kb-cause"),
                          extra_causes=(Cause(id="adhoc", title="Error Comment: disk full"),), code=0xA700)

        @check("t.warn")
        async def w(ctx: CheckContext) -> CheckResult:
            return warned("careful", "kb-cause")

        @check("t.after-fail", depends=("t.fail",))
        async def af(ctx: CheckContext) -> CheckResult:
            return passed("should not run")

        @check("t.after-warn", depends=("t.warn",))
        async def aw(ctx: CheckContext) -> CheckResult:
            return passed("ran after a warning")

        @check("t.chain", depends=("t.after-fail",))  # depends on t.fail through t.after-fail
        async def chain(ctx: CheckContext) -> CheckResult:
            return passed("should not run either")

        @check("t.slow", timeout=0.2)
        async def slow(ctx: CheckContext) -> CheckResult:
            await asyncio.Event().wait()  # forever: only the runner's timeout ends it
            return passed("never")

        @check("t.stubborn", timeout=0.1)
        async def stubborn(ctx: CheckContext) -> CheckResult:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await asyncio.sleep(0.05)  # cleans up, then ends
            return passed("never")

        @check("t.raise")
        async def boom(ctx: CheckContext) -> CheckResult:
            raise TypeError("boom")

        @check("t.own-timeout")
        async def own(ctx: CheckContext) -> CheckResult:
            await asyncio.wait_for(asyncio.sleep(1), 0.01)
            return passed("never")

        @check("t.nonsense")
        async def nonsense(ctx: CheckContext) -> Any:
            return "pass"

        @check("t.not-async")
        def not_async(ctx: CheckContext) -> Any:
            return passed("sync")

        @check("t.all-at-once", timeout=60.0)
        async def all_at_once(ctx: CheckContext) -> CheckResult:
            # Passes only once every target's check has started: 20 targets run one after another would
            # wait here for good (until the 60 s safety net makes it an error).
            RUNNING["now"] = RUNNING.get("now", 0) + 1
            gate = GATES.setdefault("all-in", asyncio.Event())
            if RUNNING["now"] >= RUNNING["expect"]:
                gate.set()
            await gate.wait()
            return passed("all in")

        @check("t.count-overlap")
        async def count_overlap(ctx: CheckContext) -> CheckResult:
            RUNNING["now"] = RUNNING.get("now", 0) + 1
            RUNNING["most"] = max(RUNNING.get("most", 0), RUNNING["now"])
            for _ in range(5):
                await asyncio.sleep(0)  # let any other target's check interleave, if the runner allowed one
            RUNNING["now"] -= 1
            return passed("counted")

        @check("t.fact-a")
        async def fact_a(ctx: CheckContext) -> CheckResult:
            value = await ctx.fact("probe", _probe)
            ctx.set_peer(PeerInfo(implementation_version_name="FAKE_1", max_pdu=16384))
            ctx.trace.note("probe done")
            return passed(f"probe={value}")

        @check("t.fact-b")
        async def fact_b(ctx: CheckContext) -> CheckResult:
            value = await ctx.fact("probe", _probe)
            seen = ctx.result("t.fact-a")
            return passed(f"probe={value} after={seen.status.value if seen else None}")

        @check("t.fact-fail")
        async def fact_fail(ctx: CheckContext) -> CheckResult:
            try:
                await ctx.fact("broken", _broken)
            except OSError as exc:
                return failed(str(exc))
            return passed("no")

        @check("t.skip")
        async def sk(ctx: CheckContext) -> CheckResult:
            return skipped("not applicable: plain DICOM")

        @check("t.error")
        async def er(ctx: CheckContext) -> CheckResult:
            return errored("unexpected")

        yield


async def _probe() -> str:
    CALLS["probe"] = CALLS.get("probe", 0) + 1
    await asyncio.sleep(0.01)
    return "AC"


async def _broken() -> str:
    CALLS["broken"] = CALLS.get("broken", 0) + 1
    raise OSError("connection refused")


def by_check(report: model.Report, target: str | None = None) -> dict[str, model.Finding]:
    return {f.check: f for f in report.findings if target is None or f.target == target}


def go(checks: list[Any], targets: list[Target] | None = None, options: RunOptions = FAST,
       **kw: Any) -> model.Report:
    return run(make_playbook("test", checks), targets or [T], options, kb=kw.pop("kb", KB), **kw)


# --------------------------------------------------------------------------------------------- basics

def test_pass_finding_fields(fake: None) -> None:
    report = go([("t.pass", {"n": 7})])
    (f,) = report.findings
    assert (f.target, f.check, f.title, f.status, f.summary) == (T.id, "t.pass", "Always passes", Status.PASS,
                                                                 "n=7 items=1")
    assert f.evidence == {"n": 7} and f.causes == () and f.duration_ms >= 0
    assert report.verdict == "pass" and report.exit_code == 0 and report.playbook == "test"
    assert report.tool_version and report.started_at.endswith("+00:00")
    (t,) = report.targets
    assert (t.id, t.host, t.port, t.called_ae, t.calling_ae, t.tls, t.verdict) == (
        "PACS@127.0.0.1:1", "127.0.0.1", 1, "PACS", "DICOMDOCTOR", False, "pass")


def test_title_falls_back_to_spec_title_and_language(fake: None) -> None:
    assert by_check(go(["t.fail"]))["t.fail"].title == "fails"
    assert by_check(go(["t.pass"], options=RunOptions(timeouts=Timeouts.uniform(None), lang="zh")))[
        "t.pass"].title == "总是通过"
    assert by_check(go(["t.pass"], kb=None))["t.pass"].title  # real KB or the fallback: never empty


def test_causes_resolved_through_the_knowledge_base(fake: None) -> None:
    f = by_check(go(["t.fail"]))["t.fail"]
    assert [c.id for c in f.causes] == ["kb-cause", "not-in-kb", "adhoc"]  # ranked, deduplicated, extras last
    assert f.causes[0].title == "A known cause (en)" and f.causes[0].fixes == ("do this",)
    assert f.causes[1] == Cause(id="not-in-kb", title="not-in-kb")  # unknown id: never a crash
    assert f.evidence == {"code": 0xA700}


# ------------------------------------------------------------------------------------------ dependencies

def test_dependency_failure_skips_with_reason(fake: None) -> None:
    report = go(["t.fail", "t.after-fail", "t.chain", "t.warn", "t.after-warn"])
    f = by_check(report)
    assert f["t.after-fail"].status is Status.SKIP and f["t.after-fail"].summary == "skipped: t.fail failed"
    assert f["t.after-fail"].evidence == {"blocked_by": "t.fail"}
    assert f["t.chain"].summary == "skipped: t.fail failed"  # the root, not "t.after-fail was skipped"
    assert f["t.after-warn"].status is Status.PASS  # a warning does not block
    assert report.verdict == "fail" and report.exit_code == 2
    assert report.summary == {"pass": 1, "warn": 1, "fail": 1, "skip": 2, "error": 0}


def test_dependency_through_a_check_not_in_the_run(fake: None) -> None:
    f = by_check(go(["t.fail", "t.chain"]))  # t.after-fail is not in the run; t.chain still waits on t.fail
    assert f["t.chain"].summary == "skipped: t.fail failed"


def test_dependency_not_in_the_run_does_not_block(fake: None) -> None:
    assert by_check(go(["t.after-fail"]))["t.after-fail"].status is Status.PASS


def test_dependency_listed_later_runs_first(fake: None) -> None:
    report = go(["t.after-fail", "t.pass", "t.fail"])
    assert [f.check for f in report.findings] == ["t.fail", "t.after-fail", "t.pass"]
    assert report.findings[1].status is Status.SKIP


def test_error_blocks_but_not_applicable_does_not(fake: None) -> None:
    with registry.isolated_registry():
        for cid, result in (("a.err", errored("x")), ("a.skip", skipped("n/a"))):
            async def f(ctx: CheckContext, result: CheckResult = result) -> CheckResult:
                return result
            check(cid)(f)

            async def g(ctx: CheckContext) -> CheckResult:
                return passed("ran")
            g.__qualname__ = cid + "-dep"
            check(cid + "-dep", depends=(cid,))(g)
        f2 = by_check(go(["a.err", "a.err-dep", "a.skip", "a.skip-dep"]))
    assert f2["a.err-dep"].summary == "skipped: a.err could not run"
    # A check that skips itself is "not applicable" (tls.handshake on plain DICOM): dependants still run.
    assert f2["a.skip-dep"].status is Status.PASS


# ------------------------------------------------------------------------------- a check never stops it

def test_timeout_becomes_error_and_the_run_goes_on(fake: None) -> None:
    report = go(["t.slow", "t.pass"])
    f = by_check(report)
    assert f["t.slow"].status is Status.ERROR and f["t.slow"].summary == "check timed out after 0.2 s"
    assert f["t.pass"].status is Status.PASS
    assert report.verdict == "error" and report.exit_code == 3


def test_a_check_that_cleans_up_after_cancel(fake: None) -> None:
    assert by_check(go(["t.stubborn"]))["t.stubborn"].summary == "check timed out after 0.1 s"


def test_exception_becomes_error_with_reason(fake: None) -> None:
    f = by_check(go(["t.raise", "t.own-timeout", "t.nonsense", "t.not-async", "t.pass"]))
    assert f["t.raise"].status is Status.ERROR and f["t.raise"].summary == "TypeError: boom"
    assert f["t.raise"].evidence["exception"] == "TypeError"
    assert f["t.own-timeout"].summary == "TimeoutError"  # the check's own timeout, not the runner's
    assert f["t.nonsense"].summary == "check returned str, not a CheckResult"
    assert f["t.not-async"].status is Status.ERROR
    assert f["t.pass"].status is Status.PASS


def test_fail_beats_error_in_the_verdict(fake: None) -> None:
    assert go(["t.raise", "t.fail"]).verdict == "fail"
    assert go(["t.warn", "t.skip"]).verdict == "warn"
    assert go(["t.skip"]).verdict == "pass"


def test_budget_floor_keeps_phase_timeouts_meaningful(fake: None) -> None:
    # With a 0.05 s connect/association/DIMSE budget the floor is 2.15 s, above t.slow's own 0.2 s.
    options = RunOptions(timeouts=Timeouts(0.05, 0.05, 0.05, 0.05))
    assert options.check_budget() == pytest.approx(2.15)
    assert RunOptions(timeouts=Timeouts.uniform(None)).check_budget() == 0.0


# ----------------------------------------------------------------------------------------- shared state

def test_facts_are_computed_once_per_target(fake: None) -> None:
    t2 = parse_target("OTHER@127.0.0.1:2")
    report = go(["t.fact-a", "t.fact-b"], [T, t2])
    assert CALLS["probe"] == 2  # once per target, not once per check
    assert by_check(report, T.id)["t.fact-b"].summary == "probe=AC after=pass"
    tr = report.targets[0]
    assert tr.peer == PeerInfo(implementation_version_name="FAKE_1", max_pdu=16384)
    assert [e.summary for e in tr.trace] == ["probe done"]


def test_fact_failures_are_memoized(fake: None) -> None:
    with registry.isolated_registry():
        async def twice(ctx: CheckContext) -> CheckResult:
            results = []
            for _ in range(2):
                try:
                    await ctx.fact("broken", _broken)
                except OSError as exc:
                    results.append(str(exc))
            return failed(" / ".join(results))
        check("t.twice")(twice)
        assert by_check(go(["t.twice"]))["t.twice"].summary == "connection refused / connection refused"
    assert CALLS["broken"] == 1


def test_concurrent_fact_callers_share_one_computation() -> None:
    CALLS.clear()

    async def both() -> list[str]:
        ctx = CheckContext(target=T)
        other = CheckContext(target=T, state=ctx.state)
        assert other.facts is ctx.facts
        return list(await asyncio.gather(ctx.fact("p", _probe), other.fact("p", _probe)))

    a, b = asyncio.run(both())
    assert a == b == "AC" and CALLS.get("probe") == 1


def test_params_are_fresh_for_each_target(fake: None) -> None:
    report = go(["t.pass"], [T, parse_target("B@127.0.0.1:2")])
    assert [f.summary for f in report.findings] == ["n=1 items=1", "n=1 items=1"]


# ------------------------------------------------------------------------------------------- targets

def test_twenty_slow_targets_run_concurrently(fake: None) -> None:
    targets = [parse_target(f"AE{i}@127.0.0.{i + 1}:104") for i in range(20)]
    RUNNING.clear()
    RUNNING["expect"] = 20
    GATES.clear()
    report = go(["t.all-at-once"], targets)
    assert all(f.status is Status.PASS for f in report.findings), [f.summary for f in report.findings]
    assert [t.id for t in report.targets] == [t.id for t in targets]  # input order, not completion order
    assert [f.target for f in report.findings] == [t.id for t in targets]


def test_concurrency_limit(fake: None) -> None:
    targets = [parse_target(f"127.0.0.{i + 1}") for i in range(3)]
    RUNNING.clear()
    go(["t.count-overlap"], targets, RunOptions(timeouts=Timeouts.uniform(None), concurrency=1))
    assert RUNNING["most"] == 1
    RUNNING.clear()
    go(["t.count-overlap"], targets, RunOptions(timeouts=Timeouts.uniform(None), concurrency=3))
    assert RUNNING["most"] == 3  # the counter does see overlap when it is allowed


def test_verdict_per_target_and_overall(fake: None) -> None:
    bad = parse_target("BAD@127.0.0.1:2")
    with registry.isolated_registry():
        async def by_target(ctx: CheckContext) -> CheckResult:
            return failed("down") if ctx.target.called_ae == "BAD" else passed("up")
        check("t.by-target")(by_target)
        report = go(["t.by-target"], [T, bad])
    assert [t.verdict for t in report.targets] == ["pass", "fail"]
    assert report.verdict == "fail"
    assert len(report.findings_for(bad.id)) == 1


def test_no_targets_is_bad_input(fake: None) -> None:
    with pytest.raises(BadInput, match="no target"):
        run(make_playbook("empty", ["t.pass"]), None, FAST, kb=KB)


def test_playbook_targets_are_the_default(fake: None) -> None:
    pb = make_playbook("fleet", ["t.pass"], targets=[T])
    assert run(pb, options=FAST, kb=KB).targets[0].id == T.id


def test_progress_events(fake: None) -> None:
    events: list[RunEvent] = []

    def sink(event: RunEvent) -> None:
        events.append(event)
        raise RuntimeError("a broken view must not break the run")

    report = go(["t.pass", "t.warn"], on_event=sink)
    assert [(e.kind, e.check) for e in events] == [
        ("target-start", None), ("check-start", "t.pass"), ("finding", "t.pass"), ("check-start", "t.warn"),
        ("finding", "t.warn"), ("target-done", None)]
    assert events[-1].result == report.targets[0]


def test_run_playbook_is_awaitable(fake: None) -> None:
    report = asyncio.run(run_playbook(make_playbook("x", ["t.pass"]), [T], FAST, kb=KB))
    assert report.verdict == "pass"


def test_json_of_a_report_is_plain(fake: None) -> None:
    import json

    data = json.loads(json.dumps(go(["t.fail", "t.after-fail"]).to_json_dict()))
    assert data["summary"]["skip"] == 1 and data["findings"][0]["causes"][0]["id"] == "kb-cause"


def test_ssl_context_is_built_once_per_target() -> None:
    built: list[object] = []

    def factory(tls: object) -> object:
        built.append(tls)
        return object()

    from dicomdoctor.target import TLSOptions

    ctx = CheckContext(target=T.with_(tls=TLSOptions(insecure=True)),
                       options=RunOptions(tls_context=factory))  # type: ignore[arg-type]
    other = CheckContext(target=ctx.target, options=ctx.options, state=ctx.state)
    assert ctx.ssl_context() is other.ssl_context() and len(built) == 1
    assert CheckContext(target=T).ssl_context() is None

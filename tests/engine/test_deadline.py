"""The whole-run deadline and the silent-peer rule of the runner, with fake checks (no network).

Nothing here asserts on wall time: the checks block on events that never come (a silent peer), and the
tests assert which findings the runner produced and that it returned at all (pytest's own run is the hang
guard; each wait inside is bounded by the deadline under test)."""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest

from dicomdoctor.engine import registry
from dicomdoctor.engine.context import CheckContext, CheckResult, RunOptions, TargetState, failed, passed
from dicomdoctor.engine.model import Status
from dicomdoctor.engine.playbook import make_playbook
from dicomdoctor.engine.registry import check
from dicomdoctor.engine.runner import run
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.target import parse_target

T = parse_target("PACS@127.0.0.1:1")
SEEN: dict[str, Timeouts] = {}
RAN: list[str] = []


@pytest.fixture
def fake() -> Iterator[None]:
    SEEN.clear()
    RAN.clear()
    with registry.isolated_registry():
        @check("t.wait-phase", timeout=600.0)
        async def wait_phase(ctx: CheckContext) -> CheckResult:
            # What a networked check does: wait on the peer for its phase timeout, then say so.
            RAN.append("t.wait-phase")
            t = ctx.timeouts
            SEEN["t.wait-phase"] = t
            try:
                await asyncio.wait_for(asyncio.Event().wait(), t.association)
            except asyncio.TimeoutError:
                return failed(f"no answer within {t.association:g} s", ("association-timeout",))
            return passed("answered")

        @check("t.hang", timeout=600.0)
        async def hang(ctx: CheckContext) -> CheckResult:
            RAN.append("t.hang")
            await asyncio.Event().wait()  # ignores every phase timeout: only the runner can stop it
            return passed("never")

        @check("t.pass")
        async def ok(ctx: CheckContext) -> CheckResult:
            RAN.append("t.pass")
            SEEN["t.pass"] = ctx.timeouts
            return passed("fine")

        @check("t.silent-after-ac")
        async def after_ac(ctx: CheckContext) -> CheckResult:
            RAN.append("t.silent-after-ac")
            return failed("accepted, then nothing", ("some-cause",), peer_silent="after-ac")

        @check("t.dimse-timeout")
        async def dimse(ctx: CheckContext) -> CheckResult:
            RAN.append("t.dimse-timeout")
            return failed("no response", ("dimse-timeout", "server-overloaded"))

        @check("t.other-fail")
        async def other(ctx: CheckContext) -> CheckResult:
            RAN.append("t.other-fail")
            return failed("rejected", ("called-ae-not-recognized",))
        yield


def _by_check(report: object) -> dict[str, object]:
    return {f.check: f for f in report.findings}  # type: ignore[attr-defined]


def test_phase_timeouts_are_cut_to_the_deadline(fake: None) -> None:
    options = RunOptions(timeouts=Timeouts(connect=60, association=60, dimse=60, release=60), deadline=0.3)
    report = run(make_playbook("d", ["t.wait-phase"]), [T], options)
    f = _by_check(report)["t.wait-phase"]
    # The check's own timeout ended it, as a finding with its cause, not the runner's "check timed out".
    assert f.status is Status.FAIL and f.causes[0].id == "association-timeout"  # type: ignore[attr-defined]
    seen = SEEN["t.wait-phase"]
    assert all(v is not None and v <= 0.3 for v in (seen.connect, seen.association, seen.dimse, seen.release))


def test_no_deadline_leaves_the_timeouts_alone(fake: None) -> None:
    timeouts = Timeouts(connect=7, association=8, dimse=9, release=4)
    run(make_playbook("d", ["t.pass"]), [T], RunOptions(timeouts=timeouts))
    assert SEEN["t.pass"] == timeouts


def test_a_check_that_ignores_its_timeouts_is_stopped_at_the_deadline(fake: None) -> None:
    options = RunOptions(timeouts=Timeouts(connect=60, association=60, dimse=60, release=60), deadline=0.2)
    report = run(make_playbook("d", ["t.hang", "t.pass"]), [T], options)
    found = _by_check(report)
    assert found["t.hang"].status is Status.ERROR  # type: ignore[attr-defined]
    assert "--deadline" in found["t.hang"].summary  # type: ignore[attr-defined]
    after = found["t.pass"]
    assert after.status is Status.SKIP and "deadline" in after.summary  # type: ignore[attr-defined]
    assert after.evidence["deadline_s"] == 0.2  # type: ignore[attr-defined]
    assert RAN == ["t.hang"]


@pytest.mark.parametrize("first, phase", [("t.wait-phase", "association"), ("t.dimse-timeout", "after-ac"),
                                          ("t.silent-after-ac", "after-ac")])
def test_checks_after_a_silent_peer_are_skipped(fake: None, first: str, phase: str) -> None:
    options = RunOptions(timeouts=Timeouts.uniform(0.1))
    report = run(make_playbook("d", [first, "t.pass", "t.other-fail"]), [T], options)
    found = _by_check(report)
    assert found[first].status is Status.FAIL  # type: ignore[attr-defined]
    for later in ("t.pass", "t.other-fail"):
        f = found[later]
        assert f.status is Status.SKIP, f.summary  # type: ignore[attr-defined]
        assert f.evidence["peer_silent"] == phase and f.evidence["blocked_by"] == first  # type: ignore[attr-defined]
        assert first in f.summary  # type: ignore[attr-defined]
    assert RAN == [first]


def test_other_failures_do_not_stop_the_run(fake: None) -> None:
    report = run(make_playbook("d", ["t.other-fail", "t.pass"]), [T], RunOptions(timeouts=Timeouts.uniform(1)))
    assert _by_check(report)["t.pass"].status is Status.PASS  # type: ignore[attr-defined]
    assert RAN == ["t.other-fail", "t.pass"]


def test_a_context_built_alone_has_no_deadline() -> None:
    ctx = CheckContext(target=T, options=RunOptions(deadline=0.001))
    assert ctx.timeouts == RunOptions().timeouts  # the runner starts the clock, not the options
    state = TargetState()
    assert state.remaining() is None

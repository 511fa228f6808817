"""The workflow playbook in the TUI: chosen in the form and run, and its chain (each step's status in order,
where it broke) in the detail pane; the demo's mix of playbooks (standard beside workflow) in one run.
Real peers: our simulator with its workflow faults (sim/workflow.py), on loopback."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from textual.widgets import Input, Select, Static

from dicomdoctor.engine.model import Finding, Status
from dicomdoctor.engine.playbook import load_playbook
from dicomdoctor.tui.session import WORKFLOW_CHAIN, workflow_chain
from dicomdoctor.tui.widgets import FindingDetail, FindingsTable

from tui_helpers import aio, detail_shows, drive, run_done, until


@pytest.fixture(scope="module")
def ris() -> Iterator[Any]:
    """A RIS + PACS whose storage commitment fails every item: the chain breaks at workflow.commit."""
    from dicomdoctor.sim import SimulatorThread

    with SimulatorThread("RIS", ["worklist", "mpps", "commitment=fail"]) as s:
        yield s


def _chain_text(app: Any) -> str:
    detail = app.screen_stack[0].query_one(FindingDetail)
    return "\n".join(str(w.render()) for w in detail.query(".detail-chain").results(Static))


def test_the_chain_is_the_workflow_playbook_s_in_order() -> None:
    ids = load_playbook("workflow").check_ids
    assert [c for c in ids if c in WORKFLOW_CHAIN] == list(WORKFLOW_CHAIN)
    assert all(c in WORKFLOW_CHAIN for c in ids if c.startswith("workflow."))


def test_workflow_chain_marks_where_it_broke() -> None:
    def f(check: str, status: Status, target: str = "T") -> Finding:
        return Finding(target=target, check=check, title=check, status=status, summary=f"{check} {status.value}")

    findings = [f("assoc.ae-title", Status.PASS), f("mwl.find", Status.PASS), f("workflow.mpps-start", Status.FAIL),
                f("workflow.store", Status.SKIP), f("mwl.find", Status.PASS, "OTHER")]
    chain = workflow_chain(findings, "T")
    assert [s.check for s in chain] == list(WORKFLOW_CHAIN)
    assert [s.status for s in chain[:3]] == [Status.PASS, Status.FAIL, Status.SKIP]
    assert [s.check for s in chain if s.broke] == ["workflow.mpps-start"]
    assert chain[-1].status is None  # not ended yet
    assert workflow_chain(findings, "OTHER") == []  # mwl.find alone is not a chain


def test_chain_text_says_where_it_broke_or_what_stopped_it() -> None:
    from dicomdoctor.tui.session import ChainStep
    from dicomdoctor.tui.widgets.detail import chain_text

    broke = [ChainStep("mwl.find", Status.PASS), ChainStep("workflow.mpps-start", Status.FAIL, True),
             ChainStep("workflow.store", Status.SKIP), ChainStep("workflow.commit", None)]
    assert chain_text(broke).plain == ("mwl.find PASS → workflow.mpps-start FAIL ◀ broke here → workflow.store SKIP"
                                       " → workflow.commit …")
    blocked = [ChainStep(c, Status.SKIP, summary="skipped: assoc.ae-title failed") for c in WORKFLOW_CHAIN]
    assert chain_text(blocked).plain.endswith("\nnot started: skipped: assoc.ae-title failed")


@aio
async def test_workflow_playbook_chosen_in_the_form_runs_and_shows_its_chain(make_app: Any, ris: Any) -> None:
    app = make_app()
    async with drive(app, size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "target-input")
        select = app.query_one("#playbook-select", Select)
        assert "workflow" in [str(v) for _, v in select._options]  # offered where playbooks are chosen
        select.value = "workflow"
        app.query_one("#target-input", Input).value = ris.target()
        app.query_one("#target-input", Input).focus()
        await pilot.press("enter")
        await run_done(pilot)
        assert app.report is not None and app.report.playbook == "workflow"
        assert "writes to the peer" in app.sub_title
        table = app.query_one(FindingsTable)
        assert table.row_count == len(load_playbook("workflow").checks)
        # The first failure is selected: the commitment; the chain says the steps before passed.
        assert table.key_at_cursor().endswith("workflow.commit")
        text = _chain_text(app)
        assert "mwl.find PASS → workflow.mpps-start PASS → workflow.store PASS → workflow.commit FAIL ◀ broke here" \
            in text, text
        assert "workflow.mpps-complete SKIP → workflow.readback SKIP" in text, text
        # Another finding of the same target shows the same chain; a non-chain check of it too.
        assert table.select(ris.target(), "assoc.ae-title")
        await until(pilot, lambda: detail_shows(app))
        assert "workflow.commit FAIL ◀ broke here" in _chain_text(app)


@aio
async def test_demo_mix_each_target_runs_its_playbook(sim: Any, ris: Any) -> None:
    from dicomdoctor.engine.context import RunOptions
    from dicomdoctor.net.timeouts import Timeouts
    from dicomdoctor.target import parse_target
    from dicomdoctor.tui.app import DoctorApp
    from dicomdoctor.tui.session import TuiConfig

    pacs, wf = parse_target(sim.target()), parse_target(ris.target())
    workflow = load_playbook("workflow")
    config = TuiConfig(options=RunOptions(timeouts=Timeouts(3, 3, 3, 1)), targets=(pacs, wf),
                       target_playbooks=((wf.id, workflow),))
    app = DoctorApp(config)
    async with drive(app, size=(120, 40)) as pilot:
        await run_done(pilot)
        report = app.report
        assert report is not None and report.playbook == "standard + workflow"
        assert [t.id for t in report.targets] == [pacs.id, wf.id]
        assert [f.check for f in report.findings_for(pacs.id)] == list(load_playbook("standard").check_ids)
        assert [f.check for f in report.findings_for(wf.id)] == list(workflow.check_ids)
        assert app.query_one(FindingsTable).row_count == len(report.findings)
        assert app.query_one(FindingsTable).key_at_cursor() == f"{wf.id}\x1fworkflow.commit"
        assert "workflow.commit FAIL ◀ broke here" in _chain_text(app)
        # The standard targets' findings carry no chain.
        assert app.query_one(FindingsTable).select(pacs.id, "dimse.echo")
        await until(pilot, lambda: detail_shows(app))
        assert _chain_text(app) == ""

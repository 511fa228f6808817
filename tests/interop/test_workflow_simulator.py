"""The simulator's workflow faults (sim/workflow.py): each workflow cause produced on the simulator, the
workflow playbook passing on it, and bad worklist files as bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from dicomdoctor.engine.context import RunOptions
from dicomdoctor.engine.model import Finding
from dicomdoctor.engine.playbook import load_playbook, make_playbook
from dicomdoctor.engine.runner import run
from dicomdoctor.errors import BadInput
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.sim.server import SimulatorThread
from dicomdoctor.sim.workflow import load_worklist
from dicomdoctor.target import parse_target
import peers

OPTIONS = RunOptions(timeouts=Timeouts(5, 5, 5, 5))


@pytest.fixture
def sim() -> Iterator[Callable[..., str]]:
    """`sim(*faults)` -> the target text of a started simulator."""
    def start(*faults: str) -> SimulatorThread:
        s = SimulatorThread("SIMULATOR", list(faults))
        s.start()
        return s
    f = peers.Factory(start, view=lambda s: s.target())
    yield f
    f.stop_all()


def one(target: str, check: str, **params: Any) -> Finding:
    report = run(make_playbook("t", [(check, params)]), [parse_target(target)], OPTIONS)
    return next(f for f in report.findings if f.check == check)


def ids(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


def test_workflow_playbook_passes_on_the_simulator(sim: Any) -> None:
    target = sim("worklist", "mpps", "commitment")
    report = run(load_playbook("workflow"), [parse_target(target)], OPTIONS)
    assert str(getattr(report.verdict, "value", report.verdict)) == "pass", [(f.check, f.summary) for f in report.findings]
    commit = next(f for f in report.findings if f.check == "workflow.commit")
    assert commit.evidence["report_via"] == "same-association"


def test_worklist_from_a_yaml_file(sim: Any, tmp_path: Path) -> None:
    book = tmp_path / "wl.yaml"
    book.write_text("- {PatientID: SIMX1, PatientName: DOE^SYNTHETIC, ScheduledStationAETitle: MR01, Modality: MR,\n"
                    "   ScheduledProcedureStepStartDate: today, AccessionNumber: A1, StudyInstanceUID: 1.2.3.4,\n"
                    "   RequestedProcedureID: R1, ScheduledProcedureStepID: S1}\n")
    target = sim(f"worklist={book}")
    assert one(target, "mwl.find", station_ae="MR01").status.value == "pass"
    empty = one(target, "mwl.find", station_ae="CT01")
    assert ids(empty) == ["worklist-empty"] and empty.evidence["suspects"] == ["ScheduledStationAETitle"]


def test_worklist_not_supported_without_the_fault(sim: Any) -> None:
    assert ids(one(sim(), "mwl.find"))[0] == "worklist-not-supported"


@pytest.mark.parametrize("fault,cause", [("mpps=refuse", "mpps-refused"), ("mpps=closed", "mpps-invalid-transition"),
                                         ("mpps=hang", "mpps-no-response"), ("worklist", "mpps-not-supported")])
def test_mpps_faults(sim: Any, fault: str, cause: str) -> None:
    f = one(sim(fault), "mpps.cycle")
    assert f.status.value == "fail" and ids(f)[0] == cause, f.summary


@pytest.mark.parametrize("fault,cause", [("commitment=no-report", "commitment-no-report"),
                                         ("commitment=fail", "commitment-failed-items"),
                                         ("worklist", "commitment-not-supported")])
def test_commitment_faults(sim: Any, fault: str, cause: str) -> None:
    f = one(sim(fault), "commitment.request", wait=1.0)
    assert f.status.value == "fail" and ids(f)[0] == cause, f.summary


def test_commitment_delayed_report_arrives_within_the_wait(sim: Any) -> None:
    f = one(sim("commitment=delay:0.2"), "commitment.request", wait=20.0)
    assert f.status.value == "pass", f.summary


def test_user_identity_required(sim: Any) -> None:
    target = sim("user-identity-required")
    f = one(target, "assoc.user-identity")
    assert f.status.value == "fail" and ids(f) == ["user-identity-required"]
    g = one(target, "assoc.user-identity", type="jwt", token_env="HOME")
    assert g.status.value == "pass" and g.evidence["positive_response"] is True


def test_bad_worklist_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {PatientID: X\n")
    with pytest.raises(BadInput, match=r"bad.yaml:\d"):
        load_worklist(str(bad))
    unknown = tmp_path / "u.json"
    unknown.write_text('[{"NoSuchKeyword": 1}]')
    with pytest.raises(BadInput, match="NoSuchKeyword"):
        load_worklist(str(unknown))
    with pytest.raises(BadInput, match="worklist file"):
        load_worklist(str(tmp_path / "missing.yaml"))

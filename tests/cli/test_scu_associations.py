"""An SCU command costs the peer one association when all is well (issue 13): counted at real peers, the
simulator's own records (every A-ASSOCIATE-RQ it received) and a pynetdicom SCP's EVT_REQUESTED handler.
A failure is explained by further probing (AE titles), and only then."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from dicomdoctor.cli import main
from dicomdoctor.sim.server import SimulatorThread


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    rc = main([*argv, "--format", "json", "--timeout", "10", "--dimse-timeout", "30"])
    report = json.loads(capsys.readouterr().out)
    return rc, {f["check"]: f for f in report["findings"]}, report


def associations(sim: SimulatorThread) -> int:
    """A-ASSOCIATE-RQs the simulator received (a bare TCP connect from net.reachable is a record without one)."""
    records = sim.call(lambda: list(sim.sim.records))
    return sum(1 for r in records if r.rq is not None)


@pytest.fixture
def dest_port(free_port: Any) -> int:
    return int(free_port())


@pytest.fixture
def sim(dest_port: int) -> Iterator[SimulatorThread]:
    with SimulatorThread("PACS", [], seed=3, move_destinations={"DOCTORDEST": ("127.0.0.1", dest_port)}) as s:
        yield s


def _argv(command: str, sim: SimulatorThread, dest_port: int, tmp_path: Path) -> list[str]:
    target = sim.target()
    return {
        "echo": ["echo", target],
        "store": ["store", target, "--synthetic", "2"],
        "find": ["find", target, "--level", "STUDY", "-k", "PatientID=", "-k", "StudyInstanceUID="],
        "move": ["move", target, "--level", "PATIENT", "-k", "PatientID=SIM0001", "--dest", "DOCTORDEST",
                 "--listen", str(dest_port)],
        "get": ["get", target, "--level", "PATIENT", "-k", "PatientID=SIM0001", "--out", str(tmp_path / "got")],
    }[command]


@pytest.mark.parametrize("command", ["echo", "store", "find", "move", "get"])
def test_one_association_per_scu_command_at_the_simulator(command: str, sim: SimulatorThread, dest_port: int,
                                                           tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    rc, found, report = run(capsys, *_argv(command, sim, dest_port, tmp_path))
    check = f"dimse.{command}"
    assert rc == 0, found[check]["summary"]
    assert list(found) == [check]
    assert associations(sim) == 1
    # The peer is still named, from the service's own A-ASSOCIATE-AC.
    assert report["targets"][0]["peer"]["implementation_class_uid"]


@pytest.mark.parametrize("command", ["echo", "store", "find"])
def test_one_association_per_scu_command_at_pynetdicom(command: str, pynetdicom_scp: Any, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from pynetdicom import evt

    requested: list[str] = []
    scp = pynetdicom_scp(handlers=[(evt.EVT_REQUESTED, lambda event: requested.append(event.assoc.requestor.ae_title))])
    argv = {"echo": ["echo", scp.target_text()],
            "store": ["store", scp.target_text(), "--synthetic", "1"],
            "find": ["find", scp.target_text(), "-k", "PatientID="]}[command]
    rc, found, _ = run(capsys, *argv)
    assert rc in (0, 1), found[f"dimse.{command}"]["summary"]  # find: no match is a warning
    assert len(requested) == 1, requested


def test_a_rejection_is_explained_by_probing_afterwards(capsys: pytest.CaptureFixture[str]) -> None:
    with SimulatorThread("PACS", ["called-ae-strict"]) as s:
        rc, found, _ = run(capsys, "echo", s.target("WRONGAE"))
        assert rc == 2
        assert list(found) == ["assoc.ae-title", "dimse.echo"]
        ae = found["assoc.ae-title"]
        assert ae["causes"][0]["id"] == "called-ae-not-recognized"
        assert ae["evidence"]["accepted_called_ae"] == "PACS"
        assert found["dimse.echo"]["status"] == "fail"
        assert associations(s) > 1  # the probing happened, after the failure only

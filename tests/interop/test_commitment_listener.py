"""Storage Commitment with the report on a NEW association: the simulator (which knows our AE title at our
listener's address, as `dicomdoctor simulate --move-dest DICOMDOCTOR=HOST:PORT` says) connects back to the
listener of commitment.request / `dicomdoctor commit --listen PORT` and sends the N-EVENT-REPORT there; with
its faults: no report, a late one, and a connect-back that cannot reach us."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest

from dicomdoctor.cli import main
from dicomdoctor.engine.context import RunOptions
from dicomdoctor.engine.model import Finding
from dicomdoctor.engine.playbook import make_playbook
from dicomdoctor.engine.runner import run
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.sim.server import SimulatorThread
from dicomdoctor.target import DEFAULT_CALLING_AE, parse_target
import peers

pytestmark = pytest.mark.interop

OPTIONS = RunOptions(timeouts=Timeouts(5, 5, 5, 5))


@pytest.fixture
def sim() -> Iterator[Callable[..., SimulatorThread]]:
    def start(*faults: str, report_to: int | None = None) -> SimulatorThread:
        # report_to: the port where the simulator reaches our AE title (its move destinations, --move-dest).
        dests = {DEFAULT_CALLING_AE: ("127.0.0.1", report_to)} if report_to else {}
        s = SimulatorThread("SIMULATOR", list(faults), move_destinations=dests)
        s.start()
        return s
    f = peers.Factory(start)
    yield f
    f.stop_all()


def commit(target: str, **params: Any) -> Finding:
    report = run(make_playbook("t", [("commitment.request", {"synthetic": 1, **params})]), [parse_target(target)],
                 OPTIONS)
    return next(f for f in report.findings if f.check == "commitment.request")


def test_report_on_a_new_association_to_our_listener(sim: Any, free_port: Any) -> None:
    port = free_port()
    s = sim("commitment", report_to=port)
    f = commit(s.target(), listen_port=port, wait=20.0)
    assert f.status.value == "pass", f.summary
    assert f.evidence["report_via"] == "listener"  # not the association the N-ACTION went on
    assert f.evidence["listener_connections"] == ["SIMULATOR"]  # the simulator associated to us, as itself
    assert f.evidence["success"] == 1 and f.evidence["failed"] == 0


def test_late_report_on_a_new_association_arrives_within_the_wait(sim: Any, free_port: Any) -> None:
    port = free_port()
    s = sim("commitment=delay:0.2", report_to=port)
    f = commit(s.target(), listen_port=port, wait=20.0)
    assert f.status.value == "pass" and f.evidence["report_via"] == "listener", f.summary


def test_no_report_while_listening(sim: Any, free_port: Any) -> None:
    port = free_port()
    s = sim("commitment=no-report", report_to=port)
    f = commit(s.target(), listen_port=port, wait=1.0)
    # Seen from our side, an archive that never reports and one that cannot reach us look the same: both named.
    assert f.status.value == "fail", f.summary
    assert [c.id for c in f.causes] == ["commitment-connect-back-failed", "commitment-no-report"]
    assert f.evidence["listening"] is True and f.evidence["listener_connections"] == []
    assert "never connected to our listener" in f.summary


def test_connect_back_fails_the_report_never_comes(sim: Any, free_port: Any) -> None:
    # The simulator has our AE title at a port where nothing listens (a wrong address on the archive).
    probe = sim()
    wrong = int(probe.call(probe.sim.closed_port))
    s = sim("commitment", report_to=wrong)
    f = commit(s.target(), listen_port=free_port(), wait=1.0)
    assert f.status.value == "fail" and f.causes[0].id == "commitment-connect-back-failed", f.summary
    assert f.evidence["report_received"] is False and f.evidence["listener_connections"] == []
    assert "never connected to our listener" in f.summary


def test_commit_command_with_listen(sim: Any, free_port: Any, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    s = sim("commitment", report_to=port)
    code = main(["commit", s.target(), "--listen", str(port), "--wait", "20", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    finding = next(f for f in report["findings"] if f["check"] == "commitment.request")
    assert code == 0 and finding["status"] == "pass", finding["summary"]
    assert finding["evidence"]["report_via"] == "listener"


def test_listening_but_reported_on_the_same_association(sim: Any, free_port: Any) -> None:
    # The simulator does not know our AE title: it answers on the association of the request; still received.
    s = sim("commitment")
    f = commit(s.target(), listen_port=free_port(), wait=20.0)
    assert f.status.value == "pass" and f.evidence["report_via"] == "same-association", f.summary
    assert f.evidence["listener_connections"] == []

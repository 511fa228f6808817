"""mpps.cycle and `dicomdoctor mpps` against a pynetdicom MPPS SCP that checks the MPPS state machine, and its
faults: each cause produced on a real peer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import workflow_peers as wp  # noqa: E402

from dicomdoctor.engine.context import RunOptions  # noqa: E402
from dicomdoctor.engine.model import Finding  # noqa: E402
from dicomdoctor.engine.playbook import make_playbook  # noqa: E402
from dicomdoctor.engine.runner import run  # noqa: E402
from dicomdoctor.net.timeouts import Timeouts  # noqa: E402
from dicomdoctor.target import parse_target  # noqa: E402
import peers  # noqa: E402

pytestmark = pytest.mark.interop
pytest.importorskip("pynetdicom")


@pytest.fixture
def mpps_scp() -> Iterator[Any]:
    f = peers.Factory(wp.start_mpps_scp)
    yield f
    f.stop_all()


def cycle(target: str, *, dimse: float = 10.0, **params: Any) -> Finding:
    options = RunOptions(timeouts=Timeouts(10, 10, dimse, 10))
    report = run(make_playbook("t", [("mpps.cycle", params)]), [parse_target(target)], options)
    return next(f for f in report.findings if f.check == "mpps.cycle")


def ids(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


def test_mpps_cycle_completes(mpps_scp: Any) -> None:
    scp = mpps_scp()
    f = cycle(scp.target_text())
    assert f.status.value == "pass", f.summary
    assert f.evidence["state"] == "COMPLETED" and f.evidence["statuses"] == [0, 0]
    assert scp.instances[f.evidence["sop_instance_uid"]] == "COMPLETED"
    assert scp.events == ["N-CREATE", "N-SET"]


def test_mpps_discontinued(mpps_scp: Any) -> None:
    scp = mpps_scp()
    f = cycle(scp.target_text(), final="DISCONTINUED")
    assert f.status.value == "pass" and scp.instances[f.evidence["sop_instance_uid"]] == "DISCONTINUED"


def test_mpps_not_supported(mpps_scp: Any) -> None:
    f = cycle(mpps_scp(fault="refuse").target_text())
    assert f.status.value == "fail" and ids(f)[0] == "mpps-not-supported"


def test_mpps_refused_with_offending_element(mpps_scp: Any) -> None:
    f = cycle(mpps_scp(fault="create-missing").target_text())
    assert f.status.value == "fail"
    assert ids(f)[0] == "mpps-refused"
    # pynetdicom lets an N-CREATE handler return only an Error Comment (no Attribute Identifier List)
    assert "Accession Number" in f.summary and "0x0120" in f.summary and "no step was created" in f.summary
    assert f.evidence["steps"][0]["error_comment"].startswith("Scheduled Step")
    assert f.evidence["state"] == "none"


def test_mpps_invalid_transition(mpps_scp: Any) -> None:
    f = cycle(mpps_scp(fault="final-on-create").target_text())
    assert f.status.value == "fail"
    assert ids(f)[0] == "mpps-invalid-transition"
    assert f.evidence["steps"][-1]["status"] == 0xC310 and f.evidence["state"] == "IN PROGRESS"


def test_mpps_no_response(mpps_scp: Any) -> None:
    f = cycle(mpps_scp(fault="hang").target_text(), dimse=1.0)
    assert f.status.value == "fail"
    assert ids(f)[0] == "mpps-no-response"
    assert f.evidence["waiting_for"] == "N-CREATE"


def test_mpps_command(mpps_scp: Any) -> None:
    scp = mpps_scp()
    cmd = [sys.executable, "-m", "dicomdoctor", "mpps", scp.target_text(), "--timeout", "10"]
    ok = subprocess.run([*cmd, "--format", "json"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["findings"][-1]["evidence"]["state"] == "COMPLETED"
    bad = mpps_scp(fault="final-on-create")
    res = subprocess.run([sys.executable, "-m", "dicomdoctor", "mpps", bad.target_text(), "--timeout", "10"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "0xC310" in res.stdout

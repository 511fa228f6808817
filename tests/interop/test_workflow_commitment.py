"""commitment.request and `dicomdoctor commit` against a pynetdicom Storage Commitment SCP that reports on a
new association to our listener, and its faults: each cause produced on a real peer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import peers  # noqa: E402
import workflow_peers as wp  # noqa: E402

from dicomdoctor.engine.context import RunOptions  # noqa: E402
from dicomdoctor.engine.model import Finding  # noqa: E402
from dicomdoctor.engine.playbook import make_playbook  # noqa: E402
from dicomdoctor.engine.runner import run  # noqa: E402
from dicomdoctor.net.timeouts import Timeouts  # noqa: E402
from dicomdoctor.target import parse_target  # noqa: E402

pytestmark = pytest.mark.interop
pytest.importorskip("pynetdicom")


@pytest.fixture
def commit_scp() -> Iterator[Any]:
    f = peers.Factory(wp.start_commitment_scp)
    yield f
    f.stop_all()


def commit(target: str, *, wait: float = 20.0, **params: Any) -> Finding:
    options = RunOptions(timeouts=Timeouts(10, 10, 10, 10))
    report = run(make_playbook("t", [("commitment.request", {"wait": wait, **params})]), [parse_target(target)],
                 options)
    return next(f for f in report.findings if f.check == "commitment.request")


def ids(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


def test_commitment_reported_on_a_new_association(commit_scp: Any) -> None:
    listen = peers.free_port()
    scp = commit_scp(report_to=listen)
    f = commit(scp.target_text(), listen_port=listen, synthetic=2)
    assert f.status.value == "pass", f.summary
    ev = f.evidence
    assert ev["report_received"] and ev["report_via"] == "listener" and ev["success"] == 2 and ev["failed"] == 0
    assert ev["listener_connections"] == ["COMMITSCP"]  # the calling AE of the association it opened
    assert scp.events == ["C-STORE", "C-STORE", "N-ACTION"]


def test_failed_items_when_not_stored(commit_scp: Any) -> None:
    listen = peers.free_port()
    scp = commit_scp(report_to=listen)
    f = commit(scp.target_text(), listen_port=listen, store=False)
    assert f.status.value == "fail"
    assert ids(f) == ["commitment-failed-items"]
    assert f.evidence["failed_items"][0]["failure_reason"] == 0x0112
    assert "0x0112" in f.summary


def test_no_report(commit_scp: Any) -> None:
    listen = peers.free_port()
    scp = commit_scp(report_to=listen, fault="no-report")
    f = commit(scp.target_text(), listen_port=listen, wait=1.0)
    assert f.status.value == "fail"
    assert "commitment-no-report" in ids(f)
    assert f.evidence["report_received"] is False and f.evidence["action"]["status"] == 0


def test_connect_back_failed(commit_scp: Any) -> None:
    listen, elsewhere = peers.free_port(), peers.free_port()
    scp = commit_scp(report_to=elsewhere)  # the SCP has the wrong port for our AE title
    f = commit(scp.target_text(), listen_port=listen, wait=2.0)
    assert scp.report_sent.wait(20) and scp.reports[0].startswith("connect failed")
    assert f.status.value == "fail"
    assert ids(f)[0] == "commitment-connect-back-failed"
    assert f.evidence["listener_connections"] == []


def test_not_supported(commit_scp: Any) -> None:
    f = commit(commit_scp(fault="refuse").target_text())
    assert f.status.value == "fail" and ids(f)[0] == "commitment-not-supported"


def test_commit_command(commit_scp: Any, tmp_path: Path) -> None:
    listen = peers.free_port()
    scp = commit_scp(report_to=listen)
    files = peers.write_cts(tmp_path / "cts", 2)
    res = subprocess.run([sys.executable, "-m", "dicomdoctor", "commit", scp.target_text(), *map(str, files),
                          "--listen", str(listen), "--timeout", "10", "--format", "json"],
                         capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["findings"][-1]["evidence"]["success"] == 2
    bad = subprocess.run([sys.executable, "-m", "dicomdoctor", "commit", scp.target_text(), str(tmp_path / "nope.dcm")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 3 and "Traceback" not in bad.stderr


def test_orthanc_commits_and_reports_to_a_known_modality(orthanc: Any) -> None:
    listen = peers.free_port()
    peer = orthanc(modalities={"dd": ["DICOMDOCTOR", "127.0.0.1", listen]})
    f = commit(peer.target_text(), listen_port=listen, synthetic=1)
    assert f.status.value == "pass", f.summary
    assert f.evidence["report_via"] == "listener" and f.evidence["success"] == 1
    assert f.evidence["listener_connections"] == ["ORTHANC"]


def test_orthanc_refuses_commitment_for_an_unknown_modality(orthanc: Any) -> None:
    listen = peers.free_port()
    peer = orthanc()  # DICOMDOCTOR is not in DicomModalities: Orthanc aborts on the N-ACTION
    f = commit(peer.target_text(), listen_port=listen, synthetic=1, wait=2.0)
    assert f.status.value == "fail"
    assert ids(f)[0] == "commitment-refused"
    assert f.evidence["waiting_for"] == "N-ACTION"


def test_orthanc_failed_items_for_instances_it_does_not_hold(orthanc: Any) -> None:
    listen = peers.free_port()
    peer = orthanc(modalities={"dd": ["DICOMDOCTOR", "127.0.0.1", listen]})
    f = commit(peer.target_text(), listen_port=listen, synthetic=1, store=False)
    assert f.status.value == "fail" and ids(f) == ["commitment-failed-items"]
    assert f.evidence["failed_items"][0]["failure_reason"] == 0x0112

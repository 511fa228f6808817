"""The `workflow` playbook (IHE Scheduled Workflow chain) against a pynetdicom RIS + PACS on one AE: it passes
when healthy, and with each fault the report names the broken step and skips the later ones with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import peers  # noqa: E402
import workflow_peers as wp  # noqa: E402

pytestmark = pytest.mark.interop
pytest.importorskip("pynetdicom")
CHAIN = ["mwl.find", "workflow.mpps-start", "workflow.store", "workflow.commit", "workflow.mpps-complete",
         "workflow.readback"]


@pytest.fixture
def ris() -> Iterator[Any]:
    f = peers.Factory(wp.start_workflow_scp)
    yield f
    f.stop_all()


def chain(scp: wp.WorkflowSCP, listen: int) -> tuple[int, list[dict[str, Any]]]:
    res = subprocess.run([sys.executable, "-m", "dicomdoctor", "diagnose", scp.target_text(), "--playbook",
                          "workflow", "--set", f"workflow.commit.listen_port={listen}", "--set",
                          "workflow.commit.wait=2", "--timeout", "10", "--format", "json"],
                         capture_output=True, text=True, timeout=120)
    assert res.stdout, res.stderr
    doc = json.loads(res.stdout)
    return res.returncode, [f for f in doc["findings"] if f["check"] in CHAIN]


def test_healthy_chain_passes(ris: Any) -> None:
    listen = peers.free_port()
    scp = ris(report_to=listen)
    rc, steps = chain(scp, listen)
    assert rc == 0, [(s["check"], s["summary"]) for s in steps]
    assert [s["check"] for s in steps] == CHAIN and all(s["status"] == "pass" for s in steps)
    assert scp.events.count("N-CREATE") == 1 and scp.events.count("N-SET") == 1
    assert set(scp.instances.values()) == {"COMPLETED"}
    # the MPPS was linked to the worklist entry; the stored instance belongs to its study
    assert steps[1]["evidence"]["from_worklist"] is True
    assert steps[2]["evidence"]["study_instance_uid"] == steps[0]["evidence"]["entries"][0]["StudyInstanceUID"]


@pytest.mark.parametrize("fault,broken,cause", [
    ("mwl-refuse", "mwl.find", "worklist-not-supported"),
    ("mpps-refuse", "workflow.mpps-start", "mpps-refused"),
    ("store-fail", "workflow.store", "out-of-resources"),
    ("commit-no-report", "workflow.commit", "commitment-no-report"),
    ("mpps-final", "workflow.mpps-complete", "mpps-invalid-transition"),
    ("find-none", "workflow.readback", "find-no-matches"),
])
def test_chain_points_at_the_broken_step(ris: Any, fault: str, broken: str, cause: str) -> None:
    listen = peers.free_port()
    rc, steps = chain(ris(report_to=listen, fault=fault), listen)
    assert rc == 2
    assert [s["check"] for s in steps] == CHAIN  # every step is in the report, in order
    at = CHAIN.index(broken)
    assert all(s["status"] == "pass" for s in steps[:at]), [(s["check"], s["summary"]) for s in steps[:at]]
    assert steps[at]["status"] == "fail" and cause in [c["id"] for c in steps[at]["causes"]], steps[at]["summary"]
    for later in steps[at + 1:]:
        assert later["status"] == "skip" and broken in later["summary"], later["summary"]

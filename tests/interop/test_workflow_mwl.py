"""mwl.find and `dicomdoctor worklist` against dcmtk wlmscpfs (worklist files from dump2dcm) and a Q/R-only
port (storescp): each cause produced on a real peer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(not Path(wp.WLMSCPFS).exists(), reason="dcmtk wlmscpfs not installed")]


def mwl(target: str, **params: Any) -> Finding:
    options = RunOptions(timeouts=Timeouts(10, 10, 10, 10))
    report = run(make_playbook("t", [("mwl.find", params)]), [parse_target(target)], options)
    return next(f for f in report.findings if f.check == "mwl.find")


def ids(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


@pytest.fixture
def wlm(tmp_path: Path) -> Any:
    started: list[peers.Peer] = []

    def start(dumps: list[str], *flags: str) -> peers.Peer:
        peer = wp.start_wlmscpfs(tmp_path, dumps, *flags)
        started.append(peer)
        return peer
    yield start
    for p in started:
        p.stop()


def test_healthy_worklist_passes_with_keys_and_matches(wlm: Any) -> None:
    peer = wlm([wp.worklist_dump(), wp.worklist_dump(patient_id="DDWL0002", station="CT02")])
    f = mwl(peer.target_text(), station_ae="CT01", modality="CT")
    assert f.status.value == "pass", f.summary
    ev = f.evidence
    assert ev["matches"] == 1 and ev["status"] == 0
    assert {"PatientName", "PatientID", "AccessionNumber", "ScheduledStationAETitle"} <= set(ev["keys_returned"])
    assert ev["entries"][0]["ScheduledStationAETitle"] == "CT01"


@pytest.mark.parametrize("params,culprit", [
    ({"station_ae": "CT99", "modality": "CT"}, "ScheduledStationAETitle"),
    ({"station_ae": "CT01", "modality": "MR"}, "Modality"),
    ({"station_ae": "CT01", "modality": "CT", "date": "20000101"}, "ScheduledProcedureStepStartDate"),
])
def test_empty_worklist_names_the_pinned_key(wlm: Any, params: dict[str, str], culprit: str) -> None:
    peer = wlm([wp.worklist_dump()])
    f = mwl(peer.target_text(), **params)
    assert f.status.value == "warn"
    assert ids(f)[0] == "worklist-empty"
    assert f.evidence["suspects"][0] == culprit
    assert f.evidence["matches"] == 0


def test_empty_worklist_date_window_and_nothing_scheduled(wlm: Any) -> None:
    peer = wlm([wp.worklist_dump(date="20000101")])
    f = mwl(peer.target_text(), date="20300101-20300102")
    assert ids(f) == ["worklist-empty"]
    # Without the date pin the old entry matches: the date window is the suspect
    assert f.evidence["suspects"] == ["ScheduledProcedureStepStartDate"]
    # Two pins, each alone harmless: both together are named
    both = mwl(peer.target_text(), date="20300101", station_ae="CT99")
    assert both.evidence["suspects"] == ["ScheduledStationAETitle", "ScheduledProcedureStepStartDate"] or \
        both.evidence["suspects"] == ["ScheduledStationAETitle+ScheduledProcedureStepStartDate"]
    nothing = wlm([])
    n = mwl(nothing.target_text(), station_ae="CT01")
    assert ids(n) == ["worklist-empty"] and n.evidence["suspects"] == []
    assert "nothing is scheduled" in n.summary


def test_missing_keys(wlm: Any) -> None:
    peer = wlm([wp.worklist_dump(omit=("AccessionNumber", "RequestedProcedureID"))], "-dfr")
    f = mwl(peer.target_text())
    assert f.status.value == "warn", f.summary
    assert ids(f) == ["worklist-missing-keys"]
    assert set(f.evidence["missing_keys"]) == {"AccessionNumber", "RequestedProcedureID"}


def test_character_set_mismatch_when_the_scp_drops_the_character_set(wlm: Any) -> None:
    dump = wp.worklist_dump(name="MÜLLER^SYNTHETIC", charset="ISO_IR 192")
    peer = wlm([dump])  # -cs0 (default): no Specific Character Set returned, UTF-8 bytes kept
    f = mwl(peer.target_text())
    assert "character-set-mismatch" in ids(f)
    assert "PatientName" in f.evidence["non_ascii"]
    good = wlm([dump], "-csk")  # the file's own character set returned: consistent
    g = mwl(good.target_text())
    assert g.status.value == "pass", g.summary
    assert g.evidence["character_sets"] == ["ISO_IR 192"]


def test_worklist_not_supported_on_a_storage_port(storescp: Any) -> None:
    peer = storescp("--ignore")
    f = mwl(peer.target_text())
    assert f.status.value == "fail"
    assert ids(f)[0] == "worklist-not-supported"


def test_worklist_command_exit_codes_and_json(wlm: Any) -> None:
    peer = wlm([wp.worklist_dump()])
    cmd = [sys.executable, "-m", "dicomdoctor", "worklist", peer.target_text(), "--timeout", "10"]
    ok = subprocess.run([*cmd, "--station", "CT01", "-k", "PatientID=", "--format", "json"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["findings"][-1]["check"] == "mwl.find" and doc["findings"][-1]["evidence"]["matches"] == 1
    # Options after the positional, the station pinned through -k: empty worklist -> warn, exit 1
    empty = subprocess.run([*cmd, "-k", "ScheduledStationAETitle=CT77"], capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1, empty.stdout
    assert "Scheduled Station AE Title" in empty.stdout
    bad = subprocess.run([*cmd, "--date", "yesterday"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 3 and "worklist date" in bad.stderr and "Traceback" not in bad.stderr
    unknown = subprocess.run([*cmd, "-k", "NoSuchKeyword=1"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 3 and "NoSuchKeyword" in unknown.stderr


def test_capability_matrix_shows_the_workflow_classes(wlm: Any) -> None:
    peer = wlm([wp.worklist_dump()])
    options = RunOptions(timeouts=Timeouts(10, 10, 10, 10))
    report = run(make_playbook("t", ["assoc.presentation-contexts"]), [parse_target(peer.target_text())], options)
    f = report.findings[-1]
    assert f.status.value == "pass", f.summary  # a worklist-only SCP is healthy
    accepted = {c["abstract_syntax"] for c in f.evidence["contexts"] if c["result"] == 0}
    refused = {c["abstract_syntax"] for c in f.evidence["contexts"] if c["result"] != 0}
    assert "1.2.840.10008.5.1.4.31" in accepted  # Modality Worklist
    assert {"1.2.840.10008.3.1.2.3.3", "1.2.840.10008.1.20.1", "1.2.840.10008.5.1.4.33"} <= refused
    assert "Workflow" in f.summary

"""Orthanc 1.10 as a worklist SCP (its ModalityWorklists sample plugin over .wl files made by dcmtk dump2dcm),
and the `workflow` playbook against Orthanc (worklist, storage, storage commitment, C-FIND read-back) beside a
pynetdicom MPPS SCP (Orthanc has none: `mpps_target`). Healthy, the chain passes; with each fault the report
names the broken step with a cause and skips the later ones naming it.

What Orthanc's worklist plugin does unlike dcmtk wlmscpfs (the tests below pin each):
- it serves the worklist only to calling AE titles in DicomModalities (or with DicomAlwaysAllowFindWorklist):
  another one gets an A-ABORT right after its C-FIND-RQ, not an empty answer;
- it answers in its DefaultEncoding (Latin1: Specific Character Set ISO_IR 100) whatever the .wl file
  declares, silently dropping the characters Latin1 cannot hold (wlmscpfs -cs0 drops the declaration instead);
- it matches on every key of the query itself (no called AE sub-folders: one Database folder), and with
  FilterIssuerAet only entries whose Scheduled Station AE Title is the calling AE title come back;
- with more matches than LimitAnswers it sends one entry over the limit and ends with 0xFE00 (Cancel)
  though no C-CANCEL was sent: an incomplete worklist, which mwl.find warns about (worklist-truncated).
"""

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

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(not Path(peers.ORTHANC_WORKLIST_PLUGIN).exists(),
                                 reason="Orthanc ModalityWorklists plugin not installed"),
              pytest.mark.skipif(not Path(wp.DUMP2DCM).exists(), reason="dcmtk dump2dcm not installed")]
CHAIN = ["mwl.find", "workflow.mpps-start", "workflow.store", "workflow.commit", "workflow.mpps-complete",
         "workflow.readback"]
STUDY = "1.2.826.0.1.3680043.8.498.77001"


def ids(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


@pytest.fixture
def worklist_orthanc(orthanc: Any, tmp_path: Path) -> Any:
    """`worklist_orthanc(dumps, *, listen=None, known=True, plugin=True, **orthanc_options)`: Orthanc serving
    `dumps` (dump texts) as its worklist; our AE title DICOMDOCTOR known at 127.0.0.1:`listen` unless not
    `known` (the commitment report goes there)."""
    count = [0]

    def start(dumps: list[str], *, listen: int | None = None, known: bool = True, plugin: bool = True,
              worklist_options: dict[str, Any] | None = None, **options: Any) -> peers.OrthancPeer:
        count[0] += 1
        folder = tmp_path / f"worklist{count[0]}"
        wp.write_worklist(folder, dumps)
        cfg = peers.orthanc_worklist(folder, **(worklist_options or {})) if plugin else {}
        modalities = {"dd": ["DICOMDOCTOR", peers.LOOPBACK, listen or peers.free_port()]} if known else {}
        return orthanc(modalities=modalities, **cfg, **options)
    return start


def mwl(target: str, **params: Any) -> Finding:
    options = RunOptions(timeouts=Timeouts(10, 10, 10, 10))
    report = run(make_playbook("t", [("mwl.find", params)]), [parse_target(target)], options)
    return next(f for f in report.findings if f.check == "mwl.find")


# --------------------------------------------------------------------------------------- mwl.find on Orthanc

def test_orthanc_worklist_healthy(worklist_orthanc: Any) -> None:
    peer = worklist_orthanc([wp.worklist_dump(), wp.worklist_dump(patient_id="DDWL0002", station="CT02")])
    f = mwl(peer.target_text(), station_ae="CT01", modality="CT")
    assert f.status.value == "pass", f.summary
    ev = f.evidence
    assert ev["matches"] == 1 and ev["status"] == 0
    assert {"PatientName", "PatientID", "AccessionNumber", "StudyInstanceUID", "RequestedProcedureID",
            "ScheduledProcedureStepID", "ScheduledStationAETitle", "Modality"} <= set(ev["keys_returned"])
    assert ev["entries"][0]["ScheduledStationAETitle"] == "CT01"
    # Orthanc answers in its DefaultEncoding (Latin1) and says so, though the .wl file declared nothing
    assert ev["character_sets"] == ["ISO_IR 100"]
    # a key asked that the file does not hold comes back empty (wlmscpfs does the same)
    assert "ReferringPhysicianName" in ev["keys_empty"]
    every = mwl(peer.target_text())  # date "today", nothing else pinned: both entries
    assert every.status.value == "pass" and every.evidence["matches"] == 2


@pytest.mark.parametrize("params,culprit", [
    ({"station_ae": "CT99", "modality": "CT"}, "ScheduledStationAETitle"),
    ({"station_ae": "CT01", "modality": "MR"}, "Modality"),
    ({"station_ae": "CT01", "modality": "CT", "date": "20000101"}, "ScheduledProcedureStepStartDate"),
])
def test_orthanc_empty_worklist_names_the_pinned_key(worklist_orthanc: Any, params: dict[str, str],
                                                     culprit: str) -> None:
    peer = worklist_orthanc([wp.worklist_dump()])
    f = mwl(peer.target_text(), **params)
    assert f.status.value == "warn", f.summary
    assert ids(f)[0] == "worklist-empty"
    assert f.evidence["suspects"][0] == culprit and f.evidence["matches"] == 0
    back = next(r for r in f.evidence["relaxed"] if r["without"] == culprit)
    assert back["matches"] == 1 and back["status"] == 0


def test_orthanc_transcodes_the_worklist_to_latin1(worklist_orthanc: Any) -> None:
    # The file says UTF-8; Orthanc answers ISO_IR 100, consistently (no character-set-mismatch), but the Greek
    # letter Latin1 cannot hold is gone: nothing on the wire shows it, so the finding cannot either.
    peer = worklist_orthanc([wp.worklist_dump(name="MÜLLER^ΩMEGA", charset="ISO_IR 192")])
    f = mwl(peer.target_text(), date="")
    assert f.status.value == "pass", f.summary
    assert f.evidence["character_sets"] == ["ISO_IR 100"] and f.evidence["non_ascii"] == ["PatientName"]
    assert f.evidence["entries"][0]["PatientName"] == "MÜLLER^MEGA"


def test_orthanc_missing_keys(worklist_orthanc: Any) -> None:
    peer = worklist_orthanc([wp.worklist_dump(omit=("AccessionNumber", "RequestedProcedureID"))])
    f = mwl(peer.target_text())
    assert f.status.value == "warn", f.summary
    assert ids(f) == ["worklist-missing-keys"]
    assert set(f.evidence["missing_keys"]) == {"AccessionNumber", "RequestedProcedureID"}


def test_orthanc_aborts_a_worklist_query_from_an_unknown_ae(worklist_orthanc: Any) -> None:
    peer = worklist_orthanc([wp.worklist_dump()], known=False)
    f = mwl(peer.target_text())
    assert f.status.value == "fail"
    assert ids(f)[0] == "calling-ae-not-authorized", (f.summary, ids(f))
    open_ = worklist_orthanc([wp.worklist_dump()], known=False, DicomAlwaysAllowFindWorklist=True)
    assert mwl(open_.target_text()).status.value == "pass"


def test_orthanc_filter_issuer_aet(worklist_orthanc: Any) -> None:
    # FilterIssuerAet: Orthanc returns only the entries scheduled for the calling AE title. The modality's
    # calling AE is its station AE; asked as another AE, the worklist is empty even without the pins.
    peer = worklist_orthanc([wp.worklist_dump()], worklist_options={"FilterIssuerAet": True},
                            DicomAlwaysAllowFindWorklist=True)
    f = mwl(peer.target_text(), station_ae="CT01")
    assert f.status.value == "warn" and ids(f) == ["worklist-empty"]
    assert f.evidence["suspects"] == []
    # no pin explains it; the finding says we do not call as the station and how to ask as it
    assert f.evidence["calling_ae_suspect"] is True
    assert "--calling-ae CT01" in f.summary and "FilterIssuerAet" in f.summary, f.summary
    as_station = run(make_playbook("t", [("mwl.find", {"station_ae": "CT01"})]),
                     [parse_target(peer.target_text(), calling_ae="CT01")],
                     RunOptions(timeouts=Timeouts(10, 10, 10, 10)))
    g = next(x for x in as_station.findings if x.check == "mwl.find")
    assert g.status.value == "pass" and g.evidence["matches"] == 1, g.summary


def test_orthanc_limit_answers_is_a_truncated_worklist(worklist_orthanc: Any) -> None:
    # More entries than LimitAnswers: Orthanc sends one over the limit, then ends with 0xFE00 (Cancel) though
    # we sent no C-CANCEL. Not a pass: the modality's order may be among those not sent.
    peer = worklist_orthanc([wp.worklist_dump(patient_id=f"DDWL000{i}") for i in range(3)],
                            worklist_options={"LimitAnswers": 1})
    f = mwl(peer.target_text())
    assert f.status.value == "warn", f.summary
    assert ids(f) == ["worklist-truncated"] and f.evidence["truncated"] is True
    assert f.evidence["status"] == 0xFE00 and f.evidence["matches"] == 2
    assert "0xFE00" in f.summary and "no C-CANCEL" in f.summary, f.summary
    within = worklist_orthanc([wp.worklist_dump()], worklist_options={"LimitAnswers": 1})
    g = mwl(within.target_text())
    assert g.status.value == "pass" and g.evidence["truncated"] is False, g.summary


def test_issuer_suspect_rule() -> None:
    from dicomdoctor.engine import judge

    assert judge.worklist_issuer_suspect("CT01", "DICOMDOCTOR", 0, [])
    assert not judge.worklist_issuer_suspect("CT01", "CT01", 0, [])  # we call as the station
    assert not judge.worklist_issuer_suspect("CT01", "DICOMDOCTOR", 0, ["Modality"])  # a pin explains it
    assert not judge.worklist_issuer_suspect("", "DICOMDOCTOR", 0, [])  # no station asked
    assert not judge.worklist_issuer_suspect("CT*", "DICOMDOCTOR", 0, [])
    assert not judge.worklist_issuer_suspect("CT01", "DICOMDOCTOR", 1, [])


def test_worklist_command_and_diagnose_against_orthanc(worklist_orthanc: Any, tmp_path: Path) -> None:
    peer = worklist_orthanc([wp.worklist_dump()])
    cmd = [sys.executable, "-m", "dicomdoctor", "worklist", peer.target_text(), "--timeout", "10"]
    ok = subprocess.run([*cmd, "--station", "CT01", "--format", "json"], capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["findings"][-1]["evidence"]["matches"] == 1
    empty = subprocess.run([*cmd, "--modality", "MR"], capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and "the Modality" in empty.stdout, empty.stdout
    book = tmp_path / "mwl.yaml"
    book.write_text("playbook: 1\nname: mwl\nchecks:\n  - net.reachable\n  - assoc.ae-title\n"
                    "  - id: mwl.find\n    with: {station_ae: CT99}\n")
    res = subprocess.run([sys.executable, "-m", "dicomdoctor", "diagnose", peer.target_text(), "--playbook",
                          str(book), "--timeout", "10", "--format", "json"], capture_output=True, text=True,
                         timeout=120)
    doc = json.loads(res.stdout)
    f = next(x for x in doc["findings"] if x["check"] == "mwl.find")
    assert res.returncode == 1 and f["status"] == "warn", f["summary"]
    assert f["causes"][0]["id"] == "worklist-empty" and f["evidence"]["suspects"] == ["ScheduledStationAETitle"]


# ------------------------------------------------------------------- the workflow chain: Orthanc + MPPS SCP

@pytest.fixture
def mpps_scp() -> Iterator[Any]:
    f = peers.Factory(wp.start_mpps_scp)
    yield f
    f.stop_all()


def chain(peer: peers.OrthancPeer, mpps: str, listen: int, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    to_mpps = ["--set", f"workflow.mpps-start.mpps_target={mpps}"] if mpps else []
    res = subprocess.run([sys.executable, "-m", "dicomdoctor", "diagnose", peer.target_text(), "--playbook",
                          "workflow", *to_mpps,
                          "--set", f"workflow.commit.listen_port={listen}", "--set", "workflow.commit.wait=5",
                          *extra, "--timeout", "10", "--format", "json"],
                         capture_output=True, text=True, timeout=180)
    assert res.stdout, res.stderr
    doc = json.loads(res.stdout)
    return res.returncode, [f for f in doc["findings"] if f["check"] in CHAIN]


def _shown(steps: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(s["check"], s["status"], s["summary"]) for s in steps]


def test_healthy_chain_orthanc_and_mpps_scp(worklist_orthanc: Any, mpps_scp: Any) -> None:
    listen = peers.free_port()
    peer = worklist_orthanc([wp.worklist_dump(study_uid=STUDY)], listen=listen)
    scp = mpps_scp()
    rc, steps = chain(peer, scp.target_text(), listen)
    assert rc == 0, _shown(steps)
    assert [s["check"] for s in steps] == CHAIN and all(s["status"] == "pass" for s in steps), _shown(steps)
    # the MPPS went to the MPPS SCP, N-CREATE then N-SET on the same step, which it closed
    assert scp.events == ["N-CREATE", "N-SET"] and set(scp.instances.values()) == {"COMPLETED"}
    assert steps[1]["evidence"]["mpps_target"] == scp.target_text()
    assert steps[4]["evidence"]["mpps_target"] == scp.target_text()
    assert steps[1]["evidence"]["from_worklist"] is True
    # the stored instance belongs to the worklist entry's study; Orthanc holds it, committed it, finds it
    assert steps[0]["evidence"]["entries"][0]["StudyInstanceUID"] == STUDY
    assert steps[2]["evidence"]["study_instance_uid"] == STUDY
    assert peer.rest("GET", "/instances")
    assert steps[3]["evidence"]["report_via"] == "listener" and steps[3]["evidence"]["success"] == 1
    assert steps[3]["evidence"]["listener_connections"] == ["ORTHANC"]
    assert steps[5]["evidence"]["matches"] == 1
    assert steps[5]["evidence"]["results"][0]["StudyInstanceUID"] == STUDY


def _broken_at(rc: int, steps: list[dict[str, Any]], broken: str, cause: str) -> dict[str, Any]:
    assert rc == 2, _shown(steps)
    assert [s["check"] for s in steps] == CHAIN
    at = CHAIN.index(broken)
    assert all(s["status"] == "pass" for s in steps[:at]), _shown(steps[:at])
    assert steps[at]["status"] == "fail", _shown(steps)
    assert cause in [c["id"] for c in steps[at]["causes"]], (steps[at]["summary"], steps[at]["causes"])
    for later in steps[at + 1:]:
        assert later["status"] == "skip" and broken in later["summary"], later["summary"]
    return steps[at]


def test_chain_orthanc_without_the_worklist_plugin(worklist_orthanc: Any, mpps_scp: Any) -> None:
    listen = peers.free_port()
    peer = worklist_orthanc([], listen=listen, plugin=False)
    scp = mpps_scp()
    rc, steps = chain(peer, scp.target_text(), listen)
    f = _broken_at(rc, steps, "mwl.find", "worklist-not-supported")
    assert f["causes"][0]["id"] == "worklist-not-supported"
    assert scp.events == []


def test_chain_orthanc_alone_has_no_mpps(worklist_orthanc: Any) -> None:
    # Without mpps_target the MPPS goes to Orthanc, which has no MPPS SCP: the chain breaks there
    listen = peers.free_port()
    peer = worklist_orthanc([wp.worklist_dump(study_uid=STUDY)], listen=listen)
    rc, steps = chain(peer, "", listen)
    f = _broken_at(rc, steps, "workflow.mpps-start", "mpps-not-supported")
    assert f["causes"][0]["id"] == "mpps-not-supported" and "mpps_target" not in f["evidence"]


@pytest.mark.parametrize("fault,cause", [("create-missing", "mpps-refused"), ("refuse", "mpps-not-supported")])
def test_chain_mpps_scp_fault(worklist_orthanc: Any, mpps_scp: Any, fault: str, cause: str) -> None:
    listen = peers.free_port()
    peer = worklist_orthanc([wp.worklist_dump(study_uid=STUDY)], listen=listen)
    scp = mpps_scp(fault=fault)
    rc, steps = chain(peer, scp.target_text(), listen)
    f = _broken_at(rc, steps, "workflow.mpps-start", cause)
    assert f["causes"][0]["id"] == cause
    assert f["evidence"]["mpps_target"] == scp.target_text()
    assert peer.rest("GET", "/instances") == []  # nothing stored after the break


def test_chain_mpps_scp_down(worklist_orthanc: Any, mpps_scp: Any) -> None:
    # Nothing listens at the MPPS target: a refused connection there, judged on its own. The target's
    # net.reachable says nothing about that port (with it, "refused after the port was open" would blame a
    # server serving one connection at a time).
    listen, closed = peers.free_port(), peers.free_port()
    peer = worklist_orthanc([wp.worklist_dump(study_uid=STUDY)], listen=listen)
    rc, steps = chain(peer, f"MPPSSCP@127.0.0.1:{closed}", listen)
    f = _broken_at(rc, steps, "workflow.mpps-start", "server-not-running")
    assert f["causes"][0]["id"] == "server-not-running" and "net.reachable" not in f["summary"], f["summary"]
    assert f["evidence"]["outcome"] == "connect-failed"
    assert f["evidence"]["mpps_target"] == f"MPPSSCP@127.0.0.1:{closed}"


def test_chain_orthanc_does_not_know_our_ae_for_commitment(worklist_orthanc: Any, mpps_scp: Any) -> None:
    # Our AE title missing from DicomModalities (the worklist opened to all): Orthanc aborts on the N-ACTION
    listen = peers.free_port()
    peer = worklist_orthanc([wp.worklist_dump(study_uid=STUDY)], known=False, DicomAlwaysAllowFindWorklist=True,
                            DicomAlwaysAllowFind=True)
    scp = mpps_scp()
    rc, steps = chain(peer, scp.target_text(), listen)
    f = _broken_at(rc, steps, "workflow.commit", "commitment-refused")
    assert f["causes"][0]["id"] == "commitment-refused" and f["evidence"]["waiting_for"] == "N-ACTION"
    assert scp.instances and set(scp.instances.values()) == {"IN PROGRESS"}  # the step is left open


def test_chain_orthanc_reports_to_the_wrong_port(worklist_orthanc: Any, mpps_scp: Any) -> None:
    # Orthanc knows our AE title at another port: it accepts the N-ACTION and cannot deliver the report
    listen, elsewhere = peers.free_port(), peers.free_port()
    peer = worklist_orthanc([wp.worklist_dump(study_uid=STUDY)], listen=elsewhere)
    scp = mpps_scp()
    rc, steps = chain(peer, scp.target_text(), listen)
    f = _broken_at(rc, steps, "workflow.commit", "commitment-connect-back-failed")
    assert f["causes"][0]["id"] == "commitment-connect-back-failed"
    assert f["evidence"]["action"]["status"] == 0 and f["evidence"]["listener_connections"] == []


def test_mpps_cycle_to_an_mpps_target(worklist_orthanc: Any, mpps_scp: Any) -> None:
    peer = worklist_orthanc([wp.worklist_dump()])
    scp = mpps_scp()
    report = run(make_playbook("t", [("mpps.cycle", {"mpps_target": scp.target_text()})]),
                 [parse_target(peer.target_text())], RunOptions(timeouts=Timeouts(10, 10, 10, 10)))
    f = next(x for x in report.findings if x.check == "mpps.cycle")
    assert f.status.value == "pass", f.summary
    assert f.evidence["mpps_target"] == scp.target_text() and scp.events == ["N-CREATE", "N-SET"]


def test_mpps_target_bad_input(worklist_orthanc: Any) -> None:
    peer = worklist_orthanc([wp.worklist_dump()])
    res = subprocess.run([sys.executable, "-m", "dicomdoctor", "diagnose", peer.target_text(), "--playbook",
                          "workflow", "--set", "workflow.mpps-start.mpps_target=MPPS@127.0.0.1:99999",
                          "--timeout", "10", "--format", "json"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 3 and "Traceback" not in res.stdout + res.stderr, res.stdout + res.stderr
    f = next(x for x in json.loads(res.stdout)["findings"] if x["check"] == "workflow.mpps-start")
    assert f["status"] == "error" and "mpps_target" in f["summary"] and "99999" in f["summary"], f["summary"]

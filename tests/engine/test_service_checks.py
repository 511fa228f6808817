"""Service-level checks against the fault-injecting simulator (dicomdoctor.sim) and as pure judgement:
dimse.find / .store / .move / .get, perf.throughput and assoc.capacity, each scenario diagnosed to its cause."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from dicomdoctor.engine.judge import status_causes
from dicomdoctor.engine.checks.qr import judge_get, judge_move, no_match_reasons
from dicomdoctor.engine.context import RunOptions
from dicomdoctor.engine.model import Finding
from dicomdoctor.engine.playbook import make_playbook
from dicomdoctor.engine.runner import run
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.probes.dimse import DimseFacts
from dicomdoctor.probes.retrieve import missing_unique_keys
from dicomdoctor.report import render
from dicomdoctor.sim import SimulatorThread
from dicomdoctor.target import parse_target

SIM_PATIENT = "SIM0001"  # sim/seed.py: patient 1 holds one study of two series, 3 instances each


def run_check(target: str, check: Any, *, timeout: float = 5.0, dimse: float | None = None,
              calling_ae: str | None = None) -> Finding:
    options = RunOptions(timeouts=Timeouts(timeout, timeout, dimse if dimse is not None else timeout, timeout))
    t = parse_target(target)
    if calling_ae:
        from dataclasses import replace
        t = replace(t, calling_ae=calling_ae)
    report = run(make_playbook("test", [check]), [t], options)
    return report.findings[-1]


def causes(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def seeded() -> Iterator[SimulatorThread]:
    """One fault-free simulator with 12 synthetic instances (2 patients), and a move destination DOCTOR."""
    port = free_port()
    with SimulatorThread("SIM", seed=12, move_destinations={"DOCTOR": ("127.0.0.1", port)}) as sim:
        sim.doctor_port = port  # type: ignore[attr-defined]
        yield sim


# ------------------------------------------------------------------------------------------------ C-FIND

@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")  # the bad date is the point of the test
def test_find_no_matches_warns_with_likely_reasons(seeded: SimulatorThread) -> None:
    f = run_check(seeded.target(), ("dimse.find", {"level": "STUDY", "keys": {
        "PatientName": "Doe^Nobody", "StudyDate": "2024/01/15", "Modality": "CT", "StudyInstanceUID": ""}}))
    assert f.status.value == "warn" and causes(f)[0] == "find-no-matches"
    reasons = " ".join(f.evidence["no_match_reasons"])
    assert "PatientName is matched exactly" in reasons and "StudyDate is not a date" in reasons
    assert "Modality is a SERIES-level key" in reasons
    # Identifiers stay out of the summary (redaction cannot find a bare value in free text).
    assert "Doe^Nobody" not in f.summary and "2024/01/15" not in f.summary
    assert f.evidence["model"] == "study" and f.evidence["matches"] == 0


def test_find_max_results_cancels_and_keeps_bounded_results(seeded: SimulatorThread) -> None:
    f = run_check(seeded.target(), ("dimse.find", {"level": "STUDY", "max_results": 1, "keys": {
        "StudyInstanceUID": "", "PatientID": ""}}))
    assert f.status.value == "pass", f.summary
    assert f.evidence["cancelled"] is True and f.evidence["matches"] >= 1
    assert f.evidence["category"] in ("cancel", "success") and "C-CANCEL" in f.summary
    kept = run_check(seeded.target(), ("dimse.find", {"level": "PATIENT", "keep": 1, "keys": {"PatientID": ""}}))
    assert kept.evidence["matches"] == 2 and kept.evidence["results_kept"] == 1 and len(kept.evidence["results"]) == 1


def test_find_patient_level_uses_patient_root_and_redacts(seeded: SimulatorThread) -> None:
    f = run_check(seeded.target(), ("dimse.find", {"level": "PATIENT", "keys": {"PatientID": "", "PatientName": ""}}))
    assert f.status.value == "pass" and f.evidence["model"] == "patient" and f.evidence["matches"] == 2
    assert f.evidence["results"][0]["PatientID"].startswith("SIM")
    report = run(make_playbook("t", [("dimse.find", {"level": "PATIENT", "keys": {"PatientID": "",
                                                                                   "PatientName": ""}})]),
                 [parse_target(seeded.target())], RunOptions(timeouts=Timeouts.uniform(5)))
    text = render(report, "json")
    assert "SYNTHETIC1" not in text and "SIM0001" not in text  # PHI keys redacted in every format
    assert "SIM0001" in render(report, "json", show_phi=True)


def test_slow_find_is_a_dimse_timeout() -> None:
    # The simulator answers after 10 minutes: only our 0.5 s DIMSE timeout can end the query.
    with SimulatorThread("SIM", ["slow=600"], seed=2) as sim:
        f = run_check(sim.target(), ("dimse.find", {"keys": {"PatientID": SIM_PATIENT}}), dimse=0.5)
    assert f.status.value == "fail" and causes(f)[0] == "dimse-timeout", f.summary
    assert f.evidence["outcome"] == "timeout"


# ----------------------------------------------------------------------------------------------- C-STORE

def test_store_out_of_resources_from_status_fault() -> None:
    with SimulatorThread("SIM", ["status=c-store:A700"]) as sim:
        f = run_check(sim.target(), ("dimse.store", {"synthetic": 2}))
    assert f.status.value == "fail" and causes(f)[0] == "out-of-resources"
    assert f.evidence["stores"][0]["status"] == 0xA700 and "simulator fault" in f.evidence["stores"][0]["error_comment"]


@pytest.mark.parametrize("code, status, cause", [
    ("A900", "fail", "dataset-sop-mismatch"), ("C001", "fail", "cannot-understand"),
    ("B000", "warn", "store-coerced"), ("B007", "warn", "dataset-sop-mismatch"),
])
def test_store_statuses_are_decoded(code: str, status: str, cause: str) -> None:
    with SimulatorThread("SIM", [f"status=c-store:{code}"]) as sim:
        f = run_check(sim.target(), ("dimse.store", {"synthetic": 1}))
    assert f.status.value == status and causes(f)[0] == cause, f.summary
    entry = f.evidence["stores"][0]
    assert entry["status"] == int(code, 16) and entry["status_name"] and entry["category"] in ("failure", "warning")


def test_store_abort_is_peer_aborted_with_source_and_reason() -> None:
    with SimulatorThread("SIM", ["abort-after=0"]) as sim:
        f = run_check(sim.target(), ("dimse.store", {"synthetic": 1}))
    assert f.status.value == "fail" and causes(f)[0] == "peer-aborted", f.summary
    assert f.evidence["abort"]["source"] == 0 and f.evidence["abort"]["source_name"]
    assert "A-ABORT" in f.summary


def test_store_file_without_sop_class_is_caught_locally(tmp_path: Path) -> None:
    from dicomdoctor.synthetic import make_instance, to_part10_bytes

    data = bytearray(to_part10_bytes(make_instance("SC", 8, 8)))
    uid = b"1.2.840.10008.5.1.4.1.1.7"
    at = bytes(data).index(uid)  # the first copy is (0002,0002) in the File Meta
    data[at - 8:at + len(uid) + 1] = b""  # drop the whole element (tag, VR, length, value, padding)
    bad = tmp_path / "nosop.dcm"
    bad.write_bytes(bytes(data))
    with SimulatorThread("SIM") as sim:
        f = run_check(sim.target(), ("dimse.store", {"files": [str(bad)]}))
        seen = len(sim.sim.records)
    assert f.status.value == "fail" and causes(f)[0] == "store-missing-sop-class", f.summary
    assert f.evidence["invalid_files"][0]["file"] == str(bad) and seen == 0  # nothing was sent


def test_store_refused_sop_class_is_named() -> None:
    with SimulatorThread("SIM", ["refuse-sop=SecondaryCaptureImageStorage"]) as sim:
        f = run_check(sim.target(), ("dimse.store", {"synthetic": 1}))
    assert f.status.value == "fail" and causes(f)[0] == "abstract-syntax-not-supported", f.summary


# ------------------------------------------------------------------------------------------ C-MOVE / C-GET

def test_move_to_ourselves(seeded: SimulatorThread) -> None:
    f = run_check(seeded.target(), ("dimse.move", {"destination": "DOCTOR", "listen_port": seeded.doctor_port,
                                                   "level": "PATIENT", "keys": {"PatientID": SIM_PATIENT}}))
    assert f.status.value == "pass", f.summary
    assert f.evidence["connect_back"] is True and f.evidence["received"] == f.evidence["completed"] == 6


def test_move_sample_moves_one_instance(seeded: SimulatorThread) -> None:
    f = run_check(seeded.target(), ("dimse.move", {"destination": "DOCTOR", "listen_port": seeded.doctor_port,
                                                   "sample": True}))
    assert f.status.value == "pass", f.summary
    assert f.evidence["received"] == 1 and f.evidence["retrieved"]["level"] == "IMAGE"
    assert set(f.evidence["sampled"]) == {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"}


def test_move_unknown_destination(seeded: SimulatorThread) -> None:
    f = run_check(seeded.target(), ("dimse.move", {"destination": "NOBODYHERE", "listen_port": free_port(),
                                                   "level": "PATIENT", "keys": {"PatientID": SIM_PATIENT}}))
    assert f.status.value == "fail" and causes(f) == ["move-destination-unknown"]
    assert f.evidence["status"] == 0xA801 and f.evidence["connect_back"] is False


def test_move_without_any_key_value_is_refused_locally(seeded: SimulatorThread) -> None:
    # On a lenient archive an identifier with no value would move everything at that level: never sent.
    f = run_check(seeded.target(), ("dimse.move", {"destination": "DOCTOR", "listen_port": seeded.doctor_port,
                                                   "level": "STUDY", "keys": {"PatientID": ""}}))
    assert f.status.value == "fail" and causes(f) == ["unique-key-required"]
    assert f.evidence["missing_keys"] == ["StudyInstanceUID"] and "received" not in f.evidence


def test_move_by_patient_id_at_study_level_on_a_lenient_archive(seeded: SimulatorThread) -> None:
    # The simulator retrieves by PatientID at STUDY level (relationally): sent, and it works.
    f = run_check(seeded.target(), ("dimse.move", {"destination": "DOCTOR", "listen_port": seeded.doctor_port,
                                                   "level": "STUDY", "keys": {"PatientID": SIM_PATIENT}}))
    assert f.status.value == "pass", f.summary
    assert f.evidence["missing_keys"] == ["StudyInstanceUID"] and f.evidence["received"] == 6


def test_move_unreachable_destination_is_connect_back() -> None:
    with SimulatorThread("SIM", ["move-unreachable"], seed=6) as sim:
        f = run_check(sim.target(), ("dimse.move", {"destination": "DOCTOR", "listen_port": free_port(),
                                                    "level": "PATIENT", "keys": {"PatientID": SIM_PATIENT}}))
    assert f.status.value == "fail" and causes(f)[0] == "move-connect-back-failed", f.summary
    assert f.evidence["connect_back"] is False and f.evidence["status"] in (0xA702, 0xA701, 0xB000)


def test_get_works(seeded: SimulatorThread, tmp_path: Path) -> None:
    f = run_check(seeded.target(), ("dimse.get", {"level": "PATIENT", "keys": {"PatientID": SIM_PATIENT},
                                                  "out": str(tmp_path)}))
    assert f.status.value == "pass", f.summary
    assert f.evidence["received"] == f.evidence["completed"] == 6 and len(list(tmp_path.glob("*.dcm"))) == 6
    assert f.evidence["roles"]["scp_accepted"] > 0


def test_get_with_ignored_roles_is_role_selection_ignored() -> None:
    with SimulatorThread("SIM", ["ignore-roles"], seed=6) as sim:
        f = run_check(sim.target(), ("dimse.get", {"level": "PATIENT", "keys": {"PatientID": SIM_PATIENT}}))
    assert f.status.value == "fail" and causes(f)[0] == "role-selection-ignored", f.summary
    assert "move-connect-back-failed" not in causes(f) and f.evidence["received"] == 0


# ------------------------------------------------------------------------------------ throughput, capacity

def test_throughput_reports_mb_per_s_per_pdu_size() -> None:
    with SimulatorThread("SIM", ["max-pdu=65536"]) as sim:
        f = run_check(sim.target(), ("perf.throughput", {"pdu_sizes": [16384, 65536, 0], "count": 2,
                                                         "size": 262144}))
        stored = sim.call(lambda: len(sim.sim.store))
    assert f.status.value == "pass", f.summary
    assert set(f.evidence["mb_per_s"]) == {"16384", "65536", "0"}
    assert all(v and v > 0 for v in f.evidence["mb_per_s"].values())
    assert f.evidence["instances"] == 6 and f.evidence["bytes"] >= 6 * 262144
    assert [r["sent_pdu"] for r in f.evidence["runs"]] == [16384, 65536, 65536]
    assert stored == 6  # a fresh SOP Instance UID per C-STORE: nothing is deduplicated away


def test_slow_store_is_slow_transfer() -> None:
    with SimulatorThread("SIM", ["slow=0.4"]) as sim:
        f = run_check(sim.target(), ("perf.throughput", {"pdu_sizes": [0], "count": 2, "size": 262144}))
    assert f.status.value == "warn" and causes(f)[0] == "slow-transfer", f.summary
    assert f.evidence["best_mb_per_s"] < f.evidence["threshold_mb_per_s"]


def test_capacity_limit_and_release() -> None:
    with SimulatorThread("SIM", ["max-associations=3"]) as sim:
        f = run_check(sim.target(), ("assoc.capacity", {"max": 8}))
        sim.wait_idle()  # every connection the simulator saw has ended and its record is final
        ended = [r.ended for r in sim.sim.records]
    assert f.status.value == "warn" and causes(f)[0] == "too-many-associations", f.summary
    ev = f.evidence
    assert ev["accepted"] == 3 and ev["refusal"]["kind"] == "rejected"
    assert (ev["refusal"]["result"], ev["refusal"]["source"], ev["refusal"]["reason"]) == (2, 3, 2)
    assert ev["refusal"]["reason_name"] and ev["released"] == 3 and ev["recovered"] is True
    assert "released" in ended and all(e for e in ended)  # every association we opened was ended


def test_capacity_without_limit_passes() -> None:
    with SimulatorThread("SIM") as sim:
        f = run_check(sim.target(), ("assoc.capacity", {"max": 6}))
    assert f.status.value == "pass" and f.evidence["accepted"] == 6 and f.evidence["refusal"] is None


# ----------------------------------------------------------------------------------------- pure judgement

def _facts(status: int, **kw: Any) -> DimseFacts:
    f = DimseFacts("C-MOVE", status=status, category="failure" if status >= 0xA000 else "success",
                   status_name="x", rtt_ms=kw.pop("rtt_ms", 5.0))
    f.completed, f.failed = 0, 0
    for k, v in kw.items():
        setattr(f, k, v)
    return f


def test_orthanc_c000_ranking() -> None:
    same = {"status": 0xC000, "status_hex": "0xC000", "status_name": "x", "rtt_ms": 4.0}
    # Our own AE title (the default destination), a random AE answers the same: most likely unknown.
    r = judge_move(_facts(0xC000, connect_back=False, random_destination=same), "DICOMDOCTOR", 11113, {})
    assert r.causes[:2] == ("move-destination-unknown", "move-connect-back-failed")
    # A destination the user named and registered: most likely it cannot reach us.
    r = judge_move(_facts(0xC000, connect_back=False, random_destination=same), "DEST", 11113, {}, named=True)
    assert r.causes[0] == "move-connect-back-failed"
    # The peer answers a random AE with A801: it knows ours, so the failure is the connection.
    r = judge_move(_facts(0xC000, connect_back=False, random_destination={**same, "status": 0xA801}),
                   "DICOMDOCTOR", 11113, {})
    assert r.causes[0] == "move-connect-back-failed"
    # It spent seconds on ours and milliseconds on the random one: it tried to connect.
    r = judge_move(_facts(0xC000, connect_back=False, random_destination=same, rtt_ms=3000.0), "DICOMDOCTOR",
                   11113, {})
    assert r.causes[0] == "move-connect-back-failed"
    # Nothing matches the keys: that explains the failure first.
    r = judge_move(_facts(0xC000, connect_back=False, random_destination=same, query_matches=0), "X", 11113, {})
    assert r.causes[0] == "find-no-matches"
    # A702 and nothing arrived.
    r = judge_move(_facts(0xA702, connect_back=False), "X", 11113, {})
    assert r.causes[:2] == ("move-connect-back-failed", "out-of-resources")


def test_get_judgement_role_selection() -> None:
    f = DimseFacts("C-GET", status=0xA702, category="failure", status_name="x")
    f.completed, f.failed, f.roles = 0, 3, {"proposed": 15, "answered": 0, "scp_accepted": 0}
    assert judge_get(f, {}).causes[0] == "role-selection-ignored"
    f.roles = {"proposed": 15, "answered": 15, "scp_accepted": 15}
    assert judge_get(f, {}).causes[0] != "role-selection-ignored"


def test_status_causes_by_service() -> None:
    assert status_causes(0xA900, "C-FIND")[0] == "unique-key-required"
    assert status_causes(0xA900, "C-STORE")[0] == "dataset-sop-mismatch"
    assert status_causes(0xB000, "C-STORE") == ("store-coerced",)
    assert status_causes(0xB007, "C-STORE") == ("dataset-sop-mismatch",)
    assert status_causes(0xA701, "C-MOVE") == ("out-of-resources",)
    assert status_causes(0xC000, "C-STORE") == ("cannot-understand",)


def test_unique_keys_and_no_match_reasons() -> None:
    assert missing_unique_keys("STUDY", {"PatientID": "X"}, "study") == ["StudyInstanceUID"]
    assert missing_unique_keys("IMAGE", {"StudyInstanceUID": "1.2", "SeriesInstanceUID": "1.2.*",
                                         "SOPInstanceUID": "1.2.3"}, "study") == ["SeriesInstanceUID"]
    assert missing_unique_keys("STUDY", {"StudyInstanceUID": "1.2"}, "patient") == ["PatientID"]
    assert missing_unique_keys("PATIENT", {}, "study") is None  # Study Root has no PATIENT level
    reasons = no_match_reasons("STUDY", "patient", {"PatientName": "Müller", "StudyInstanceUID": "1.2*"})
    text = " ".join(reasons)
    assert "SpecificCharacterSet" in text and "UIDs take no wildcards" in text and "Patient Root" in text
    assert "Müller" not in text
    assert any("no filter" in r for r in no_match_reasons("STUDY", "study", {"StudyInstanceUID": ""}))

"""`--lang zh` says the summaries of the DIMSE checks (dimse.echo/.store/.find/.move/.get) and the runner's own
findings (skips, errors) in Chinese: the commands against the fault-injecting simulator, healthy and with
each fault these checks judge, in JSON. The English wording is what the other tests compare; here each
finding must be in Chinese (CJK characters), with the data (codes, AE titles, check ids) left as they are."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from dicomdoctor import cli
from dicomdoctor.engine import registry
from dicomdoctor.engine.context import CheckContext, CheckResult, RunOptions, passed
from dicomdoctor.engine.model import Status
from dicomdoctor.engine.playbook import make_playbook
from dicomdoctor.engine.registry import check
from dicomdoctor.engine.runner import run
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.sim import SimulatorThread
from dicomdoctor.target import parse_target

CJK = re.compile(r"[\u4e00-\u9fff]")
MINE = ("dimse.echo", "dimse.store", "dimse.find", "dimse.move", "dimse.get")


def playbook(tmp_path: Path, listen_port: int, *, sample: bool = True) -> str:
    keys = "{}" if sample else '{StudyInstanceUID: "1.2.3.4"}'
    path = tmp_path / "zh-dimse.yaml"
    path.write_text(f"""playbook: 1
name: zh-dimse
checks:
  - id: dimse.echo
    with: {{repeat: 2}}
  - id: dimse.store
    with: {{synthetic: 2}}
  - id: dimse.find
    with: {{level: STUDY, keys: {{StudyInstanceUID: "", PatientID: ""}}}}
  - id: dimse.move
    with: {{listen_port: {listen_port}, sample: {str(sample).lower()}, keys: {keys}}}
  - id: dimse.get
    with: {{sample: {str(sample).lower()}, keys: {keys}}}
""", encoding="utf-8")
    return str(path)


def zh_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, list[dict[str, Any]]]:
    code = cli.main(argv + ["--lang", "zh", "--format", "json"])
    return code, json.loads(capsys.readouterr().out)["findings"]


def assert_chinese(findings: list[dict[str, Any]], *, expect: tuple[str, ...] = MINE) -> dict[str, dict[str, Any]]:
    """Every finding of the DIMSE checks, and every skip the runner wrote, reads in Chinese."""
    by_check = {f["check"]: f for f in findings}
    assert set(expect) <= set(by_check), sorted(by_check)
    for f in findings:
        runner_skip = f["status"] == "skip" and "blocked_by" in f["evidence"]
        if f["check"] in MINE or runner_skip:
            assert CJK.search(f["summary"]), (f["check"], f["status"], f["summary"])
    return by_check


@pytest.fixture
def sim_with_destination(free_port: Callable[[], int]) -> Iterator[Callable[..., tuple[SimulatorThread, int]]]:
    started: list[SimulatorThread] = []

    def start(*faults: str) -> tuple[SimulatorThread, int]:
        port = free_port()
        sim = SimulatorThread("SIM", list(faults), seed=4, move_destinations={"DICOMDOCTOR": ("127.0.0.1", port)})
        sim.start()
        started.append(sim)
        return sim, port

    yield start
    for sim in started:
        sim.stop()


# ------------------------------------------------------------------------------------------- diagnose

def test_healthy_services_pass_in_chinese(sim_with_destination: Any, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    sim, port = sim_with_destination()
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", playbook(tmp_path, port)])
    found = assert_chinese(findings)
    assert code == 0 and all(found[c]["status"] == "pass" for c in MINE), [(f["check"], f["summary"])
                                                                          for f in findings]
    assert "C-ECHO" in found["dimse.echo"]["summary"] and "0x0000" in found["dimse.echo"]["summary"]
    assert "DICOMDOCTOR" in found["dimse.move"]["summary"]  # the AE title stays a value


@pytest.mark.parametrize("faults, judged", [
    (("status=c-echo:0110", "status=c-store:A700", "status=c-find:C000"), ("dimse.echo", "dimse.store",
                                                                            "dimse.find")),
    (("abort-after=0",), MINE),
    (("reject=called-ae",), MINE),
    (("move-unreachable",), ("dimse.move",)),
    (("ignore-roles",), ("dimse.get",)),
])
def test_faults_are_judged_in_chinese(faults: tuple[str, ...], judged: tuple[str, ...], sim_with_destination: Any,
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim, port = sim_with_destination(*faults)
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", playbook(tmp_path, port),
                                      "--timeout", "5"])
    found = assert_chinese(findings)
    assert code == 2
    for c in judged:
        assert found[c]["status"] == "fail", (c, found[c]["summary"])


def test_status_of_a_retrieve_is_judged_in_chinese(sim_with_destination: Any, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # No sampling: the retrieve itself meets the status (a sampling C-FIND would find nothing to move).
    sim, port = sim_with_destination("status=c-move:A801", "status=c-get:C000")
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", playbook(tmp_path, port, sample=False)])
    found = assert_chinese(findings)
    assert found["dimse.move"]["status"] == "fail" and "0xA801" in found["dimse.move"]["summary"]
    assert found["dimse.get"]["status"] == "fail" and "0xC000" in found["dimse.get"]["summary"]


def test_dimse_timeout_then_silent_peer_skips_in_chinese(sim_with_destination: Any, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    sim, port = sim_with_destination("slow=600")
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", playbook(tmp_path, port),
                                      "--timeout", "5", "--dimse-timeout", "0.5"])
    found = assert_chinese(findings)
    assert found["dimse.echo"]["causes"][0]["id"] == "dimse-timeout"
    for later in MINE[1:]:
        assert found[later]["status"] == "skip" and found[later]["evidence"]["peer_silent"] == "after-ac"
        assert "dimse.echo" in found[later]["summary"]


def test_silent_listener_skips_in_chinese(sim_with_destination: Any, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    sim, port = sim_with_destination("silent")
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", playbook(tmp_path, port),
                                      "--timeout", "0.5"])
    found = assert_chinese(findings)
    assert found["dimse.echo"]["causes"][0]["id"] == "association-timeout"
    assert all(found[c]["evidence"].get("peer_silent") == "association" for c in MINE[1:])


def test_blocked_by_a_failed_check_skips_in_chinese(free_port: Callable[[], int],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing listens: net.reachable fails, and dimse.echo (standard playbook) is skipped naming it.
    code, findings = zh_json(capsys, ["diagnose", f"PACS@127.0.0.1:{free_port()}", "--timeout", "2"])
    echo = assert_chinese(findings, expect=("dimse.echo",))["dimse.echo"]
    assert echo["status"] == "skip" and echo["evidence"]["blocked_by"] in echo["summary"]


# ------------------------------------------------------------------------------------------ SCU commands

def test_scu_commands_in_chinese(sim_with_destination: Any, tmp_path: Path, ct_files: list[Path],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    sim, port = sim_with_destination()
    target = sim.target()
    code, findings = zh_json(capsys, ["store", target, str(ct_files[0])])
    assert code == 0 and assert_chinese(findings, expect=("dimse.store",))["dimse.store"]["status"] == "pass"
    code, findings = zh_json(capsys, ["find", target, "--level", "PATIENT", "-k", "PatientID=NOBODY*"])
    find = assert_chinese(findings, expect=("dimse.find",))["dimse.find"]
    assert find["status"] == "warn" and find["causes"][0]["id"] == "find-no-matches"
    code, findings = zh_json(capsys, ["move", target, "--level", "STUDY", "--dest", "ELSEWHERE",
                                      "--listen", str(port), "--out", str(tmp_path / "moved")])
    assert assert_chinese(findings, expect=("dimse.move",))["dimse.move"]["status"] == "fail"


def _broken_file(path: Path) -> Path:
    """A Part 10 file whose data set lacks the SOP Class UID its File Meta names."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.7")  # Secondary Capture
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = "BROKEN"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_store_of_broken_dicom_in_chinese(sim_with_destination: Any, tmp_path: Path, ct_files: list[Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    sim, _ = sim_with_destination()
    broken = _broken_file(tmp_path / "broken.dcm")
    code, findings = zh_json(capsys, ["store", sim.target(), str(broken)])
    store = assert_chinese(findings, expect=("dimse.store",))["dimse.store"]
    assert store["status"] == "fail" and "broken.dcm" in store["summary"] and "(0008,0016)" in store["summary"]
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.dcm").write_bytes(ct_files[0].read_bytes())
    _broken_file(folder / "broken.dcm")
    code, findings = zh_json(capsys, ["store", sim.target(), str(folder)])
    store = assert_chinese(findings, expect=("dimse.store",))["dimse.store"]
    assert store["status"] == "fail" and store["evidence"]["completed"] == 1


def test_bad_parameters_of_a_check_in_chinese(tmp_path: Path, free_port: Callable[[], int],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # A BadInput a check raises becomes an error finding (kind usage), its message in the run's language.
    path = tmp_path / "bad.yaml"
    path.write_text("playbook: 1\nname: bad\nchecks:\n  - id: dimse.find\n    with: {level: NOPE}\n"
                    f"  - id: dimse.get\n    with: {{keys: {{StudyInstanceUID: '1.2.3'}}, out: {path}}}\n",
                    encoding="utf-8")
    code, findings = zh_json(capsys, ["diagnose", f"PACS@127.0.0.1:{free_port()}", "--playbook", str(path)])
    found = assert_chinese(findings, expect=("dimse.find", "dimse.get"))
    assert all(f["status"] == "error" and f["evidence"]["error_kind"] == "usage" for f in found.values())
    assert "'NOPE'" in found["dimse.find"]["summary"] and str(path) in found["dimse.get"]["summary"]


# ------------------------------------------------------------------------------- the runner's own words

@pytest.fixture
def fake() -> Iterator[None]:
    with registry.isolated_registry():
        @check("t.hang", timeout=600.0)
        async def hang(ctx: CheckContext) -> CheckResult:
            await asyncio.Event().wait()  # ignores its timeouts: only the runner's deadline stops it
            return passed("never")

        @check("t.pass")
        async def ok(ctx: CheckContext) -> CheckResult:
            return passed("fine")

        @check("t.raises")
        async def raises(ctx: CheckContext) -> CheckResult:
            raise RuntimeError("boom")

        @check("t.nonsense")
        async def nonsense(ctx: CheckContext) -> CheckResult:
            return "not a result"  # type: ignore[return-value]
        yield


def test_deadline_stop_and_skip_in_chinese(fake: None) -> None:
    options = RunOptions(timeouts=Timeouts(connect=60, association=60, dimse=60, release=60), deadline=0.2,
                         lang="zh")
    report = run(make_playbook("d", ["t.hang", "t.pass"]), [parse_target("PACS@127.0.0.1:1")], options)
    found = {f.check: f for f in report.findings}
    assert found["t.hang"].status is Status.ERROR and CJK.search(found["t.hang"].summary)
    assert "--deadline" in found["t.hang"].summary
    assert found["t.pass"].status is Status.SKIP and CJK.search(found["t.pass"].summary)
    assert found["t.pass"].evidence["blocked_by"] == "deadline"


def test_errors_of_checks_in_chinese(fake: None) -> None:
    report = run(make_playbook("d", ["t.raises", "t.nonsense"]), [parse_target("PACS@127.0.0.1:1")],
                 RunOptions(lang="zh"))
    found = {f.check: f for f in report.findings}
    assert found["t.raises"].summary == "RuntimeError: boom"  # the exception's own words are data
    assert found["t.nonsense"].status is Status.ERROR and CJK.search(found["t.nonsense"].summary)
    assert "CheckResult" in found["t.nonsense"].summary

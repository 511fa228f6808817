"""`--lang zh` shows the summaries of the workflow checks (mwl.find, mpps.cycle, commitment.request,
assoc.user-identity, the workflow.* chain) and of the DICOMweb checks in Chinese, and `dicomdoctor explain
--lang zh` the facts it recognised: end to end through the command line, against the built-in simulator, a
closed port and a small HTTP server on loopback."""

from __future__ import annotations

import http.server
import json
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from dicomdoctor.cli import main
from dicomdoctor.sim.server import SimulatorThread
import peers

CJK = re.compile(r"[\u4e00-\u9fff]")


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


def diagnose(tmp_path: Path, target: str, *args: str, lang: str = "zh") -> dict[str, dict[str, Any]]:
    """Run `dicomdoctor diagnose --format json` and return the findings by check."""
    out = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    main(["diagnose", target, "--timeout", "5", "--lang", lang, "--format", "json", "-o", str(out), *args])
    return {f["check"]: f for f in json.loads(out.read_text(encoding="utf-8"))["findings"]}


def assert_chinese(findings: dict[str, dict[str, Any]], *checks: str) -> None:
    for check in checks:
        assert check in findings, sorted(findings)
        summary = findings[check]["summary"]
        assert CJK.search(summary), f"{check}: {summary}"


def playbook(tmp_path: Path, *checks: str) -> str:
    path = tmp_path / "book.yaml"
    path.write_text("playbook: 1\nname: t\ndescription: t\nchecks:\n" + "".join(f"  - {c}\n" for c in checks))
    return str(path)


def test_the_workflow_chain_in_chinese(sim: Callable[..., str], tmp_path: Path) -> None:
    found = diagnose(tmp_path, sim("worklist", "mpps", "commitment"), "--playbook", "workflow")
    assert found["workflow.readback"]["status"] == "pass", {c: f["summary"] for c, f in found.items()}
    assert_chinese(found, "mwl.find", "workflow.mpps-start", "workflow.store", "workflow.commit",
                   "workflow.mpps-complete", "workflow.readback")
    # The same run in English has no Chinese in it.
    english = diagnose(tmp_path, sim("worklist", "mpps", "commitment"), "--playbook", "workflow", lang="en")
    assert not any(CJK.search(f["summary"]) for f in english.values())
    assert english["workflow.readback"]["summary"].startswith("C-FIND read-back: the performed study is found")


def test_workflow_faults_in_chinese(sim: Callable[..., str], tmp_path: Path) -> None:
    book = playbook(tmp_path, "net.reachable", "assoc.ae-title", "mpps.cycle", "commitment.request")
    found = diagnose(tmp_path, sim("worklist", "mpps=refuse", "commitment=no-report"), "--playbook", book,
                     "--set", "commitment.request.wait=1")
    assert found["mpps.cycle"]["status"] == "fail" and found["commitment.request"]["status"] == "fail"
    assert_chinese(found, "mpps.cycle", "commitment.request")
    # The worklist refused (no worklist fault): the chain breaks at its first step, in Chinese too.
    chain = diagnose(tmp_path, sim("mpps"), "--playbook", "workflow")
    assert chain["mwl.find"]["status"] == "fail"
    assert_chinese(chain, "mwl.find")


def test_an_empty_worklist_names_the_pinned_key_in_chinese(sim: Callable[..., str], tmp_path: Path) -> None:
    wl = tmp_path / "wl.yaml"
    wl.write_text("- {PatientID: SIMX1, PatientName: DOE^SYNTHETIC, ScheduledStationAETitle: MR01, Modality: MR,\n"
                  "   ScheduledProcedureStepStartDate: today, AccessionNumber: A1, StudyInstanceUID: 1.2.3.4,\n"
                  "   RequestedProcedureID: R1, ScheduledProcedureStepID: S1}\n")
    book = playbook(tmp_path, "net.reachable", "assoc.ae-title", "mwl.find")
    found = diagnose(tmp_path, sim(f"worklist={wl}"), "--playbook", book, "--set", "mwl.find.station_ae=CT01")
    assert found["mwl.find"]["status"] == "warn"
    assert_chinese(found, "mwl.find")
    assert "Scheduled Station AE Title" in found["mwl.find"]["summary"]


def test_user_identity_in_chinese(sim: Callable[..., str], tmp_path: Path) -> None:
    book = playbook(tmp_path, "net.reachable", "assoc.user-identity")
    found = diagnose(tmp_path, sim("user-identity-required"), "--playbook", book)
    assert found["assoc.user-identity"]["status"] == "fail"
    assert_chinese(found, "assoc.user-identity")


# ------------------------------------------------------------------------------------------------ DICOMweb

class _Http:
    """A loopback HTTP server answering every GET with one fixed answer."""

    def __init__(self, status: int, ctype: str, body: bytes) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dicom-web"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def web() -> Iterator[Callable[..., _Http]]:
    started: list[_Http] = []

    def start(status: int, ctype: str = "", body: bytes = b"") -> _Http:
        server = _Http(status, ctype, body)
        started.append(server)
        return server
    yield start
    for s in started:
        s.close()


def test_dicomweb_unreachable_in_chinese(free_port: Callable[[], int], tmp_path: Path) -> None:
    found = diagnose(tmp_path, f"127.0.0.1:{free_port()}", "--playbook", "dicomweb", "--dicomweb",
                     f"http://127.0.0.1:{free_port()}/dicom-web")
    assert found["dicomweb.qido"]["status"] == "fail"
    assert [c["id"] for c in found["dicomweb.qido"]["causes"]] == ["dicomweb-unreachable"]
    assert_chinese(found, "dicomweb.qido")


def test_dicomweb_answers_in_chinese(web: Callable[..., _Http], free_port: Callable[[], int],
                                     tmp_path: Path) -> None:
    page = web(200, "text/html", b"<html><body>login</body></html>")
    found = diagnose(tmp_path, f"127.0.0.1:{free_port()}", "--playbook", "dicomweb", "--dicomweb", page.url)
    assert found["dicomweb.qido"]["status"] == "fail"
    assert_chinese(found, "dicomweb.qido")
    empty = web(204)
    found = diagnose(tmp_path, f"127.0.0.1:{free_port()}", "--playbook", "dicomweb", "--dicomweb", empty.url)
    assert found["dicomweb.qido"]["status"] == "pass" and found["dicomweb.wado"]["status"] == "skip"
    assert_chinese(found, "dicomweb.qido", "dicomweb.wado")
    # A target without a DICOMweb URL: not applicable, said in Chinese.
    found = diagnose(tmp_path, f"127.0.0.1:{free_port()}", "--playbook", "dicomweb")
    assert_chinese(found, "dicomweb.qido")


# ------------------------------------------------------------------------------------------------- explain

def test_explain_a_reject_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    line = "E: Association Rejected: result=1, source=1, reason=7"
    assert main(["explain", "--lang", "zh", "--no-color", line]) == 0
    out = capsys.readouterr().out
    assert "A-ASSOCIATE-RJ 结果" in out and "从文本中识别出的事实" in out
    assert main(["explain", "--no-color", line]) == 0
    assert "A-ASSOCIATE-RJ result 1, source 1, reason 7" in capsys.readouterr().out


def test_explain_no_match_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--lang", "zh", "frobnicated the wibble"]) == 3
    err = capsys.readouterr().err
    assert "不是 DIMSE 状态码" in err and "Traceback" not in err

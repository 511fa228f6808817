"""`dicomdoctor demo`: a report over several simulated peers, each diagnosed, in seconds; exit 0."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dicomdoctor.cli import main
from dicomdoctor.commands.demo import SCENARIOS

pytestmark = pytest.mark.interop

# What the demo must show: at least these causes, each on the peer built to have it.
EXPECTED = {
    "ARCHIVE": ("assoc.ae-title", "called-ae-not-recognized"),
    "MINIPACS": ("assoc.presentation-contexts", "abstract-syntax-not-supported"),
    "OLDPACS": ("assoc.pdu-length", "pdu-too-small"),
    "BUSYPACS": ("assoc.ae-title", "too-many-associations"),
    "FLAKY": ("dimse.echo", "processing-failure"),
    "WEBPORT": ("assoc.ae-title", "not-dicom"),
    "SECURE": ("tls.handshake", "tls-self-signed"),
    "DOWN": ("net.reachable", "server-not-running"),
    # The workflow chain (the workflow playbook), broken at another step on each RIS, and user identity.
    "RIS": ("workflow.mpps-start", "mpps-refused"),
    "WFPACS": ("workflow.commit", "commitment-no-report"),
    "IDPACS": ("assoc.user-identity", "user-identity-required"),
}


def test_demo_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--format", "json"]) == 0  # the demo ran; its findings fail on purpose
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == "dicomdoctor.report/1"
    assert len(report["targets"]) == len(SCENARIOS)
    assert report["verdict"] == "fail"
    healthy = [t for t in report["targets"] if t["called_ae"] == "PACS"]
    assert healthy and healthy[0]["verdict"] == "pass"
    # Each peer by the AE title the simulator answers to (ARCHIVE is addressed as ANY-SCP on purpose).
    by_ae = {t["id"]: ("ARCHIVE" if t["called_ae"] == "ANY-SCP" else t["called_ae"]) for t in report["targets"]}
    seen = {(by_ae[f["target"]], f["check"], c["id"]) for f in report["findings"] for c in f["causes"][:2]}
    for ae, (check, cause) in EXPECTED.items():
        assert (ae, check, cause) in seen, (ae, check, cause)
    ae_finding = next(f for f in report["findings"] if by_ae[f["target"]] == "ARCHIVE" and f["check"] == "assoc.ae-title")
    assert ae_finding["evidence"]["accepted_called_ae"] == "ARCHIVE"  # "it answers to ARCHIVE"
    # Where each chain broke: the steps before passed, the steps after are skipped naming the broken one.
    chain = {(by_ae[f["target"]], f["check"]): f["status"] for f in report["findings"]}
    assert chain[("RIS", "mwl.find")] == "pass" and chain[("RIS", "workflow.store")] == "skip"
    assert chain[("WFPACS", "workflow.store")] == "pass" and chain[("WFPACS", "workflow.mpps-complete")] == "skip"


def test_demo_text_without_tui(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "demo.md"
    assert main(["demo", "--no-tui", "--format", "markdown", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "ARCHIVE" in text and "called-ae-not-recognized" in text
    assert capsys.readouterr().out == ""  # -o: nothing on stdout


def test_demo_text_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    # Not a terminal (pytest captures): no TUI, the text report on stdout, the legend on stderr.
    assert main(["demo"]) == 0  # the report's verdict is fail; the demo's exit code is not the verdict
    captured = capsys.readouterr()
    assert "Verdict: FAIL" in captured.out
    assert "simulated peers" in captured.err and "a healthy PACS" in captured.err
    assert "[workflow playbook]" in captured.err and "only to these simulators" in captured.err


def test_demo_in_the_tui() -> None:
    """On a terminal the demo opens the TUI, which runs the playbook against every simulated peer."""
    pytest.importorskip("textual")
    import asyncio

    from dicomdoctor.commands.demo import Fleet, tui_app

    with Fleet() as fleet:
        app = tui_app(fleet.targets)
        if app is None:
            pytest.skip("the TUI is not available")

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tui"))
        from tui_helpers import drive as driven, until  # waits on the app's messages, not on a clock

        async def drive() -> None:
            async with driven(app, size=(140, 45)) as pilot:
                await until(pilot, lambda: app.report is not None, "the demo's report")

        asyncio.run(drive())
        assert app.report is not None
        assert len(app.report.targets) == len(SCENARIOS)

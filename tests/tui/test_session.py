"""The Textual-free half of the TUI: picking the finding to select, redaction for display, PDU pretty-printing,
and a run that can be cancelled from another thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from dicomdoctor.engine import registry
from dicomdoctor.engine.context import CheckContext, RunOptions, failed, passed
from dicomdoctor.engine.model import Cause, Finding, Status
from dicomdoctor.engine.playbook import make_playbook
from dicomdoctor.engine.runner import RunEvent
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.target import parse_target
from dicomdoctor.tui.session import Session, first_problem, for_display, format_pdu
from dicomdoctor.ul import AAssociateRJ, PresentationContextAC

from tui_helpers import GUARD


def _f(check: str, status: Status, **evidence: Any) -> Finding:
    return Finding(target="T", check=check, title=check, status=status, summary=f"{check} {status.value}",
                   evidence=evidence)


def test_first_problem_prefers_fail_then_error_then_warn() -> None:
    findings = [_f("a", Status.PASS), _f("b", Status.WARN), _f("c", Status.ERROR), _f("d", Status.FAIL),
                _f("e", Status.FAIL)]
    assert first_problem(findings).check == "d"  # type: ignore[union-attr]
    assert first_problem(findings[:3]).check == "c"  # type: ignore[union-attr]
    assert first_problem(findings[:2]).check == "b"  # type: ignore[union-attr]
    assert first_problem(findings[:1]) is None


def test_for_display_redacts_patient_data_unless_show_phi() -> None:
    finding = Finding(target="T", check="dimse.find", title="C-FIND", status=Status.PASS,
                      summary="matched PatientName=DOE^JOHN",
                      evidence={"matches": [{"PatientName": "DOE^JOHN", "PatientID": "12345", "StudyDate": "2024"}]},
                      causes=(Cause(id="x", title="t", explanation="seen PatientID=12345"),))
    shown = for_display(finding, show_phi=False)
    text = repr(shown)
    assert "DOE^JOHN" not in text and "12345" not in text
    assert shown.evidence["matches"][0]["StudyDate"] == "2024"
    assert for_display(finding, show_phi=True) is finding


def test_format_pdu_names_codes_and_uids() -> None:
    rj = AAssociateRJ(result=1, source=1, reason=3)
    lines = format_pdu(rj)
    assert lines[0] == "AAssociateRJ"
    assert any(line.strip().startswith("reason: 3") for line in lines)
    assert any("reason_name" in line for line in lines)
    ac = PresentationContextAC(context_id=1, result=0, transfer_syntax="1.2.840.10008.1.2.1")
    text = "\n".join(format_pdu(ac))
    assert "Explicit VR Little Endian" in text and "acceptance" in text.lower()
    assert format_pdu(None) == ["(no PDU: a note about the connection)"]


def test_format_pdu_redacts_phi_fields() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Fake:
        patient_name: str = "DOE^JANE"
        error_comment: str = "no study for PatientID=777"
        raw: bytes = b"\x10\x00\x10\x00\x08\x00\x00\x00DOE^JANE"

    hidden = "\n".join(format_pdu(Fake()))
    assert "DOE^JANE" not in hidden and "777" not in hidden and "[redacted]" in hidden
    shown = "\n".join(format_pdu(Fake(), show_phi=True))
    assert "DOE^JANE" in shown and "777" in shown


def test_session_reports_progress_and_can_be_cancelled_from_another_thread() -> None:
    started = threading.Event()
    with registry.isolated_registry():
        @registry.check("t.quick")
        async def quick(ctx: CheckContext) -> Any:
            return passed("ok")

        @registry.check("t.hang", timeout=3600.0)  # longer than any safety net below
        async def hang(ctx: CheckContext) -> Any:
            started.set()
            await asyncio.Event().wait()  # forever: only the cancellation ends it
            return failed("never")

        events: list[RunEvent] = []
        playbook = make_playbook("t", ["t.quick", "t.hang"])
        session = Session(playbook, [parse_target("127.0.0.1:1")],
                          RunOptions(timeouts=Timeouts.uniform(None)), on_event=events.append)
        assert session.total_checks == 2
        outcome: list[BaseException] = []

        def work() -> None:
            try:
                session.run()
            except BaseException as exc:  # noqa: BLE001 - the cancellation is what we expect
                outcome.append(exc)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        assert started.wait(GUARD)  # safety nets only: the check never ends by itself, the cancel ends it
        session.cancel()
        thread.join(GUARD)
        assert not thread.is_alive()
    assert outcome and isinstance(outcome[0], asyncio.CancelledError)
    kinds = [(e.kind, e.check) for e in events]
    assert kinds[:4] == [("target-start", None), ("check-start", "t.quick"), ("finding", "t.quick"),
                         ("check-start", "t.hang")]


def test_session_cancelled_before_it_starts_does_not_run() -> None:
    with registry.isolated_registry():
        @registry.check("t.quick2")
        async def quick(ctx: CheckContext) -> Any:
            return passed("ok")

        session = Session(make_playbook("t", ["t.quick2"]), [parse_target("127.0.0.1:1")], RunOptions())
        session.cancel()
        with pytest.raises(asyncio.CancelledError):
            session.run()

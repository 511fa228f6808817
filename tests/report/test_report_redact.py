"""Patient data never leaks, in any format, unless show_phi."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from report_fixtures import PHI_BIRTH, PHI_ID, PHI_NAME
from dicomdoctor.engine.model import Report
from dicomdoctor.report import FORMATS, render
from dicomdoctor.report.redact import REDACTED, is_phi_key, redact_report, redact_text, redact_value

PHI = (PHI_NAME, PHI_ID, PHI_BIRTH, "ROE^JANE", "X1", "DOE^JOHN".encode().hex())


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "pdf"])
def test_no_phi_in_any_text_format(mixed_report: Report, fmt: str) -> None:
    out = render(mixed_report, fmt, color=False, trace=True)
    assert isinstance(out, str)
    leaked = [p for p in PHI if p in out]
    assert not leaked, f"{fmt} leaks {leaked}"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")
def test_no_phi_in_pdf(mixed_report: Report, tmp_path) -> None:
    path = tmp_path / "r.pdf"
    path.write_bytes(render(mixed_report, "pdf"))  # type: ignore[arg-type]
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "[redacted]" in text
    assert not [p for p in PHI[:4] if p in text]


def test_show_phi_keeps_everything(mixed_report: Report) -> None:
    data = json.loads(render(mixed_report, "json", show_phi=True))  # type: ignore[arg-type]
    find = next(f for f in data["findings"] if f["check"] == "dimse.find")
    assert find["evidence"]["matches"][0]["PatientName"] == PHI_NAME
    assert PHI_ID in find["summary"]


def test_redacted_json_keeps_structure_and_harmless_values(mixed_report: Report) -> None:
    data = json.loads(render(mixed_report, "json"))  # type: ignore[arg-type]
    ev = next(f for f in data["findings"] if f["check"] == "dimse.find")["evidence"]
    m0, m1 = ev["matches"]
    assert m0 == {"PatientName": REDACTED, "PatientID": REDACTED, "PatientBirthDate": REDACTED,
                  "StudyDate": "20260101"}
    assert m1["patient_name"] == REDACTED and m1["OtherPatientIDs"] == REDACTED
    assert m1["00100020"] == {"vr": "LO", "Value": [REDACTED]}  # DICOM JSON model keeps its shape
    assert m1["PatientSex"] == "F"
    assert ev["keys"] == {"PatientID": "", "PatientName": REDACTED}  # asked-back keys stay visible
    assert ev["query"] == f"PatientName={REDACTED} PatientID="
    assert ev["raw"] == REDACTED


@pytest.mark.parametrize("key, phi", [
    ("PatientName", True), ("patient_id", True), ("PatientBirthDate", True), ("OtherPatientIDsSequence", True),
    ("PatientAddress", True), ("00100010", True), ("(0010,0030)", True), ("AccessionNumber", True),
    ("ReferringPhysicianName", True), ("PatientSex", False), ("PatientPosition", False), ("StudyDate", False),
    ("calling_ae", False), ("abstract_syntax", False),
])
def test_phi_keys(key: str, phi: bool) -> None:
    assert is_phi_key(key) is phi


@pytest.mark.parametrize("text, expected", [
    ("PatientName=DOE^JOHN", f"PatientName={REDACTED}"),
    ("no match for PatientID: 12345, retry", f"no match for PatientID: {REDACTED}, retry"),
    ("{'PatientID': '123', 'StudyDate': '2026'}", f"{{'PatientID': {REDACTED}, 'StudyDate': '2026'}}"),
    ("(0010,0010) PN [DOE^JOHN]  #  8, 1 PatientName", f"(0010,0010) {REDACTED}"),
    ("(0010,0040) CS [F]", "(0010,0040) CS [F]"),
    ("PatientID=", "PatientID="),
    ("PatientIDs are fine as words", "PatientIDs are fine as words"),
])
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_value_handles_odd_containers() -> None:
    class Dataset:  # duck-typed pydicom Dataset
        def to_json_dict(self) -> dict:
            return {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^JOHN"}]}, "00080060": {"vr": "CS"}}

    out = redact_value({"ds": Dataset(), "s": {"PatientName": "A"}, "t": ("PatientID=9",),
                        "b": b"\x00\x01", "n": None, "PatientName": None})
    assert out["ds"]["00100010"] == {"vr": "PN", "Value": [REDACTED]}
    assert out["ds"]["00080060"] == {"vr": "CS"}
    assert out["t"] == [f"PatientID={REDACTED}"] and out["b"] == b"\x00\x01" and out["PatientName"] is None


def test_redact_report_covers_trace_and_causes(mixed_report: Report) -> None:
    red = redact_report(mixed_report)
    summaries = [r.summary for t in red.targets for r in t.trace]
    assert any(REDACTED in s for s in summaries) and not any(PHI_NAME in s for s in summaries)
    assert all(not hasattr(r, "pdu") for t in red.targets for r in t.trace)  # raw PDUs are dropped

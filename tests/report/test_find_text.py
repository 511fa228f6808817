"""`dicomdoctor find` in a terminal prints the matches' returned keys as a bounded table, redacted unless
--show-phi (issue 14: it printed only the number of matches)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import peers
from dicomdoctor.cli import main
from dicomdoctor.report.text import MATCH_ROWS, match_table

N_STUDIES = MATCH_ROWS + 3


def test_match_table_is_aligned_and_bounded() -> None:
    results = [{"QueryRetrieveLevel": "STUDY", "PatientID": f"P{i}", "StudyDate": "20260101",
                "ModalitiesInStudy": ["CT", "SR"], "StudyDescription": "line\nbreak " + "x" * 40,
                "StudyInstanceUID": "1.2.826.0.1.3680043.8.498." + "7" * 36} for i in range(30)]
    lines = match_table({"results": results, "matches": 31})
    assert lines[0].split() == ["PatientID", "StudyDate", "ModalitiesInStudy", "StudyDescription", "StudyInstanceUID"]
    assert set(lines[1]) == {"-", " "}
    assert len(lines) == 2 + MATCH_ROWS + 1 and lines[-1].startswith(f"… and {31 - MATCH_ROWS} more of 31 matches")
    row = lines[2]
    assert "CT\\SR" in row and "\n" not in row and "line break xxx" in row and "…" in row  # cut, one line
    assert results[0]["StudyInstanceUID"] in row  # UIDs stay whole
    assert all(len(line.rstrip()) <= len(lines[1]) for line in lines[:-1])  # nothing past the columns
    assert match_table({"results": [], "matches": 0}) == [] and match_table({}) == []


def _find(capsys: pytest.CaptureFixture[str], peer: Any, *extra: str) -> tuple[int, str]:
    rc = main(["find", peer.target_text(), "--level", "STUDY", "-k", "PatientName=", "-k", "PatientID=",
               "-k", "StudyDate=", "-k", "StudyInstanceUID=", "--timeout", "10", "--dimse-timeout", "30",
               "--no-color", *extra])
    return rc, capsys.readouterr().out


@pytest.mark.interop
def test_find_prints_the_matches_on_dcmqrscp(dcmqrscp: Any, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    files: list[Path] = []
    for i in range(N_STUDIES):  # one study per synthetic patient
        files += peers.write_cts(tmp_path / f"s{i}", 1, patient_id=f"SYN{i:03d}", patient_name=f"SYNTH^PATIENT{i}")
    qr = dcmqrscp(preload=files)

    rc, out = _find(capsys, qr)
    assert rc == 0, out
    lines = out.splitlines()
    (head,) = [n for n, line in enumerate(lines) if "PatientName" in line and "StudyInstanceUID" in line]
    rows = lines[head + 2:head + 2 + MATCH_ROWS]
    assert len(rows) == MATCH_ROWS and all("20260101" in r for r in rows)
    assert all(r.count("[redacted]") == 2 for r in rows)  # PatientName and PatientID
    assert f"… and 3 more of {N_STUDIES} matches" in lines[head + 2 + MATCH_ROWS]
    assert "SYNTH^" not in out and "SYN0" not in out

    rc, out = _find(capsys, qr, "--show-phi")
    assert rc == 0
    shown = {f"SYNTH^PATIENT{i}" for i in range(N_STUDIES) if f"SYNTH^PATIENT{i} " in out}
    assert len(shown) == MATCH_ROWS and "[redacted]" not in out

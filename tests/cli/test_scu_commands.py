"""The SCU commands (echo, store, find, move, get) through `dicomdoctor.cli.main` with `--format json`,
against real peers (Orthanc 1.10, dcmtk storescp) started by the tests; and their bad-input exits."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from dicomdoctor.cli import main


def scu(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    rc = main([*argv, "--format", "json", "--timeout", "5", "--dimse-timeout", "15"])
    out = capsys.readouterr().out
    return rc, {f["check"]: f for f in json.loads(out)["findings"]}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("argv, words", [
    (["echo", "ABCDEFGHIJKLMNOPQ@127.0.0.1:104"], "16"),
    (["echo", "PACS@127.0.0.1:99999"], "out of range"),
    (["echo", "PACS@127.0.0.1:port"], "not a number"),
    (["echo", "127.0.0.1", "--calling-ae", "A" * 17], "16"),
    (["store", "127.0.0.1", "/no/such/file.dcm"], "no such file"),
    (["store", "127.0.0.1"], "nothing to store"),
    (["find", "127.0.0.1", "-k", "NoSuchKeyword=1"], "NoSuchKeyword"),
    (["move", "127.0.0.1", "--dest", "X" * 17], "16"),
    (["move", "127.0.0.1", "--listen", "70000"], "out of range"),
    (["echo", "127.0.0.1", "--repeat", "0"], "--repeat"),
])
def test_bad_input_is_exit_3_with_one_message(capsys: pytest.CaptureFixture[str], argv: list[str],
                                              words: str) -> None:
    assert main(argv) == 3
    captured = capsys.readouterr()
    assert words in captured.err and "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_store_non_dicom_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not DICOM")
    assert main(["store", "127.0.0.1:104", str(junk)]) == 3
    err = capsys.readouterr().err
    assert "notes.txt" in err and "not a DICOM file" in err


# ---------------------------------------------------------------------------------------- real peers

def test_echo_closed_port_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, found = scu(capsys, "echo", f"ANY@127.0.0.1:{closed_port()}")
    assert rc == 2
    assert found["net.reachable"]["status"] == "fail"
    assert found["net.reachable"]["causes"][0]["id"] == "server-not-running"
    # The echo's own connect failed first; net.reachable then explains it (issue 13: no probing before).
    assert list(found) == ["net.reachable", "dimse.echo"] and found["dimse.echo"]["status"] == "fail"


@pytest.mark.interop
def test_echo_orthanc(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pacs = orthanc()
    rc, found = scu(capsys, "echo", pacs.target_text())
    assert rc == 0
    assert list(found) == ["dimse.echo"]  # one association, the echo's own (issue 13)
    ev = found["dimse.echo"]["evidence"]
    assert ev["status"] == 0 and ev["status_name"] and ev["category"] == "success" and ev["rtt_ms"] >= 0


@pytest.mark.interop
def test_echo_wrong_called_ae(orthanc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pacs = orthanc(DicomCheckCalledAet=True)
    rc, found = scu(capsys, "echo", f"NOTORTHANC@{pacs.host}:{pacs.port}")
    assert rc == 2
    f = found["assoc.ae-title"]
    assert f["causes"][0]["id"] == "called-ae-not-recognized" and f["evidence"]["accepted_called_ae"] == "ORTHANC"


@pytest.mark.interop
def test_store_synthetic_to_storescp(storescp: Any, capsys: pytest.CaptureFixture[str]) -> None:
    peer = storescp()
    rc, found = scu(capsys, "store", peer.target_text(), "--synthetic", "2")
    assert rc == 0, found
    f = found["dimse.store"]
    assert f["evidence"]["completed"] == 2 and f["evidence"]["failed"] == 0 and f["evidence"]["category"] == "success"
    assert len(list(peer.extra["out_dir"].iterdir())) == 2


@pytest.mark.interop
def test_store_files_then_find_move_get_on_orthanc(orthanc: Any, ct_files: list[Path], free_port: Any,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest_port = free_port()
    pacs = orthanc(DicomAlwaysAllowFind=True, DicomAlwaysAllowMove=True, DicomAlwaysAllowGet=True,
                   modalities={"doctor": ["DOCTORDEST", "127.0.0.1", dest_port]})
    rc, found = scu(capsys, "store", pacs.target_text(), *map(str, ct_files))
    assert rc == 0 and found["dimse.store"]["evidence"]["completed"] == len(ct_files)

    rc, found = scu(capsys, "find", pacs.target_text(), "--level", "STUDY", "-k", "PatientID=DDTEST01",
                    "-k", "StudyInstanceUID=")
    f = found["dimse.find"]
    assert rc == 0 and f["evidence"]["matches"] >= 1 and f["evidence"]["category"] == "success"
    assert f["evidence"]["results"][0]["StudyInstanceUID"]

    rc, found = scu(capsys, "find", pacs.target_text(), "--level", "STUDY", "-k", "PatientID=NOBODY")
    assert rc == 1 and found["dimse.find"]["causes"][0]["id"] == "find-no-matches"

    out = tmp_path / "moved"
    rc, found = scu(capsys, "move", pacs.target_text(), "--level", "PATIENT", "-k", "PatientID=DDTEST01",
                    "--dest", "DOCTORDEST", "--listen", str(dest_port), "--out", str(out))
    m = found["dimse.move"]
    assert rc == 0, m["summary"]
    assert m["evidence"]["connect_back"] is True and m["evidence"]["received"] == len(ct_files)
    assert m["evidence"]["completed"] == len(ct_files) and m["evidence"]["failed"] == 0
    assert len(list(out.iterdir())) == len(ct_files)

    rc, found = scu(capsys, "move", pacs.target_text(), "--level", "PATIENT", "-k", "PatientID=DDTEST01",
                    "--dest", "UNKNOWNDEST")
    assert rc == 2 and found["dimse.move"]["causes"][0]["id"] == "move-destination-unknown"

    got = tmp_path / "got"
    rc, found = scu(capsys, "get", pacs.target_text(), "--level", "PATIENT", "-k", "PatientID=DDTEST01",
                    "--out", str(got))
    g = found["dimse.get"]
    assert rc == 0, g["summary"]
    assert g["evidence"]["received"] == len(ct_files) and g["evidence"]["completed"] == len(ct_files)
    assert len(list(got.glob("*.dcm"))) == len(ct_files)


@pytest.mark.interop
def test_move_destination_never_connects_back(orthanc: Any, ct_files: list[Path], free_port: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Orthanc knows DOCTORDEST at a port where nothing listens: the C-MOVE fails and our own Storage SCP
    # (listening elsewhere) saw no connection, so the finding names the connect-back.
    nowhere, listen = free_port(), free_port()
    pacs = orthanc(DicomAlwaysAllowMove=True, modalities={"doctor": ["DOCTORDEST", "127.0.0.1", nowhere]},
                   preload=ct_files)
    rc, found = scu(capsys, "move", pacs.target_text(), "--level", "PATIENT", "-k", "PatientID=DDTEST01",
                    "--dest", "DOCTORDEST", "--listen", str(listen))
    m = found["dimse.move"]
    assert rc == 2, m["summary"]
    assert m["evidence"]["connect_back"] is False
    assert m["causes"][0]["id"] == "move-connect-back-failed"

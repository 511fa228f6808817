"""The commands against hostile peers (benchmarks/hostile_peers.py) as a user runs them: exit 2 with a
finding and its cause, peak memory bounded; and bad numeric options, FIFOs and truncated files as bad input
(exit 3, one message)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hostile import hostile_peer, load_hostile_peers

run_measured = load_hostile_peers().run_measured

RSS_LIMIT_KB = 150 * 1024


def dd(*argv: str, timeout: float = 120) -> tuple[int, dict[str, Any], str, int]:
    """Run dicomdoctor in a child; (exit code, {check: finding}, stderr, peak RSS in KiB of that process,
    its own VmHWM: see hostile_peers.run_measured)."""
    rc, out, err, _wall, peak_kb = run_measured([sys.executable, "-m", "dicomdoctor", *argv], timeout)
    findings: dict[str, Any] = {}
    if out.strip().startswith(b"{"):
        findings = {f["check"]: f for f in json.loads(out)["findings"]}
    return rc, findings, err.decode(errors="replace"), peak_kb


def causes(finding: dict[str, Any]) -> list[str]:
    return [c["id"] for c in finding.get("causes", [])]


COMMON = ("--timeout", "5", "--dimse-timeout", "5", "--format", "json")


@pytest.mark.parametrize("case, cause", [("frag-command", "oversized-message"), ("frag-tiny", "oversized-message"),
                                         ("missing-fields", "response-missing-fields"),
                                         ("bad-group-length", "command-group-length"),
                                         ("release-flood", "release-ignored")])
def test_echo_against_a_hostile_peer_fails_with_the_cause(case: str, cause: str) -> None:
    with hostile_peer(case) as peer:
        rc, findings, err, rss = dd("echo", f"HOSTILE@127.0.0.1:{peer.port}", "--max-dataset", "4M", *COMMON)
    assert rc == 2, err
    assert cause in causes(findings["dimse.echo"])
    assert rss < RSS_LIMIT_KB


def test_find_ignoring_cancel_is_cancel_ignored() -> None:
    with hostile_peer("pending-forever") as peer:
        rc, findings, err, rss = dd("find", f"HOSTILE@127.0.0.1:{peer.port}", "-k", "PatientID=",
                                    "--max-results", "3", *COMMON)
    assert rc == 2, err
    assert causes(findings["dimse.find"])[0] == "cancel-ignored"
    assert rss < RSS_LIMIT_KB


def test_diagnose_against_a_release_flood_fails_pdu_length() -> None:
    with hostile_peer("release-flood") as peer:
        rc, findings, err, _ = dd("diagnose", f"HOSTILE@127.0.0.1:{peer.port}", *COMMON)
    assert rc == 2, err
    assert "release-ignored" in causes(findings["assoc.pdu-length"])


def test_peer_comment_with_escapes_and_phi_is_masked_and_escaped() -> None:
    with hostile_peer("phi-comment") as peer:
        proc = subprocess.run([sys.executable, "-m", "dicomdoctor", "echo", f"HOSTILE@127.0.0.1:{peer.port}",
                               "--timeout", "5", "-v", "--no-color"], capture_output=True, timeout=120)
    out = proc.stdout.decode()
    assert proc.returncode == 2
    assert "DOE^JANE" not in out and "\x1b" not in out and "\u202e" not in out
    assert "peer text" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_move_with_bad_uids_writes_unique_visible_files_and_counts_failures(tmp_path: Path) -> None:
    listen = _free_port()
    out = tmp_path / "out"
    with hostile_peer("bad-uids", move_port=listen) as peer:
        rc, findings, err, _ = dd("move", f"HOSTILE@127.0.0.1:{peer.port}", "-k", "StudyInstanceUID=1.2.3",
                                  "--listen", str(listen), "--out", str(out), *COMMON)
    assert rc in (1, 2), err  # the peer itself says 0xB000: some sub-operations failed
    names = sorted(p.name for p in out.iterdir())
    assert names and not [n for n in names if n.startswith(".")]
    assert len(names) == len(set(names))
    # Empty and invalid UIDs were refused with a failure status, the valid ones written once each.
    assert findings["dimse.move"]["evidence"].get("failed", 0) >= 1


# ------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("option", [["--timeout", "nan"], ["--timeout", "inf"], ["--timeout", "-1"],
                                    ["--dimse-timeout", "nan"], ["--max-pdu", "4294967296"], ["--max-pdu", "-1"],
                                    ["--max-dataset", "0"], ["--max-dataset", "5G"]])
def test_bad_numeric_options_are_bad_input(option: list[str]) -> None:
    rc, _, err, _ = dd("echo", "127.0.0.1:1", *option)
    assert rc == 3 and option[0] in err and "Traceback" not in err


def test_fifo_as_playbook_or_capture_is_bad_input(tmp_path: Path) -> None:
    fifo = tmp_path / "x.yaml"
    os.mkfifo(fifo)
    rc, _, err, _ = dd("diagnose", "127.0.0.1:1", "--playbook", str(fifo), timeout=30)
    assert rc == 3 and "not a regular file" in err
    rc, _, err, _ = dd("pcap", str(fifo), timeout=30)
    assert rc == 3 and "not a regular file" in err


def test_truncated_file_is_refused_before_sending(tmp_path: Path) -> None:
    from dicomdoctor.synthetic import make_instance, to_part10_bytes

    path = tmp_path / "cut.dcm"
    path.write_bytes(to_part10_bytes(make_instance("CT", 32, 32))[:-50])
    with hostile_peer("phi-comment") as peer:  # nothing must reach it
        rc, _, err, _ = dd("store", f"HOSTILE@127.0.0.1:{peer.port}", str(path), timeout=30)
        assert peer.connections == 0
    assert rc == 3 and "truncated" in err


def test_error_messages_on_stderr_escape_control_and_bidi_characters() -> None:
    rc, _, err, _ = dd("echo", "\x1b[2J\u202eAE@127.0.0.1:1", timeout=30)
    assert rc == 3 and "\x1b" not in err and "\u202e" not in err and "\\x1b" in err

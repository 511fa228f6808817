"""Every command against the two silent peers (tests/silentpeers.py): a finding with the cause, exit 2, and
one association only -- once the peer is known to be silent nothing asks it again, so `--timeout T` bounds
the whole command (DESIGN: "ends within T + 1 s"; the times are measured by benchmarks/deadline.py).

The only time bound asserted is a generous hang guard (T + 10 s); what is asserted exactly is what the peer
saw (how many A-ASSOCIATE-RQs) and what the report says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dicomdoctor.cli import main
from silentpeers import SilentPeer

T = 1.5
COMMANDS = ("diagnose", "echo", "store", "find", "move", "get")
EXPECTED = {"accept": "association-timeout", "after-ac": "dimse-timeout"}


def _argv(command: str, target: str, tmp: Path, dcm: Path, port: int) -> list[str]:
    extra: dict[str, list[str]] = {
        "store": [str(dcm)],
        "find": ["--level", "STUDY", "-k", "PatientID=SILENT01"],
        "move": ["--level", "STUDY", "-k", "StudyInstanceUID=1.2.3.4", "--dest", "DOCTOR", "--listen", str(port),
                 "--out", str(tmp / "moved")],
        "get": ["--level", "STUDY", "-k", "StudyInstanceUID=1.2.3.4", "--out", str(tmp / "got")],
    }
    return [command, target, *extra.get(command, []), "--timeout", f"{T:g}", "--format", "json"]


@pytest.mark.parametrize("mode", ["accept", "after-ac"])
@pytest.mark.parametrize("command", COMMANDS)
def test_silent_peer_ends_the_command(command: str, mode: str, tmp_path: Path, ct_files: list[Path],
                                      free_port: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with SilentPeer(mode) as peer:
        rc = main(_argv(command, peer.target(), tmp_path, ct_files[0], free_port()))
        associations = peer.associations
    report = json.loads(capsys.readouterr().out)
    failing = [f for f in report["findings"] if f["status"] == "fail"]
    assert rc == 2 and len(failing) == 1, [(f["check"], f["status"], f["summary"]) for f in report["findings"]]
    f = failing[0]
    # diagnose meets the silence on its first association (no request of ours outstanding): the peer is stuck;
    # an SCU command meets it on its request: a DIMSE timeout.
    want = "peer-silent-after-accept" if (mode, command) == ("after-ac", "diagnose") else EXPECTED[mode]
    assert f["causes"][0]["id"] == want, f["summary"]
    if mode == "accept":
        assert "another client" in f["summary"], f["summary"]  # the listener may be held by someone else
    # Once silent, never asked again: one A-ASSOCIATE-RQ in all (no AE probing, no second association).
    assert associations == 1, [(x["check"], x["status"], x["summary"]) for x in report["findings"]]
    after = report["findings"][report["findings"].index(f) + 1:]
    assert all(x["status"] == "skip" for x in after), [(x["check"], x["status"]) for x in after]


@pytest.mark.parametrize("command", ["diagnose", "echo"])
def test_silent_tls_peer_gets_one_handshake(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """With --tls the silence meets our ClientHello: one handshake, no second look at the certificate, and
    tls.handshake reuses net.reachable's attempt instead of waiting again."""
    with SilentPeer("accept") as peer:
        rc = main([command, peer.target(), "--tls", "--insecure", "--timeout", f"{T:g}", "--format", "json"])
        connections = peer.connections
    report = json.loads(capsys.readouterr().out)
    found = {f["check"]: f for f in report["findings"]}
    f = found["tls.handshake"]
    assert rc == 2 and f["status"] == "fail" and f["evidence"]["outcome"] == "timeout", f["summary"]
    assert connections == 1

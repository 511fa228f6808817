"""`dicomdoctor simulate`: bad input is exit 3 with one message; it serves real DICOM until Ctrl-C (exit 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dicomdoctor.cli import main
from dicomdoctor.commands.simulate import is_loopback, parse_move_destinations
from dicomdoctor.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv, words", [
    (["simulate", "--fault", "nope"], ["unknown fault 'nope'"]),
    (["simulate", "--fault", "max-pdu=abc"], ["max-pdu", "not a whole number"]),
    (["simulate", "--fault", "slow=1", "--fault", "slow=2"], ["only one slow"]),
    (["simulate", "--aet", "A" * 17], ["17 characters"]),
    (["simulate", "--port", "70000"], ["out of range"]),
    (["simulate", "--move-dest", "DEST"], ["AE=HOST:PORT"]),
    (["simulate", "--seed", "-1"], ["negative"]),
])
def test_bad_input_exits_3(argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert "Traceback" not in err


def test_help_lists_the_faults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = capsys.readouterr().out
    for name in ("called-ae-strict", "calling-ae-allow", "reject=REASON", "max-pdu=N", "accept-ts=UIDS",
                 "refuse-sop=UIDS", "slow=SECONDS", "abort-after=N", "status=SERVICE:CODE",
                 "max-associations=N", "tls[=VARIANT]", "close-on-connect", "garbage", "silent", "http"):
        assert name in out


def test_move_destinations_and_loopback() -> None:
    assert parse_move_destinations(["DEST=127.0.0.1:11113", "V6=[::1]:104"]) == {
        "DEST": ("127.0.0.1", 11113), "V6": ("::1", 104)}
    with pytest.raises(BadInput):
        parse_move_destinations(["DEST=127.0.0.1"])
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("pacs.example.org")


@pytest.mark.interop
def test_serves_until_interrupted() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "dicomdoctor", "simulate", "--port", "0", "--aet", "SIMTEST",
                             "--fault", "called-ae-strict", "--seed", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("SIMULATOR listening on 127.0.0.1:") and "faults: called-ae-strict" in line, line
        port = line.split("127.0.0.1:")[1].split()[0]
        echo = "/usr/bin/echoscu"
        if os.path.exists(echo):
            assert subprocess.run([echo, "-aec", "SIMTEST", "127.0.0.1", port], timeout=30).returncode == 0
            bad = subprocess.run([echo, "-aec", "WRONG", "127.0.0.1", port], capture_output=True, text=True,
                                 timeout=30)
            assert bad.returncode != 0 and "Called AE Title Not Recognized" in bad.stdout + bad.stderr
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "SIMULATOR stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.interop
def test_tls_prints_the_ca(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "dicomdoctor", "simulate", "--port", "0", "--fault", "tls"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        tls_line = proc.stdout.readline()
        assert tls_line.startswith("TLS: CA certificate ")
        ca = Path(tls_line.split("TLS: CA certificate ")[1].split()[0])
        assert ca.is_file() and b"BEGIN CERTIFICATE" in ca.read_bytes()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
        assert proc.returncode == 0
        assert not ca.exists()  # the generated keys and certificates are removed on exit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

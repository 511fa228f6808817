"""RSNA CTN's `simple_storage` (Debian package `ctn`): a legacy Storage SCP that exits when a client connects and
closes without sending an A-ASSOCIATE-RQ. The standard playbook must diagnose it healthy and leave it running
(net.reachable measures on the first association's connection instead of a bare connect).

simple_storage needs no configuration or database: `-c AE` sets its AE title, `-x DIR` where received images
go, and it listens on the port given last. It prints nothing when it starts listening, and a bare connect
would kill it, so readiness is read from the kernel's socket table (/proc/net/tcp), never by connecting.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

import peers
from dicomdoctor.cli import main

pytestmark = pytest.mark.interop

SIMPLE_STORAGE = "/usr/bin/simple_storage"
AE = "CTNSTORE"


def _listening(port: int) -> bool:
    """Is a socket in LISTEN state (0A) on `port` in /proc/net/tcp or tcp6? Reading it opens no connection."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _wait_listening(peer: peers.Peer, timeout: float = peers.START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not _listening(peer.port):
        if not peer.alive():
            raise RuntimeError(f"simple_storage exited before listening\n{peer.log_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"simple_storage did not listen on {peer.port}\n{peer.log_text()[-2000:]}")
        time.sleep(0.02)


@pytest.fixture
def ctn(tmp_path: Path) -> Iterator[peers.Peer]:
    if not os.access(SIMPLE_STORAGE, os.X_OK):
        pytest.skip(f"{SIMPLE_STORAGE} is not installed (Debian package ctn)")
    port = peers.free_port()
    workdir = tmp_path / "ctn"
    images = workdir / "images"
    images.mkdir(parents=True)
    peer = peers._spawn("simple_storage", [SIMPLE_STORAGE, "-s", "-c", AE, "-x", str(images), str(port)],
                        workdir, host=peers.LOOPBACK, port=port, ae_title=AE, wait=False)
    try:
        _wait_listening(peer)
        yield peer
    finally:
        peer.stop()


def _echoscu(peer: peers.Peer) -> subprocess.CompletedProcess:
    return subprocess.run([peers.ECHOSCU, "-aec", AE, peer.host, str(peer.port)], capture_output=True, text=True,
                          timeout=30)


def _diagnose(capsys: pytest.CaptureFixture[str], peer: peers.Peer, *extra: str) -> tuple[int, dict[str, Any]]:
    rc = main(["diagnose", peer.target_text(), "--format", "json", "--timeout", "10", *extra])
    report = json.loads(capsys.readouterr().out)
    return rc, {f["check"]: f for f in report["findings"]}


def test_standard_playbook_diagnoses_ctn_healthy_and_leaves_it_running(
        ctn: peers.Peer, capsys: pytest.CaptureFixture[str]) -> None:
    rc, found = _diagnose(capsys, ctn)
    assert rc in (0, 1), found
    assert not [c for c, f in found.items() if f["status"] in ("fail", "error")], found
    reach = found["net.reachable"]
    assert reach["status"] == "pass"
    ev = reach["evidence"]
    assert ev["outcome"] == "open" and ev["address"] == f"127.0.0.1:{ctn.port}"
    assert isinstance(ev["connect_ms"], (int, float))
    assert ev["measured_on"] == "association"
    assert found["assoc.ae-title"]["status"] == "pass"
    assert found["dimse.echo"]["status"] == "pass"
    assert found["peer.identity"]["evidence"]["implementation_version_name"].startswith("MIRCTN")
    # Still alive: the process runs and a second client's C-ECHO succeeds.
    assert ctn.alive(), ctn.log_text()[-2000:]
    second = _echoscu(ctn)
    assert second.returncode == 0, second.stdout + second.stderr
    assert ctn.alive()


def test_quick_playbook_leaves_ctn_running(ctn: peers.Peer, capsys: pytest.CaptureFixture[str]) -> None:
    rc, found = _diagnose(capsys, ctn, "--playbook", "quick")
    assert rc == 0, found
    assert found["net.reachable"]["evidence"]["measured_on"] == "association"
    assert found["dimse.echo"]["status"] == "pass"
    assert ctn.alive()
    assert _echoscu(ctn).returncode == 0

"""Which connection net.reachable measures: the first association's when an association follows in the run
(a bare connect knocks over some legacy SCPs), a bare connect-and-close only when none follows."""

from __future__ import annotations

import socket
from typing import Any

from dicomdoctor.engine.context import RunOptions
from dicomdoctor.engine.model import Finding
from dicomdoctor.engine.playbook import make_playbook
from dicomdoctor.engine.runner import run
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.sim import SimulatorThread
from dicomdoctor.target import parse_target


def diagnose(target: str, checks: list[Any]) -> dict[str, Finding]:
    options = RunOptions(timeouts=Timeouts(5, 5, 5, 5))
    report = run(make_playbook("test", checks), [parse_target(target)], options)
    return {f.check: f for f in report.findings}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_alone_it_opens_a_bare_connection() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        r = diagnose(f"X@127.0.0.1:{port}", ["net.reachable"])["net.reachable"]
        conn, _ = server.accept()  # the probe's connection reached the backlog
        conn.close()
    assert r.status.value == "pass"
    assert r.evidence["measured_on"] == "bare-connection"
    assert r.evidence["outcome"] == "open" and r.evidence["address"] == f"127.0.0.1:{port}"
    assert r.evidence["connect_ms"] is not None


def test_with_association_checks_it_measures_the_shared_association() -> None:
    with SimulatorThread("SIM", [], seed=1) as sim:
        found = diagnose(sim.target("SIM"), ["net.dns", "net.reachable", "assoc.ae-title", "dimse.echo"])
    r = found["net.reachable"]
    assert r.status.value == "pass"
    assert r.evidence["measured_on"] == "association"
    assert r.evidence["outcome"] == "open" and r.evidence["address"] == f"127.0.0.1:{sim.port}"
    assert found["assoc.ae-title"].status.value == "pass" and found["dimse.echo"].status.value == "pass"


def test_with_only_echo_following_it_measures_a_verification_association() -> None:
    with SimulatorThread("SIM", [], seed=2) as sim:
        found = diagnose(sim.target("SIM"), ["net.reachable", "dimse.echo"])
    r = found["net.reachable"]
    assert r.status.value == "pass" and r.evidence["measured_on"] == "association"
    assert found["dimse.echo"].status.value == "pass"


def test_refused_on_the_association_connection_keeps_the_evidence() -> None:
    port = _closed_port()
    found = diagnose(f"X@127.0.0.1:{port}", ["net.dns", "net.reachable", "assoc.ae-title"])
    r = found["net.reachable"]
    assert r.status.value == "fail"
    assert r.evidence["outcome"] == "refused" and r.evidence["measured_on"] == "association"
    assert r.evidence["address"] == f"127.0.0.1:{port}" and r.evidence["connect_ms"] is None
    assert "server-not-running" in [c.id for c in r.causes]
    assert found["assoc.ae-title"].status.value == "skip"


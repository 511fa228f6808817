"""`dicomdoctor run PLAYBOOK` over a fleet on loopback: ten live pynetdicom echo SCPs (threads), a refused
port, a silent listener (TCP accepted, the A-ASSOCIATE-RQ never answered) and a port whose SYNs are dropped (a
listen socket with a full accept queue: what a firewall that drops packets looks like). One report, every
target, the right verdicts, exit code 2, and the dead targets cost their own timeout once, in parallel, not the
others' time.

Timing bounds are deliberately loose (shared, noisy machines); ordering is asserted instead where it can be.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

import peers
from dicomdoctor import cli
from dicomdoctor.commands import _common
from dicomdoctor.engine import registry, runner
from dicomdoctor.engine.context import CheckContext, CheckResult, passed
from dicomdoctor.engine.playbook import load_playbook
from dicomdoctor.engine.registry import check

ROOT = Path(__file__).resolve().parents[2]
LIVE = 10
# The fleet playbook's connect + association timeout: it ends the silent targets, and must leave the live ones
# room to answer on a loaded 2-core machine (stress-ng --cpu 2 beside the suite).
TIMEOUT = 5.0
VERIFICATION = "1.2.840.10008.1.1"


@dataclass
class EchoSCP:
    """A pynetdicom AE that supports Verification only: cheap to start, quick to negotiate (ten of them in
    one process answer a burst of associations well inside the timeout, even on a loaded machine)."""

    ae_title: str
    port: int
    server: Any

    def target_text(self) -> str:
        return f"{self.ae_title}@{peers.LOOPBACK}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()


def start_echo_scp(ae_title: str) -> EchoSCP:
    from pynetdicom import AE

    ae = AE(ae_title=ae_title)
    ae.add_supported_context(VERIFICATION)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    port = peers.free_port()
    return EchoSCP(ae_title, port, ae.start_server((peers.LOOPBACK, port), block=False))


@dataclass
class Fleet:
    live: list[EchoSCP]
    refused: int
    silent: int
    dropped: int
    sockets: list[socket.socket] = field(default_factory=list)

    @property
    def live_ids(self) -> list[str]:
        return [scp.target_text() for scp in self.live]

    @property
    def ids(self) -> list[str]:
        return [*self.live_ids, f"REFUSED@127.0.0.1:{self.refused}", f"SILENT@127.0.0.1:{self.silent}",
                f"DROPPED@127.0.0.1:{self.dropped}"]

    def playbook(self, folder: Path, timeout: float = TIMEOUT, extra: str = "") -> str:
        path = folder / f"fleet-{timeout:g}.yaml"
        targets = "".join(f"  - {t}\n" for t in self.ids)
        path.write_text(f"playbook: 1\nname: loopback-fleet\ndefaults: {{timeout: {timeout:g}{extra}}}\n"
                        f"targets:\n{targets}checks:\n  - net.reachable\n  - dimse.echo\n", encoding="utf-8")
        return str(path)


def _listener(backlog: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((peers.LOOPBACK, 0))
    s.listen(backlog)
    return s


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    pytest.importorskip("pynetdicom")
    live: list[EchoSCP] = []
    sockets: list[socket.socket] = []
    try:
        for i in range(LIVE):
            live.append(start_echo_scp(f"LIVE{i}"))
        # Accepts TCP (the kernel completes the handshake) but nobody ever reads: the A-ASSOCIATE-RQ goes
        # unanswered, like a hung server or one held by another client.
        silent = _listener(64)  # every run leaves two closed connections in its queue
        # backlog 0: the accept queue holds one connection; once it is taken, Linux drops further SYNs, so a
        # connect gets no answer at all and times out (a firewall's DROP, without touching the firewall).
        dropped = _listener(0)
        sockets += [silent, dropped]
        for _ in range(2):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(dropped.getsockname())
            sockets.append(filler)
        refused = peers.free_port()  # nothing listens there
        probe = socket.socket()
        probe.settimeout(0.5)
        try:
            probe.connect(dropped.getsockname())
            pytest.skip("this kernel does not drop SYNs on a full accept queue")
        except OSError:
            pass
        finally:
            probe.close()
        yield Fleet(live, refused, silent.getsockname()[1], dropped.getsockname()[1], sockets)
    finally:
        for scp in live:
            scp.stop()
        for s in sockets:
            s.close()


def _by_target(report: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for f in report["findings"]:
        out.setdefault(f["target"], {})[f["check"]] = f
    return out


def _check_verdicts(fleet: Fleet, report: dict[str, Any]) -> None:
    assert [t["id"] for t in report["targets"]] == fleet.ids  # every target, in playbook order
    verdicts = {t["id"]: t["verdict"] for t in report["targets"]}
    findings = _by_target(report)
    for tid in fleet.live_ids:
        assert verdicts[tid] == "pass", findings[tid]
        assert findings[tid]["dimse.echo"]["evidence"]["status"] == 0
    refused, silent, dropped = fleet.ids[LIVE:]
    assert findings[refused]["net.reachable"]["status"] == "fail"
    assert findings[refused]["net.reachable"]["evidence"]["outcome"] == "refused"
    assert findings[refused]["dimse.echo"]["status"] == "skip"
    assert findings[silent]["net.reachable"]["status"] == "pass"  # TCP works ...
    assert findings[silent]["dimse.echo"]["status"] == "fail"     # ... DICOM does not answer
    assert "association-timeout" in [c["id"] for c in findings[silent]["dimse.echo"]["causes"]]
    assert findings[dropped]["net.reachable"]["status"] == "fail"
    assert findings[dropped]["net.reachable"]["evidence"]["outcome"] == "timeout"
    assert findings[dropped]["dimse.echo"]["status"] == "skip"
    assert [verdicts[t] for t in (refused, silent, dropped)] == ["fail"] * 3
    assert report["verdict"] == "fail"
    assert report["summary"] == {"pass": 2 * LIVE + 1, "warn": 0, "fail": 3, "skip": 2, "error": 0}


# ------------------------------------------------------------------------------------- the real command

def test_fleet_run_one_report_exit_2_bounded_time(fleet: Fleet, tmp_path: Path) -> None:
    """A fresh process, as cron or CI runs it: imports, the run and the rendering all inside the bound."""
    path = fleet.playbook(tmp_path)
    # The bound is the subprocess timeout (a safety net); that the dead targets wait side by side, not one
    # after the other, is shown by event order in test_dead_targets_hold_up_no_one, not by a stopwatch.
    proc = subprocess.run([sys.executable, "-m", "dicomdoctor", "run", path, "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    _check_verdicts(fleet, report)


def test_dead_targets_hold_up_no_one(fleet: Fleet, tmp_path: Path) -> None:
    """Ordering, not stopwatch: every live target is done before either dead one gives up, and the two dead
    ones wait at the same time."""
    playbook = load_playbook(fleet.playbook(tmp_path), target_required=True)
    args = cli.build_parser().parse_args(["run", "x"])
    events: list[tuple[int, runner.RunEvent]] = []  # (sequence number, event): order, not time
    report = runner.run(playbook, None, _common.options_from_args(args, playbook),
                        on_event=lambda e: events.append((len(events), e)))
    assert report.exit_code == 2
    done = {e.target: t for t, e in events if e.kind == "target-done"}
    start = {e.target: t for t, e in events if e.kind == "target-start"}
    assert set(done) == set(fleet.ids)
    silent, dropped = fleet.ids[-2:]
    assert max(done[t] for t in fleet.live_ids) < min(done[silent], done[dropped])
    assert max(start[silent], start[dropped]) < min(done[silent], done[dropped])


# ------------------------------------------------------------------------------------ machine formats

def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out


def test_fleet_junit(fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.xml"
    code, _ = _run_cli(["run", fleet.playbook(tmp_path), "--format", "junit", "-o", str(out)], capsys)
    assert code == 2
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == fleet.ids  # one suite per target, in playbook order
    cases = [c for s in suites for c in s.findall("testcase")]
    assert len(cases) == 2 * len(fleet.ids) == int(root.get("tests", "0"))
    failed = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    assert len(failed) == 3 == int(root.get("failures", "0")) + int(root.get("errors", "0"))
    assert len([c for c in cases if c.find("skipped") is not None]) == 2 == int(root.get("skipped", "0"))
    for s in suites:
        assert int(s.get("tests", "0")) == 2
    silent = suites[LIVE + 1]
    failure = silent.find("testcase[@name='dimse.echo']/failure")
    assert failure is not None and failure.get("type") == "association-timeout" and failure.text


def test_fleet_nagios(fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _run_cli(["run", fleet.playbook(tmp_path), "--format", "nagios"], capsys)
    assert code == 2  # CRITICAL
    first, *long_text = text.rstrip("\n").split("\n")
    status, _, perfdata = first.partition(" | ")
    assert status.startswith("DICOMDOCTOR CRITICAL - ")
    assert f"across {len(fleet.ids)} targets" in status
    item = r"'((?:[^']|'')+)'=([0-9.]+)ms;;;0"
    assert re.fullmatch(rf"{item}(?: {item})*", perfdata), perfdata  # every perfdata item is well-formed
    labels = dict(re.findall(item, perfdata))
    for tid in fleet.live_ids:
        assert float(labels[f"{tid} echo_rtt_ms"]) >= 0
        assert f"{tid} connect_ms" in labels
    bad = [line for line in long_text if line.startswith(("FAIL", "ERROR", "WARN"))]
    assert len(bad) == 3
    assert all("|" not in line for line in long_text)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A strict reader of the text exposition format: HELP/TYPE before the samples of a family, one block per
    family, no duplicate series (node_exporter's textfile collector drops the whole file otherwise)."""
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    typed: set[str] = set()
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    current = None
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in families or name == current, f"family {name} split in two blocks"
            current = name
            families.setdefault(name, [])
            if line.startswith("# TYPE "):
                assert line.split()[3] in ("gauge", "counter", "untyped"), line
                typed.add(name)
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels = m.group(1), dict(_LABEL.findall(m.group(3) or ""))
        assert name == current and name in typed, f"{name} outside its family block"
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"duplicate series {key}"
        seen.add(key)
        families[name].append((labels, float(m.group(4))))
    return families


def test_fleet_prometheus(fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dicomdoctor.prom"
    code, _ = _run_cli(["run", fleet.playbook(tmp_path), "--format", "prometheus", "-o", str(out)],
                       capsys)
    assert code == 2
    fam = _prometheus(out.read_text(encoding="utf-8"))
    status = {lb["target"]: v for lb, v in fam["dicomdoctor_target_status"]}
    up = {lb["target"]: v for lb, v in fam["dicomdoctor_target_up"]}
    assert list(status) == fleet.ids
    refused, silent, dropped = fleet.ids[LIVE:]
    assert [status[t] for t in fleet.live_ids] == [0] * LIVE
    assert [status[t] for t in (refused, silent, dropped)] == [2, 2, 2]
    assert [up[t] for t in fleet.ids] == [1] * LIVE + [0, 0, 0]
    checks = {(lb["target"], lb["check"]): v for lb, v in fam["dicomdoctor_check_status"]}
    assert len(checks) == 2 * len(fleet.ids)
    assert checks[(refused, "dimse.echo")] == -1  # skipped
    assert checks[(silent, "net.reachable")] == 0 and checks[(silent, "dimse.echo")] == 2
    assert {lb["target"] for lb, _ in fam["dicomdoctor_echo_rtt_seconds"]} == set(fleet.live_ids)
    assert fam["dicomdoctor_verdict"][0][1] == 2


# ------------------------------------------------------------------------- concurrency (no network)

@pytest.fixture
def sleepy() -> Iterator[dict[str, int]]:
    state = {"now": 0, "peak": 0}
    with registry.isolated_registry():
        @check("fleet.sleep")
        async def sleep(ctx: CheckContext) -> CheckResult:
            import asyncio
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            for _ in range(20):  # yield to every other ready check: overlap by scheduling, not by a clock
                await asyncio.sleep(0)
            state["now"] -= 1
            return passed("slept")

        yield state


def _sleepy_playbook(folder: Path, defaults: str) -> str:
    path = folder / "sleepy.yaml"
    targets = "".join(f"  - T{i}@127.0.0.1:{1000 + i}\n" for i in range(12))
    path.write_text(textwrap.dedent(f"""\
        playbook: 1
        name: sleepy
        defaults: {{{defaults}}}
        targets:
        """) + targets + "checks: [fleet.sleep]\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("defaults, argv, peak", [
    ("", [], 12),                                  # default 32 > 12 targets: all at once
    ("concurrency: 3", [], 3),                     # the playbook's defaults
    ("concurrency: 3", ["--concurrency", "5"], 5),  # the command line wins
    ("", ["--concurrency", "1"], 1),
])
def test_concurrency_from_playbook_and_command_line(sleepy: dict[str, int], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str], defaults: str,
                                                    argv: list[str], peak: int) -> None:
    code, out = _run_cli(["run", _sleepy_playbook(tmp_path, defaults), "--format", "json", *argv], capsys)
    assert code == 0
    assert len(json.loads(out)["targets"]) == 12
    assert sleepy["peak"] == peak


def test_bad_concurrency_is_bad_input(sleepy: dict[str, int], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", _sleepy_playbook(tmp_path, ""), "--concurrency", "0"]) == 3
    assert "--concurrency" in capsys.readouterr().err
    assert cli.main(["run", _sleepy_playbook(tmp_path, "concurrency: 0")]) == 3
    assert "concurrency" in capsys.readouterr().err


def test_duplicate_targets_are_bad_input(sleepy: dict[str, int], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("playbook: 1\ntargets:\n  - PACS@127.0.0.1:104\n  - {host: 127.0.0.2}\n"
                    "  - {host: 127.0.0.1, called_ae: PACS, calling_ae: OTHER}\nchecks: [fleet.sleep]\n",
                    encoding="utf-8")
    assert cli.main(["run", str(path)]) == 3
    err = capsys.readouterr().err
    assert "targets 1 and 3 are both PACS@127.0.0.1:104" in err and "label" in err
    assert sleepy["peak"] == 0  # nothing ran
    path.write_text(path.read_text().replace("calling_ae: OTHER", "calling_ae: OTHER, label: pacs-as-other"))
    assert cli.main(["run", str(path), "--format", "json"]) == 0
    assert [t["id"] for t in json.loads(capsys.readouterr().out)["targets"]] == [
        "PACS@127.0.0.1:104", "ANY-SCP@127.0.0.2:104", "pacs-as-other"]


def test_name_resolution_does_not_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """getaddrinfo runs in the loop's default executor; asyncio's default (cores + 4 threads) would make a
    fleet's lookups wait behind each other. The run's executor is as wide as its concurrency."""
    import threading

    state = {"now": 0, "peak": 0}
    lock = threading.Lock()
    # All 12 lookups must be in their threads at once to pass the barrier: a narrower executor would leave
    # some queued, and the barrier would break (after a safety-net timeout), failing their checks.
    barrier = threading.Barrier(12)

    def blocking_lookup() -> None:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        barrier.wait(timeout=60)
        with lock:
            state["now"] -= 1

    with registry.isolated_registry():
        @check("fleet.resolve")
        async def resolve(ctx: CheckContext) -> CheckResult:
            import asyncio
            await asyncio.get_running_loop().run_in_executor(None, blocking_lookup)
            return passed("resolved")

        path = tmp_path / "resolve.yaml"
        targets = "".join(f"  - T{i}@host{i}.example.org\n" for i in range(12))
        path.write_text(f"playbook: 1\ntargets:\n{targets}checks: [fleet.resolve]\n", encoding="utf-8")
        assert cli.main(["run", str(path), "--concurrency", "12", "--format", "json"]) == 0
    capsys.readouterr()
    assert state["peak"] == 12


@pytest.mark.parametrize("argv, color", [
    ([], None),                    # the renderer decides: NO_COLOR, FORCE_COLOR, is stdout a terminal
    (["--no-color"], False),
    (["-o", "OUT"], False),        # a file never gets colour codes
])
def test_emit_leaves_colour_to_the_renderer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], argv: list[str],
                                           color: bool | None) -> None:
    from dicomdoctor import report as report_pkg
    from dicomdoctor.engine.model import Report

    seen: list[Any] = []

    def render(*args: Any, **kw: Any) -> str:
        seen.append(kw.get("color", "missing"))
        return "ok"

    monkeypatch.setattr(report_pkg, "render", render)
    argv = [str(tmp_path / "out.txt") if a == "OUT" else a for a in argv]
    args = cli.build_parser().parse_args(["run", "x", *argv])
    assert _common.emit(Report("p", "pass", 0.0, (), ()), args) == 0
    assert seen == [color]
    capsys.readouterr()


# -------------------------------------------------------------------------------- the shipped example

def test_shipped_fleet_example_loads() -> None:
    """Dry parse: the example must load (schema, check ids, TLS options) without touching the network."""
    pb = load_playbook("fleet-example", target_required=True)
    assert len(pb.targets) >= 8
    ids = [t.id for t in pb.targets]
    assert len(set(ids)) == len(ids)  # unique: they name JUnit suites and Prometheus series
    assert any(t.tls is not None for t in pb.targets) and any(t.tls is None for t in pb.targets)
    assert {"net.reachable", "dimse.echo"} <= set(pb.check_ids)
    assert not any(registry.get_check(c).writes for c in pb.check_ids)  # a fleet check must be read-only
    assert pb.defaults.get("concurrency")

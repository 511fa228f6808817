"""`dicomdoctor exporter` over HTTP on loopback, against real peers (our simulator, a pynetdicom SCP whose
C-ECHO handler the test holds): answers, bad queries, the deadline, no overlap per peer, bounded concurrency,
the command line. Every wait is on an event (a probe arriving or ending, a handler entered, a line printed);
the timeouts given are safety nets."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from dicomdoctor.exporter import ExporterThread, default_config, parse_config
from dicomdoctor.sim.server import SimulatorThread

SAFETY = 120.0


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=SAFETY) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, from the exposition text."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def families(text: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+)", text, flags=re.M))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread("SIM") as s:
        yield s


@pytest.fixture(scope="module")
def exporter() -> Iterator[ExporterThread]:
    with ExporterThread(default_config()) as e:
        yield e


def test_a_probe_answers_the_prometheus_series_and_success(sim: SimulatorThread, exporter: ExporterThread) -> None:
    from dicomdoctor.engine.playbook import load_playbook
    from dicomdoctor.engine.runner import run
    from dicomdoctor.report import render
    from dicomdoctor.target import parse_target

    code, text = get(f"{exporter.url}/probe?target={sim.target()}&playbook=quick",
                     {"X-Prometheus-Scrape-Timeout-Seconds": "10"})
    assert code == 200
    got = samples(text)
    assert got["dicomdoctor_probe_success"] == 1 and got["dicomdoctor_probe_deadline_seconds"] == 9.5
    assert got["dicomdoctor_probe_duration_seconds"] >= 0 and got["dicomdoctor_probe_deadline_exceeded"] == 0
    assert got[f'dicomdoctor_check_status{{target="{sim.target()}",check="dimse.echo"}}'] == 0
    # The same metric names as `dicomdoctor run --format prometheus` over the same playbook and target.
    cron = str(render(run(load_playbook("quick"), [parse_target(sim.target())]), "prometheus"))
    assert families(cron) <= families(text)
    assert families(text) - families(cron) == {"dicomdoctor_probe_success", "dicomdoctor_probe_duration_seconds",
                                               "dicomdoctor_probe_deadline_seconds",
                                               "dicomdoctor_probe_deadline_exceeded"}
    # The page lists it and links to its report; /metrics counts it.
    code, page = get(f"{exporter.url}/")
    assert code == 200 and sim.target() in page
    report_id = re.search(r'href="/report\?id=(\d+)"', page)
    assert report_id is not None
    code, report = get(f"{exporter.url}/report?id={report_id.group(1)}")
    assert code == 200 and sim.target() in report and "<html" in report.lower()
    code, own = get(f"{exporter.url}/metrics")
    assert code == 200 and samples(own)['dicomdoctor_exporter_probes_total{playbook="quick",result="success"}'] >= 1
    assert "process_resident_memory_bytes" in own


def test_a_failing_probe_is_a_metric_never_a_500(sim: SimulatorThread, exporter: ExporterThread) -> None:
    closed = sim.call(sim.sim.closed_port)
    code, text = get(f"{exporter.url}/probe?target=PACS@127.0.0.1:{closed}")
    assert code == 200
    got = samples(text)
    assert got["dicomdoctor_probe_success"] == 0
    assert got[f'dicomdoctor_check_status{{target="PACS@127.0.0.1:{closed}",check="net.reachable"}}'] == 2
    code, text = get(f"{exporter.url}/probe?target={sim.target('WRONG')}&playbook=standard")
    assert code == 200 and samples(text)["dicomdoctor_probe_success"] == 1  # the simulator ignores called AEs


@pytest.mark.parametrize("query, words", [
    ("/probe", "target parameter is missing"),
    ("/probe?target=PACS@127.0.0.1:notaport", "not a number"),
    ("/probe?target=ABCDEFGHIJKLMNOPQ@127.0.0.1:104", "16"),
    ("/probe?target=PACS@127.0.0.1:104&playbook=nosuch", "unknown playbook"),
    ("/probe?target=PACS@127.0.0.1:104&playbook=store", "unknown playbook"),  # writes: not served by default
    ("/report?id=999999", "no probe"),
    ("/nosuchpage", "no page"),
])
def test_bad_queries_get_4xx_with_the_reason(query: str, words: str, exporter: ExporterThread) -> None:
    code, text = get(exporter.url + query, {"X-Prometheus-Scrape-Timeout-Seconds": "5"})
    assert code in (400, 404) and words in text, (code, text)


def test_a_bad_scrape_timeout_header_is_400(exporter: ExporterThread, sim: SimulatorThread) -> None:
    code, text = get(f"{exporter.url}/probe?target={sim.target()}", {"X-Prometheus-Scrape-Timeout-Seconds": "soon"})
    assert code == 400 and "not a number" in text


def test_the_probe_keeps_to_the_scrape_deadline(tmp_path: Path) -> None:
    # A listener that never accepts: TCP connects, the A-ASSOCIATE-RQ is never answered. The configured
    # timeouts are an hour, so only the scrape deadline can end the probe before the safety net.
    config = parse_config("exporter: 1\ndefaults: {timeout: 3600, dimse_timeout: 3600}\n")
    with socket.socket() as silent, ExporterThread(config) as exp:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        target = f"PACS@127.0.0.1:{silent.getsockname()[1]}"
        code, text = get(f"{exp.url}/probe?target={target}&playbook=quick",
                         {"X-Prometheus-Scrape-Timeout-Seconds": "3"})
        assert code == 200
        got = samples(text)
        assert got["dicomdoctor_probe_success"] == 0 and got["dicomdoctor_probe_deadline_exceeded"] == 1
        assert got["dicomdoctor_probe_deadline_seconds"] == 2.5
        # The check the deadline cut is named, as an error.
        assert any(k.startswith("dicomdoctor_check_status") and v == 3 for k, v in got.items()), text
        _, own = get(f"{exp.url}/metrics")
        assert samples(own)["dicomdoctor_exporter_deadline_exceeded_total"] == 1


class HeldSCP:
    """A pynetdicom Verification SCP whose C-ECHO waits until the test releases it; it records how many
    associations were open at once."""

    def __init__(self, ae_title: str) -> None:
        from pynetdicom import AE, evt
        from pynetdicom.sop_class import Verification

        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.open = 0
        self.most_open = 0
        self.requested = 0
        self._lock = threading.Lock()
        ae = AE(ae_title=ae_title)
        ae.add_supported_context(Verification)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = SAFETY

        def on_open(event: Any) -> None:
            with self._lock:
                self.requested += 1
                self.open += 1
                self.most_open = max(self.most_open, self.open)

        def on_close(event: Any) -> None:
            with self._lock:
                self.open -= 1

        def on_echo(event: Any) -> int:
            self.entered.release()
            self.release.wait(SAFETY)
            return 0x0000

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.target = f"{ae_title}@127.0.0.1:{self.port}"
        self.server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=[
            (evt.EVT_REQUESTED, on_open), (evt.EVT_RELEASED, on_close), (evt.EVT_ABORTED, on_close),
            (evt.EVT_C_ECHO, on_echo)])

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()


def _echo_only(tmp_path: Path, concurrency: int) -> Any:
    (tmp_path / "echo.yaml").write_text("playbook: 1\nname: echo\nchecks: [dimse.echo]\n")
    return parse_config(f"exporter: 1\nmax_concurrency: {concurrency}\nplaybook: echo\n"
                        f"playbooks: {{echo: echo.yaml}}\n", source="exporter.yaml", folder=tmp_path)


def _probe_in_thread(url: str, out: list[tuple[int, str]]) -> threading.Thread:
    t = threading.Thread(target=lambda: out.append(get(url, {"X-Prometheus-Scrape-Timeout-Seconds": "100"})))
    t.start()
    return t


def test_probes_of_one_peer_never_overlap(tmp_path: Path) -> None:
    scp = HeldSCP("HELD")
    try:
        with ExporterThread(_echo_only(tmp_path, 8)) as exp:
            out: list[tuple[int, str]] = []
            first = _probe_in_thread(f"{exp.url}/probe?target={scp.target}", out)
            assert scp.entered.acquire(timeout=SAFETY)  # the first probe's C-ECHO is at the peer, held there
            second = _probe_in_thread(f"{exp.url}/probe?target={scp.target}", out)
            assert exp.wait_for_arrivals(2)
            assert exp.arrived[1][1] is True  # the second found its peer busy: it waits, it does not connect
            assert scp.requested == 1
            scp.release.set()
            first.join(SAFETY)
            second.join(SAFETY)
            assert [code for code, _ in out] == [200, 200]
            assert all(samples(text)["dicomdoctor_probe_success"] == 1 for _, text in out)
            assert scp.requested == 2 and scp.most_open == 1
    finally:
        scp.stop()


def test_total_concurrency_is_bounded(tmp_path: Path) -> None:
    one, two = HeldSCP("ONE"), HeldSCP("TWO")
    try:
        with ExporterThread(_echo_only(tmp_path, 1)) as exp:
            out: list[tuple[int, str]] = []
            first = _probe_in_thread(f"{exp.url}/probe?target={one.target}", out)
            assert one.entered.acquire(timeout=SAFETY)
            second = _probe_in_thread(f"{exp.url}/probe?target={two.target}", out)
            assert exp.wait_for_arrivals(2)
            assert two.requested == 0  # no slot: another peer, but it waits for the one probe running
            one.release.set()
            two.release.set()
            first.join(SAFETY)
            second.join(SAFETY)
            assert [samples(text)["dicomdoctor_probe_success"] for _, text in out] == [1, 1]
            _, own = get(f"{exp.url}/metrics")
            assert samples(own)["dicomdoctor_exporter_probes_in_flight_max"] == 1
    finally:
        one.stop()
        two.stop()


def test_config_targets_lend_their_options(tmp_path: Path) -> None:
    config = parse_config("exporter: 1\ndefaults: {calling_ae: MONITOR}\ntargets:\n"
                          "  - {host: 127.0.0.1, port: 4242, called_ae: ARCHIVE, calling_ae: WATCHER, label: arch}\n",
                          source="exporter.yaml", folder=tmp_path)
    known = config.target("127.0.0.1:4242")
    assert (known.called_ae, known.calling_ae, known.id) == ("ARCHIVE", "WATCHER", "arch")
    assert config.target("ARCHIVE@127.0.0.1:4242").label == "arch"
    assert config.target("OTHER@127.0.0.1:4242").label is None  # another AE title: not that target
    other = config.target("PACS@127.0.0.1:104")
    assert (other.called_ae, other.calling_ae) == ("PACS", "MONITOR")


@pytest.mark.parametrize("text, words", [
    ("exporter: 2\n", "exporter: 1"),
    ("exporter: 1\nmax_concurrency: 0\n", "exporter.yaml:2: max_concurrency"),
    ("exporter: 1\nplaybooks: {x: nosuch}\n", "exporter.yaml:2"),
    ("exporter: 1\nbogus: 1\n", "unknown key 'bogus'"),
    ("exporter: 1\ntargets:\n  - {host: h, port: 99999}\n", "exporter.yaml:3"),
])
def test_bad_config_is_one_message_with_file_and_line(text: str, words: str, tmp_path: Path) -> None:
    from dicomdoctor.errors import BadInput

    with pytest.raises(BadInput) as exc:
        parse_config(text, source="exporter.yaml", folder=tmp_path)
    assert words in str(exc.value)


def test_the_command_line_serves_until_terminated(sim: SimulatorThread, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dicomdoctor", "exporter", "--listen", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # printed once it listens
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)/", line)
        assert m, line
        code, text = get(f"{m.group(1)}/probe?target={sim.target()}")
        assert code == 200 and samples(text)["dicomdoctor_probe_success"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(SAFETY) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    bad = tmp_path / "bad.yaml"
    bad.write_text("exporter: 1\nhistory: -1\n")
    done = subprocess.run([sys.executable, "-m", "dicomdoctor", "exporter", "--config", str(bad)],
                          capture_output=True, text=True, timeout=SAFETY)
    assert done.returncode == 3 and f"{bad}:2" in done.stderr and "Traceback" not in done.stderr

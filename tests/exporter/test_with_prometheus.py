"""A real Prometheus server (Debian's `prometheus`) scrapes the exporter on loopback, with the multi-target
relabelling of docs/monitoring.md, against our simulator, Orthanc 1.10 and a closed port; the test reads the
series back through Prometheus's HTTP API.

No sleeps: after each probe the exporter answers (an event the test waits on), the test asks the API; a
sample not there yet is asked for again after the next probe. Prometheus's readiness is a port and a
/-/ready answer. The overall guard only ends a hung test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from dicomdoctor.exporter import ExporterThread, default_config
from dicomdoctor.sim.server import SimulatorThread

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import peers  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
GUARD = 180.0
INTERVAL = "3s"  # scrape_interval = scrape_timeout: the exporter gets 3 - 0.5 s per probe


def prometheus_yml(exporter: str, targets: list[str], job: str = "dicom") -> str:
    """The docs/monitoring.md configuration, with loopback addresses and a short interval."""
    return json.dumps({  # JSON is YAML
        "global": {"scrape_interval": INTERVAL, "scrape_timeout": INTERVAL, "evaluation_interval": INTERVAL},
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/probe", "params": {"playbook": ["quick"]},
             "static_configs": [{"targets": targets}],
             "relabel_configs": [
                 {"source_labels": ["__address__"], "target_label": "__param_target"},
                 {"source_labels": ["__param_target"], "target_label": "instance"},
                 {"target_label": "__address__", "replacement": exporter}]},
            {"job_name": "dicomdoctor_exporter", "static_configs": [{"targets": [exporter]}]},
        ]})


class Prometheus:
    def __init__(self, workdir: Path, config: str) -> None:
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.skip(f"{PROMETHEUS} is not installed (Debian package prometheus)")
        self.port = peers.free_port()
        (workdir / "prometheus.yml").write_text(config)
        self.log = workdir / "prometheus.log"
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))
        peers.wait_port("127.0.0.1", self.port, GUARD, self.proc, self.log)

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                body = json.load(r)
        except urllib.error.HTTPError as exc:
            if exc.code == 503:  # still starting (TSDB): it scrapes only once ready, so the next probe says when
                return []
            raise
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Any]:
    started: list[Prometheus] = []

    def start(config: str) -> Prometheus:
        started.append(Prometheus(tmp_path, config))
        return started[-1]

    yield start
    for p in started:
        p.stop()


def read_back(prom: Prometheus, exp: ExporterThread, expr: str, want: str) -> list[dict[str, Any]]:
    """The series of `expr` once one has the value `want`; asked again after each probe the exporter answers."""
    seen = 0
    last: list[dict[str, Any]] = []
    while True:
        last = prom.query(expr)
        if any(r["value"][1] == want for r in last):
            return last
        got = exp.wait_for_probe(lambda r: True, after=seen, timeout=GUARD)
        assert got is not None, f"no scrape came (Prometheus log: {prom.log.read_text()[-2000:]})"
        seen = len(exp.results)
        if seen > 200:
            raise AssertionError(f"{expr} never became {want}: {last}")


@pytest.mark.interop
def test_prometheus_scrapes_the_simulator_orthanc_and_a_dead_port(prometheus: Any, orthanc: Any) -> None:
    pacs = orthanc()
    with SimulatorThread("SIM") as sim, ExporterThread(default_config()) as exp:
        dead = f"DEAD@127.0.0.1:{sim.call(sim.sim.closed_port)}"
        targets = [sim.target(), pacs.target_text(), dead]
        prom = prometheus(prometheus_yml(f"127.0.0.1:{exp.port}", targets))
        for target in (sim.target(), pacs.target_text()):
            found = read_back(prom, exp, f'dicomdoctor_probe_success{{instance="{target}"}}', "1")
            assert found[0]["metric"]["job"] == "dicom"
            echo = read_back(prom, exp, f'dicomdoctor_check_status{{instance="{target}",check="dimse.echo"}}', "0")
            assert echo[0]["metric"]["target"] == target
            read_back(prom, exp, f'dicomdoctor_target_up{{instance="{target}"}}', "1")
        # A dead peer is a metric (probe_success 0), the scrape itself is fine (up 1): never a 500.
        read_back(prom, exp, f'dicomdoctor_probe_success{{instance="{dead}"}}', "0")
        read_back(prom, exp, f'up{{job="dicom",instance="{dead}"}}', "1")
        read_back(prom, exp, f'dicomdoctor_check_status{{instance="{dead}",check="net.reachable"}}', "2")
        # The exporter's own /metrics, scraped as a second job.
        own = read_back(prom, exp, 'up{job="dicomdoctor_exporter"}', "1")
        assert own
        # Scraped after a successful probe (the exporter job's first scrape may precede every probe).
        read_back(prom, exp, 'count(dicomdoctor_exporter_probes_total{result="success",playbook="quick"})', "1")
        # Orthanc serves one association at a time: the exporter never overlapped probes of one peer, so
        # none of its probes failed for that reason.
        bad = [r for r in exp.results if r.target.port == pacs.port and not r.success]
        assert not bad, [r.first_problem.summary if r.first_problem else r.outcome for r in bad]

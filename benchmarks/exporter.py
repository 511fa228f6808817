"""The exporter under a real Prometheus vs `dicomdoctor run --format prometheus` from cron, same targets.

Starts N (default 200) simulators on loopback ports (one helper process, one event loop), then:

  1. `dicomdoctor exporter` (its own process) and Debian's `prometheus` scraping it with the multi-target
     relabelling of docs/monitoring.md, every --interval (15 s) for --duration (120 s), playbook `quick`;
     measured on the exporter process: CPU seconds (utime + stime from /proc), probes answered and their
     success (its /metrics), peak RSS (VmHWM).
  2. "cron": one `python -m dicomdoctor run fleet.yaml --format prometheus -o FILE` process per interval over
     the same N targets and the same checks, for the same duration; measured per process (wait4): CPU and
     peak RSS.

Prints CPU seconds per probe for both, their ratio, and the peak RSS of each. Loopback only.

    python benchmarks/exporter.py [--targets 200] [--interval 15] [--duration 120] [--keep DIR]

Exit code 0 when every probe of both ran and passed, 1 otherwise, 2 when a tool is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = "/usr/bin/prometheus"
AE = "SIM"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------- simulator farm

async def _farm(count: int) -> None:
    from dicomdoctor.sim.server import Simulator

    sims = [Simulator(AE) for _ in range(count)]
    for sim in sims:
        await sim.start()
    print(json.dumps([s.port for s in sims]), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    for sim in sims:
        await sim.close()


def start_farm(count: int) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen([sys.executable, __file__, "--farm", str(count)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    ports = json.loads(proc.stdout.readline())
    return proc, ports


# ------------------------------------------------------------------------------------------ measuring

def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm(pid: int) -> int:
    m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1)) * 1024 if m else 0


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read().decode()


def sample(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def prometheus_yml(exporter: str, targets: list[str], interval: float) -> str:
    return json.dumps({
        "global": {"scrape_interval": f"{interval:g}s", "scrape_timeout": f"{min(interval, 10):g}s"},
        "scrape_configs": [{
            "job_name": "dicom", "metrics_path": "/probe", "params": {"playbook": ["quick"]},
            "static_configs": [{"targets": targets}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": exporter}]}]})


def run_exporter(work: Path, targets: list[str], interval: float, duration: float) -> dict[str, float]:
    port = free_port()
    (work / "exporter.yaml").write_text("exporter: 1\nmax_concurrency: 16\nhistory: 50\n")
    exp = subprocess.Popen([sys.executable, "-m", "dicomdoctor", "exporter", "--listen", f"127.0.0.1:{port}",
                            "--config", str(work / "exporter.yaml")], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert exp.stderr is not None
    exp.stderr.readline()  # "listening on ..."
    url = f"http://127.0.0.1:{port}"
    get(f"{url}/probe?target={targets[0]}")  # warm: the first probe loads pydicom's dictionaries
    cpu0, own0 = proc_cpu(exp.pid), get(f"{url}/metrics")
    prom_port = free_port()
    (work / "prometheus.yml").write_text(prometheus_yml(f"127.0.0.1:{port}", targets, interval))
    prom = subprocess.Popen([PROMETHEUS, f"--config.file={work / 'prometheus.yml'}",
                             f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=open(work / "prom.log", "wb"))
    try:
        time.sleep(duration)  # a benchmark runs for a duration by definition (not a test)
        cpu1, own1 = proc_cpu(exp.pid), get(f"{url}/metrics")
        hwm = proc_hwm(exp.pid)
    finally:
        prom.terminate()
        prom.wait(30)
        exp.terminate()
        exp.wait(30)
    probes = sample(own1, "dicomdoctor_exporter_probes_total") - sample(own0, "dicomdoctor_exporter_probes_total")
    ok = (sample(own1, 'dicomdoctor_exporter_probes_total{playbook="quick",result="success"}')
          - sample(own0, 'dicomdoctor_exporter_probes_total{playbook="quick",result="success"}'))
    return {"cpu": cpu1 - cpu0, "probes": probes, "ok": ok, "peak_rss": hwm,
            "deadline": sample(own1, "dicomdoctor_exporter_deadline_exceeded_total")}


def run_cron(work: Path, targets: list[str], interval: float, duration: float) -> dict[str, float]:
    fleet = work / "fleet.yaml"
    fleet.write_text("playbook: 1\nname: fleet\ntargets:\n" + "".join(f"  - {t}\n" for t in targets)
                     + "checks: [net.reachable, dimse.echo]\n")
    runs, ok, probes, cpu, peak = 0, 0.0, 0.0, 0.0, 0
    start = time.monotonic()
    while time.monotonic() - start < duration:
        tick = time.monotonic()
        out = work / "dicomdoctor.prom"
        proc = subprocess.Popen([sys.executable, "-m", "dicomdoctor", "run", str(fleet), "--format", "prometheus",
                                 "-o", str(out)], cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)  # this run's own CPU and peak RSS
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        peak = max(peak, usage.ru_maxrss * 1024)
        text = out.read_text()
        runs += 1
        probes += len(targets)
        ok += sum(1 for line in text.splitlines() if line.startswith("dicomdoctor_target_up") and line.endswith(" 1"))
        time.sleep(max(0.0, interval - (time.monotonic() - tick)))  # cron: the next run at the next interval
    return {"cpu": cpu, "probes": probes, "ok": ok, "runs": runs, "peak_rss": peak}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument("--keep", default=None, help="keep the work folder (configs, logs) here")
    ap.add_argument("--farm", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.farm:
        asyncio.run(_farm(args.farm))
        return 0
    if not os.access(PROMETHEUS, os.X_OK):
        print(f"{PROMETHEUS} is missing (apt-get install prometheus)", file=sys.stderr)
        return 2
    work = Path(args.keep or tempfile.mkdtemp(prefix="dd-bench-exporter-"))
    work.mkdir(parents=True, exist_ok=True)
    farm, ports = start_farm(args.targets)
    try:
        targets = [f"{AE}@127.0.0.1:{p}" for p in ports]
        exp = run_exporter(work, targets, args.interval, args.duration)
        cron = run_cron(work, targets, args.interval, args.duration)
    finally:
        assert farm.stdin is not None
        farm.stdin.close()
        farm.wait(60)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    e_per = exp["cpu"] / exp["probes"] if exp["probes"] else float("nan")
    c_per = cron["cpu"] / cron["probes"] if cron["probes"] else float("nan")
    print(f"targets {args.targets}, every {args.interval:g} s for {args.duration:g} s, playbook quick, "
          f"{os.cpu_count()} cores")
    print(f"exporter + prometheus: {exp['probes']:.0f} probes ({exp['ok']:.0f} passed, {exp['deadline']:.0f} cut "
          f"by the deadline), exporter CPU {exp['cpu']:.2f} s = {e_per * 1000:.2f} ms/probe, "
          f"peak RSS {exp['peak_rss'] / 2**20:.0f} MiB")
    print(f"cron (run per interval): {cron['runs']:.0f} runs, {cron['probes']:.0f} probes ({cron['ok']:.0f} up), "
          f"CPU {cron['cpu']:.2f} s = {c_per * 1000:.2f} ms/probe, peak RSS of one run "
          f"{cron['peak_rss'] / 2**20:.0f} MiB")
    print(f"CPU per probe, exporter / cron: {e_per / c_per:.2f}x")
    good = exp["probes"] > 0 and exp["ok"] == exp["probes"] and cron["ok"] == cron["probes"]
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())

"""Fleet check: `dicomdoctor run` over many peers at once vs a shell loop of dcmtk's echoscu, one peer after another.

Starts N (default 50) dcmtk `storescp --ignore` processes on free loopback ports, writes a fleet playbook that
runs net.reachable + dimse.echo (what `quick` does) against all of them, then times, in the same run and
interleaved:

  * `python -m dicomdoctor run fleet.yaml --format json` -- one fresh process, imports included, and
  * `for p in PORTS; do /usr/bin/echoscu -aec ANY-SCP 127.0.0.1 $p; done` -- the script people write today.

Both must succeed against every peer (our report must say `pass` for all N targets). Prints the best and the
median of --repeat runs of each, the ratio ours/loop, and how much of our time is start-up (the report's own
`duration_ms` is the time spent checking).

    python benchmarks/fleet.py [--targets 50] [--repeat 3] [--concurrency 32] [--keep DIR]

Goal: ours <= 0.2x the loop's time (median). Exit code 0 when the goal is met, 1 when not, 2 on a failed run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORESCP = "/usr/bin/storescp"  # absolute: pynetdicom installs Python scripts of the same names in PATH
ECHOSCU = "/usr/bin/echoscu"
AE = "ANY-SCP"
GOAL = 0.2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_peers(count: int, log_dir: Path) -> list[tuple[int, subprocess.Popen[bytes]]]:
    """`count` storescp processes, each on its own free port; returns once every port accepts."""
    peers: list[tuple[int, subprocess.Popen[bytes]]] = []
    used: set[int] = set()
    try:
        for _ in range(count):
            port = free_port()
            while port in used:  # the kernel may hand out a just-closed port again before storescp binds it
                port = free_port()
            used.add(port)
            log = open(log_dir / f"storescp-{port}.log", "wb")  # noqa: SIM115 - closed with the process
            proc = subprocess.Popen([STORESCP, "--ignore", "-aet", AE, str(port)], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            peers.append((port, proc))
        deadline = time.monotonic() + 20
        for port, proc in peers:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"storescp on port {port} exited with {proc.returncode} "
                                       f"(see {log_dir}/storescp-{port}.log)")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break  # closed at once: storescp serves one association at a time
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"storescp did not open port {port} within 20 s") from None
                    time.sleep(0.02)
        time.sleep(0.2)
        dead = [port for port, proc in peers if proc.poll() is not None]
        if dead:  # e.g. another program took the port between free_port() and storescp's bind
            raise RuntimeError(f"storescp exited on ports {dead} (see the logs in {log_dir})")
    except BaseException:
        stop_peers(peers)
        raise
    return peers


def stop_peers(peers: list[tuple[int, subprocess.Popen[bytes]]]) -> None:
    for _, proc in peers:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for _, proc in peers:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)


def write_playbook(path: Path, ports: list[int], concurrency: int) -> None:
    lines = ["playbook: 1", "name: fleet-benchmark",
             "description: net.reachable + dimse.echo over local storescp processes",
             f"defaults: {{timeout: 5, concurrency: {concurrency}}}", "targets:"]
    lines += [f"  - {AE}@127.0.0.1:{p}" for p in ports]
    lines += ["checks:", "  - net.reachable", "  - dimse.echo", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def run_ours(playbook: Path, count: int) -> tuple[float, float]:
    """Wall time of one `dicomdoctor run`, and the report's own duration (checking only), in seconds."""
    argv = [sys.executable, "-m", "dicomdoctor", "run", str(playbook), "--format", "json"]
    t0 = time.perf_counter()
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, timeout=300)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"dicomdoctor exited {res.returncode}: {res.stderr.decode(errors='replace')[-800:]}"
                           f"{res.stdout.decode(errors='replace')[-1500:]}")
    report = json.loads(res.stdout)
    passed = [t for t in report["targets"] if t["verdict"] == "pass"]
    if len(passed) != count:
        raise RuntimeError(f"only {len(passed)} of {count} targets passed")
    return wall, report["duration_ms"] / 1000


def run_loop(ports: list[int]) -> float:
    script = (f'for p in {" ".join(map(str, ports))}; do '
              f'{ECHOSCU} -aec {AE} 127.0.0.1 "$p" || exit 1; done')
    t0 = time.perf_counter()
    res = subprocess.run(["/bin/bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=600)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"echoscu loop failed: {res.stdout.decode(errors='replace')[-800:]}")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=50, help="number of storescp peers (default 50)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each tool, interleaved (default 3)")
    ap.add_argument("--concurrency", type=int, default=32, help="the playbook's defaults.concurrency (32)")
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR",
                    help="write the playbook and peer logs to DIR and keep them (default: a temp dir, removed)")
    args = ap.parse_args()
    for tool in (STORESCP, ECHOSCU):
        if not os.access(tool, os.X_OK):
            print(f"{tool} is not installed (dcmtk)", file=sys.stderr)
            return 2

    work = args.keep or Path(tempfile.mkdtemp(prefix="dd-fleet-"))
    work.mkdir(parents=True, exist_ok=True)
    peers: list[tuple[int, subprocess.Popen[bytes]]] = []
    try:
        t0 = time.perf_counter()
        peers = start_peers(args.targets, work)
        ports = [p for p, _ in peers]
        print(f"{len(ports)} storescp peers on 127.0.0.1 up in {time.perf_counter() - t0:.2f} s")
        playbook = work / "fleet.yaml"
        write_playbook(playbook, ports, args.concurrency)

        run_ours(playbook, len(ports))  # warm-up, not timed: .pyc files, page cache
        run_loop(ports[:3])
        ours: list[float] = []
        checking: list[float] = []
        loop: list[float] = []
        for _ in range(max(1, args.repeat)):
            wall, inner = run_ours(playbook, len(ports))
            ours.append(wall)
            checking.append(inner)
            loop.append(run_loop(ports))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    finally:
        stop_peers(peers)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    o_med, l_med = statistics.median(ours), statistics.median(loop)
    c_med = statistics.median(checking)
    ratio = o_med / l_med
    print(f"\n{'':34} {'best s':>8} {'median s':>9}   ({args.repeat} runs each, {len(ports)} targets)")
    print(f"{'dicomdoctor run (fresh process)':34} {min(ours):8.2f} {o_med:9.2f}")
    print(f"{'  of which checking (report)':34} {min(checking):8.2f} {c_med:9.2f}"
          f"   start-up, import and rendering: {o_med - c_med:.2f} s")
    print(f"{'echoscu loop (sequential)':34} {min(loop):8.2f} {l_med:9.2f}"
          f"   {l_med / len(ports) * 1000:.0f} ms per peer")
    verdict = "meets" if ratio <= GOAL else "MISSES"
    print(f"\nratio ours/loop: {ratio:.3f} (median), {min(ours) / min(loop):.3f} (best) -- "
          f"{verdict} the goal of <= {GOAL}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The whole-run deadline: every command with `--timeout T` against a silent peer ends within T + 1 s.

Starts the two silent peers of `tests/silentpeers.py` on loopback -- one that accepts TCP and never answers,
one that answers the A-ASSOCIATE-RQ with an A-ASSOCIATE-AC and then never answers again -- and runs
`diagnose`, `echo`, `store`, `find`, `move` and `get` against each as a fresh process, `--format json`.
Prints, per command and peer, the wall time, the report's own `duration_ms` (the checking, start-up aside),
both as a ratio of T, the exit code and the first cause of the failing finding.

    python benchmarks/deadline.py [--timeout 3] [--repeat 1] [--commands echo,store,...]

Goal: duration <= T + 1 s for every run (start-up aside: the interpreter and imports are not the peer's
fault), exit code 2, and the first cause association-timeout (silent from the start) or dimse-timeout
(silent after the A-ASSOCIATE-AC). Exit 0 when every run meets it, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from silentpeers import SilentPeer  # noqa: E402

COMMANDS = ("diagnose", "echo", "store", "find", "move", "get")
EXPECTED = {"accept": "association-timeout", "after-ac": "dimse-timeout"}


def synthetic_file(folder: Path) -> Path:
    from dicomdoctor.synthetic import make_instance, to_part10_bytes

    path = folder / "ct.dcm"
    path.write_bytes(to_part10_bytes(make_instance("CT", rows=16, cols=16)))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def argv_for(command: str, target: str, timeout: float, dcm: Path, out: Path) -> list[str]:
    base = [sys.executable, "-m", "dicomdoctor", command, target]
    extra: dict[str, list[str]] = {
        "store": [str(dcm)],
        "find": ["--level", "STUDY", "-k", "PatientID=BENCH01"],
        "move": ["--level", "STUDY", "-k", "StudyInstanceUID=1.2.3.4", "--dest", "DOCTOR", "--listen",
                 str(free_port()), "--out", str(out)],
        "get": ["--level", "STUDY", "-k", "StudyInstanceUID=1.2.3.4", "--out", str(out)],
    }
    return [*base, *extra.get(command, []), "--timeout", f"{timeout:g}", "--format", "json"]


def first_failure(report: dict[str, Any]) -> tuple[str, str]:
    for f in report.get("findings", []):
        if f["status"] in ("fail", "error"):
            causes = [c["id"] for c in f.get("causes", [])]
            return f["check"], causes[0] if causes else "-"
    return "-", "-"


def run_once(argv: list[str], limit: float) -> tuple[float, int, dict[str, Any]]:
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=limit, cwd=ROOT)
    wall = time.monotonic() - t0
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = {"error": (proc.stderr or proc.stdout)[-300:]}
    return wall, proc.returncode, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=3.0, help="the --timeout T given to every command")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--commands", default=",".join(COMMANDS))
    args = ap.parse_args()
    commands = [c for c in args.commands.split(",") if c]
    t = args.timeout
    ok = True
    startup = []
    for _ in range(3):  # start-up alone: the same interpreter, imports and knowledge base, no peer
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "dicomdoctor", "explain", "0xA700", "--format", "json"],
                       capture_output=True, cwd=ROOT)
        startup.append(time.monotonic() - t0)
    print(f"T = {t:g} s; start-up (explain 0xA700): {min(startup):.2f} s best of 3")
    print(f"{'peer':9} {'command':9} {'wall s':>7} {'wall/T':>7} {'check s':>8} {'check/T':>8} "
          f"{'(T+1)/T':>8}  rc  finding -> first cause")
    with tempfile.TemporaryDirectory() as tmp:
        dcm = synthetic_file(Path(tmp))
        for mode in ("accept", "after-ac"):
            for command in commands:
                for _ in range(args.repeat):
                    with SilentPeer(mode) as peer:
                        argv = argv_for(command, peer.target(), t, dcm, Path(tmp) / f"out-{command}")
                        wall, rc, report = run_once(argv, limit=t * 10 + 30)
                    check_s = float(report.get("duration_ms", 0.0)) / 1000.0
                    check, cause = first_failure(report)
                    good = check_s <= t + 1.0 and rc == 2 and cause == EXPECTED[mode]
                    ok = ok and good
                    print(f"{mode:9} {command:9} {wall:7.2f} {wall / t:7.2f} {check_s:8.2f} {check_s / t:8.2f} "
                          f"{(t + 1) / t:8.2f}  {rc:2}  {check} -> {cause}{'' if good else '   <-- goal missed'}")
    print("goal met: every run ended within T + 1 s with exit 2 and the expected cause" if ok else
          "goal NOT met (see the marked rows)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

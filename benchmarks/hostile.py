"""Run every SCU command and `diagnose` against every hostile peer (benchmarks/hostile_peers.py) and print,
per case: wall time, exit code, the failing finding's check and first cause, the peak RSS of the
dicomdoctor process (its own VmHWM, polled from /proc) and whether the case is within its bounds.

    python benchmarks/hostile.py [--timeout 5] [--cases frag-tiny,pending-forever] [--commands echo,find]

Goal (issue 17): every run ends before its deadline with exit 2 and a finding, peak RSS < 150 MB. The
deadline printed is the longest any one check may take with these options (the runner's check budget);
exit status 0 when every case met the goal, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from hostile_peers import CASES, HostilePeer, run_measured  # noqa: E402

COMMANDS = ("echo", "store", "find", "find-cancel", "move", "get", "diagnose")
# The commands each case is about (a case not listed here is run with every command).
APPLIES = {"bad-uids": ("move", "get")}
# Exit codes that meet the goal, per case (default 2). bad-uids: the peer itself answers C-MOVE with 0xB000
# (warning: some sub-operations failed), which the move check reports as a warning, exit 1.
EXPECTED_EXIT = {"bad-uids": (1, 2)}
RSS_LIMIT_MB = 150.0
STARTUP_ALLOWANCE = 8.0  # seconds: interpreter start-up, imports, report and exit on a loaded 2-core machine


def command_line(command: str, port: int, timeout: float, out: Path, listen: int) -> list[str]:
    target = f"HOSTILE@127.0.0.1:{port}"
    base = [sys.executable, "-m", "dicomdoctor"]
    common = ["--timeout", str(timeout), "--dimse-timeout", str(timeout), "--format", "json"]
    if command == "store":
        return base + ["store", target, "--synthetic", "2"] + common
    if command == "find":
        return base + ["find", target, "-k", "PatientID="] + common
    if command == "find-cancel":
        return base + ["find", target, "-k", "PatientID=", "--max-results", "3"] + common
    if command == "move":
        return base + ["move", target, "-k", "StudyInstanceUID=1.2.3", "--listen", str(listen),
                       "--out", str(out / "move")] + common
    if command == "get":
        return base + ["get", target, "-k", "StudyInstanceUID=1.2.3", "--out", str(out / "get")] + common
    return base + [command, target] + common


def run_one(argv: list[str], limit: float) -> dict[str, Any]:
    """One run: wall time, exit code, the first failing finding and its cause, and the peak RSS of exactly
    that process (its VmHWM, hostile_peers.run_measured)."""
    rc, stdout, stderr, wall, peak_kb = run_measured(argv, limit + 30)
    finding, cause = "", ""
    try:
        report = json.loads(stdout)
        for f in sorted(report.get("findings", []), key=lambda f: f.get("status") != "fail"):
            if f.get("status") in ("fail", "error", "warn"):
                finding = f"{f['check']}:{f['status']}"
                cause = (f.get("causes") or [{}])[0].get("id", "")
                break
    except (ValueError, TypeError):
        finding = (stderr.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1][:60]
    return {"wall_s": wall, "exit": rc, "finding": finding, "cause": cause, "rss_mb": peak_kb / 1024.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--commands", default=",".join(COMMANDS))
    a = ap.parse_args()
    # The command's own deadline (--deadline, default 4 x (--timeout + --dimse-timeout), commands/_common.py)
    # plus STARTUP_ALLOWANCE for starting Python, writing the report and exiting: the wall time measured here
    # is the whole process, not only the run the deadline bounds.
    deadline = 4 * (a.timeout + a.timeout) + STARTUP_ALLOWANCE
    ok = True
    print(f"{'case':18} {'command':12} {'wall s':>7} {'exit':>4} {'RSS MB':>7}  finding / cause")
    with tempfile.TemporaryDirectory(prefix="dd-hostile-") as tmp:
        for case in a.cases.split(","):
            for command in a.commands.split(","):
                if command not in APPLIES.get(case, COMMANDS):
                    continue
                listen = _free_port()
                with HostilePeer(case, move_port=listen) as peer:
                    argv = command_line(command, peer.port, a.timeout, Path(tmp) / case, listen)
                    res = run_one(argv, deadline)
                good = res["exit"] in EXPECTED_EXIT.get(case, (2,)) and bool(res["finding"]) \
                    and res["rss_mb"] < RSS_LIMIT_MB \
                    and res["wall_s"] <= deadline
                ok &= good
                print(f"{case:18} {command:12} {res['wall_s']:7.1f} {res['exit']:4} {res['rss_mb']:7.1f}  "
                      f"{res['finding']} / {res['cause']}{'' if good else '   <-- NOT MET'}", flush=True)
    print(f"deadline per run {deadline:g} s, RSS limit {RSS_LIMIT_MB:g} MB: {'all met' if ok else 'NOT all met'}")
    return 0 if ok else 1


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())

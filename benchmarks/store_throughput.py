"""C-STORE throughput: dicomdoctor's SCU against dcmtk's storescu and pynetdicom's storescu.

Generates synthetic CT Part-10 files (default 200 x 512x512x16-bit = 100+ MB; never patient data), starts
/usr/bin/storescp --ignore on a free loopback port, then sends all files over one association with each tool,
in the same run, and prints times and ratios. Our SCU is timed as a fresh process too (imports included), so
the comparison with the two command-line tools is fair; the in-process time is shown as well.

    python benchmarks/store_throughput.py [--count 200] [--rows 512] [--max-pdu 16384] [--repeat 3]

Goal: ours <= 1.0x dcmtk and <= 0.5x pynetdicom.

Why dcmtk is slow here: storescp writes each C-STORE-RSP in two pieces (PDU header, then the rest) with Nagle
on; the sender's kernel delays its ACK of the first piece (~40 ms), so every instance waits. Our channel sets
TCP_QUICKACK after each request and read, which removes the stall; `--no-quickack-row` shows ours without it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STORESCP = "/usr/bin/storescp"
STORESCU = "/usr/bin/storescu"
CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_files(directory: Path, count: int, rows: int, cols: int) -> list[Path]:
    """One synthetic instance, re-used with fresh UIDs (generating pixels per file would time pydicom)."""
    from pydicom.uid import generate_uid

    from dicomdoctor.synthetic import make_instance, to_part10_bytes
    directory.mkdir(parents=True, exist_ok=True)
    base = make_instance("CT", rows, cols)
    study, series = generate_uid(), generate_uid()
    paths = []
    for i in range(count):
        base.SOPInstanceUID = generate_uid()
        base.StudyInstanceUID, base.SeriesInstanceUID, base.InstanceNumber = study, series, i + 1
        p = directory / f"ct{i:04d}.dcm"
        p.write_bytes(to_part10_bytes(base))
        paths.append(p)
    return paths


async def send_all(host: str, port: int, called_ae: str, files: list[str], max_pdu: int) -> int:
    from dicomdoctor.net import Timeouts, associate
    from dicomdoctor.target import Target

    target = Target(host, port, called_ae)
    ok = 0
    async with await associate(target, [(CT, [EXPLICIT_LE])], max_pdu=max_pdu,
                               timeouts=Timeouts(5, 10, 60, 10)) as assoc:
        for f in files:
            rsp = await assoc.store(f)
            ok += rsp.ok
    return ok


def start_storescp(port: int, max_pdu: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([STORESCP, "--ignore", "-pdu", str(max_pdu), "-aet", "STORESCP", str(port)],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("storescp did not start")


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed ({res.returncode}): {res.stdout.decode(errors='replace')[-800:]}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--cols", type=int, default=512)
    ap.add_argument("--max-pdu", type=int, default=16384, help="storescp's (and our) maximum PDU length")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool; the best is kept")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the files (default: a tmp dir)")
    ap.add_argument("--no-quickack-row", action="store_true",
                    help="also time ours without TCP_QUICKACK (shows the 40 ms/instance delayed-ACK stall)")
    ap.add_argument("--no-quickack", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--send-only", nargs=3, metavar=("HOST", "PORT", "AE"), help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.send_only:  # the child process timed below: import, associate, send, release
        host, port, ae = args.send_only
        if args.no_quickack:
            from dicomdoctor.net import channel
            channel._QUICKACK = None
        ok = asyncio.run(send_all(host, int(port), ae, args.files, args.max_pdu))
        return 0 if ok == len(args.files) else 1

    tmp = Path(tempfile.mkdtemp(prefix="dd-bench-"))
    work = args.dir or tmp
    proc = None
    try:
        t0 = time.perf_counter()
        files = [str(p) for p in make_files(work / "ct", args.count, args.rows, args.cols)]
        total = sum(os.path.getsize(f) for f in files)
        print(f"{len(files)} files, {total / 1e6:.1f} MB, generated in {time.perf_counter() - t0:.1f} s")
        port = free_port()
        proc = start_storescp(port, args.max_pdu, tmp / "storescp.log")
        host = "127.0.0.1"
        runs = {
            "dicomdoctor": [sys.executable, str(Path(__file__).resolve()), "--max-pdu", str(args.max_pdu),
                            "--send-only", host, str(port), "STORESCP", *files],
            "dcmtk storescu": [STORESCU, "-aec", "STORESCP", "-pdu", str(args.max_pdu), host, str(port), *files],
            "pynetdicom storescu": [sys.executable, "-m", "pynetdicom", "storescu", "-aec", "STORESCP",
                                    "--max-pdu", str(args.max_pdu), host, str(port), *files],
        }
        if args.no_quickack_row:
            runs["ours, no TCP_QUICKACK"] = [*runs["dicomdoctor"][:2], "--no-quickack", *runs["dicomdoctor"][2:]]
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for name, argv in runs.items():
                dt = timed(argv)
                best[name] = min(best.get(name, dt), dt)
        t0 = time.perf_counter()
        ok = asyncio.run(send_all(host, port, "STORESCP", files, args.max_pdu))
        inproc = time.perf_counter() - t0
        assert ok == len(files)
        print(f"\n{'tool':22} {'best s':>8} {'MB/s':>8}   (best of {args.repeat}, one association each)")
        for name, dt in best.items():
            print(f"{name:22} {dt:8.3f} {total / 1e6 / dt:8.1f}")
        print(f"{'dicomdoctor in-process':22} {inproc:8.3f} {total / 1e6 / inproc:8.1f}   (no interpreter start)")
        ours = best["dicomdoctor"]
        print(f"\nours/dcmtk      = {ours / best['dcmtk storescu']:.2f}   (goal <= 1.0)")
        print(f"ours/pynetdicom = {ours / best['pynetdicom storescu']:.2f}   (goal <= 0.5)")
        return 0
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if args.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

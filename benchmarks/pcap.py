"""Benchmark: `dicomdoctor pcap` against tshark's DICOM dissector on the same 50+ MB capture of C-STOREs.

    python benchmarks/pcap.py [--size-mb 60] [--runs 3] [--keep DIR]

1. writes synthetic CT instances (dicomdoctor.synthetic, 512x512x16 bit = 512 KiB each) to a temp folder;
2. starts /usr/bin/storescp --ignore on a free loopback port and records /usr/bin/storescu sending them all
   over one association (capture.live: dumpcap/tcpdump/tshark on lo; needs capture privileges);
3. times, in the same run, best of --runs wall-clock each:
     ours:          python -m dicomdoctor pcap FILE --format json -o /dev/null
     tshark fields: tshark -r FILE -d tcp.port==PORT,dicom -T fields -e dicom.pdu.type > /dev/null
                    (tshark 4.0 has no dicom.status field: with it tshark stops at once with "Some fields
                    aren't valid", which would time nothing)
     tshark -V:     tshark -r FILE -d tcp.port==PORT,dicom -V > /dev/null
   and prints the times and the ratios ours/tshark (goal: <= 1.0 against the faster tshark).
The dcmtk tools are called by absolute path: pynetdicom installs same-named scripts earlier in PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STORESCP, STORESCU, TSHARK = "/usr/bin/storescp", "/usr/bin/storescu", "/usr/bin/tshark"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"storescp did not open port {port}")


def make_files(folder: Path, size_mb: int) -> list[Path]:
    from pydicom.uid import generate_uid

    from dicomdoctor.synthetic import make_instance, to_part10_bytes

    study, series = generate_uid(), generate_uid()
    n = max(1, -(-size_mb * 1_000_000 // (512 * 512 * 2)))
    template = make_instance("CT", rows=512, cols=512, study_uid=study, series_uid=series)
    paths = []
    for i in range(n):
        template.SOPInstanceUID = generate_uid()  # to_part10_bytes builds the file meta from the data set
        template.InstanceNumber = i + 1
        p = folder / f"ct{i:04d}.dcm"
        p.write_bytes(to_part10_bytes(template))
        paths.append(p)
    return paths


def record_session(pcap: Path, files: list[Path]) -> int:
    """storescu -> storescp --ignore on loopback, recorded; returns the SCP port."""
    from dicomdoctor.capture.live import CaptureError, record

    port = free_port()
    scp = subprocess.Popen([STORESCP, "--ignore", "-aet", "STORESCP", str(port)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port)
        try:
            with record(str(pcap), [("127.0.0.1", port)]):
                res = subprocess.run([STORESCU, "-aec", "STORESCP", "127.0.0.1", str(port), *map(str, files)],
                                     capture_output=True, text=True, timeout=600)
        except CaptureError as exc:
            raise SystemExit(f"cannot record the session: {exc}")
        if res.returncode != 0:
            raise SystemExit(f"storescu failed: {res.stderr[-500:]}")
    finally:
        os.killpg(scp.pid, signal.SIGTERM)
        scp.wait(5)
    return port


def best_of(argv: list[str], runs: int, ok: tuple[int, ...] = (0,)) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - t0
        if res.returncode not in ok:
            raise SystemExit(f"{' '.join(argv[:4])} ... failed ({res.returncode}): {res.stderr[-500:]}")
        best = min(best, elapsed)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=60, help="data to send (default 60 MB)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each tool; the best counts (default 3)")
    ap.add_argument("--keep", metavar="DIR", help="keep the capture in DIR")
    ap.add_argument("--pcap", metavar="FILE", help="use this capture instead of recording one (needs --port)")
    ap.add_argument("--port", type=int, help="the DICOM port of --pcap, for tshark's -d")
    args = ap.parse_args()
    for tool in (STORESCP, STORESCU, TSHARK):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"{tool} is needed")
    tmp = Path(tempfile.mkdtemp(prefix="dd-bench-"))
    try:
        if args.pcap:
            pcap, port = Path(args.pcap), args.port
            if not port:
                raise SystemExit("--pcap needs --port")
        else:
            (tmp / "files").mkdir()
            files = make_files(tmp / "files", args.size_mb)
            pcap = tmp / "stores.pcap"
            port = record_session(pcap, files)
            shutil.rmtree(tmp / "files")
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                pcap = Path(shutil.copy(pcap, Path(args.keep) / "stores.pcap"))
        size = pcap.stat().st_size
        # ours exits with the verdict (0 pass, 1 warn, 2 fail): all are a completed analysis
        ours = best_of([sys.executable, "-m", "dicomdoctor", "pcap", str(pcap), "--format", "json", "-o", os.devnull],
                       args.runs, ok=(0, 1, 2))
        fields = best_of([TSHARK, "-r", str(pcap), "-d", f"tcp.port=={port},dicom", "-T", "fields", "-e",
                          "dicom.pdu.type"], args.runs)
        verbose = best_of([TSHARK, "-r", str(pcap), "-d", f"tcp.port=={port},dicom", "-V"], args.runs)
        print(f"capture: {pcap} ({size / 1e6:.1f} MB), DICOM port {port}")
        print(f"dicomdoctor pcap --format json : {ours:7.3f} s")
        print(f"tshark -T fields -e dicom.pdu.type: {fields:5.3f} s   ratio ours/tshark = {ours / fields:.2f}")
        print(f"tshark -V                       : {verbose:7.3f} s   ratio ours/tshark = {ours / verbose:.2f}")
        print(f"goal ours/tshark <= 1.0 against the faster tshark: "
              f"{'met' if ours <= min(fields, verbose) else 'NOT met'} ({ours / min(fields, verbose):.2f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

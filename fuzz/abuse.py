"""The simulator under abuse: many mutated connections at once against `dicomdoctor simulate` (a subprocess
on a free loopback port), then a well-formed C-ECHO from pynetdicom must still succeed, and the simulator's
resident memory must not grow with the number of connections.

Each connection sends a mutated version of what a requestor sends (A-ASSOCIATE-RQ, P-DATA-TF, release),
sometimes in pieces, then either half-closes and reads until the simulator closes, or resets the connection
in the middle. A connection the simulator still holds open `HOLD_LIMIT` seconds after our half-close is
counted as a hang; the simulator exiting, or printing a traceback, is a crash.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from fuzz.mutate import mutate

HOLD_LIMIT = 10.0  # seconds the simulator may keep a half-closed connection (its ARTIM is 30 s at most)
AET = "FUZZSIM"


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class SimulatorProcess:
    """`python -m dicomdoctor simulate --port 0` in its own process; the port is read from its listening
    line (printed only once the port is bound)."""

    def __init__(self, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dicomdoctor", "simulate", "--port", "0", "--aet", AET, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.stderr: list[str] = []
        self._err = threading.Thread(target=self._drain_stderr, daemon=True)
        self._err.start()
        self.port = self._read_port()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if len(self.stderr) < 10000:
                self.stderr.append(line)

    def _read_port(self, timeout: float = 60.0) -> int:
        assert self.proc.stdout is not None
        found: list[int] = []
        done = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                m = re.search(r"listening on \S+:(\d+)", line)
                if m:
                    found.append(int(m.group(1)))
                    break
            done.set()
            for _ in self.proc.stdout:  # keep draining so the simulator never blocks on a full pipe
                pass

        threading.Thread(target=read, daemon=True).start()
        if not done.wait(timeout) or not found:
            self.stop()
            raise RuntimeError("the simulator did not print its listening line:\n" + "".join(self.stderr[-20:]))
        return found[0]

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss(self) -> int | None:
        return rss_kib(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> "SimulatorProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def requestor_inputs() -> list[bytes]:
    """What a requestor sends an SCP (the acceptor-role streams of the ulconn seeds, control bytes dropped),
    with the called AE title set to the simulator's, plus a few non-DICOM openings."""
    from fuzz import seeds

    out = [s[2:] for s in seeds.ulconn_streams() if s[0] & 1]
    # seeds call the SCP "SCP": put the simulator's title (same length padded to 16) into the RQ's field
    out = [s[:10] + AET.ljust(16).encode() + s[26:] if s[:1] == b"\x01" else s for s in out]
    out += [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"]
    return out


async def _one(port: int, data: bytes, rng: random.Random, stats: dict[str, int]) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10.0)
    except (OSError, asyncio.TimeoutError):
        stats["connect_failed"] += 1
        return
    abort = rng.random() < 0.15
    try:
        step = rng.choice((0, 0, 1, 7, 64))
        pieces = [data] if not step else [data[i:i + step] for i in range(0, len(data), step)][:200]
        cut = rng.randrange(len(pieces) + 1) if abort else len(pieces)
        for p in pieces[:cut]:
            writer.write(p)
            await writer.drain()
        if abort:
            sock = writer.get_extra_info("socket")
            if sock is not None:  # RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            stats["reset_by_us"] += 1
            return
        if writer.can_write_eof():
            writer.write_eof()
        deadline = time.monotonic() + HOLD_LIMIT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                stats["held_open"] += 1
                return
            chunk = await asyncio.wait_for(reader.read(65536), left)
            if not chunk:
                stats["closed_by_sim"] += 1
                return
    except asyncio.TimeoutError:
        stats["held_open"] += 1
    except (ConnectionError, OSError):
        stats["reset_by_sim"] += 1
    finally:
        writer.transport.abort()


async def _storm(port: int, connections: int, concurrency: int, seed: int, sim: SimulatorProcess,
                 deadline: float) -> dict[str, Any]:
    rng = random.Random(f"{seed}:sim")
    base = requestor_inputs()
    stats = dict.fromkeys(("connect_failed", "reset_by_us", "closed_by_sim", "reset_by_sim", "held_open"), 0)
    sem = asyncio.Semaphore(concurrency)
    rss: list[int] = []
    done = 0

    async def guarded(data: bytes, r: random.Random) -> None:
        nonlocal done
        async with sem:
            await _one(port, data, r, stats)
        done += 1
        if done % 250 == 0:
            value = sim.rss()
            if value is not None:
                rss.append(value)

    tasks = []
    for i in range(connections):
        if time.monotonic() > deadline or not sim.alive:
            break
        data = mutate(rng.choice(base), rng, base)
        tasks.append(asyncio.ensure_future(guarded(data, random.Random(rng.random()))))
        if len(tasks) >= concurrency * 4:  # keep the number of pending tasks bounded
            finished, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            tasks = list(pending)
    if tasks:
        await asyncio.wait(tasks)
    return {"stats": stats, "rss_samples": rss, "tried": done}


def echo(port: int, timeout: float = 30.0) -> int | None:
    """A well-formed C-ECHO from pynetdicom; the status, or None when no association or no answer."""
    from pynetdicom import AE

    ae = AE(ae_title="FUZZECHO")
    ae.add_requested_context("1.2.840.10008.1.1")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    assoc = ae.associate("127.0.0.1", port, ae_title=AET)
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_echo()
        return int(status.Status) if status else None
    finally:
        assoc.release()


def abuse_simulator(*, connections: int = 5000, concurrency: int = 20, seed: int = 0, seconds: float = 600.0,
                    crash_dir: Path | None = None) -> Any:
    """Run the storm; returns a fuzz.run.Result (inputs = connections made; crash = the simulator died or
    printed a traceback; hang = a connection it held open after our half-close; extra: echo, RSS)."""
    from fuzz.run import Result

    res = Result("sim")
    t0 = time.monotonic()
    with SimulatorProcess() as sim:
        first = echo(sim.port)  # warm: everything the simulator imports is loaded before the first sample
        rss_first = sim.rss()
        out = asyncio.run(_storm(sim.port, connections, concurrency, seed, sim, t0 + seconds))
        alive = sim.alive
        status = echo(sim.port) if alive else None
        rss_last = sim.rss()
        traces = sum(1 for line in sim.stderr if line.startswith("Traceback"))
    res.seconds = time.monotonic() - t0
    res.inputs = int(out["tried"])
    res.crashes = (0 if alive else 1) + traces
    res.hangs = int(out["stats"]["held_open"])
    res.extra = {"echo": "0x0000" if status == 0 else ("failed" if status is None else f"0x{status:04X}"),
                 "echo_before": "0x0000" if first == 0 else str(first),
                 "rss_first_kib": rss_first, "rss_last_kib": rss_last,
                 "rss_samples_kib": out["rss_samples"], **out["stats"]}
    if traces:
        res.signatures["simulator traceback"] = traces
    if not alive:
        res.signatures["simulator exited"] = 1
    return res

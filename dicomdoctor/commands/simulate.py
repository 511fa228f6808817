"""`dicomdoctor simulate`: run one fault-injecting SCP in the foreground until Ctrl-C (exit 0).

Everything the user typed is checked before anything listens (bad faults, AE titles, ports and move
destinations are exit 3 with one message), and the listening line is printed only once the port is bound,
so a script can wait for it.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import signal
import sys
from typing import TYPE_CHECKING

from ..errors import BadInput
from ..target import check_ae_title, check_port

if TYPE_CHECKING:
    from ..sim.faults import FaultSet


def parse_move_destinations(items: list[str]) -> dict[str, tuple[str, int]]:
    """`AE=HOST:PORT` (IPv6 as `AE=[::1]:104`) -> {AE: (host, port)}."""
    out: dict[str, tuple[str, int]] = {}
    for item in items:
        ae, sep, addr = item.partition("=")
        if not sep or not addr:
            raise BadInput(f"--move-dest {item!r} is not AE=HOST:PORT (e.g. STORESCP=127.0.0.1:11113)")
        host, colon, port = addr.rpartition(":")
        if not colon or not host:
            raise BadInput(f"--move-dest {item!r} has no port: expected AE=HOST:PORT")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        out[check_ae_title(ae, "--move-dest AE title")] = (host, check_port(port, f"--move-dest {item!r} port"))
    return out


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from ..sim.faults import build_fault_set

    faults = build_fault_set(args.fault)
    aet = check_ae_title(args.aet, "--aet")
    port = 0 if args.port == 0 else check_port(args.port, "--port")
    if args.seed < 0:
        raise BadInput(f"--seed {args.seed} is negative")
    dests = parse_move_destinations(getattr(args, "move_dest", []) or [])
    if not is_loopback(args.host):
        print(f"WARNING: listening on {args.host}, not loopback: other machines can reach this simulator, "
              "which accepts any data set and answers queries without authentication. "
              "Use it on a test network only.", file=sys.stderr)
    return asyncio.run(_serve(args, aet, port, faults, dests))


async def _serve(args: argparse.Namespace, aet: str, port: int, faults: "FaultSet",
                 dests: dict[str, tuple[str, int]]) -> int:
    from ..sim.server import Simulator

    sim = Simulator(aet=aet, faults=faults, host=args.host, port=port, storage=args.storage, seed=args.seed,
                    move_destinations=dests)
    try:
        bound = await sim.start()
    except OSError as exc:
        raise BadInput(f"cannot listen on {args.host}:{port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows: Ctrl-C still raises
            pass
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"SIMULATOR listening on {host}:{bound} (faults: {sim.faults.describe()}) AE title {aet}", flush=True)
    if sim.cert_files is not None:
        print(f"TLS: CA certificate {sim.cert_files.ca} (client certificate {sim.cert_files.client_cert}, "
              f"key {sim.cert_files.client_key})", flush=True)
    if len(sim.store):
        print(f"holding {len(sim.store)} synthetic instances (PatientID SIM0001...)", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.close()
    print("SIMULATOR stopped", flush=True)
    return 0

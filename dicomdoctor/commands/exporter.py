"""`dicomdoctor exporter [--listen 127.0.0.1:9431] [--config FILE]`: serve /probe, /metrics and / until
interrupted. Listens on loopback unless told otherwise (a wider address is allowed, with a warning: the
exporter makes DICOM associations on anyone's request)."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import signal
import sys

from ..errors import BadInput
from ..target import check_port

DEFAULT_LISTEN = "127.0.0.1:9431"


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT` (port 0: any free port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise BadInput(f"--listen {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN} (IPv6 as [::1]:9431)")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    number = 0 if port == "0" else check_port(port, "--listen port")
    return host, number


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(args: argparse.Namespace, host: str, port: int) -> None:
    from ..exporter import Exporter, load_config

    config = load_config(args.config)
    exporter = Exporter(config, lang=args.lang)
    try:
        bound = await exporter.start(host, port)
    except OSError as exc:
        raise BadInput(f"--listen {args.listen}: cannot listen there: {exc.strerror or exc}") from None
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(f"dicomdoctor exporter: listening on http://{shown}:{bound[1]}/ (playbooks: "
          f"{', '.join(sorted(config.modules))}; default {config.default_module})", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass
    try:
        await stop.wait()
    finally:
        await exporter.close()


def run(args: argparse.Namespace) -> int:
    host, port = parse_listen(args.listen)
    if not _loopback(host):
        print(f"dicomdoctor exporter: warning: listening on {host}, not loopback: anyone who reaches it can "
              f"make this host open DICOM associations", file=sys.stderr)
    from ..exporter import load_config

    load_config(args.config)  # a bad configuration is exit 3 before anything listens
    asyncio.run(_serve(args, host, port))
    return 0

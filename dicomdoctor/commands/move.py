"""`dicomdoctor move TARGET --level L -k Key=Value [--dest AE] [--listen PORT] [--out DIR]`: C-MOVE.

Our own Storage SCP receives the instances as the destination, so the report can say whether the peer
connected back at all (the usual C-MOVE failure, FM-31), not only what its final status claims. When the
destination is our own AE title and no --listen is given, the receiver still runs, on a free loopback port
the finding names: naming ourselves as the destination without listening would turn every move into a
refused connect-back that looks like an unknown destination. A destination that is another AE (--dest)
without --listen is a third party: we do not pretend to be it.
"""

from __future__ import annotations

import argparse
import socket

from ..errors import BadInput
from ..target import check_ae_title, check_port
from ._scu import keys_from_args, run_scu


def free_port(host: str) -> int:
    """A port nothing listens on now at `host` (the receiver binds it a moment later)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def run(args: argparse.Namespace) -> int:
    dest = check_ae_title(args.dest, "move destination AE title") if args.dest else ""
    listen = check_port(args.listen, "--listen port") if args.listen is not None else 0
    host = args.listen_host or "127.0.0.1"
    ours = not dest or dest.strip() == (getattr(args, "calling_ae", None) or "DICOMDOCTOR").strip()
    auto = not listen and ours
    if auto:
        try:
            listen = free_port(host)
        except (OSError, UnicodeError) as exc:
            raise BadInput(f"--listen-host {host}: cannot listen there for the move destination ({exc})") from None
    params = {"level": args.level, "keys": keys_from_args(args), "model": args.model or "",
              "destination": dest, "listen_port": listen, "listen_host": host, "out": args.out or "",
              "listen_auto": auto}
    return run_scu(args, "dimse.move", params, name="move")

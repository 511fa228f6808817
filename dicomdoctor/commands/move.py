"""`dicomdoctor move TARGET --level L -k Key=Value [--dest AE] [--listen PORT] [--out DIR]`: C-MOVE.

With --listen our own Storage SCP receives the instances as the destination, so the report can say whether
the peer connected back at all (the usual C-MOVE failure, FM-31), not only what its final status claims.
"""

from __future__ import annotations

import argparse

from ..target import check_ae_title, check_port
from ._scu import keys_from_args, run_scu


def run(args: argparse.Namespace) -> int:
    dest = check_ae_title(args.dest, "move destination AE title") if args.dest else ""
    listen = check_port(args.listen, "--listen port") if args.listen is not None else 0
    params = {"level": args.level, "keys": keys_from_args(args), "model": args.model or "",
              "destination": dest, "listen_port": listen, "listen_host": args.listen_host or "127.0.0.1",
              "out": args.out or ""}
    return run_scu(args, "dimse.move", params, name="move")

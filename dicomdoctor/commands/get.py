"""`dicomdoctor get TARGET --level L -k Key=Value [--out DIR]`: C-GET (instances come back on the same
association) as a one-off playbook."""

from __future__ import annotations

import argparse
import os

from ..errors import BadInput
from ._scu import keys_from_args, run_scu


def run(args: argparse.Namespace) -> int:
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise BadInput(f"--out {args.out}: exists and is not a folder")
    params = {"level": args.level, "keys": keys_from_args(args), "model": args.model or "", "out": args.out or ""}
    return run_scu(args, "dimse.get", params, name="get")

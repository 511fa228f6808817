"""`dicomdoctor find TARGET --level L -k Key=Value ...`: C-FIND as a one-off playbook."""

from __future__ import annotations

import argparse

from ._scu import keys_from_args, positive, run_scu


def run(args: argparse.Namespace) -> int:
    params = {"level": args.level, "keys": keys_from_args(args), "model": args.model or "",
              "max_results": positive(getattr(args, "max_results", 0), "--max-results")}
    return run_scu(args, "dimse.find", params, name="find")

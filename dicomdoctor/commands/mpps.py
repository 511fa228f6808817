"""`dicomdoctor mpps TARGET [--discontinue]`: N-CREATE an MPPS IN PROGRESS for a synthetic procedure step,
then N-SET COMPLETED (or DISCONTINUED), as a one-off playbook (check mpps.cycle; it writes)."""

from __future__ import annotations

import argparse

from ._scu import run_scu


def run(args: argparse.Namespace) -> int:
    final = "DISCONTINUED" if getattr(args, "discontinue", False) else "COMPLETED"
    return run_scu(args, "mpps.cycle", {"final": final}, name="mpps")

"""`dicomdoctor echo TARGET [--repeat N]`: C-ECHO (verification) as a one-off playbook."""

from __future__ import annotations

import argparse

from ._scu import run_scu


def run(args: argparse.Namespace) -> int:
    repeat = getattr(args, "repeat", None)
    repeat = 1 if repeat is None else int(repeat)
    if repeat < 1:
        from ..errors import BadInput
        raise BadInput(f"--repeat {repeat}: must be at least 1")
    return run_scu(args, "dimse.echo", {"repeat": repeat}, name="echo")

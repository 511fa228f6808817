"""`dicomdoctor store TARGET FILE|DIR... | --synthetic N`: C-STORE as a one-off playbook."""

from __future__ import annotations

import argparse

from ..errors import BadInput
from ._scu import positive, run_scu


def run(args: argparse.Namespace) -> int:
    from ..engine.checks.dimse import load_sources

    paths = [str(p) for p in getattr(args, "paths", None) or []]
    synthetic = positive(getattr(args, "synthetic", 0), "--synthetic")
    if paths and synthetic:
        raise BadInput("give files/folders or --synthetic N, not both")
    if not paths and not synthetic:
        raise BadInput("nothing to store: give DICOM files or folders, or --synthetic N")
    if paths:
        load_sources(paths, 0)  # every file must be DICOM before anything is sent (else exit 3)
    return run_scu(args, "dimse.store", {"files": paths, "synthetic": synthetic}, name="store")

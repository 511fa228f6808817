"""`dicomdoctor commit TARGET FILE|DIR... [--listen PORT] [--no-store]`: Storage Commitment as a one-off
playbook (check commitment.request; it writes). The files are C-STORE'd first (unless --no-store: they are
on the peer already), then N-ACTION asks the peer to commit them, and the N-EVENT-REPORT is awaited on the
same association or, with --listen, on a new association to our own SCP (the peer must know our AE title)."""

from __future__ import annotations

import argparse

from ..target import check_port
from ._scu import run_scu


def run(args: argparse.Namespace) -> int:
    from ..engine.checks.dimse import load_sources

    paths = [str(p) for p in getattr(args, "paths", None) or []]
    if paths:
        load_sources(paths, 0)  # every file must be DICOM before anything is sent (else exit 3)
    listen = check_port(args.listen, "--listen port") if args.listen is not None else 0
    params = {"files": paths, "synthetic": 0 if paths else 1, "store": not args.no_store, "listen_port": listen,
              "listen_host": args.listen_host or "127.0.0.1", "wait": float(args.wait or 0)}
    return run_scu(args, "commitment.request", params, name="commit")

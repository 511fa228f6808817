"""`dicomdoctor run PLAYBOOK`: the playbook's own targets (a fleet), checked concurrently, one report."""

from __future__ import annotations

import argparse
from typing import Sequence

from ..engine.playbook import Playbook, apply_overrides, load_playbook
from ..engine.runner import run as run_checks
from ..errors import BadInput
from ..target import Target
from ._common import apply_args_to_targets, emit, options_from_args, with_dicomweb_checks


def check_unique(playbook: Playbook, targets: Sequence[Target]) -> None:
    """Two targets with one id would be checked twice at once (two associations to one peer) and would
    collide in the reports: one JUnit suite name, one Prometheus series, which makes node_exporter's
    textfile collector drop the whole file. Say which ones, and how to tell them apart."""
    first: dict[str, int] = {}
    for n, target in enumerate(targets, 1):
        if target.id in first:
            raise BadInput(f"{playbook.source or playbook.name}: targets {first[target.id]} and {n} are both "
                           f"{target.id}; remove one, or give each a distinct `label:`")
        first[target.id] = n


def run(args: argparse.Namespace) -> int:
    playbook = load_playbook(args.playbook, target_required=True)
    playbook = apply_overrides(playbook, args.overrides or [])
    options = options_from_args(args, playbook)
    targets = apply_args_to_targets(args, playbook.targets)
    check_unique(playbook, targets)
    report = run_checks(with_dicomweb_checks(playbook, targets), targets, options)
    return emit(report, args)

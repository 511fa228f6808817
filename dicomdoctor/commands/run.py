"""`dicomdoctor run PLAYBOOK`: the playbook's own targets (a fleet), checked concurrently, one report."""

from __future__ import annotations

import argparse

from ..engine.playbook import apply_overrides, load_playbook
from ..engine.runner import run as run_checks
from ._common import apply_args_to_targets, emit, options_from_args


def run(args: argparse.Namespace) -> int:
    playbook = load_playbook(args.playbook, target_required=True)
    playbook = apply_overrides(playbook, args.overrides or [])
    options = options_from_args(args, playbook)
    targets = apply_args_to_targets(args, playbook.targets)
    report = run_checks(playbook, targets, options)
    return emit(report, args)

"""`dicomdoctor diagnose TARGET [--playbook NAME|FILE] [--set CHECK.PARAM=VALUE ...]`.

The target comes from the command line; `targets:` in the playbook are ignored (so any fleet playbook can be
pointed at one peer), its `defaults:` still apply unless the command line says otherwise.
"""

from __future__ import annotations

import argparse

from ..engine.playbook import apply_overrides, load_playbook
from ..engine.runner import run as run_checks
from ._common import emit, options_from_args, targets_from_args, with_dicomweb_checks


def run(args: argparse.Namespace) -> int:
    targets_from_args(args)  # a bad TARGET is reported before anything else (the playbook may be fine)
    playbook = load_playbook(args.playbook)
    playbook = apply_overrides(playbook, args.overrides or [])
    target = targets_from_args(args, playbook)
    options = options_from_args(args, playbook)
    report = run_checks(with_dicomweb_checks(playbook, [target]), [target], options)
    return emit(report, args)

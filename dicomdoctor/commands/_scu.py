"""Shared by the SCU commands (echo, store, find, move, get): each is a one-off playbook with a verdict.

The playbook is net.reachable, tls.handshake (with --tls), assoc.ae-title, then the one DIMSE check: a
refused port or a rejected AE title is then reported by the check that owns it, with its causes, and the
DIMSE check is skipped rather than failing a second time. Inputs are validated before anything is sent, so
bad input is one clear message and exit 3 (DESIGN.md), never a finding.
"""

from __future__ import annotations

import argparse
from typing import Any, Mapping

from ..engine.playbook import make_playbook
from ..engine.runner import run as run_checks
from ..errors import BadInput
from ._common import emit, options_from_args, targets_from_args


def keys_from_args(args: argparse.Namespace) -> dict[str, str]:
    """`-k Key=Value` (an empty value, or a bare Key, asks for that key back) -> {Key: Value}."""
    from ..engine.checks.dimse import query_keys

    return query_keys(list(getattr(args, "keys", None) or []))


def run_scu(args: argparse.Namespace, check_id: str, params: Mapping[str, Any], *, name: str) -> int:
    target = targets_from_args(args)
    options = options_from_args(args)
    checks: list[Any] = ["net.reachable"]
    if target.tls is not None:
        checks.append("tls.handshake")
    # A one-off command learns AE titles only after a rejection (no extra associations when all is well).
    checks.append(("assoc.ae-title", {"probe_accepted": False}))
    checks.append((check_id, dict(params)))
    report = run_checks(make_playbook(name, checks), [target], options)
    return emit(report, args)


def positive(value: int | None, option: str) -> int:
    if value is not None and value < 0:
        raise BadInput(f"{option} {value}: must be 0 or more")
    return int(value or 0)

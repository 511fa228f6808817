"""Shared by the SCU commands (echo, store, find, move, get): each is a one-off playbook with a verdict.

An SCU command costs the peer ONE association when all is well: the playbook is tls.handshake (with --tls,
a handshake without an association) and the one DIMSE check, whose own association is the first thing that
reaches the peer and names it in the report. No net.reachable first: it may measure on an association of its
own, and a bare connect-and-close upsets some legacy SCPs. Only when the service's association fails does a
second run explain the failure, with the checks that own it: net.dns / net.reachable (raw probes) for a
refused or unresolved connection, assoc.ae-title (AE probing after a rejection, TLS detection after a close)
for a refused association, and assoc.presentation-contexts for a refused context; their findings go before
the DIMSE check's. A connect or association timeout is not probed again: `--timeout T` bounds the command.
Inputs are validated before anything is sent, so bad input is one clear message and exit 3 (DESIGN.md).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Mapping

from ..engine.playbook import make_playbook
from ..engine.runner import run as run_checks
from ..errors import BadInput
from ._common import emit, options_from_args, targets_from_args

if TYPE_CHECKING:
    from ..engine.context import RunOptions
    from ..engine.model import Finding, Report
    from ..target import Target


def keys_from_args(args: argparse.Namespace) -> dict[str, str]:
    """`-k Key=Value` (an empty value, or a bare Key, asks for that key back) -> {Key: Value}."""
    from ..engine.checks.dimse import query_keys

    return query_keys(list(getattr(args, "keys", None) or []))


# assoc.ae-title learns AE titles only after a rejection (probe_accepted: False).
_AE: tuple[str, dict[str, Any]] = ("assoc.ae-title", {"probe_accepted": False})
# assoc.user-identity compares the association with and without a user identity (2 associations): whether the
# identity we sent, or the one we did not send, is why the peer refused. First, and when it explains the refusal,
# alone: AE-title probing would only be refused the same way.
_IDENTITY: tuple[str, dict[str, Any]] = ("assoc.user-identity", {})
# A failed connect, by net.connect's outcome, and who explains it (a timeout is not tried twice).
_EXPLAIN_CONNECT: dict[str, tuple[Any, ...]] = {"dns": ("net.dns",), "refused": ("net.reachable",),
                                                "unreachable": ("net.reachable",), "reset": ("net.reachable",)}


def _identity_suspect(ev: Mapping[str, Any], identity: bool) -> bool:
    """May a user identity be why the association was refused? With one configured (--user...), any refusal
    before the A-ASSOCIATE-AC; without, a rejection that gives no reason (reason 1 of the service user or the
    ACSE, as PACS and toolkits answer a missing or wrong identity: the simulator 1/1/1, pynetdicom 2/2/1)."""
    if ev.get("associated", False):
        return False
    if identity:
        return ev.get("outcome") in ("rejected", "aborted", "protocol-error")
    rj = ev.get("reject") or {}
    return ev.get("outcome") == "rejected" and rj.get("source") in (1, 2) and rj.get("reason") == 1


def explaining_checks(finding: "Finding", identity: bool = False) -> tuple[Any, ...]:
    """The checks that explain why the DIMSE check's association failed; () when there is nothing to explain
    (it passed, or the failure is in the service itself: a status, a missing match, a move destination).
    `identity`: the target has a user identity configured."""
    if finding.status.value not in ("fail", "error"):
        return ()
    ev = finding.evidence
    outcome, phase = ev.get("outcome"), ev.get("phase")
    if outcome == "connect-failed" and phase != "tls":
        return _EXPLAIN_CONNECT.get(str(ev.get("connect_outcome") or ""), ())
    before_ac = not ev.get("associated", False)
    first = (_IDENTITY,) if _identity_suspect(ev, identity) else ()
    if outcome == "rejected" or (before_ac and outcome in ("protocol-error", "aborted")) \
            or (outcome == "aborted" and phase == "association"):
        return (*first, _AE)
    if outcome == "no-context":
        return (_AE, "assoc.presentation-contexts")
    return ()


def merge_explanation(report: "Report", explanation: "Report", check_id: str) -> "Report":
    """The explanation's findings before the DIMSE check's; one target entry; the worst verdict."""
    from dataclasses import replace

    from ..engine.model import worst

    extra = list(explanation.findings)
    findings: list[Any] = []
    for f in report.findings:
        if f.check == check_id:
            findings.extend(extra)
        findings.append(f)
    targets = []
    for tr, more in zip(report.targets, explanation.targets):
        peer = tr.peer if tr.peer.implementation_class_uid else more.peer
        targets.append(replace(tr, peer=peer, trace=tr.trace + more.trace,
                               verdict=worst([f.status for f in findings if f.target == tr.id])))
    return replace(report, findings=tuple(findings), targets=tuple(targets),
                   verdict=worst([f.status for f in findings]),
                   duration_ms=report.duration_ms + explanation.duration_ms)


def run_scu(args: argparse.Namespace, check_id: str, params: Mapping[str, Any], *, name: str) -> int:
    target = targets_from_args(args)
    options = options_from_args(args)
    checks: list[Any] = []
    if target.tls is not None:
        checks.append("tls.handshake")
    checks.append((check_id, dict(params)))
    report = run_checks(make_playbook(name, checks), [target], options)
    service = next((f for f in report.findings if f.check == check_id), None)
    explain = explaining_checks(service, target.user_identity is not None) if service is not None else ()
    if explain and explain[0] == _IDENTITY:
        report, more = _explain(report, (_IDENTITY,), target, options, check_id, f"{name}-identity")
        explain = () if _identity_explains(more) else explain[1:]
    if explain:
        report, _ = _explain(report, explain, target, options, check_id, f"{name}-explain")
    return emit(report, args)


def _explain(report: "Report", checks: tuple[Any, ...], target: "Target", options: "RunOptions", check_id: str,
             name: str) -> "tuple[Report, Report]":
    """Run the explaining checks and merge their findings in; (merged report, the explanation's own)."""
    if options.deadline is not None:  # the deadline is the command's: the explanation gets what is left
        import dataclasses
        options = dataclasses.replace(options, deadline=max(0.0, options.deadline - report.duration_ms / 1000.0))
    more = run_checks(make_playbook(name, list(checks)), [target], options)
    return merge_explanation(report, more, check_id), more


def _identity_explains(explanation: "Report") -> bool:
    """Did assoc.user-identity find the identity (missing or wrong) to be why the peer refused?"""
    return any(f.check == _IDENTITY[0] and f.status.value == "fail" and any(c.id.startswith("user-identity")
                                                                            for c in f.causes)
               for f in explanation.findings)


def positive(value: int | None, option: str) -> int:
    if value is not None and value < 0:
        raise BadInput(f"{option} {value}: must be 0 or more")
    return int(value or 0)

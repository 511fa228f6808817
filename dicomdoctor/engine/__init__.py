"""engine layer: check registry, check context, playbooks, runner, results model (see docs/ARCHITECTURE.md).

Check modules import `dicomdoctor.engine.registry` / `.context` directly; this package re-exports the
public names for everyone else. Importing it does not import the checks (that happens on first use).
"""

from __future__ import annotations

from .model import Cause, Finding, PeerInfo, Report, Status, TargetResult, worst

__all__ = [
    "Cause", "CheckContext", "CheckRef", "CheckResult", "CheckSpec", "Finding", "PeerInfo", "Playbook",
    "Report", "RunOptions", "Status", "TargetResult", "Timeouts", "all_checks", "apply_overrides", "check",
    "ensure_loaded", "errored", "failed", "get_check", "load_playbook", "make_playbook", "passed", "run",
    "run_playbook", "skipped", "warned", "worst",
]


def __getattr__(name: str) -> object:
    # context and registry pull in net (asyncio, ssl): `explain` and `pcap` start faster without them.
    if name in ("CheckContext", "CheckResult", "RunOptions", "Timeouts", "errored", "failed", "passed", "skipped",
                "warned"):
        from . import context

        return getattr(context, name)
    if name in ("CheckSpec", "all_checks", "check", "ensure_loaded", "get_check"):
        from . import registry

        return getattr(registry, name)
    # playbook (yaml) and runner are loaded on first use: check modules import this package too.
    if name in ("CheckRef", "Playbook", "load_playbook", "apply_overrides", "make_playbook"):
        from . import playbook

        return getattr(playbook, name)
    if name in ("run", "run_playbook"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Several playbooks at once, one report: each target runs the playbook it is paired with (the demo's PACSes
run `standard` while its RIS runs `workflow`), all in the same event loop, and the findings and target
results come back in the order the targets were given, as if one playbook had run."""

from __future__ import annotations

import asyncio
from typing import Sequence

from . import model
from .context import RunOptions
from .playbook import Playbook
from .runner import EventSink, _load_kb, run_playbook
from ..target import Target


def playbook_names(pairs: Sequence[tuple[Target, Playbook]]) -> str:
    """The report's playbook: the names, in order of first use, joined ("standard + workflow")."""
    names: list[str] = []
    for _, playbook in pairs:
        if playbook.name not in names:
            names.append(playbook.name)
    return " + ".join(names)


async def run_mixed(pairs: Sequence[tuple[Target, Playbook]], options: RunOptions | None = None, *,
                    on_event: EventSink | None = None) -> model.Report:
    """Run each (target, playbook) pair; targets that share a playbook share one run (its concurrency)."""
    options = options or RunOptions()
    groups: list[tuple[Playbook, list[Target]]] = []
    for target, playbook in pairs:
        group = next((g for g in groups if g[0] is playbook), None)
        if group is None:
            groups.append((playbook, [target]))
        else:
            group[1].append(target)
    kb = _load_kb(options.lang)  # once, not once per playbook
    reports = await asyncio.gather(*(run_playbook(p, ts, options, kb=kb, on_event=on_event) for p, ts in groups))
    order = {t.id: n for n, (t, _) in enumerate(pairs)}
    targets = sorted((tr for r in reports for tr in r.targets), key=lambda tr: order.get(tr.id, len(order)))
    # Findings keep each target's plan order; targets follow the pairs' order.
    findings = sorted((f for r in reports for f in r.findings), key=lambda f: order.get(f.target, len(order)))
    return model.Report(
        playbook=playbook_names(pairs),
        verdict=model.worst([f.status for f in findings]),
        duration_ms=max((r.duration_ms for r in reports), default=0.0),
        targets=tuple(targets),
        findings=tuple(findings),
        tool_version=reports[0].tool_version if reports else "",
        started_at=min((r.started_at for r in reports), default=""),
    )


def run_mixed_sync(pairs: Sequence[tuple[Target, Playbook]], options: RunOptions | None = None, *,
                   on_event: EventSink | None = None) -> model.Report:
    """Synchronous wrapper of `run_mixed` (one event loop for every playbook)."""
    return asyncio.run(run_mixed(pairs, options, on_event=on_event))


__all__ = ["playbook_names", "run_mixed", "run_mixed_sync"]

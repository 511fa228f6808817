"""The exporter's Prometheus texts: a probe's answer (the `--format prometheus` series plus
`dicomdoctor_probe_*`) and its own `/metrics`."""

from __future__ import annotations

import dataclasses
import os
import time

from .. import __version__
from ..engine.model import Report
from ..report import render
from ..report.prometheus import escape_label
from .probe import ExporterStats, ProbeResult

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STARTED = time.time()


def _family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    if not samples:
        return []
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    out += [f"{name}{labels} {_num(value)}" for labels, value in samples]
    return out


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def numbers_only(report: Report) -> Report:
    """The report as the Prometheus renderer reads it: statuses, durations, ids and the numeric evidence.
    Evidence texts, causes and traces are dropped before rendering, so the (always applied) sanitizing and
    redaction walk a few numbers instead of the whole report: half of a probe's CPU otherwise."""
    findings = tuple(dataclasses.replace(
        f, causes=(), evidence={k: v for k, v in f.evidence.items()
                                if isinstance(v, (int, float)) and not isinstance(v, bool)})
        for f in report.findings)
    targets = tuple(dataclasses.replace(t, trace=()) for t in report.targets)
    return dataclasses.replace(report, findings=findings, targets=targets)


def probe_text(result: ProbeResult) -> str:
    """The answer to one /probe: the run's series, as `dicomdoctor run --format prometheus` writes them, then
    the probe's own (blackbox_exporter's probe_success / probe_duration_seconds, with our prefix)."""
    body = str(render(numbers_only(result.report), "prometheus"))
    lines = _family("dicomdoctor_probe_success", "gauge",
                    "1 when the playbook passed or warned within the deadline, else 0.",
                    [("", 1 if result.success else 0)])
    lines += _family("dicomdoctor_probe_duration_seconds", "gauge",
                     "How long the probe took, waiting for its turn included.", [("", result.duration)])
    lines += _family("dicomdoctor_probe_deadline_seconds", "gauge",
                     "The time the probe was given: the scrape timeout minus a margin.", [("", result.deadline)])
    lines += _family("dicomdoctor_probe_deadline_exceeded", "gauge",
                     "1 when the deadline cut the probe or it never got its turn (the peer was busy with "
                     "another probe, or every slot was taken), else 0.",
                     [("", 0 if result.outcome == "done" else 1)])
    return body + "\n".join(lines) + "\n"


def _rss_bytes() -> float | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            return float(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        return None


def exporter_text(stats: ExporterStats) -> str:
    """GET /metrics: the exporter's own counters and the usual process metrics."""
    lines = _family("dicomdoctor_exporter_build_info", "gauge", "The dicomdoctor version.",
                    [(f'{{version="{escape_label(__version__)}"}}', 1)])
    lines += _family("dicomdoctor_exporter_probes_total", "counter", "Probes answered, by playbook and result.",
                     [(f'{{playbook="{escape_label(m)}",result="{r}"}}', n) for (m, r), n in sorted(stats.probes.items())])
    lines += _family("dicomdoctor_exporter_probe_seconds_total", "counter", "Time spent in probes.",
                     [("", stats.probe_seconds)])
    lines += _family("dicomdoctor_exporter_deadline_exceeded_total", "counter",
                     "Probes cut by their scrape deadline.", [("", stats.deadline_exceeded)])
    lines += _family("dicomdoctor_exporter_probes_queued_out_total", "counter",
                     "Probes that never got their turn within the deadline.", [("", stats.queued_out)])
    lines += _family("dicomdoctor_exporter_probes_waited_for_target_total", "counter",
                     "Probes that waited for another probe of the same peer to end (no overlap).",
                     [("", stats.waited_for_target)])
    lines += _family("dicomdoctor_exporter_probes_in_flight", "gauge", "Probes running now.",
                     [("", stats.in_flight)])
    lines += _family("dicomdoctor_exporter_probes_in_flight_max", "gauge",
                     "The most probes that ran at once since start (bounded by max_concurrency).",
                     [("", stats.in_flight_max)])
    lines += _family("dicomdoctor_exporter_http_requests_total", "counter", "HTTP requests, by path and status.",
                     [(f'{{path="{escape_label(p)}",code="{c}"}}', n) for (p, c), n in sorted(stats.requests.items())])
    times = os.times()
    lines += _family("process_cpu_seconds_total", "counter", "User and system CPU time.",
                     [("", times.user + times.system)])
    rss = _rss_bytes()
    if rss is not None:
        lines += _family("process_resident_memory_bytes", "gauge", "Resident memory.", [("", rss)])
    try:
        import resource  # POSIX only
    except ImportError:
        pass
    else:
        lines += _family("process_max_resident_memory_bytes", "gauge", "Peak resident memory since start.",
                         [("", float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024)])
    lines += _family("process_start_time_seconds", "gauge", "Unix time the exporter started.", [("", _STARTED)])
    return "\n".join(lines) + "\n"

"""Prometheus text exposition format, for node_exporter's textfile collector (write to a *.prom file,
atomically: render to a temp file, then rename).

Metrics (all gauges; one # HELP and # TYPE per family, samples grouped under it):

* `dicomdoctor_check_status{target,check}`: 0 pass, 1 warn, 2 fail, 3 error, -1 skip. Skip is a value, not
  a separate label, so each check stays one series whose history is continuous, and `> 0` alerts on
  exactly the checks that need a human (a skip is the consequence of another check's failure).
* `dicomdoctor_check_duration_seconds{target,check}`
* `dicomdoctor_target_status{target}`: the target's verdict, same numbers as the Nagios exit code.
* `dicomdoctor_target_up{target}`: 1 when the peer speaks DICOM to us (dimse.echo or assoc.ae-title passed
  or warned; when neither ran, net.reachable passed), else 0.
* `dicomdoctor_echo_rtt_seconds{target}`, `dicomdoctor_connect_seconds{target}`,
  `dicomdoctor_association_seconds{target}`: only when measured (no made-up zeros).
* `dicomdoctor_run_timestamp_seconds`: when the run started (Report.started_at), as a value: the textfile
  collector rejects samples with explicit timestamps. Alert on `time() - ... > N` for a stale file.
* `dicomdoctor_run_duration_seconds`, `dicomdoctor_verdict`.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone

from ..engine.model import Finding, Report, Status
from ._common import finding, first_number, target_findings
from .nagios import ASSOC_KEYS

STATUS_VALUE = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3, Status.SKIP: -1}
VERDICT_VALUE = {"pass": 0, "warn": 1, "fail": 2, "error": 3}


def escape_label(value: object) -> str:
    """Label values: backslash, double quote and line feed are escaped (exposition format spec)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _num(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


def _labels(**kv: object) -> str:
    if not kv:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in kv.items()) + "}"


def _run_timestamp(report: Report) -> float:
    if report.started_at:
        try:
            dt = datetime.fromisoformat(report.started_at.replace("Z", "+00:00"))
            return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
        except ValueError:
            pass
    # A report without a start time was rendered right after the run: "now" is within its duration.
    return time.time()


def _up(findings: tuple[Finding, ...]) -> int:
    ok = (Status.PASS, Status.WARN)
    decisive = [f for f in (finding(findings, "dimse.echo"), finding(findings, "assoc.ae-title"))
                if f is not None and f.status is not Status.SKIP]
    if decisive:
        return int(any(f.status in ok for f in decisive))
    reach = finding(findings, "net.reachable")
    return int(reach is not None and reach.status in ok)


def render(report: Report, *, lang: str = "en", color: bool | None = None, trace: bool = False) -> str:
    families: list[tuple[str, str, list[tuple[str, float]]]] = []

    def family(name: str, help_text: str) -> list[tuple[str, float]]:
        samples: list[tuple[str, float]] = []
        families.append((name, help_text, samples))
        return samples

    status = family("dicomdoctor_check_status", "Check outcome: 0 pass, 1 warn, 2 fail, 3 error, -1 skip.")
    duration = family("dicomdoctor_check_duration_seconds", "Time the check took.")
    tstatus = family("dicomdoctor_target_status", "Target verdict: 0 pass, 1 warn, 2 fail, 3 error.")
    up = family("dicomdoctor_target_up", "1 when the peer accepted a DICOM association or echo, else 0.")
    rtt = family("dicomdoctor_echo_rtt_seconds", "C-ECHO round-trip time.")
    connect = family("dicomdoctor_connect_seconds", "TCP connect time.")
    assoc_t = family("dicomdoctor_association_seconds", "Time from A-ASSOCIATE-RQ to the peer's answer.")
    for target, findings in target_findings(report):
        seen: dict[str, int] = {}
        for f in findings:
            # A check id may repeat for one target (capture.* gives one finding per association); a
            # duplicate series makes the textfile collector drop the whole file, so number the repeats.
            seen[f.check] = seen.get(f.check, 0) + 1
            check = f.check if seen[f.check] == 1 else f"{f.check}#{seen[f.check]}"
            status.append((_labels(target=target.id, check=check), STATUS_VALUE[f.status]))
            duration.append((_labels(target=target.id, check=check), f.duration_ms / 1000))
        tstatus.append((_labels(target=target.id), VERDICT_VALUE.get(target.verdict, 3)))
        up.append((_labels(target=target.id), _up(findings)))
        echo = finding(findings, "dimse.echo")
        v = first_number(echo.evidence, ("rtt_ms",)) if echo else None
        if v is not None:
            rtt.append((_labels(target=target.id), v / 1000))
        reach = finding(findings, "net.reachable")
        v = first_number(reach.evidence, ("connect_ms",)) if reach else None
        if v is not None:
            connect.append((_labels(target=target.id), v / 1000))
        assoc = finding(findings, "assoc.ae-title")
        v = first_number(assoc.evidence, ASSOC_KEYS) if assoc else None
        if v is not None:
            assoc_t.append((_labels(target=target.id), v / 1000))
    family("dicomdoctor_verdict", "Run verdict: 0 pass, 1 warn, 2 fail, 3 error.").append(
        (_labels(playbook=report.playbook), VERDICT_VALUE.get(report.verdict, 3)))
    family("dicomdoctor_run_duration_seconds", "Duration of the whole run.").append(
        ("", report.duration_ms / 1000))
    family("dicomdoctor_run_timestamp_seconds", "Unix time the run started.").append(("", _run_timestamp(report)))

    lines: list[str] = []
    for name, help_text, samples in families:
        if not samples:  # a family without samples would only confuse (HELP for nothing)
            continue
        lines += [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} gauge"]
        lines += [f"{name}{lab} {_num(value)}" for lab, value in samples]
    return "\n".join(lines) + "\n"

"""Prometheus text exposition: every sample under its HELP/TYPE, escaped labels, textfile-collector safe."""

from __future__ import annotations

import dataclasses
import re

from dicomdoctor.engine.model import Report
from dicomdoctor.report import render

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)')


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """A small exposition-format parser: checks HELP/TYPE before samples and label syntax."""
    assert text.endswith("\n")
    helped: set[str] = set()
    typed: dict[str, str] = {}
    samples = []
    seen = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in {"gauge", "counter", "untyped", "histogram", "summary"}
            typed[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, line
        name, raw_labels, value = m.groups()
        assert name in helped and name in typed, f"{name} lacks HELP/TYPE"
        labels: dict[str, str] = {}
        rest = raw_labels or ""
        while rest:
            lm = LABEL.match(rest)
            assert lm, rest
            labels[lm.group(1)] = _unescape(lm.group(2))
            rest = rest[lm.end():]
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"duplicate series {key}"
        seen.add(key)
        samples.append((name, labels, float(value)))
    return samples


def _get(samples: list, name: str, **labels: str) -> float:
    hits = [v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items())]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


def test_metrics(mixed_report: Report) -> None:
    s = parse(render(mixed_report, "prometheus"))  # type: ignore[arg-type]
    a, b = "PACS@10.0.0.5:104", "CT1@ct-1.example.org:104"
    assert _get(s, "dicomdoctor_check_status", target=a, check="assoc.presentation-contexts") == 1
    assert _get(s, "dicomdoctor_check_status", target=a, check="dimse.store") == 3
    assert _get(s, "dicomdoctor_check_status", target=b, check="net.reachable") == 2
    assert _get(s, "dicomdoctor_check_status", target=b, check="dimse.echo") == -1
    assert _get(s, "dicomdoctor_check_status", target=a, check="net.reachable") == 0
    assert _get(s, "dicomdoctor_check_duration_seconds", target=a, check="dimse.find") == 0.03
    assert _get(s, "dicomdoctor_target_up", target=a) == 1 and _get(s, "dicomdoctor_target_up", target=b) == 0
    assert _get(s, "dicomdoctor_echo_rtt_seconds", target=a) == 0.00275
    assert _get(s, "dicomdoctor_connect_seconds", target=b) == 0.0004
    assert _get(s, "dicomdoctor_association_seconds", target=a) == 0.00625
    assert _get(s, "dicomdoctor_run_timestamp_seconds") == 1795827600  # 2026-11-28T01:00:00Z
    assert _get(s, "dicomdoctor_target_status", target=b) == 2
    # no echo ran on b: no sample rather than a made-up zero
    assert not [lab for n, lab, _ in s if n == "dicomdoctor_echo_rtt_seconds" and lab["target"] == b]


def test_label_escaping(pass_report: Report) -> None:
    nasty = 'PA"CS\\1\nx@h:104'
    t = dataclasses.replace(pass_report.targets[0], id=nasty)
    fs = tuple(dataclasses.replace(f, target=nasty) for f in pass_report.findings)
    text = render(dataclasses.replace(pass_report, targets=(t,), findings=fs), "prometheus")
    assert 'target="PA\\"CS\\\\1\\nx@h:104"' in text  # type: ignore[operator]
    s = parse(text)  # type: ignore[arg-type]
    assert _get(s, "dicomdoctor_check_status", target=nasty, check="dimse.echo") == 0


def test_repeated_check_ids_stay_distinct(pass_report: Report) -> None:
    f = pass_report.findings[0]
    r = dataclasses.replace(pass_report, findings=(f, f, f))
    s = parse(render(r, "prometheus"))  # type: ignore[arg-type]
    checks = [lab["check"] for n, lab, _ in s if n == "dicomdoctor_check_status"]
    assert checks == ["net.reachable", "net.reachable#2", "net.reachable#3"]

"""The results model: what a run produces and every renderer reads.

Immutable values only. The JSON form (`Report.to_json_dict`) is the `dicomdoctor.report/1` contract of
DESIGN.md; tests outside this repo parse it, so keys are only ever added, never renamed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping


class Status(str, enum.Enum):
    """Outcome of one check. Ordered by severity for verdicts (see `worst`)."""

    PASS = "pass"
    SKIP = "skip"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"


# Nagios semantics: 0 ok, 1 warning, 2 critical, 3 unknown.
_SEVERITY = {Status.PASS: 0, Status.SKIP: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3}
EXIT_CODES = {"pass": 0, "warn": 1, "fail": 2, "error": 3}


def worst(statuses: "list[Status] | tuple[Status, ...]") -> str:
    """Verdict over check statuses: fail beats error beats warn beats pass.

    A failed check is a real diagnosis; an `error` (the check could not run) only makes the verdict
    `error` when nothing failed, because "the PACS is down" is the more useful thing to say.
    """
    if any(s is Status.FAIL for s in statuses):
        return "fail"
    if any(s is Status.ERROR for s in statuses):
        return "error"
    if any(s is Status.WARN for s in statuses):
        return "warn"
    return "pass"


@dataclass(frozen=True, slots=True)
class Cause:
    """A ranked explanation of a finding, taken from the knowledge base (checks/*.yaml)."""

    id: str
    title: str
    explanation: str = ""
    fixes: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "explanation": self.explanation,
            "fixes": list(self.fixes),
            "refs": list(self.refs),
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """The judgement of one check on one target."""

    target: str
    check: str
    title: str
    status: Status
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    causes: tuple[Cause, ...] = ()
    duration_ms: float = 0.0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "check": self.check,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "evidence": _jsonable(self.evidence),
            "causes": [c.to_json_dict() for c in self.causes],
            "duration_ms": round(self.duration_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class PeerInfo:
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    max_pdu: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "implementation_class_uid": self.implementation_class_uid,
            "implementation_version_name": self.implementation_version_name,
            "max_pdu": self.max_pdu,
        }


@dataclass(frozen=True, slots=True)
class TargetResult:
    id: str
    host: str
    port: int
    called_ae: str
    calling_ae: str
    tls: bool
    verdict: str
    peer: PeerInfo = field(default_factory=PeerInfo)
    # The PDU trace of this target (net.trace.TraceEntry values); renderers print it as an appendix.
    trace: tuple[Any, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "port": self.port,
            "called_ae": self.called_ae,
            "calling_ae": self.calling_ae,
            "tls": self.tls,
            "verdict": self.verdict,
            "peer": self.peer.to_json_dict(),
        }


@dataclass(frozen=True, slots=True)
class Report:
    playbook: str
    verdict: str
    duration_ms: float
    targets: tuple[TargetResult, ...]
    findings: tuple[Finding, ...]
    tool_version: str = ""
    started_at: str = ""  # ISO 8601, UTC

    @property
    def summary(self) -> dict[str, int]:
        counts = {s.value: 0 for s in (Status.PASS, Status.WARN, Status.FAIL, Status.SKIP, Status.ERROR)}
        for f in self.findings:
            counts[f.status.value] += 1
        return counts

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def findings_for(self, target_id: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.target == target_id)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema": "dicomdoctor.report/1",
            "tool": {"name": "dicomdoctor", "version": self.tool_version},
            "playbook": self.playbook,
            "verdict": self.verdict,
            "duration_ms": round(self.duration_ms, 3),
            "summary": self.summary,
            "targets": [t.to_json_dict() for t in self.targets],
            "findings": [f.to_json_dict() for f in self.findings],
        }


def _jsonable(value: Any) -> Any:
    """Evidence may hold tuples, enums, bytes or dataclasses; JSON gets plain values."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, float):
        return round(value, 3)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    to_json = getattr(value, "to_json_dict", None)
    if callable(to_json):
        return to_json()
    return str(value)

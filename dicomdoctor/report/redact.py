"""Patient data never leaks into a report: names, IDs, birth dates are replaced by "[redacted]".

`redact_report(report)` returns a new `Report` (the model is immutable) in which

* evidence values under a PHI key are replaced, at any depth: DICOM keywords (`PatientName`), their
  snake-case spellings (`patient_name`) and tags (`00100010`, `(0010,0010)`, as in the DICOM JSON model).
  This covers C-FIND identifiers in evidence, e.g. `evidence["matches"] = [{"PatientID": "123"}, ...]`.
  Empty values stay empty: a query key asked back (`PatientID=`) discloses nothing and shows what was asked.
* strings anywhere (evidence, summaries, cause texts, the PDU trace summaries) have `Keyword=value`,
  `Keyword: value` and dump-style `(0010,0010) PN [value]` occurrences redacted;
* bytes evidence that encodes a PHI tag (little-endian tag bytes, e.g. a raw C-FIND response) is withheld:
  we cannot cut a value out of raw bytes safely, and hex of a name is still the name.

UIDs are kept: the diagnosis needs SOP class and transfer syntax UIDs, and instance UIDs identify images,
not people. Redaction is applied by `render()` for every format, JSON included, unless `show_phi`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from ..engine.model import Cause, Finding, Report, TargetResult
from ._common import TraceRow, trace_rows

REDACTED = "[redacted]"

# DICOM keyword -> tag. Names, identifiers, birth dates, addresses and phone numbers of patients and of the
# people caring for them (PS3.15 Annex E basic profile, the part this tool might ever see in a C-FIND).
PHI_KEYWORDS: dict[str, str] = {
    "PatientName": "00100010",
    "PatientID": "00100020",
    "IssuerOfPatientID": "00100021",
    "TypeOfPatientID": "00100022",
    "PatientBirthDate": "00100030",
    "PatientBirthTime": "00100032",
    "OtherPatientIDs": "00101000",
    "OtherPatientNames": "00101001",
    "OtherPatientIDsSequence": "00101002",
    "PatientBirthName": "00101005",
    "PatientAddress": "00101040",
    "PatientMotherBirthName": "00101060",
    "MilitaryRank": "00101080",
    "MedicalRecordLocator": "00101090",
    "PatientTelephoneNumbers": "00102154",
    "PatientTelecomInformation": "00102155",
    "EthnicGroup": "00102160",
    "ResponsiblePerson": "00102297",
    "PatientComments": "00104000",
    "AccessionNumber": "00080050",
    "ReferringPhysicianName": "00080090",
    "ReferringPhysicianAddress": "00080092",
    "ReferringPhysicianTelephoneNumbers": "00080094",
    "PerformingPhysicianName": "00081050",
    "NameOfPhysiciansReadingStudy": "00081060",
    "OperatorsName": "00081070",
    "PhysiciansOfRecord": "00081048",
    "RequestingPhysician": "00321032",
    "ScheduledPerformingPhysicianName": "00400006",
    "AdmissionID": "00380010",
}


def _norm(key: str) -> str:
    return re.sub(r"[^0-9a-z]", "", key.lower())


_PHI_NORMALIZED = frozenset([_norm(k) for k in PHI_KEYWORDS] + list(PHI_KEYWORDS.values())
                            # common spellings of the same fields by other tools
                            + ["patientsname", "patientsbirthdate", "patientsbirthtime", "patientsaddress",
                               "birthdate", "dateofbirth", "dob", "mrn", "otherpatientid"])
_PHI_TAG_BYTES = tuple(int(t[:4], 16).to_bytes(2, "little") + int(t[4:], 16).to_bytes(2, "little")
                       for t in PHI_KEYWORDS.values())

_KEYWORD_ALT = "|".join(sorted(PHI_KEYWORDS, key=len, reverse=True))
# `PatientName=DOE^JOHN`, `PatientID: 123`, `"PatientID": "123"` (a repr of a dict in an error text).
_KV_RE = re.compile(
    r"""(?P<key>["']?\b(?:%s)\b["']?)(?P<sep>\s*[=:]\s*)(?P<val>"[^"]*"|'[^']*'|\[[^\]]*\]|[^\s,;)}\]]+)"""
    % _KEYWORD_ALT)
# dcmdump / pydicom dump lines: `(0010,0010) PN [DOE^JOHN]`, `(0010,0010) Patient's Name  PN: 'DOE^JOHN'`.
_TAG_LINE_RE = re.compile(
    r"(?P<tag>\((?:%s)\))(?P<rest>[^\n]*)"
    % "|".join(f"{t[:4]},{t[4:]}" for t in PHI_KEYWORDS.values()), re.IGNORECASE)


def is_phi_key(key: Any) -> bool:
    k = _norm(str(key))
    if k in _PHI_NORMALIZED:
        return True
    # PatientFooName / patient_foo_id variants we did not list, but not PatientSex/Age/Position/Orientation.
    return k.startswith("patient") and k.endswith(("name", "names", "id", "ids", "birthdate", "address"))


def redact_text(text: str) -> str:
    """Redact `Keyword=value` pairs and dump lines of PHI tags inside free text."""
    if not text or not isinstance(text, str):
        return text

    def kv(m: re.Match[str]) -> str:
        val = m.group("val")
        if val in ('""', "''", "[]"):
            return m.group(0)
        return f"{m.group('key')}{m.group('sep')}{REDACTED}"

    text = _KV_RE.sub(kv, text)
    return _TAG_LINE_RE.sub(lambda m: f"{m.group('tag')} {REDACTED}" if m.group("rest").strip() else m.group(0),
                            text)


def _redact_value_of_phi_key(value: Any) -> Any:
    if value is None or value == "" or value == [] or value == ():
        return value
    if isinstance(value, Mapping) and "vr" in value:  # DICOM JSON model: keep the VR, drop the value
        return {"vr": value["vr"], "Value": [REDACTED]} if value.get("Value") else dict(value)
    return REDACTED


def redact_value(value: Any) -> Any:
    """Redact evidence recursively; returns plain containers (dicts and lists), leaves scalars alone."""
    if isinstance(value, Mapping):
        return {k: (_redact_value_of_phi_key(v) if is_phi_key(k) else redact_value(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [redact_value(v) for v in sorted(value, key=str)]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        return REDACTED if any(t in b for t in _PHI_TAG_BYTES) else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return redact_value({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    to_json = getattr(value, "to_json_dict", None)  # e.g. a pydicom Dataset: DICOM JSON keyed by tags
    if callable(to_json):
        try:
            return redact_value(to_json())
        except Exception:  # a half-broken dataset from a hostile peer: withhold rather than crash
            return REDACTED
    return value


def _redact_cause(c: Cause) -> Cause:
    return dataclasses.replace(c, title=redact_text(c.title), explanation=redact_text(c.explanation),
                               fixes=tuple(redact_text(x) for x in c.fixes))


def _redact_finding(f: Finding) -> Finding:
    return dataclasses.replace(f, title=redact_text(f.title), summary=redact_text(f.summary),
                               evidence=redact_value(dict(f.evidence)),
                               causes=tuple(_redact_cause(c) for c in f.causes))


def _redact_target(t: TargetResult) -> TargetResult:
    # Trace entries carry the raw PDU (which may hold a C-FIND identifier); renderers only need the row.
    rows = tuple(dataclasses.replace(r, summary=redact_text(r.summary)) for r in trace_rows(t.trace))
    return dataclasses.replace(t, trace=rows)


def redact_report(report: Report) -> Report:
    return dataclasses.replace(report, findings=tuple(_redact_finding(f) for f in report.findings),
                               targets=tuple(_redact_target(t) for t in report.targets))


__all__ = ["REDACTED", "PHI_KEYWORDS", "TraceRow", "is_phi_key", "redact_report", "redact_text", "redact_value"]

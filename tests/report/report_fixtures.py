"""Hand-built reports for the renderer tests (plain builders; conftest.py wraps them as fixtures): every status, two targets, a presentation-context matrix,
PHI in evidence, hostile strings from a peer, Chinese text."""

from __future__ import annotations

from dataclasses import dataclass

from dicomdoctor.engine.model import Cause, Finding, PeerInfo, Report, Status, TargetResult, worst

HOSTILE = '<script>alert("x")</script>\'&"'
PHI_NAME = "DOE^JOHN"
PHI_ID = "PID-4711-SECRET"
PHI_BIRTH = "19450203"


@dataclass(frozen=True)
class Entry:
    """Looks like net.trace.TraceEntry (t, direction, pdu_type, summary, length, pdu)."""

    t: float
    direction: str
    pdu_type: str
    summary: str
    length: int
    pdu: object = None


REFUSED = Cause("server-not-running", "The DICOM server is not running",
                "Nothing listens on that port: the connection was refused at once.",
                ("Start the DICOM service (storescp, Orthanc) and check it listens on port 104.",
                 "Check the port number in the peer's configuration."), ("PS3.8 §9.1.1",))
PC_CAUSE = Cause("transfer-syntax-not-supported", "The peer refuses JPEG 2000 for CT images",
                 "Only the uncompressed transfer syntaxes were accepted.",
                 ("Enable JPEG 2000 in the PACS (Orthanc: AcceptedTransferSyntaxes).",), ())
AE_CAUSE = Cause("called-ae-not-recognized", "The PACS does not know the called AE title",
                 "The peer rejected the association (reason 7).",
                 ("Set the called AE title to the PACS's own AE title (dcm4che: archive AE).",), ("PS3.8 §9.3.4",))

CONTEXTS = [
    {"abstract_syntax": "1.2.840.10008.5.1.4.1.1.2", "transfer_syntax": "1.2.840.10008.1.2", "result": 0,
     "result_name": "acceptance"},
    {"abstract_syntax": "1.2.840.10008.5.1.4.1.1.2", "transfer_syntax": "1.2.840.10008.1.2.4.90", "result": 4,
     "result_name": "transfer-syntaxes-not-supported"},
    {"abstract_syntax": "1.2.840.10008.1.1", "transfer_syntax": "1.2.840.10008.1.2", "result": 0,
     "result_name": "acceptance"},
    {"abstract_syntax": "1.2.3.4.5.6.7", "transfer_syntax": "1.2.840.10008.1.2", "result": 3,
     "result_name": "abstract-syntax-not-supported"},
]


def _report(findings: list[Finding], targets: list[TargetResult], duration_ms: float = 1234.5) -> Report:
    return Report(playbook="standard", verdict=worst([f.status for f in findings]), duration_ms=duration_ms,
                  targets=tuple(targets), findings=tuple(findings), tool_version="0.1.0",
                  started_at="2026-11-28T01:00:00Z")


def _target(tid: str, host: str, verdict: str, peer: PeerInfo | None = None, trace: tuple = ()) -> TargetResult:
    called = tid.split("@")[0]
    return TargetResult(id=tid, host=host, port=104, called_ae=called, calling_ae="DICOMDOCTOR", tls=False,
                        verdict=verdict, peer=peer or PeerInfo(), trace=trace)


def build_pass_report() -> Report:
    tid = "PACS@10.0.0.5:104"
    fs = [
        Finding(tid, "net.reachable", "TCP connection", Status.PASS, "Port 104 is open.",
                {"outcome": "open", "connect_ms": 1.25, "address": "10.0.0.5"}, (), 2.0),
        Finding(tid, "dimse.echo", "C-ECHO", Status.PASS, "C-ECHO succeeded.",
                {"status": 0, "status_name": "Success", "category": "success", "rtt_ms": 3.5}, (), 8.0),
    ]
    return _report(fs, [_target(tid, "10.0.0.5", "pass",
                                PeerInfo("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367", 16384))], 20.0)


def build_mixed_report() -> Report:
    """Two targets; every status; PHI; hostile peer strings; a presentation-context matrix; a trace."""
    a, b = "PACS@10.0.0.5:104", "CT1@ct-1.example.org:104"
    trace = (Entry(0.0, "sent", "A-ASSOCIATE-RQ", "called PACS calling DICOMDOCTOR, 3 contexts", 243),
             Entry(0.004, "recv", "A-ASSOCIATE-AC", f"accepted; impl {HOSTILE}", 190),
             Entry(0.01, "recv", "P-DATA-TF", f"C-FIND-RSP pending PatientName={PHI_NAME}", 120),
             "not an entry at all")
    fs = [
        Finding(a, "net.reachable", "TCP connection", Status.PASS, "Port 104 is open.",
                {"outcome": "open", "connect_ms": 1.5, "address": "10.0.0.5"}, (), 2.0),
        Finding(a, "assoc.ae-title", "AE titles", Status.PASS, "Association accepted.",
                {"accepted_called_ae": "PACS", "response_ms": 6.25}, (), 9.0),
        Finding(a, "assoc.presentation-contexts", "Presentation contexts", Status.WARN,
                "CT Image Storage is refused with JPEG 2000.", {"contexts": CONTEXTS}, (PC_CAUSE,), 12.0),
        Finding(a, "peer.identity", "Peer identity", Status.PASS, f"Peer says {HOSTILE}",
                {"implementation_version_name": HOSTILE, "product_guess": "dcmtk 3.6.7"}, (), 0.1),
        Finding(a, "dimse.echo", "C-ECHO", Status.PASS, "C-ECHO succeeded.",
                {"status": 0, "rtt_ms": 2.75}, (), 5.0),
        Finding(a, "dimse.find", "C-FIND", Status.PASS, f"2 matches for PatientID={PHI_ID}",
                {"status": 0xFF00, "category": "success", "query": f"PatientName={PHI_NAME} PatientID=",
                 "matches": [{"PatientName": PHI_NAME, "PatientID": PHI_ID, "PatientBirthDate": PHI_BIRTH,
                              "StudyDate": "20260101"},
                             {"patient_name": "ROE^JANE", "00100020": {"vr": "LO", "Value": [PHI_ID]},
                              "OtherPatientIDs": ["X1", "X2"], "PatientSex": "F"}],
                 "keys": {"PatientID": "", "PatientName": PHI_NAME},
                 "raw": b"\x10\x00\x10\x00\x08\x00\x00\x00DOE^JOHN"}, (), 30.0),
        Finding(a, "dimse.store", "C-STORE", Status.ERROR, "The check crashed: KeyError('x')", {}, (), 1.0),
        Finding(b, "net.dns", "DNS", Status.PASS, "ct-1.example.org resolves to 10.0.0.9.",
                {"addresses": ["10.0.0.9"], "outcome": "ok"}, (), 1.0),
        Finding(b, "net.reachable", "TCP connection", Status.FAIL, "Connection refused on port 104.",
                {"outcome": "refused", "connect_ms": 0.4, "address": "10.0.0.9"}, (REFUSED, AE_CAUSE), 0.5),
        Finding(b, "assoc.ae-title", "AE titles", Status.SKIP, "Blocked by net.reachable.", {}, (), 0.0),
        Finding(b, "dimse.echo", "C-ECHO", Status.SKIP, "Blocked by net.reachable.", {}, (), 0.0),
    ]
    ta = _target(a, "10.0.0.5", "error", PeerInfo("1.2.276.0.7230010.3.0.3.6.7", HOSTILE, 16384), trace)
    tb = _target(b, "ct-1.example.org", "fail")
    return _report(fs, [ta, tb])


def build_zh_report() -> Report:
    tid = "影像@10.0.0.7:104"
    cause = Cause("called-ae-not-recognized", "PACS 不认识被叫 AE 标题", "对端拒绝了关联（原因 7）。",
                  ("把被叫 AE 标题改成 PACS 自己的 AE 标题。",), ("指南 §关联问题",))
    fs = [Finding(tid, "assoc.ae-title", "AE 标题", Status.FAIL, "关联被拒绝：被叫 AE 未被识别。 naïve café",
                  {"reject": {"result": 1, "source": 1, "reason": 7}}, (cause,), 15.0),
          Finding(tid, "net.reachable", "TCP 连接", Status.PASS, "端口 104 已打开。 naïve café — ok",
                  {"outcome": "open", "connect_ms": 2.0}, (), 3.0)]
    return _report(fs, [_target(tid, "10.0.0.7", "fail", PeerInfo(None, "测试版本", None))])


def build_rich_report() -> Report:
    """Evidence of every shape a check may record (None, nested mappings in lists, tuples of pairs, sets, bytes,
    enums, a product guess mapping, association attempts, a long trace), a healthy target and a warning one:
    the renderers must print all of it as text a person reads, never as a Python repr."""
    bad, warn, ok = "PACS@10.0.0.5:104", "ROUTER@10.0.0.6:104", "STORE@10.0.0.7:104"
    product = {"product": "Orthanc", "toolkit": "DCMTK", "confidence": "medium", "version": None,
               "quirks": ["answers 0xC000 to a C-MOVE with an unknown destination"], "note": None}
    attempts = [{"called_ae": ae, "calling_ae": "DICOMDOCTOR", "purpose": "default", "outcome": "rejected",
                 "reject": {"result": 1, "source": 1, "reason": 7, "reason_name": None}} for ae in
                ("WRONG", "wrong", "ANY-SCP", "ORTHANC")] + \
               [{"called_ae": f"GUESS{i}", "calling_ae": "DICOMDOCTOR", "purpose": "wide", "outcome": "rejected",
                 "reject": None} for i in range(30)]
    trace = tuple(Entry(i * 0.001, "sent" if i % 2 == 0 else "recv", "A-ASSOCIATE-RQ" if i % 2 == 0 else
                        "A-ASSOCIATE-RJ", f"attempt {i}", 250) for i in range(90))
    fs = [
        Finding(bad, "net.reachable", "TCP connection", Status.PASS, "Port 104 is open.",
                {"outcome": "open", "connect_ms": 1.5, "errno": None, "detail": ""}, (), 2.0),
        Finding(bad, "assoc.ae-title", "AE titles", Status.FAIL, "the PACS rejected the called AE title WRONG",
                {"outcome": "rejected", "abort": None, "reject": {"result": 1, "source": 1, "reason": 7},
                 "attempts": attempts, "pairs": (("a", 1), ("b", None)), "seen": {"x", "y"},
                 "nested": [{"k": {"deep": None}, "v": [1, None]}], "raw": b"\x01\x02", "status": Status.FAIL,
                 "ratio": 0.125, "empty": {}, "none_list": [None, None]}, (AE_CAUSE, REFUSED), 40.0),
        Finding(bad, "peer.identity", "Peer identity", Status.PASS, "Orthanc (medium confidence)",
                {"implementation_class_uid": "1.2.276.0.7230010.3.0.3.6.4", "product": product}, (), 0.1),
        Finding(bad, "dimse.echo", "C-ECHO", Status.SKIP, "skipped: assoc.ae-title failed",
                {"blocked_by": "assoc.ae-title"}, (), 0.0),
        Finding(warn, "assoc.presentation-contexts", "Presentation contexts", Status.WARN,
                "CT Image Storage is refused with JPEG 2000.",
                {"contexts": CONTEXTS + [{"abstract_syntax": "1.2.840.10008.5.1.4.1.1.4", "transfer_syntax":
                                          "1.2.840.10008.1.2", "result": None, "result_name": None}]},
                (PC_CAUSE,), 12.0),
        Finding(warn, "peer.identity", "Peer identity", Status.PASS, "dcmtk",
                {"product": product | {"version": "3.6.4"}}, (), 0.1),
        Finding(ok, "net.reachable", "TCP connection", Status.PASS, "Port 104 is open.", {"connect_ms": 0.9}, (), 1.0),
        Finding(ok, "dimse.echo", "C-ECHO", Status.PASS, "C-ECHO succeeded.", {"rtt_ms": 1.25, "status": 0}, (), 3.0),
    ]
    return _report(fs, [_target(bad, "10.0.0.5", "fail", PeerInfo(None, None, None), trace),
                        _target(warn, "10.0.0.6", "warn", PeerInfo("1.2.276.0.7230010.3.0.3.6.4", "OFFIS_DCMTK_364",
                                                                   16384)),
                        _target(ok, "10.0.0.7", "pass", PeerInfo("1.2.3", "STORE", 65536))])

"""The workflow services in a capture (capture.workflow), on real traffic: our own `dicomdoctor worklist`, `mpps`
and `commit` and pynetdicom SCUs talking to dcmtk wlmscpfs and the pynetdicom MPPS / Storage Commitment SCPs
of tests/workflow_peers.py, recorded on loopback by capture.live (dumpcap/tcpdump/tshark) and analysed by
`dicomdoctor pcap`. Skipped when capturing is not permitted (not root, no capture tool). The recordings of those
sessions are kept in tests/data/capture/workflow-*.pcap (synthetic data, a test passcode), which the regression
tests at the end analyse without any peer or privilege."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import peers  # noqa: E402
import workflow_peers as wp  # noqa: E402

from dicomdoctor.capture import analyse_file  # noqa: E402

interop = pytest.mark.interop
SECRET = "s3cret-Passcode-42"
DATA = Path(__file__).resolve().parent.parent / "data" / "capture"


@pytest.fixture
def scps() -> Iterator[Callable[..., wp.WorkflowSCP]]:
    pytest.importorskip("pynetdicom")
    f = peers.Factory(lambda kind, **kw: {"mpps": wp.start_mpps_scp, "commit": wp.start_commitment_scp}[kind](**kw))
    yield f
    f.stop_all()


def dd(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dicomdoctor", *argv], capture_output=True, text=True,
                          timeout=timeout)


def workflow(report: Any) -> list[Any]:
    return [f for f in report.findings if f.check == "capture.workflow"]


def ids(f: Any) -> list[str]:
    return [c.id for c in f.causes]


@interop
def test_worklist_and_user_identity(tmp_path: Path, capture: Any) -> None:
    if not Path(wp.WLMSCPFS).exists():
        pytest.skip("dcmtk wlmscpfs not installed")
    peer = wp.start_wlmscpfs(tmp_path, [wp.worklist_dump(patient_id=f"DDWL000{i}") for i in range(3)] +
                             [wp.worklist_dump(patient_id="DDWL0009", station="CT02")])
    secret = tmp_path / "pass.txt"
    secret.write_text(SECRET + "\n")
    try:
        with capture(peer.port) as pcap:
            res = dd("worklist", peer.target_text(), "--station", "CT01", "--user", "tech", "--identity-response",
                     "--passcode-file", str(secret), "--timeout", "10")
            assert res.returncode in (0, 1), res.stdout + res.stderr
            nobody = dd("worklist", peer.target_text(), "--station", "CT09", "--timeout", "10")
            assert nobody.returncode == 1, nobody.stdout + nobody.stderr
    finally:
        peer.stop()
    report = analyse_file(str(pcap))
    found = workflow(report)
    assert len(found) == 2, [f.summary for f in report.findings]
    first, empty = found
    assert first.summary.startswith(f"user identity username-and-passcode: user tech, passcode {len(SECRET)} bytes"
                                    f"; positive response requested, none received"), first.summary
    assert f"worklist query: 3 matches, station CT01, date {wp.today()}" in first.summary
    # wlmscpfs ignores identities: asked for a positive response, it sent none (the live check's cause)
    assert ids(first) == ["user-identity-ignored"] and first.status.value == "warn"
    ident = first.evidence["user_identity"]
    assert ident["username"] == "tech" and ident["passcode_length"] == len(SECRET) and not ident["server_response"]
    q = first.evidence["worklist"][0]
    assert q["matches"] == 3 and q["pins"]["station"] == "CT01" and "PatientName" in q["keys_returned"]
    # our worklist command asks again without each pin: the capture shows which one empties the worklist
    assert empty.summary.startswith(f"worklist query: 0 matches, station CT09, date {wp.today()} (the worklist is "
                                    f"empty for these keys, but 4 entries match without ScheduledStationAETitle)")
    assert ids(empty) == ["worklist-empty"] and empty.evidence["worklist"][0]["suspects"] == ["ScheduledStationAETitle"]
    # the passcode is in the pcap (that is how DICOM sends it) but never in any output of the analysis
    assert SECRET.encode() in pcap.read_bytes()
    outputs = [dd("pcap", str(pcap), "--format", fmt) for fmt in ("text", "json")]
    outputs.append(dd("pcap", str(pcap), "--format", "json", "--show-phi"))
    for out in outputs:
        assert out.returncode in (1, 2), out.stderr
        assert SECRET not in out.stdout + out.stderr
        assert SECRET.encode().hex() not in out.stdout
    doc = json.loads(outputs[1].stdout)
    assert "DOE^SYNTHETIC" not in outputs[1].stdout and "DDWL0001" not in outputs[1].stdout
    assert any(f["check"] == "capture.workflow" for f in doc["findings"])
    zh = dd("pcap", str(pcap), "--lang", "zh", "--format", "json")
    summaries = [f["summary"] for f in json.loads(zh.stdout)["findings"] if f["check"] == "capture.workflow"]
    assert "工作列表查询：3 条匹配" in summaries[0] and "用户身份" in summaries[0], summaries
    assert SECRET not in zh.stdout


@interop
def test_mpps_across_associations_and_failures(scps: Any, capture: Any) -> None:
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityPerformedProcedureStep as MPPS_CLASS

    ok, bad = scps("mpps"), scps("mpps", fault="create-missing")
    uid, unknown = generate_uid(), generate_uid()

    def attrs(state: str) -> Dataset:
        ds = Dataset()
        ds.PerformedProcedureStepStatus = state
        return ds

    def session(port: int, *ops: tuple[str, str, str]) -> list[int]:
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(MPPS_CLASS)
        assoc = ae.associate(peers.LOOPBACK, port, ae_title="MPPSSCP")
        assert assoc.is_established
        out = []
        for op, instance, state in ops:
            if op == "create":
                status, _ = assoc.send_n_create(attrs(state), MPPS_CLASS, instance)
            else:
                status, _ = assoc.send_n_set(attrs(state), MPPS_CLASS, instance)
            out.append(int(status.Status))
        assoc.release()
        return out

    with capture(ok.port, bad.port) as pcap:
        # ours on the healthy SCP: one association, N-CREATE then N-SET
        res = dd("mpps", ok.target_text(), "--timeout", "10")
        assert res.returncode == 0, res.stdout + res.stderr
        # a modality's usual way: N-CREATE on one association, N-SET COMPLETED on a later one
        assert session(ok.port, ("create", uid, "IN PROGRESS")) == [0]
        assert session(ok.port, ("set", uid, "COMPLETED")) == [0]
        # an N-SET for a step the SCP never saw created, and an N-CREATE the SCP refuses
        assert session(ok.port, ("set", unknown, "COMPLETED")) == [0x0112]
        assert session(bad.port, ("create", generate_uid(), "IN PROGRESS")) == [0x0120]
    report = analyse_file(str(pcap))
    found = workflow(report)
    text = [f.summary for f in found]
    assert len(found) == 5, text
    ours, created, completed, orphan, refused = found
    assert "N-CREATE IN PROGRESS (0x0000), then N-SET COMPLETED (0x0000); the step reached COMPLETED" in ours.summary
    assert ours.status.value == "pass" and not ids(ours)
    assert created.summary == (f"MPPS {uid}: N-CREATE IN PROGRESS (0x0000), then N-SET COMPLETED (0x0000) on "
                               f"another association; the step reached COMPLETED"), created.summary
    assert [s["association"] for s in created.evidence["mpps"][0]["steps"]][1] == completed.target
    assert completed.summary == (f"MPPS {uid}: N-SET COMPLETED (0x0000), continuing a step begun on another "
                                 f"association"), completed.summary
    assert orphan.summary.startswith(f"MPPS {unknown}: N-SET COMPLETED (0x0112 ")
    assert "no N-CREATE for this instance in the capture" in orphan.summary
    assert orphan.status.value == "fail" and ids(orphan)[0] == "mpps-invalid-transition"
    assert refused.status.value == "fail" and ids(refused)[0] == "mpps-refused", refused.summary
    assert "N-CREATE IN PROGRESS (0x0120 " in refused.summary


@interop
def test_commitment_report_on_a_new_association_and_no_report(scps: Any, capture: Any, tmp_path: Path) -> None:
    listen = peers.free_port()
    good = scps("commit", report_to=listen)
    silent = scps("commit", fault="no-report", ae_title="COMMITSCP")
    files = [str(p) for p in peers.write_cts(tmp_path / "cts", 2)]
    with capture(good.port, silent.port, listen) as pcap:
        res = dd("commit", good.target_text(), *files, "--listen", str(listen), "--timeout", "10")
        assert res.returncode == 0, res.stdout + res.stderr
        assert good.report_sent.wait(30)
        res = dd("commit", silent.target_text(), *files, "--listen", str(listen), "--wait", "1", "--timeout", "10")
        assert res.returncode == 2, res.stdout + res.stderr
    report = analyse_file(str(pcap))
    found = {f.target: f for f in workflow(report)}
    actions = [f for f in found.values() if "N-ACTION" in f.summary]
    reports = [f for f in found.values() if "storage commitment report" in f.summary]
    assert len(actions) == 2 and len(reports) == 1, [f.summary for f in found.values()]
    committed, missing = actions
    tx = committed.evidence["commitment"][0]["transaction_uid"]
    assert committed.summary.startswith(f"storage commitment transaction {tx}: N-ACTION 2 instances (0x0000); "
                                        f"N-EVENT-REPORT on a new association "), committed.summary
    assert committed.summary.endswith(" later: 2 committed, 0 failed")
    assert committed.status.value == "pass" and not ids(committed)
    back = committed.evidence["commitment"][0]["report"]
    assert back["association"] == reports[0].target and back["same_association"] is False
    assert "COMMITSCP" in reports[0].target.split("<-")[1] and tx in reports[0].summary
    assert missing.status.value == "fail" and ids(missing) == ["commitment-no-report"]
    assert missing.summary.endswith("; no N-EVENT-REPORT for this transaction in the capture")
    zh = dd("pcap", str(pcap), "--lang", "zh", "--format", "json")
    summaries = [f["summary"] for f in json.loads(zh.stdout)["findings"] if f["check"] == "capture.workflow"]
    assert any("存储承诺事务" in s and "已承诺" in s for s in summaries), summaries


@interop
def test_user_identity_rejected_and_jwt_confirmed(tmp_path: Path, capture: Any) -> None:
    pytest.importorskip("pynetdicom")
    token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZWNoIn0."
    scp = wp.start_identity_scp(users={"tech": SECRET, "jwt": token})
    wrong, jwt = tmp_path / "wrong.txt", tmp_path / "jwt.txt"
    wrong.write_text("not-the-" + SECRET)
    jwt.write_text(token + "\n")
    try:
        with capture(scp.port) as pcap:
            # a wrong passcode: refused; our echo then tries without an identity (assoc.user-identity), accepted
            res = dd("echo", scp.target_text(), "--user", "tech", "--passcode-file", str(wrong), "--timeout", "10")
            assert res.returncode == 2, res.stdout + res.stderr
            res = dd("echo", scp.target_text(), "--identity-type", "jwt", "--identity-token-file", str(jwt),
                     "--identity-response", "--timeout", "10")
            assert res.returncode == 0, res.stdout + res.stderr
    finally:
        scp.stop()
    report = analyse_file(str(pcap))
    found = workflow(report)
    rejected = [f for f in found if "passcode" in f.summary and "rejected" in f.summary]
    assert rejected and rejected[0].status.value == "fail", [f.summary for f in found]
    assert ids(rejected[0])[0] == "user-identity-rejected"  # the same peer accepts without an identity
    confirmed = [f for f in found if f.summary.startswith("user identity jwt: ")]
    assert confirmed and confirmed[-1].summary == (f"user identity jwt: token {len(token)} bytes; server response "
                                                   f"received (5 bytes)"), [f.summary for f in found]
    assert confirmed[-1].status.value == "pass"
    for fmt in ("text", "json"):
        out = dd("pcap", str(pcap), "--format", fmt)
        assert token not in out.stdout and SECRET not in out.stdout and "not-the-" not in out.stdout


@interop
def test_instance_availability_notification(capture: Any) -> None:
    pytest.importorskip("pynetdicom")
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import InstanceAvailabilityNotification as IAN_CLASS

    port = peers.free_port()
    scp = AE(ae_title="IANSCP")
    scp.add_supported_context(IAN_CLASS)
    server = scp.start_server((peers.LOOPBACK, port), block=False,
                              evt_handlers=[(evt.EVT_N_CREATE, lambda event: (0x0000, event.attribute_list))])
    ds = Dataset()
    ds.StudyInstanceUID = generate_uid()
    series = Dataset()
    series.SeriesInstanceUID = generate_uid()
    refs = []
    for _ in range(3):
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", generate_uid()
        ref.InstanceAvailability, ref.RetrieveAETitle = "ONLINE", "IANSCP"
        refs.append(ref)
    series.ReferencedSOPSequence = refs
    ds.ReferencedSeriesSequence = [series]
    try:
        with capture(port) as pcap:
            ae = AE(ae_title="ARCHIVE")
            ae.add_requested_context(IAN_CLASS)
            assoc = ae.associate(peers.LOOPBACK, port, ae_title="IANSCP")
            assert assoc.is_established
            status, _ = assoc.send_n_create(ds, IAN_CLASS, generate_uid())
            assoc.release()
            assert int(status.Status) == 0
    finally:
        server.shutdown()
    found = workflow(analyse_file(str(pcap)))
    assert [f.summary for f in found] == ["instance availability notification: N-CREATE 3 instances (0x0000)"]
    assert found[0].status.value == "pass"


# ------------------------------------------------------------------------- regressions on recorded sessions

def _summaries(path: Path, *extra: str) -> tuple[str, list[str]]:
    out = dd("pcap", str(path), "--format", "json", *extra, timeout=60)
    assert out.returncode in (0, 1, 2) and "Traceback" not in out.stderr, out.stderr
    return out.stdout, [f["summary"] for f in json.loads(out.stdout)["findings"] if f["check"] == "capture.workflow"]


def test_recorded_worklist_and_identity() -> None:
    pcap = DATA / "workflow-mwl-identity.pcap"
    assert SECRET.encode() in pcap.read_bytes()  # the recording holds the passcode, as the wire did
    found = workflow(analyse_file(str(pcap)))
    assert [ids(f) for f in found] == [["user-identity-ignored"], ["worklist-empty"]]
    assert found[0].summary.startswith("user identity username-and-passcode: user tech, passcode 18 bytes; "
                                       "positive response requested, none received; worklist query: 3 matches, "
                                       "station CT01, date ")
    for fmt in ("text", "json"):
        out = dd("pcap", str(pcap), "--format", fmt, timeout=60)
        assert SECRET not in out.stdout + out.stderr and "DOE^SYNTHETIC" not in out.stdout
    text, zh = _summaries(pcap, "--lang", "zh")
    assert zh[0].startswith("用户身份 username-and-passcode：用户 tech，口令 18 字节；请求了肯定响应，但未收到；"
                            "工作列表查询：3 条匹配，站点 CT01"), zh
    assert SECRET not in text


def test_recorded_mpps() -> None:
    found = workflow(analyse_file(str(DATA / "workflow-mpps.pcap")))
    assert [f.status.value for f in found] == ["pass", "pass", "pass", "fail", "fail"]
    assert [ids(f)[:1] for f in found] == [[], [], [], ["mpps-invalid-transition"], ["mpps-refused"]]
    assert "N-SET COMPLETED (0x0000) on another association; the step reached COMPLETED" in found[1].summary
    assert found[2].summary.endswith("N-SET COMPLETED (0x0000), continuing a step begun on another association")
    _, zh = _summaries(DATA / "workflow-mpps.pcap", "--lang", "zh")
    assert "；抓包中没有该实例的 N-CREATE" in zh[3] and "（在另一个关联上）" in zh[1], zh


def test_recorded_commitment() -> None:
    found = workflow(analyse_file(str(DATA / "workflow-commitment.pcap")))
    assert [ids(f) for f in found] == [[], [], ["commitment-no-report"]]
    assert "N-ACTION 2 instances (0x0000); N-EVENT-REPORT on a new association " in found[0].summary
    assert found[0].summary.endswith(" later: 2 committed, 0 failed")
    assert found[1].summary.endswith("(requested on another association): 2 committed, 0 failed")
    report = found[0].evidence["commitment"][0]["report"]
    assert report["association"] == found[1].target and report["committed"] == 2 and report["failed"] == 0


def test_recorded_identity() -> None:
    found = workflow(analyse_file(str(DATA / "workflow-identity.pcap")))
    assert [ids(f)[:1] for f in found] == [["user-identity-rejected"], ["user-identity-rejected"], []]
    assert found[-1].summary == "user identity jwt: token 40 bytes; server response received (5 bytes)"
    assert found[0].summary == ("user identity username-and-passcode: user tech, passcode 26 bytes; the association "
                                "was rejected")

"""`dicomdoctor pcap` on synthetic captures: conversations encoded by our own ul/dimse cores, cut into TCP
segments, written by scapy (pcap, pcapng) or by a raw writer (link types, a 50 MB stream)."""

from __future__ import annotations

import json
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import synth  # noqa: E402
from synth import Conversation, write_capture, write_raw_pcap  # noqa: E402

from dicomdoctor.capture import CaptureFormatError, analyse_file  # noqa: E402
from dicomdoctor.cli import main  # noqa: E402
from dicomdoctor.ul import AAssociateAC, PresentationContextAC, UserInformation, encode_pdu  # noqa: E402
from dicomdoctor.ul.craft import item_offsets, with_item_length  # noqa: E402

TID = "PACS@10.0.0.5:104 <- MODALITY@10.0.0.9:50123"


def findings(report: Any, target: str | None = None) -> dict[str, Any]:
    target = target or report.targets[0].id
    return {f.check: f for f in report.findings_for(target)}


def causes(f: Any) -> list[str]:
    return [c.id for c in f.causes]


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_echo(tmp_path: Path, fmt: str) -> None:
    report = analyse_file(str(write_capture(tmp_path / f"echo.{fmt}", Conversation.echo(), fmt=fmt)))
    assert report.playbook == "pcap" and report.verdict == "pass"
    t = report.targets[0]
    assert (t.id, t.host, t.port, t.called_ae, t.calling_ae) == (TID, "10.0.0.5", 104, "PACS", "MODALITY")
    assert t.peer.implementation_version_name == "OFFIS_DCMTK_367" and t.peer.max_pdu == 16384
    f = findings(report)
    assert set(f) == {"capture.association", "capture.dimse", "capture.violations"}
    a = f["capture.association"].evidence
    assert a["outcome"] == "accepted" and a["end"] == "release" and a["accepted_contexts"] == 1
    assert a["max_pdu"] == {"requestor": 16384, "acceptor": 16384}
    assert a["requestor_identity"]["implementation_version_name"] == "SYNTH_SCU"
    assert a["contexts"][0]["result_name"] == "acceptance"
    assert a["time_to_accept_ms"] == pytest.approx(1.0, abs=0.01)
    d = f["capture.dimse"].evidence
    assert d["operations"] == {"C-ECHO": 1} and d["statuses"][0]["status_hex"] == "0x0000"
    assert d["timings"]["rtt_ms"]["C-ECHO"]["count"] == 1
    assert [e.pdu_type for e in t.trace] == ["A-ASSOCIATE-RQ", "A-ASSOCIATE-AC", "P-DATA-TF", "P-DATA-TF",
                                             "A-RELEASE-RQ", "A-RELEASE-RP"]


def test_out_of_order_and_retransmitted_segments(tmp_path: Path) -> None:
    conv = Conversation.store(n=3, size=50_000)
    clean = analyse_file(str(write_capture(tmp_path / "a.pcap", conv)))
    messy = analyse_file(str(write_capture(tmp_path / "b.pcapng", conv, fmt="pcapng", reorder=True,
                                           duplicate=True, mss=700)))
    for report in (clean, messy):
        f = findings(report)
        assert report.verdict == "pass", [(x.check, x.summary) for x in report.findings]
        assert f["capture.dimse"].evidence["operations"] == {"C-STORE": 3}
        assert f["capture.dimse"].evidence["dataset_bytes"]["requestor"] == 150_000
        assert f["capture.violations"].evidence["count"] == 0
        assert "missing_bytes" not in f["capture.violations"].evidence


def test_missing_segment_inside_a_data_set_is_reported_and_skipped(tmp_path: Path) -> None:
    report = analyse_file(str(write_capture(tmp_path / "drop.pcap", Conversation.store(), drop={20})))
    f = findings(report)
    v = f["capture.violations"]
    assert v.status.value == "warn"
    assert v.evidence["missing_bytes"] == 1460
    gap = v.evidence["gaps"][0]
    assert gap["bytes"] == 1460 and gap["direction"] == "requestor" and gap["inside_data_set"]
    assert f"1460 bytes missing at seq {gap['seq']}" in v.summary
    # framing survived the hole: every store and its answer are still seen
    assert f["capture.dimse"].status.value == "pass"
    assert f["capture.dimse"].evidence["responses"]["success"] == 3


def test_missing_answer_is_not_guessed(tmp_path: Path) -> None:
    report = analyse_file(str(write_capture(tmp_path / "noac.pcap", Conversation.store(), drop={1})))
    f = findings(report)
    assert f["capture.association"].evidence["outcome"] == "answer-not-captured"
    assert f["capture.association"].status.value == "warn"
    assert f["capture.violations"].evidence["analysis_stopped"][0]["direction"] == "acceptor"


def test_stream_closed_in_the_middle_of_a_pdu(tmp_path: Path) -> None:
    conv = Conversation.store(n=1, size=40_000)
    cut = Conversation(conv.parts[:2] + [(0, conv.parts[2][1][:9000])])
    report = analyse_file(str(write_capture(tmp_path / "cut.pcap", cut)))
    f = findings(report)
    assert f["capture.violations"].status.value == "fail"
    assert f["capture.violations"].evidence["by_code"] == {"pdu-truncated": 1}
    assert "malformed-pdu" in causes(f["capture.violations"])
    # The C-STORE-RQ whose data set the close cut is an operation without a response, not nothing.
    assert f["capture.dimse"].evidence["operations"] == {"C-STORE": 1}
    assert f["capture.dimse"].evidence["unanswered"][0]["incomplete"] is True
    assert f["capture.association"].evidence["end"] == "fin"
    assert "release-not-clean" in causes(f["capture.association"])


def test_capture_ending_mid_association(tmp_path: Path) -> None:
    conv = Conversation.store(n=2)
    part = Conversation(conv.parts[:3])  # RQ, AC, first C-STORE-RQ; no answer, no FIN
    report = analyse_file(str(write_capture(tmp_path / "open.pcap", part, fin=False)))
    f = findings(report)
    assert f["capture.association"].status.value == "pass"
    assert "still open" in f["capture.association"].summary
    assert "still waiting" in f["capture.dimse"].summary and f["capture.dimse"].status.value == "pass"


def test_rejected_association(tmp_path: Path) -> None:
    report = analyse_file(str(write_capture(tmp_path / "rj.pcap", Conversation.rejected(1, 1, 7))))
    f = findings(report)
    a = f["capture.association"]
    assert a.status.value == "fail" and report.verdict == "fail"
    assert a.evidence["reject"]["reason_name"] == "called-AE-title-not-recognized"
    assert causes(a)[0] == "called-ae-not-recognized" and a.causes[0].fixes
    assert "capture.dimse" not in f
    report = analyse_file(str(write_capture(tmp_path / "rj3.pcap", Conversation.rejected(2, 3, 2))))
    assert causes(findings(report)["capture.association"])[0] == "too-many-associations"


def test_move_destination_unknown(tmp_path: Path) -> None:
    report = analyse_file(str(write_capture(tmp_path / "mv.pcap", Conversation.move_unknown())))
    d = findings(report)["capture.dimse"]
    assert d.status.value == "fail"
    assert d.evidence["operations"] == {"C-MOVE": 1}
    assert d.evidence["failures"][0]["status_hex"] == "0xA801"
    assert causes(d)[0] == "move-destination-unknown"
    assert d.evidence["queries"] == [{"operation": "C-MOVE", "level": "STUDY", "keys": []}]


@pytest.mark.parametrize("status,category,cause", [(0xA700, "failure", "out-of-resources"),
                                                   (0xA900, "failure", "dataset-sop-mismatch"),
                                                   (0xC001, "failure", "cannot-understand"),
                                                   (0xB000, "warning", None)])
def test_store_statuses_map_to_causes(tmp_path: Path, status: int, category: str, cause: str | None) -> None:
    report = analyse_file(str(write_capture(tmp_path / "st.pcap", Conversation.store(n=2, size=2000, status=status))))
    d = findings(report)["capture.dimse"]
    assert d.status.value == ("fail" if category == "failure" else "warn")
    assert d.evidence["statuses"][0]["category"] == category and d.evidence["statuses"][0]["count"] == 2
    if cause:
        assert cause in causes(d)


def test_acceptor_abort_leaves_the_store_unanswered(tmp_path: Path) -> None:
    report = analyse_file(str(write_capture(tmp_path / "ab.pcap", Conversation.aborted())))
    f = findings(report)
    assert f["capture.association"].evidence["abort"] == {
        "source": 2, "source_name": "DICOM UL service-provider (initiated abort)", "reason": 0,
        "reason_name": "reason-not-specified", "by": "acceptor", "t_ms": pytest.approx(9.0, abs=0.01),
        "phase": "data transfer"}
    assert "peer-aborted" in causes(f["capture.association"])
    assert f["capture.dimse"].evidence["unanswered"][0]["operation"] == "C-STORE"
    assert f["capture.violations"].status.value == "pass"


def test_pdu_over_the_negotiated_maximum(tmp_path: Path) -> None:
    conv = Conversation.store(n=2, size=100_000, max_pdu=16384, sender_pdu=65536)
    report = analyse_file(str(write_capture(tmp_path / "big.pcap", conv)))
    v = findings(report)["capture.violations"]
    assert v.status.value == "fail" and causes(v) == ["pdu-length-violation"]
    assert v.evidence["pdus_over_limit"] == {"requestor": 4}
    assert v.evidence["by_code"] == {"pdu-length-violation": 4}
    assert "exceeds the receiver's maximum of 16384" in v.evidence["violations"][0]["message"]
    assert findings(report)["capture.dimse"].evidence["responses"]["success"] == 2  # still followed


def test_malformed_associate_ac(tmp_path: Path) -> None:
    raw = encode_pdu(AAssociateAC("PACS", "MODALITY", presentation_contexts=[PresentationContextAC(1, 0, synth.IMPLICIT)],
                                  user_information=UserInformation(16384, "1.2.3", "X")))
    off = [o for o, t in item_offsets(raw) if t == 0x21][0]
    bad = with_item_length(raw, off, 400)
    conv = Conversation().add(0, synth.rq()).add(1, bad)
    report = analyse_file(str(write_capture(tmp_path / "bad.pcap", conv)))
    v = findings(report)["capture.violations"]
    assert v.status.value == "fail" and causes(v) == ["malformed-pdu"]
    first = v.evidence["violations"][0]
    assert first["code"] == "malformed-pdu" and first["direction"] == "acceptor"
    assert f"offset {off}" in first["message"] and "400" in first["message"]


def test_not_dicom(tmp_path: Path) -> None:
    conv = Conversation().add(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").add(1, b"HTTP/1.1 200 OK\r\n\r\n")
    path = write_capture(tmp_path / "http.pcap", conv)
    report = analyse_file(str(path))
    assert [f.check for f in report.findings] == ["capture.file"]
    f = report.findings[0]
    assert f.status.value == "warn" and "no DICOM association" in f.summary
    assert f.evidence["not_dicom_connections"] == 1
    assert main(["pcap", str(path), "--format", "json", "-o", str(tmp_path / "r.json")]) == 1


@pytest.mark.parametrize("linktype,client,server,vlan", [
    (1, synth.CLIENT, synth.SERVER, True), (113, synth.CLIENT, synth.SERVER, False),
    (276, synth.CLIENT, synth.SERVER, False), (0, synth.CLIENT, synth.SERVER, False),
    (101, synth.CLIENT, synth.SERVER, False), (1, ("fd00::9", 50123), ("fd00::5", 11112), False),
    (0, ("::1", 50123), ("::1", 4242), False)])
def test_link_types_and_ipv6(tmp_path: Path, linktype: int, client: Any, server: Any, vlan: bool) -> None:
    path = write_raw_pcap(tmp_path / "l.pcap", Conversation.echo().parts, linktype=linktype, client=client,
                          server=server, vlan=vlan, mss=100)
    report = analyse_file(str(path))
    assert report.verdict == "pass", [(f.check, f.summary) for f in report.findings]
    assert report.targets[0].host == server[0] and report.targets[0].port == server[1]
    if ":" in server[0]:
        assert f"@[{server[0]}]:{server[1]}" in report.targets[0].id


def test_sequence_numbers_wrap_around(tmp_path: Path) -> None:
    path = write_raw_pcap(tmp_path / "wrap.pcap", Conversation.store(n=2, size=30_000).parts, mss=1000,
                          isn=((1 << 32) - 20_000, (1 << 32) - 100))
    report = analyse_file(str(path))
    assert report.verdict == "pass"
    assert findings(report)["capture.dimse"].evidence["dataset_bytes"]["requestor"] == 60_000


def test_port_reuse_gives_two_associations(tmp_path: Path) -> None:
    pk = synth.packets(Conversation.echo()) + synth.packets(Conversation.rejected(), t0=1_700_000_010.0)
    report = analyse_file(str(write_capture(tmp_path / "two.pcap", pk)))
    assert [t.id for t in report.targets] == [TID, "WRONG@10.0.0.5:104 <- MODALITY@10.0.0.9:50123"]
    pk = synth.packets(Conversation.echo()) + synth.packets(Conversation.echo(), t0=1_700_000_010.0)
    report = analyse_file(str(write_capture(tmp_path / "same.pcap", pk)))
    assert [t.id for t in report.targets] == [TID, TID + " #2"]


def test_fifty_megabytes_stream_in_bounded_memory(tmp_path: Path) -> None:
    size = 50 << 20
    path = write_raw_pcap(tmp_path / "big.pcap", synth.big_store_parts(size), mss=65000)
    assert path.stat().st_size > size
    from dicomdoctor.engine.kb import load_kb

    kb = load_kb("en")  # loaded before measuring: it is a fixed cost, not a function of the capture
    tracemalloc.start()
    try:
        report = analyse_file(str(path), kb=kb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    d = findings(report)["capture.dimse"]
    assert d.evidence["operations"] == {"C-STORE": 50} and d.evidence["dataset_bytes"]["requestor"] == size
    assert peak < 30 << 20, f"peak {peak / 1e6:.1f} MB while analysing {size / 1e6:.0f} MB"


def test_cli_bad_input(tmp_path: Path, capsys: Any) -> None:
    assert main(["pcap", str(tmp_path / "missing.pcap")]) == 3
    assert "no such file" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("this is not a capture\n")
    assert main(["pcap", str(text)]) == 3
    err = capsys.readouterr().err
    assert "is not a pcap or pcapng capture" in err and err.count("\n") == 1
    assert main(["pcap", str(tmp_path)]) == 3
    with pytest.raises(CaptureFormatError):
        analyse_file(str(text))


def test_cli_json_and_text(tmp_path: Path, capsys: Any) -> None:
    path = write_capture(tmp_path / "mv.pcapng", Conversation.move_unknown(), fmt="pcapng")
    assert main(["pcap", str(path), "--format", "json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "dicomdoctor.report/1" and data["playbook"] == "pcap"
    assert data["targets"][0]["id"] == TID and data["summary"]["fail"] == 1
    assert main(["pcap", str(path), "--no-color", "-v"]) == 2
    out = capsys.readouterr().out
    assert "capture.dimse" in out and "0xA801" in out and "C-MOVE-RQ" in out


def test_damaged_streams_never_raise(tmp_path: Path) -> None:
    """A doctor reads hostile captures: flipped bytes anywhere in the conversation give findings, never an
    exception (STYLE.md: a broken peer is the normal case)."""
    import random

    conv = Conversation.store(n=2, size=3000)
    rng = random.Random(1234)
    for i in range(60):
        parts = []
        for d, data in conv.parts:
            b = bytearray(data)
            for _ in range(rng.randint(0, 3)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            if rng.random() < 0.1:
                b = b[:rng.randrange(len(b))]
            parts.append((d, bytes(b)))
        path = write_raw_pcap(tmp_path / f"f{i}.pcap", parts, mss=rng.choice([7, 100, 1460]))
        report = analyse_file(str(path))
        assert report.findings, i
        json.dumps(report.to_json_dict())


def test_syn_scan_is_forgotten(tmp_path: Path) -> None:
    from dicomdoctor.capture.reader import Segment
    from dicomdoctor.capture.tcp import TcpTracker

    closed: list[str] = []

    class H:
        def data(self, *a: Any) -> None: ...

        def gap(self, *a: Any) -> None: ...

        def closed(self, ts: float, how: str) -> None:
            closed.append(how)

    tr = TcpTracker(lambda ts, a, b: H())
    for i in range(10_000):
        tr.feed(Segment(i * 0.05, b"\x0a\x00\x00\x09", 40000, b"\x0a\x00\x00\x05", i % 60000 + 1, 1, 0, 0x02,
                        memoryview(b""), 0))
    assert len(tr.connections) < 4096 + 2400 and closed.count("idle") > 3000

"""A request cut by the connection's end is an operation without a response, not nothing (capture/association.py):
a C-STORE-RQ whose data set a TCP reset interrupts, built with scapy (synth.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import synth  # noqa: E402
from synth import CLIENT, CT, SERVER, Conversation, ac, message, rq  # noqa: E402

from dicomdoctor.capture import analyse_file  # noqa: E402
from dicomdoctor.dimse import CStoreRQ  # noqa: E402


def _reset_capture(path: Path, cut_at: int | None) -> Path:
    """An accepted association, one C-STORE-RQ (cut after `cut_at` bytes, or whole), then a RST from the PACS
    and no response."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    conv = Conversation().add(0, rq(contexts=((1, CT),))).add(1, ac())
    req = CStoreRQ(message_id=5, affected_sop_class_uid=CT, affected_sop_instance_uid="1.2.3.5")
    data = message(1, req, b"\x00" * 50_000)
    conv.add(0, data[:cut_at] if cut_at is not None else data)
    pk = synth.packets(conv, fin=False)
    sent = [sum(len(d) for who, d in conv.parts if who == side) for side in (0, 1)]
    rst = Ether() / IP(src=SERVER[0], dst=CLIENT[0]) / TCP(sport=SERVER[1], dport=CLIENT[1], flags="R",
                                                            seq=5001 + sent[1], ack=1001 + sent[0])
    rst.time = pk[-1].time + 0.01
    return synth.write_capture(path, [*pk, rst])


def _dimse(path: Path) -> object:
    report = analyse_file(str(path))
    return next(f for f in report.findings if f.check == "capture.dimse")


def test_store_cut_mid_data_set_by_a_reset_is_an_unanswered_operation(tmp_path: Path) -> None:
    f = _dimse(_reset_capture(tmp_path / "cut.pcap", 20_000))
    assert f.status.value == "fail", f.summary
    assert f.evidence["operations"] == {"C-STORE": 1}
    assert f.evidence["unanswered"][0]["message_id"] == 5 and f.evidence["unanswered"][0]["incomplete"] is True
    assert "cut by a TCP reset" in f.summary
    assert [c.id for c in f.causes][0] == "peer-aborted"


def test_whole_store_then_reset_is_unanswered_but_not_cut(tmp_path: Path) -> None:
    f = _dimse(_reset_capture(tmp_path / "whole.pcap", None))
    assert f.status.value == "fail" and f.evidence["operations"] == {"C-STORE": 1}
    assert "incomplete" not in f.evidence["unanswered"][0] and "cut by" not in f.summary

"""Independent oracles for our bytes: Wireshark's DICOM dissector (tshark) and scapy.contrib.dicom.

Our PDUs are written into a pcap as real TCP conversations (3-way handshake, consistent seq/ack, FIN) on
port 11112, decoded with `tshark -d tcp.port==11112,dicom`, and the dissector's fields compared with what
we meant; it must report nothing malformed. A deliberately broken PDU checks that the oracle can fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dicomdoctor.ul import (
    AAssociateAC,
    AAssociateRQ,
    AsyncOpsWindow,
    PresentationContextAC,
    PresentationContextRQ,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
    decode_pdu,
    encode_pdu,
    item_offsets,
    validate,
    with_item_length,
)

from .golden import (
    ABORT,
    ASSOCIATE_AC,
    ASSOCIATE_RJ,
    ASSOCIATE_RQ,
    ECHO_UID,
    IMPLICIT_LE,
    PDATA_ECHO_RQ,
    PDATA_ECHO_RSP,
    RELEASE_RP,
    RELEASE_RQ,
)

scapy_all = pytest.importorskip("scapy.all")
scapy_dicom = pytest.importorskip("scapy.contrib.dicom")

PORT = 11112
CT = "1.2.840.10008.5.1.4.1.1.2"
FIND = "1.2.840.10008.5.1.4.1.2.2.1"
RICH_RQ = AAssociateRQ(
    "ARCHIVE", "DOCTOR",
    presentation_contexts=[PresentationContextRQ(1, ECHO_UID, [IMPLICIT_LE]),
                           PresentationContextRQ(3, CT, [IMPLICIT_LE, "1.2.840.10008.1.2.1"]),
                           PresentationContextRQ(5, FIND, [IMPLICIT_LE])],
    user_information=UserInformation(
        65536, "1.2.826.0.1.3680043.9.1", "DOCTOR_1", async_ops=AsyncOpsWindow(3, 2),
        role_selections=[RoleSelection(CT, 1, 1)],
        sop_extended=[SOPClassExtendedNegotiation(FIND, b"\x01\x01\x00\x01")],
        sop_common_extended=[SOPClassCommonExtendedNegotiation(CT, "1.2.840.10008.4.2",
                                                               ["1.2.840.10008.5.1.4.1.1.2.1"])],
        user_identity_rq=UserIdentityRQ(2, b"alice", b"secret", True)))
RICH_AC = AAssociateAC(
    "ARCHIVE", "DOCTOR",
    presentation_contexts=[PresentationContextAC(1, 0, IMPLICIT_LE), PresentationContextAC(3, 4, IMPLICIT_LE),
                           PresentationContextAC(5, 3, IMPLICIT_LE)],
    user_information=UserInformation(0, "1.2.3", "PEER", user_identity_ac=UserIdentityAC(b"ok")))
BROKEN_AC = with_item_length(ASSOCIATE_AC, item_offsets(ASSOCIATE_AC)[1][0], 400)

CONVERSATIONS = {
    40001: [("c", ASSOCIATE_RQ), ("s", ASSOCIATE_AC), ("c", PDATA_ECHO_RQ), ("s", PDATA_ECHO_RSP),
            ("c", RELEASE_RQ), ("s", RELEASE_RP)],
    40002: [("c", ASSOCIATE_RQ), ("s", ASSOCIATE_RJ)],
    40003: [("c", ASSOCIATE_RQ), ("s", ASSOCIATE_AC), ("c", ABORT)],
    40004: [("c", encode_pdu(RICH_RQ)), ("s", encode_pdu(RICH_AC)), ("c", RELEASE_RQ), ("s", RELEASE_RP)],
}


def _conversation(sport: int, exchanges: list[tuple[str, bytes]], t0: float) -> list[Any]:
    Ether, IP, TCP, Raw = scapy_all.Ether, scapy_all.IP, scapy_all.TCP, scapy_all.Raw
    c, s = "10.0.0.1", "10.0.0.2"
    cseq, sseq = 1000, 5000

    def C(**kw: Any) -> Any:
        return Ether() / IP(src=c, dst=s) / TCP(sport=sport, dport=PORT, **kw)

    def S(**kw: Any) -> Any:
        return Ether() / IP(src=s, dst=c) / TCP(sport=PORT, dport=sport, **kw)

    pkts = [C(flags="S", seq=cseq), S(flags="SA", seq=sseq, ack=cseq + 1), C(flags="A", seq=cseq + 1, ack=sseq + 1)]
    cseq, sseq = cseq + 1, sseq + 1
    for who, data in exchanges:
        if who == "c":
            pkts.append(C(flags="PA", seq=cseq, ack=sseq) / Raw(data))
            cseq += len(data)
        else:
            pkts.append(S(flags="PA", seq=sseq, ack=cseq) / Raw(data))
            sseq += len(data)
    pkts += [C(flags="FA", seq=cseq, ack=sseq), S(flags="FA", seq=sseq, ack=cseq + 1),
             C(flags="A", seq=cseq + 1, ack=sseq + 1)]
    for i, p in enumerate(pkts):
        p.time = t0 + i * 0.001
    return pkts


def _fields(node: Any, out: list[tuple[str, str]]) -> None:
    """Flatten tshark JSON (parsed keeping duplicate keys as pair lists) into (field, value) pairs."""
    if isinstance(node, list) and node and isinstance(node[0], tuple):
        for key, value in node:
            if isinstance(value, str):
                out.append((key, value))
            _fields(value, out)
    elif isinstance(node, list):
        for item in node:
            _fields(item, out)


def _tshark(pcap: Path, *args: str) -> str:
    done = subprocess.run(["tshark", "-n", "-r", str(pcap), "-d", f"tcp.port=={PORT},dicom", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def dissected(tmp_path_factory: pytest.TempPathFactory) -> dict[int, list[list[tuple[str, str]]]]:
    """tcp source port -> per-frame field lists, for the conversations above (and the broken one)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    pkts: list[Any] = []
    convs = dict(CONVERSATIONS)
    convs[40009] = [("c", ASSOCIATE_RQ), ("s", BROKEN_AC)]
    for n, (sport, exchanges) in enumerate(convs.items()):
        pkts += _conversation(sport, exchanges, 10.0 * (n + 1))
    pcap = tmp_path_factory.mktemp("oracle") / "ul.pcap"
    scapy_all.wrpcap(str(pcap), pkts)
    frames = json.loads(_tshark(pcap, "-T", "json"), object_pairs_hook=lambda pairs: pairs)
    by_port: dict[int, list[list[tuple[str, str]]]] = {}
    for frame in frames:
        fields: list[tuple[str, str]] = []
        _fields(frame, fields)
        ports = {int(v) for k, v in fields if k in ("tcp.srcport", "tcp.dstport")}
        sport = (ports - {PORT}).pop()
        if any(k.startswith("dicom.") for k, _ in fields):
            by_port.setdefault(sport, []).append(fields)
    by_port[0] = [[("verbose", _tshark(pcap, "-V"))]]
    return by_port


def _values(frame: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in frame if k == key]


def _problems(frame: list[tuple[str, str]]) -> list[str]:
    """Malformed markers and expert infos of warning/error severity, except the dissector's notes that an
    association was rejected or aborted (which is what those PDUs say, not a decoding problem)."""
    bad = [k for k, _ in frame if k.startswith("_ws.malformed")]
    pairs = list(zip(_values(frame, "_ws.expert.message"), _values(frame, "_ws.expert.severity")))
    bad += [m for m, sev in pairs if int(sev) >= 0x600000 and m not in ("Association rejected", "Association aborted")]
    return bad


@pytest.mark.parametrize("sport", sorted(CONVERSATIONS))
def test_tshark_reports_nothing_malformed(dissected: dict[int, Any], sport: int) -> None:
    frames = dissected[sport]
    assert len(frames) == len(CONVERSATIONS[sport])
    for frame, (_who, raw) in zip(frames, CONVERSATIONS[sport]):
        assert _problems(frame) == []
        assert int(_values(frame, "dicom.pdu.type")[0], 16) == raw[0]
        assert int(_values(frame, "dicom.pdu.len")[0]) == len(raw) - 6


def test_tshark_agrees_on_association_fields(dissected: dict[int, Any]) -> None:
    rq, ac, pdata_rq, pdata_rsp, rel_rq, rel_rp = dissected[40001]
    assert [v.strip() for v in _values(rq, "dicom.assoc.ae.called")] == ["ANY-SCP"]
    assert [v.strip() for v in _values(rq, "dicom.assoc.ae.calling")] == ["ECHOSCU"]
    assert "1.2.840.10008.3.1.1.1" in _values(rq, "dicom.actx")[0]
    assert _values(rq, "dicom.pctx.id") == ["0x01"]
    assert ECHO_UID in _values(rq, "dicom.pctx.abss.syntax")[0]
    assert IMPLICIT_LE in _values(rq, "dicom.pctx.xfer.syntax")[0]
    assert _values(rq, "dicom.max_pdu_len") == ["16384"] and _values(ac, "dicom.max_pdu_len") == ["32768"]
    assert _values(rq, "dicom.userinfo.uid") == ["1.2.3.4"] and _values(rq, "dicom.userinfo.version") == ["TEST_01"]
    assert _values(ac, "dicom.pctx.result") == ["0x00"]
    assert _values(pdata_rq, "dicom.pdv.ctx") == ["1"] and _values(pdata_rq, "dicom.pdv.flags") == ["0x03"]
    verbose = dissected[0][0][0][1]
    assert "C-ECHO-RQ ID=1" in verbose and "C-ECHO-RSP ID=1" in verbose


def test_tshark_agrees_on_reject_and_abort(dissected: dict[int, Any]) -> None:
    rj = dissected[40002][1]
    assert [_values(rj, f"dicom.assoc.reject.{k}")[0] for k in ("result", "source", "reason")] == ["1", "1", "7"]
    abort = dissected[40003][2]
    assert [_values(abort, f"dicom.assoc.abort.{k}")[0] for k in ("source", "reason")] == ["2", "6"]


def test_tshark_agrees_on_every_user_information_sub_item(dissected: dict[int, Any]) -> None:
    rq, ac = dissected[40004][:2]
    assert _values(rq, "dicom.pctx.id") == ["0x01", "0x03", "0x05"]
    assert len(_values(rq, "dicom.pctx.xfer.syntax")) == 4
    assert _values(rq, "dicom.max_pdu_len") == ["65536"]
    assert f"({CT})" in _values(rq, "dicom.userinfo.rolesel.sopclassuid")[0]
    assert [_values(rq, f"dicom.userinfo.rolesel.{k}")[0] for k in ("scurole", "scprole")] == ["0x01", "0x01"]
    assert _values(rq, "dicom.userinfo.asyncneg.maxnumopsinv") == ["3"]
    assert _values(rq, "dicom.userinfo.asyncneg.maxnumopsper") == ["2"]
    assert f"({FIND})" in _values(rq, "dicom.userinfo.extneg.sopclassuid")[0]
    # Our application information 01 01 00 01 read as C-FIND flags: relational, date-time, not fuzzy, timezone.
    assert [_values(rq, f"dicom.userinfo.extneg.{k}")[0] for k in ("relational", "datetimematching",
                                                                    "fuzzymatching", "timezone")] == \
        ["0x01", "0x01", "0x00", "0x01"]
    # Wireshark 4.0 shows 0x57 and 0x59 as raw data: it must be exactly our sub-item content.
    common = encode_pdu(RICH_RQ).split(b"\x57\x00", 1)[1][2:]
    assert _values(rq, "dicom.userinfo.data") == [common[:2 + 25 + 2 + 17 + 2 + 29].hex(":")]
    assert _values(ac, "dicom.userinfo.data") == ["00:02:6f:6b"]
    assert _values(rq, "dicom.userinfo.user_identify.type") == ["2"]
    assert _values(rq, "dicom.userinfo.user_identify.response_requested") == ["1"]
    assert _values(rq, "dicom.userinfo.user_identify.secondary_field") == ["secret"]
    assert _values(rq, "dicom.userinfo.user_identify.primary_field") == ["alice"]
    types = {int(v, 16) for v in _values(rq, "dicom.assoc.item.type")}
    assert {0x10, 0x20, 0x30, 0x40, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58} <= types
    assert {0x21, 0x59} <= {int(v, 16) for v in _values(ac, "dicom.assoc.item.type")}
    assert _values(ac, "dicom.pctx.result") == ["0x00", "0x04", "0x03"]
    assert _values(ac, "dicom.max_pdu_len") == ["0"]


def test_oracle_can_fail_on_a_broken_pdu(dissected: dict[int, Any]) -> None:
    """The control: an item length that lies is flagged by tshark *and* by our validate()."""
    broken = dissected[40009][1]
    assert _problems(broken), "tshark should complain about a 0x21 item claiming 400 bytes"
    assert any(v.code == "item-overrun" for v in validate(None, BROKEN_AC))


# --- scapy.contrib.dicom ------------------------------------------------------------------------------

def _scapy(raw: bytes) -> Any:
    pkt = scapy_dicom.DICOM(raw)
    assert bytes(pkt) == raw          # scapy rebuilds exactly what it parsed
    return pkt


def test_scapy_agrees_on_association_pdus() -> None:
    for raw in (ASSOCIATE_RQ, ASSOCIATE_AC, encode_pdu(RICH_RQ), encode_pdu(RICH_AC)):
        ours = decode_pdu(raw)
        pkt = _scapy(raw)
        assert pkt.pdu_type == raw[0] and pkt.length == len(raw) - 6
        body = pkt.payload
        assert body.called_ae_title.decode().strip() == ours.called_ae  # type: ignore[union-attr]
        assert body.calling_ae_title.decode().strip() == ours.calling_ae  # type: ignore[union-attr]
        items = body.variable_items
        assert [i.item_type for i in items][0] == 0x10
        assert items[0].payload.uid.decode() == ours.application_context  # type: ignore[union-attr]
        pcs = [i.payload for i in items if i.item_type in (0x20, 0x21)]
        ids = [pc.context_id for pc in ours.presentation_contexts]  # type: ignore[union-attr]
        assert [pc.context_id for pc in pcs] == ids
        user = [i.payload for i in items if i.item_type == 0x50][0]
        subs = {s.item_type: s.payload for s in user.sub_items}
        assert subs[0x51].max_pdu_length == ours.max_length  # type: ignore[union-attr]
        assert subs[0x52].uid.decode() == ours.user_information.implementation_class_uid  # type: ignore[union-attr]


def test_scapy_agrees_on_rich_sub_items() -> None:
    pkt = _scapy(encode_pdu(RICH_RQ))
    user = [i.payload for i in pkt.payload.variable_items if i.item_type == 0x50][0]
    subs = {s.item_type: s.payload for s in user.sub_items}
    assert (subs[0x53].max_ops_invoked, subs[0x53].max_ops_performed) == (3, 2)
    assert (subs[0x54].sop_class_uid.decode(), subs[0x54].scu_role, subs[0x54].scp_role) == (CT, 1, 1)
    assert subs[0x56].sop_class_uid.decode() == FIND
    assert subs[0x56].service_class_application_information == b"\x01\x01\x00\x01"
    assert subs[0x57].service_class_uid.decode() == "1.2.840.10008.4.2"
    assert (subs[0x58].user_identity_type, subs[0x58].positive_response_requested) == (2, 1)
    assert (subs[0x58].primary_field, subs[0x58].secondary_field) == (b"alice", b"secret")
    ac = _scapy(encode_pdu(RICH_AC))
    user = [i.payload for i in ac.payload.variable_items if i.item_type == 0x50][0]
    subs = {s.item_type: s.payload for s in user.sub_items}
    assert subs[0x59].server_response == b"ok"


def test_scapy_agrees_on_the_other_pdus() -> None:
    rj = _scapy(ASSOCIATE_RJ).payload
    assert (rj.result, rj.source, rj.reason_diag) == (1, 1, 7)
    ab = _scapy(ABORT).payload
    assert (ab.source, ab.reason_diag) == (2, 6)
    pd = _scapy(PDATA_ECHO_RQ).payload
    [pdv] = pd.pdv_items
    ours = decode_pdu(PDATA_ECHO_RQ).pdvs[0]  # type: ignore[union-attr]
    assert (pdv.context_id, bool(pdv.is_command), bool(pdv.is_last)) == (1, True, True)
    assert pdv.data == bytes(ours.data)
    for raw in (RELEASE_RQ, RELEASE_RP):
        assert _scapy(raw).pdu_type == raw[0]

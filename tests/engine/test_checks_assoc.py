"""assoc.* / peer.identity / net.* judged through the engine runner against fake peers (tests/probes/fakepeers.py):
each broken peer becomes a finding with the right cause, in bounded time, never a traceback."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "probes"))

import fakepeers as fp  # noqa: E402

from dicomdoctor.engine.context import RunOptions  # noqa: E402
from dicomdoctor.engine.model import Finding  # noqa: E402
from dicomdoctor.engine.playbook import make_playbook  # noqa: E402
from dicomdoctor.engine.runner import run  # noqa: E402
from dicomdoctor.engine.checks.assoc import judge_matrix  # noqa: E402
from dicomdoctor.net.timeouts import Timeouts  # noqa: E402
from dicomdoctor.probes.association import ContextResult  # noqa: E402
from dicomdoctor.target import parse_target  # noqa: E402

ASSOC = ["net.reachable", "assoc.ae-title", "assoc.presentation-contexts", "assoc.pdu-length", "peer.identity"]


def diagnose(target: str, checks: list[Any] = ASSOC, *, timeout: float = 2.0, **opts: Any) -> dict[str, Finding]:
    options = RunOptions(timeouts=Timeouts(timeout, timeout, timeout, timeout), **opts)
    report = run(make_playbook("test", checks), [parse_target(target)], options)
    return {f.check: f for f in report.findings}


def causes(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


# -------------------------------------------------------------------------------------------------- net

def test_refused_port_ranks_causes() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    found = diagnose(f"X@127.0.0.1:{port}", ["net.dns", "net.reachable", "assoc.ae-title"])
    assert found["net.dns"].status.value == "pass"
    r = found["net.reachable"]
    assert r.status.value == "fail" and r.evidence["outcome"] == "refused"
    assert causes(r)[:2] == ["server-not-running", "wrong-port"]
    assert found["assoc.ae-title"].status.value == "skip"


def test_dns_failure() -> None:
    found = diagnose("X@no-such-host.invalid:104", ["net.dns", "net.reachable"])
    assert found["net.dns"].status.value == "fail" and causes(found["net.dns"]) == ["dns-failure"]
    assert found["net.reachable"].status.value == "skip"


# -------------------------------------------------------------------------------------- what is on the port

@pytest.mark.parametrize("handler, cause", [
    (fp.send_after_rq(fp.HTTP_ANSWER), "not-dicom"),
    (fp.send_after_rq(fp.SSH_BANNER), "not-dicom"),
    # Bytes with no DICOM PDU type are not a broken DICOM answer but no DICOM at all (judge.wire_causes).
    (fp.send_after_rq(fp.GARBAGE), "not-dicom"),
    (fp.send_after_rq(fp.HUGE_AC), "malformed-pdu"),
    (fp.send_after_rq(fp.malformed_ac()), "malformed-pdu"),
    (fp.silence, "association-timeout"),
    (fp.abort(0, 0), "peer-aborted"),
])
def test_broken_peers_become_findings(handler: fp.Handler, cause: str) -> None:
    with fp.FakePeer(handler) as peer:  # a hang would be the pytest timeout's to catch, not a stopwatch's
        found = diagnose(peer.target(), timeout=1.0, no_probe=True)
    f = found["assoc.ae-title"]
    assert f.status.value == "fail", f.summary
    assert causes(f)[0] == cause, (causes(f), f.summary)
    assert found["assoc.presentation-contexts"].status.value == "skip"


def test_malformed_summary_names_item_and_offset() -> None:
    with fp.FakePeer(fp.send_after_rq(fp.malformed_ac())) as peer:
        f = diagnose(peer.target(), no_probe=True)["assoc.ae-title"]
    assert "item 0x21" in f.summary and "offset" in f.summary


def test_silence_mentions_listener_busy() -> None:
    with fp.FakePeer(fp.silence) as peer:
        f = diagnose(peer.target(), timeout=0.5, no_probe=True)["assoc.ae-title"]
    assert "one client at a time" in f.summary and f.evidence["listener_busy_possible"] is True


# --------------------------------------------------------------------------------------------- AE titles

def test_called_ae_rejected_and_learned() -> None:
    with fp.FakePeer(fp.ae_policy({"ORTHANC"})) as peer:
        f = diagnose(peer.target("WRONGAE"), ["net.reachable", "assoc.ae-title"])["assoc.ae-title"]
    assert f.status.value == "fail"
    assert causes(f)[0] == "called-ae-not-recognized"
    assert f.evidence["reject"]["reason"] == 7 and f.evidence["reject"]["source"] == 1
    assert f.evidence["accepted_called_ae"] == "ORTHANC"
    assert f.evidence["called_ae_checked"] is True
    assert "WRONGAE (reason 7)" in f.summary and "it answers to ORTHANC" in f.summary


def test_called_ae_case_variant_is_tried_first() -> None:
    with fp.FakePeer(fp.ae_policy({"PACS1"})) as peer:
        f = diagnose(peer.target("pacs1"), ["net.reachable", "assoc.ae-title"])["assoc.ae-title"]
    assert f.evidence["accepted_called_ae"] == "PACS1"
    assert len(f.evidence["attempts"]) == 2  # the given title, then its upper-case form
    assert causes(f)[0] == "ae-title-invalid" and "written differently" in f.summary


def test_no_probe_keeps_to_one_association() -> None:
    with fp.FakePeer(fp.ae_policy({"ORTHANC"})) as peer:
        f = diagnose(peer.target("WRONGAE"), ["net.reachable", "assoc.ae-title"],
                     no_probe=True)["assoc.ae-title"]
        assert peer.connections == 1  # one association; net.reachable measures on its connection
    assert f.evidence["accepted_called_ae"] is None and f.evidence["probed"] is False


def test_calling_ae_rejected() -> None:
    with fp.FakePeer(fp.ae_policy({"FAKE"}, {"KNOWN"})) as peer:
        f = diagnose(peer.target("FAKE"), ["net.reachable", "assoc.ae-title"])["assoc.ae-title"]
    assert causes(f)[0] == "calling-ae-not-recognized"
    assert f.evidence["calling_ae_checked"] is True and f.evidence["called_ae_checked"] is True


def test_accepted_learns_what_is_checked() -> None:
    with fp.FakePeer(fp.ae_policy({"FAKE"})) as peer:
        f = diagnose(peer.target("FAKE"), ["net.reachable", "assoc.ae-title"])["assoc.ae-title"]
    assert f.status.value == "pass"
    assert f.evidence["called_ae_checked"] is True and f.evidence["calling_ae_checked"] is False


def test_too_many_associations() -> None:
    with fp.FakePeer(fp.reject(2, 3, 2)) as peer:
        f = diagnose(peer.target(), ["net.reachable", "assoc.ae-title"])["assoc.ae-title"]
    assert causes(f)[0] == "too-many-associations"
    assert f.evidence["reject"]["reason_name"] == "local-limit-exceeded"
    assert len(f.evidence["attempts"]) == 1  # a transient reject is not an AE question: no probing


# ----------------------------------------------------------------------------- contexts, PDU, identity

def test_accepted_peer_all_checks() -> None:
    with fp.FakePeer(fp.accept_ac(max_length=4096)) as peer:
        found = diagnose(peer.target())
    assert found["assoc.ae-title"].status.value == "pass"
    pc = found["assoc.presentation-contexts"]
    assert pc.status.value == "pass"
    assert len(pc.evidence["contexts"]) == 119  # 17 SOP classes (4 workflow) x 7 transfer syntaxes
    assert set(pc.evidence["contexts"][0]) >= {"abstract_syntax", "transfer_syntax", "result", "result_name"}
    pdu = found["assoc.pdu-length"]
    assert pdu.status.value == "warn" and causes(pdu) == ["pdu-too-small"]
    assert pdu.evidence["peer_max_pdu"] == 4096 and pdu.evidence["our_max_pdu"] == 16384
    ident = found["peer.identity"]
    assert ident.evidence["implementation_class_uid"] == "1.2.3.4"
    assert ident.evidence["implementation_version_name"] == "FAKE_1"


def test_pdu_unlimited_and_violation() -> None:
    with fp.FakePeer(fp.accept_ac(max_length=0)) as peer:
        f = diagnose(peer.target())["assoc.pdu-length"]
    assert f.status.value == "pass" and "unlimited" in f.summary
    big = bytes([0x04, 0]) + (20000).to_bytes(4, "big") + b"\x00" * 20000
    with fp.FakePeer(fp.accept_ac(after_ac=big)) as peer:
        f = diagnose(peer.target())["assoc.pdu-length"]
    assert f.status.value == "fail" and causes(f) == ["pdu-length-violation"]


def test_contexts_custom_params_and_bad_keyword() -> None:
    def only_implicit(cid: int, a: str, ts: tuple[str, ...]) -> int:
        return 0 if ts[0] == "1.2.840.10008.1.2" else 3  # Orthanc-like: 3 for a refused transfer syntax
    with fp.FakePeer(fp.accept_ac(result_for=only_implicit)) as peer:
        found = diagnose(peer.target(), ["net.reachable", "assoc.ae-title", ("assoc.presentation-contexts", {
            "abstract_syntaxes": ["CTImageStorage"],
            "transfer_syntaxes": ["ImplicitVRLittleEndian", "JPEG2000Lossless"],
            "required": [["CTImageStorage", "JPEG2000Lossless"]]})])
    f = found["assoc.presentation-contexts"]
    assert f.status.value == "warn"
    assert causes(f)[0] == "transfer-syntax-not-supported"
    assert [c["result"] for c in f.evidence["contexts"]] == [0, 3]  # raw codes kept

    bad = diagnose("X@127.0.0.1:1", [("assoc.presentation-contexts", {"abstract_syntaxes": ["NoSuchKeyword"]})])
    f = bad["assoc.presentation-contexts"]
    assert f.status.value == "error" and "NoSuchKeyword" in f.summary and "pydicom keyword" in f.summary


def _ctx(a: str, ts: str, result: int) -> ContextResult:
    return ContextResult(1, a, ts, result, "")


def test_judge_matrix_rules() -> None:
    CT, MR, IMPL, J2K = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.2", \
        "1.2.840.10008.1.2.4.90"
    status, _, causes_, _ = judge_matrix([_ctx(CT, IMPL, 0), _ctx(CT, J2K, 3)])
    assert status == "pass" and causes_ == ()
    status, _, causes_, _ = judge_matrix([_ctx(CT, IMPL, 0), _ctx(MR, IMPL, 3), _ctx(MR, J2K, 3)])
    assert status == "warn" and causes_ == ("abstract-syntax-not-supported",)
    status, _, causes_, _ = judge_matrix([_ctx(CT, IMPL, 3), _ctx(MR, IMPL, 1)])
    assert status == "fail" and causes_[0] == "no-presentation-context"
    status, summary, causes_, _ = judge_matrix([_ctx(CT, IMPL, 0), _ctx(CT, J2K, 3)], required=[(CT, J2K)])
    assert status == "warn" and causes_[0] == "transfer-syntax-not-supported" and "JPEG 2000" in str(summary)

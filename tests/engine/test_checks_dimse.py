"""dimse.* checks through the engine runner: statuses decoded and judged, and a peer that stops answering
or aborts mid-service becomes a finding with its cause (fake peers and a pynetdicom SCP on loopback)."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "probes"))

import fakepeers as fp  # noqa: E402

from dicomdoctor.engine.checks.dimse import query_keys  # noqa: E402
from dicomdoctor.engine.judge import status_causes  # noqa: E402
from dicomdoctor.engine.context import RunOptions  # noqa: E402
from dicomdoctor.engine.model import Finding  # noqa: E402
from dicomdoctor.engine.playbook import make_playbook  # noqa: E402
from dicomdoctor.engine.runner import run  # noqa: E402
from dicomdoctor.errors import BadInput  # noqa: E402
from dicomdoctor.net.timeouts import Timeouts  # noqa: E402
from dicomdoctor.target import parse_target  # noqa: E402


def run_check(target: str, check: Any, *, timeout: float = 2.0) -> Finding:
    options = RunOptions(timeouts=Timeouts(timeout, timeout, timeout, timeout))
    report = run(make_playbook("test", [check]), [parse_target(target)], options)
    return report.findings[-1]


def causes(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


@pytest.mark.parametrize("behaviour, outcome, cause", [
    ("silence", "timeout", "dimse-timeout"),
    ("abort", "aborted", "peer-aborted"),
    ("close", "aborted", "peer-aborted"),
])
def test_echo_peer_misbehaves_after_accepting(behaviour: str, outcome: str, cause: str) -> None:
    with fp.FakePeer(fp.accept_then(behaviour)) as peer:
        f = run_check(peer.target(), "dimse.echo", timeout=1.0)
    assert f.status.value == "fail" and f.evidence["outcome"] == outcome
    assert causes(f)[0] == cause, f.summary


def test_echo_rejected_without_assoc_checks() -> None:
    # quick.yaml runs dimse.echo without assoc.ae-title: the echo itself must name the reject.
    with fp.FakePeer(fp.reject(1, 1, 7)) as peer:
        f = run_check(peer.target(), "dimse.echo")
    assert causes(f)[0] == "called-ae-not-recognized" and f.evidence["reject"]["reason"] == 7


@pytest.mark.interop
def test_echo_failure_status_is_decoded(pynetdicom_scp: Any) -> None:
    scp = pynetdicom_scp(echo_status=0x0110)
    f = run_check(scp.target_text(), "dimse.echo")
    assert f.status.value == "fail"
    assert f.evidence["status"] == 0x0110 and f.evidence["category"] == "failure" and f.evidence["status_name"]


@pytest.mark.interop
def test_store_out_of_resources(pynetdicom_scp: Any) -> None:
    scp = pynetdicom_scp(store_status=0xA700)
    f = run_check(scp.target_text(), ("dimse.store", {"synthetic": 2}))
    assert f.status.value == "fail" and causes(f)[0] == "out-of-resources"
    assert f.evidence["failed"] == 2 and f.evidence["stores"][0]["status"] == 0xA700


@pytest.mark.interop
def test_store_warning(pynetdicom_scp: Any) -> None:
    scp = pynetdicom_scp(store_status=0xB000)
    f = run_check(scp.target_text(), ("dimse.store", {"synthetic": 1}))
    assert f.status.value == "warn" and f.evidence["warning"] == 1


@pytest.mark.interop
def test_find_against_pynetdicom(pynetdicom_scp: Any) -> None:
    scp = pynetdicom_scp()
    stored = run_check(scp.target_text(), ("dimse.store", {"synthetic": 3}))
    assert stored.status.value == "pass"
    f = run_check(scp.target_text(), ("dimse.find", {"level": "STUDY", "keys": {"PatientID": "DD-TEST-STORE",
                                                                                 "StudyInstanceUID": ""}}))
    assert f.status.value == "pass" and f.evidence["matches"] == 3 and f.evidence["category"] == "success"
    capped = run_check(scp.target_text(), ("dimse.find", {"level": "STUDY", "max_results": 1,
                                                          "keys": {"PatientID": "DD-TEST-STORE"}}))
    assert capped.evidence["cancelled"] is True and capped.evidence["matches"] >= 1


def test_status_causes_table() -> None:
    assert status_causes(0xA801, "C-MOVE") == ("move-destination-unknown",)
    assert status_causes(0xA702, "C-MOVE")[0] == "move-connect-back-failed"
    assert status_causes(0xA710, "C-STORE") == ("out-of-resources",)
    assert status_causes(0xA900, "C-STORE") == ("dataset-sop-mismatch",)
    assert status_causes(0xC123, "C-FIND") == ("cannot-understand",)
    assert status_causes(0x0122, "C-STORE")[0] == "store-missing-sop-class"
    assert status_causes(None) == ("malformed-pdu",)


def test_query_keys() -> None:
    assert query_keys(["PatientID=X", "StudyInstanceUID=", "StudyDate"]) == {
        "PatientID": "X", "StudyInstanceUID": "", "StudyDate": ""}
    with pytest.raises(BadInput, match="NotAKeyword"):
        query_keys({"NotAKeyword": "1"})

"""Each simulator fault is diagnosed by the engine to its cause: the simulator and the checks keep each
other honest (a fault the doctor cannot name is a gap in one of them)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from dicomdoctor.engine.context import RunOptions
from dicomdoctor.engine.model import Finding, Report
from dicomdoctor.engine.playbook import make_playbook
from dicomdoctor.engine.runner import run_playbook
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.sim.server import Simulator
from dicomdoctor.target import Target, TLSOptions

FAST = Timeouts(connect=2.0, association=2.0, dimse=1.0, release=1.0)
AE_CHECK = ["net.reachable", "assoc.ae-title"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _diagnose(faults: list[str], checks: list[Any], *, called_ae: str = "PACS", tls: str | None = None,
                    move_destinations: dict[str, tuple[str, int]] | None = None,
                    hold_association: bool = False) -> Report:
    async with Simulator("PACS", faults, seed=6, move_destinations=move_destinations) as sim:
        tls_options = None
        if tls is not None:
            files = sim.cert_files
            assert files is not None or tls == "system"
            tls_options = {"system": TLSOptions(),
                           "ca": TLSOptions(ca=str(files.ca)) if files else None,
                           "ca+cert": TLSOptions(ca=str(files.ca), cert=str(files.client_cert),
                                                 key=str(files.client_key)) if files else None}[tls]
        target = Target(host="127.0.0.1", port=sim.port, called_ae=called_ae, called_ae_given=True, tls=tls_options)
        held = None
        if hold_association:  # another client holding the only association the peer allows
            from dicomdoctor.net.association import associate

            held = await associate(target, [("1.2.840.10008.1.1", ("1.2.840.10008.1.2",))], timeouts=FAST)
        try:
            return await run_playbook(make_playbook("test", checks), [target], RunOptions(timeouts=FAST))
        finally:
            if held is not None:
                await held.release()


def diagnose(faults: list[str], checks: list[Any], **kw: Any) -> Report:
    return asyncio.run(_diagnose(faults, checks, **kw))


def finding(report: Report, check: str) -> Finding:
    (f,) = [f for f in report.findings if f.check == check]
    return f


def causes(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


# (faults, checks, target options, check judged, its status, the cause it must name)
CASES: list[tuple[list[str], list[Any], dict[str, Any], str, str, str]] = [
    (["called-ae-strict"], AE_CHECK, {"called_ae": "pacs"}, "assoc.ae-title", "fail", "called-ae-not-recognized"),
    (["calling-ae-allow=CT01,WS02"], AE_CHECK, {}, "assoc.ae-title", "fail", "calling-ae-not-recognized"),
    (["reject=local-limit"], AE_CHECK, {}, "assoc.ae-title", "fail", "too-many-associations"),
    (["max-associations=1"], AE_CHECK, {"hold_association": True}, "assoc.ae-title", "fail",
     "too-many-associations"),
    (["accept-ts=ImplicitVRLittleEndian"],
     ["assoc.ae-title", ("assoc.presentation-contexts", {"required": ["CTImageStorage:ExplicitVRLittleEndian"]})],
     {}, "assoc.presentation-contexts", "warn", "transfer-syntax-not-supported"),
    (["refuse-sop=CTImageStorage"], ["assoc.ae-title", "assoc.presentation-contexts"], {},
     "assoc.presentation-contexts", "warn", "abstract-syntax-not-supported"),
    (["max-pdu=4096"], ["assoc.ae-title", "assoc.pdu-length"], {}, "assoc.pdu-length", "warn", "pdu-too-small"),
    (["slow=2"], ["assoc.ae-title", "dimse.echo"], {}, "dimse.echo", "fail", "dimse-timeout"),
    (["abort-after=0"], ["assoc.ae-title", "dimse.echo"], {}, "dimse.echo", "fail", "peer-aborted"),
    (["abort-on-associate"], AE_CHECK, {}, "assoc.ae-title", "fail", "peer-aborted"),
    (["status=c-store:A700"], ["assoc.ae-title", "dimse.store"], {}, "dimse.store", "fail", "out-of-resources"),
    (["status=c-find:A700"], ["assoc.ae-title", "dimse.find"], {}, "dimse.find", "fail", "out-of-resources"),
    # (dimse.move refuses to send an identifier with no key value at all: it could move a whole archive.)
    (["status=c-move:A801"], ["assoc.ae-title", ("dimse.move", {"keys": {"PatientID": "SIM0001"}})], {},
     "dimse.move", "fail", "move-destination-unknown"),
    ([], ["assoc.ae-title", ("dimse.move", {"destination": "NOWHERE", "keys": {"PatientID": "SIM0001"}})], {},
     "dimse.move", "fail", "move-destination-unknown"),
    (["move-unreachable"], ["assoc.ae-title", ("dimse.move", {"keys": {"PatientID": "SIM0001"}})], {},
     "dimse.move", "fail", "move-connect-back-failed"),
    (["tls"], ["net.reachable", "tls.handshake"], {"tls": "system"}, "tls.handshake", "fail", "tls-unknown-ca"),
    (["tls=self-signed"], ["net.reachable", "tls.handshake"], {"tls": "system"}, "tls.handshake", "fail",
     "tls-self-signed"),
    (["tls=expired"], ["net.reachable", "tls.handshake"], {"tls": "ca"}, "tls.handshake", "fail", "tls-expired"),
    (["tls=not-yet-valid"], ["net.reachable", "tls.handshake"], {"tls": "ca"}, "tls.handshake", "fail",
     "tls-not-yet-valid"),
    (["tls=wrong-host"], ["net.reachable", "tls.handshake"], {"tls": "ca"}, "tls.handshake", "fail",
     "tls-hostname-mismatch"),
    (["tls=client-cert"], ["net.reachable", "tls.handshake"], {"tls": "ca"}, "tls.handshake", "fail",
     "tls-client-cert-required"),
    (["tls"], AE_CHECK, {}, "assoc.ae-title", "fail", "peer-expects-tls"),
    (["garbage"], AE_CHECK, {}, "assoc.ae-title", "fail", "malformed-pdu"),
    (["http"], AE_CHECK, {}, "assoc.ae-title", "fail", "not-dicom"),
    (["silent"], AE_CHECK, {}, "assoc.ae-title", "fail", "association-timeout"),
]


@pytest.mark.parametrize("faults, checks, kw, check, status, cause", CASES,
                         ids=[" ".join(c[0]) or c[5] for c in CASES])
def test_fault_is_diagnosed(faults: list[str], checks: list[Any], kw: dict[str, Any], check: str, status: str,
                            cause: str) -> None:
    f = finding(diagnose(faults, checks, **kw), check)
    assert f.status.value == status, f.summary
    # Among the two most likely: the ranking belongs to the checks, and may weigh a close second higher.
    assert cause in causes(f)[:2], (causes(f), f.summary)


def test_called_ae_probe_finds_the_title() -> None:
    f = finding(diagnose(["called-ae-strict"], AE_CHECK, called_ae="pacs"), "assoc.ae-title")
    assert f.evidence["accepted_called_ae"] == "PACS"
    assert f.evidence["reject"]["reason"] == 7


def test_status_is_decoded() -> None:
    f = finding(diagnose(["status=c-echo:0110"], ["assoc.ae-title", "dimse.echo"]), "dimse.echo")
    assert f.status.value == "fail" and f.evidence["status"] == 0x0110
    assert "processing failure" in f.summary.lower()


def test_close_on_connect() -> None:
    f = finding(diagnose(["close-on-connect"], AE_CHECK), "assoc.ae-title")
    assert f.status.value == "fail" and "closed the connection" in f.summary
    assert {"calling-ae-not-recognized", "not-dicom"} <= set(causes(f))


def test_ignore_roles_makes_c_get_fail() -> None:
    f = finding(diagnose(["ignore-roles"], ["assoc.ae-title", ("dimse.get", {"keys": {"PatientID": "SIM0001"}})]),
                "dimse.get")
    assert f.status.value == "fail" and f.evidence["status"] == 0xA702


def test_healthy_services_pass() -> None:
    port = free_port()
    report = diagnose([], ["assoc.ae-title", "dimse.echo", "dimse.store", "dimse.find",
                           ("dimse.move", {"listen_port": port, "keys": {"PatientID": "SIM0001"}}),
                           ("dimse.get", {"keys": {"PatientID": "SIM0001"}})],
                      move_destinations={"DICOMDOCTOR": ("127.0.0.1", port)})
    assert {f.check: f.status.value for f in report.findings} == {
        "assoc.ae-title": "pass", "dimse.echo": "pass", "dimse.store": "pass", "dimse.find": "pass",
        "dimse.move": "pass", "dimse.get": "pass"}


@pytest.mark.parametrize("faults, tls", [(["tls"], "ca"), (["tls=client-cert"], "ca+cert")])
def test_tls_done_right_passes(faults: list[str], tls: str) -> None:
    report = diagnose(faults, ["net.reachable", "tls.handshake", "assoc.ae-title", "dimse.echo"], tls=tls)
    assert {f.check: f.status.value for f in report.findings} == {
        "net.reachable": "pass", "tls.handshake": "pass", "assoc.ae-title": "pass", "dimse.echo": "pass"}

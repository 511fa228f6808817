"""Negotiation policy of the simulator, without sockets: each negotiation fault gives its exact answer."""

from __future__ import annotations

import pytest

from dicomdoctor.sim.faults import build_fault_set
from dicomdoctor.sim.policy import EXPLICIT_LE, IMPLICIT_LE, VERIFICATION, negotiate
from dicomdoctor.ul.items import PresentationContextRQ, RoleSelection, UserInformation
from dicomdoctor.ul.pdu import AAssociateRQ

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
J2K = "1.2.840.10008.1.2.4.90"
FIND = "1.2.840.10008.5.1.4.1.2.2.1"


def rq(called: str = "SIM", calling: str = "DOCTOR", contexts=None, roles=(), **kw) -> AAssociateRQ:
    contexts = contexts or [PresentationContextRQ(1, VERIFICATION, (IMPLICIT_LE,))]
    return AAssociateRQ(called_ae=called, calling_ae=calling, presentation_contexts=tuple(contexts),
                        user_information=UserInformation(max_length=16384, role_selections=tuple(roles)), **kw)


def rj(decision) -> tuple[int, int, int]:
    assert decision.rj is not None, decision
    return decision.rj.result, decision.rj.source, decision.rj.reason


def test_healthy_accepts_in_the_requestors_order() -> None:
    d = negotiate(rq(contexts=[PresentationContextRQ(1, CT, (J2K, EXPLICIT_LE)),
                               PresentationContextRQ(3, FIND, (J2K, EXPLICIT_LE)),
                               PresentationContextRQ(5, "1.2.3.4", (IMPLICIT_LE,))]), "SIM", build_fault_set([]))
    assert d.ac is not None
    res = {pc.context_id: (pc.result, pc.transfer_syntax) for pc in d.ac.presentation_contexts}
    assert res == {1: (0, J2K), 3: (0, EXPLICIT_LE), 5: (3, "")}  # Q/R identifiers must be native TS
    assert d.ac.user_information.max_length == 16384


def test_called_ae_strict() -> None:
    fs = build_fault_set(["called-ae-strict"])
    assert rj(negotiate(rq(called="ANY-SCP"), "SIM", fs)) == (1, 1, 7)
    assert negotiate(rq(called="SIM"), "SIM", fs).ac is not None


def test_calling_ae_allow() -> None:
    fs = build_fault_set(["calling-ae-allow=CT01,WS02"])
    assert rj(negotiate(rq(calling="DOCTOR"), "SIM", fs)) == (1, 1, 3)
    assert negotiate(rq(calling="WS02"), "SIM", fs).ac is not None


@pytest.mark.parametrize("fault, expected", [
    ("reject=local-limit", (2, 3, 2)), ("reject=congestion", (2, 3, 1)), ("reject=no-reason", (1, 1, 1)),
    ("reject=protocol-version", (1, 2, 2)), ("reject=app-context", (1, 1, 2)), ("reject=7", (1, 1, 7)),
])
def test_reject(fault: str, expected: tuple[int, int, int]) -> None:
    assert rj(negotiate(rq(), "SIM", build_fault_set([fault]))) == expected


def test_max_associations() -> None:
    fs = build_fault_set(["max-associations=1"])
    assert negotiate(rq(), "SIM", fs, active=0).ac is not None
    assert rj(negotiate(rq(), "SIM", fs, active=1)) == (2, 3, 2)


def test_protocol_checks_of_a_real_scp() -> None:
    fs = build_fault_set([])
    assert rj(negotiate(rq(protocol_version=2), "SIM", fs)) == (1, 2, 2)
    assert rj(negotiate(rq(application_context="1.2.3"), "SIM", fs)) == (1, 1, 2)


def test_accept_ts_and_refuse_sop() -> None:
    fs = build_fault_set(["accept-ts=ImplicitVRLittleEndian", "refuse-sop=MRImageStorage"])
    d = negotiate(rq(contexts=[PresentationContextRQ(1, CT, (EXPLICIT_LE,)),
                               PresentationContextRQ(3, CT, (EXPLICIT_LE, IMPLICIT_LE)),
                               PresentationContextRQ(5, MR, (IMPLICIT_LE,))]), "SIM", fs)
    res = {pc.context_id: (pc.result, pc.transfer_syntax) for pc in d.ac.presentation_contexts}
    assert res == {1: (4, ""), 3: (0, IMPLICIT_LE), 5: (3, "")}


def test_max_pdu_and_identity() -> None:
    d = negotiate(rq(), "SIM", build_fault_set(["max-pdu=4096"]))
    assert d.ac.user_information.max_length == 4096
    assert d.ac.user_information.implementation_version_name == "DD_SIMULATOR"


def test_roles_and_ignore_roles() -> None:
    req = rq(contexts=[PresentationContextRQ(1, CT, (EXPLICIT_LE,))], roles=[RoleSelection(CT, 0, 1)])
    d = negotiate(req, "SIM", build_fault_set([]))
    assert d.scp_roles == {CT}
    assert d.ac.user_information.role_selections == (RoleSelection(CT, 0, 1),)
    d = negotiate(req, "SIM", build_fault_set(["ignore-roles"]))
    assert d.scp_roles == frozenset() and d.ac.user_information.role_selections == ()


def test_abort_on_associate() -> None:
    assert negotiate(rq(), "SIM", build_fault_set(["abort-on-associate"])).abort

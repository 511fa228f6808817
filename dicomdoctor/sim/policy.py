"""What the simulator accepts: association negotiation as a pure function of the request and the faults.

Kept apart from the asyncio server so that every negotiation fault can be tested without a socket, and so
that the one place deciding "accept, reject, or how" is easy to read next to PS3.8 §9.3.3 and PS3.7 D.3.3.4.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ul.items import PresentationContextAC, RoleSelection, UserInformation
from ..ul.pdu import (IMPLEMENTATION_CLASS_UID, AAssociateAC, AAssociateRJ,
                      AAssociateRQ, DICOM_APPLICATION_CONTEXT)
from .faults import FaultSet

VERIFICATION = "1.2.840.10008.1.1"
STORAGE_PREFIX = "1.2.840.10008.5.1.4.1.1."
# Query/Retrieve information models (PS3.4 C.6): service -> {model: UID}.
QR_MODELS: dict[str, dict[str, str]] = {
    "c-find": {"patient": "1.2.840.10008.5.1.4.1.2.1.1", "study": "1.2.840.10008.5.1.4.1.2.2.1"},
    "c-move": {"patient": "1.2.840.10008.5.1.4.1.2.1.2", "study": "1.2.840.10008.5.1.4.1.2.2.2"},
    "c-get": {"patient": "1.2.840.10008.5.1.4.1.2.1.3", "study": "1.2.840.10008.5.1.4.1.2.2.3"},
}
QR_UIDS: dict[str, tuple[str, str]] = {uid: (svc, model) for svc, m in QR_MODELS.items() for model, uid in m.items()}

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
# Commands and identifiers must be readable by us: uncompressed transfer syntaxes only.
NATIVE_TS = (IMPLICIT_LE, EXPLICIT_LE, DEFLATED_LE, EXPLICIT_BE)
DEFAULT_MAX_PDU = 16384
# Our own stack, with a version name that tells a peer.identity check it met the simulator.
SIM_VERSION_NAME = "DD_SIMULATOR"


def is_storage(uid: str) -> bool:
    """Storage SOP classes all live under 1.2.840.10008.5.1.4.1.1 (PS3.4 Annex B; PS3.6 Table A-1)."""
    return uid.startswith(STORAGE_PREFIX)


def supported_abstract(uid: str) -> bool:
    return uid == VERIFICATION or uid in QR_UIDS or is_storage(uid)


def supported_ts(abstract: str, ts: str) -> bool:
    """Storage data sets are kept as received, so any transfer syntax is fine for a storage SOP class; the
    simulator itself must decode the data sets of the other services."""
    if is_storage(abstract):
        return bool(ts)
    return ts in NATIVE_TS


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one A-ASSOCIATE-RQ: an AC, an RJ, or (abort) an A-ABORT instead of either."""

    ac: AAssociateAC | None = None
    rj: AAssociateRJ | None = None
    abort: bool = False
    # context id -> (abstract syntax, transfer syntax) of the accepted contexts
    accepted: dict[int, tuple[str, str]] | None = None
    # storage SOP classes on which the requestor agreed to be SCP (C-GET sub-operations go there)
    scp_roles: frozenset[str] = frozenset()


def reject_for(rq: AAssociateRQ, aet: str, faults: FaultSet, active: int) -> AAssociateRJ | None:
    """The rejection the faults (or a malformed request) call for, in the order a real SCP checks."""
    if faults.reject is not None:
        r = faults.reject
        return AAssociateRJ(result=r.result, source=r.source, reason=r.reason)
    if rq.protocol_version & 1 == 0:  # PS3.8 §9.3.2: bit 0 is version 1; nothing else is defined
        return AAssociateRJ(result=1, source=2, reason=2)
    if rq.application_context != DICOM_APPLICATION_CONTEXT:
        return AAssociateRJ(result=1, source=1, reason=2)
    if faults.max_associations is not None and active >= faults.max_associations:
        return AAssociateRJ(result=2, source=3, reason=2)
    if faults.called_ae_strict and rq.called_ae.strip() != aet:
        return AAssociateRJ(result=1, source=1, reason=7)
    if faults.calling_ae_allow is not None and rq.calling_ae.strip() not in faults.calling_ae_allow:
        return AAssociateRJ(result=1, source=1, reason=3)
    return None


def negotiate(rq: AAssociateRQ, aet: str, faults: FaultSet, active: int = 0) -> Decision:
    """Accept or reject `rq` as a PACS with these faults would."""
    if faults.abort_on_associate:
        return Decision(abort=True)
    rj = reject_for(rq, aet, faults, active)
    if rj is not None:
        return Decision(rj=rj)
    results: list[PresentationContextAC] = []
    accepted: dict[int, tuple[str, str]] = {}
    for pc in rq.presentation_contexts:
        abstract = pc.abstract_syntax
        if not supported_abstract(abstract) or abstract in faults.refuse_sop:
            results.append(PresentationContextAC(pc.context_id, 3, ""))
            continue
        choice = ""
        for ts in pc.transfer_syntaxes:  # the requestor's order is its preference (PS3.8 §9.3.2.2)
            if faults.accept_ts is not None and ts not in faults.accept_ts:
                continue
            if supported_ts(abstract, ts):
                choice = ts
                break
        if not choice:
            results.append(PresentationContextAC(pc.context_id, 4, ""))
            continue
        results.append(PresentationContextAC(pc.context_id, 0, choice))
        accepted[pc.context_id] = (abstract, choice)
    # SCP/SCU role selection (PS3.7 D.3.3.4): agree to every role asked for on an accepted storage class,
    # unless the fault says to ignore role items, as some PACS do (then C-GET sub-operations cannot run).
    ui_rq = rq.user_information or UserInformation()
    roles: list[RoleSelection] = []
    scp_roles: set[str] = set()
    if not faults.ignore_roles:
        accepted_abstracts = {a for a, _ in accepted.values()}
        for r in ui_rq.role_selections:
            if r.sop_class_uid in accepted_abstracts:
                roles.append(RoleSelection(r.sop_class_uid, scu_role=r.scu_role, scp_role=r.scp_role))
                if r.scp_role and is_storage(r.sop_class_uid):
                    scp_roles.add(r.sop_class_uid)
    max_pdu = faults.max_pdu if faults.max_pdu is not None else DEFAULT_MAX_PDU
    ac = AAssociateAC(
        called_ae=rq.called_ae, calling_ae=rq.calling_ae,  # PS3.8 asks the AC to echo the RQ's titles
        presentation_contexts=tuple(results),
        user_information=UserInformation(max_length=max_pdu, implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                                         implementation_version_name=SIM_VERSION_NAME,
                                         role_selections=tuple(roles)),
    )
    return Decision(ac=ac, accepted=accepted, scp_roles=frozenset(scp_roles))

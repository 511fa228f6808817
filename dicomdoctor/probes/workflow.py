"""The workflow services as facts (no judgement): Modality Worklist C-FIND, MPPS N-CREATE/N-SET, Storage
Commitment N-ACTION + N-EVENT-REPORT. Each returns `WorkflowFacts`: `dimse`, a `probes.dimse.DimseFacts`
(the outcome of the association, the last status), and `extra`, the service's own facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..net import Association, Response
from ..net import workflow as nw
from ..net.association import DEFAULT_TRANSFER_SYNTAXES
from ..target import Target
from .dimse import DimseFacts, _take, run_service

# Identifiers kept as evidence; the counts are always complete.
KEEP_ENTRIES = 20
# The keys whose absence from the query pins nothing; relaxing them one at a time explains an empty worklist.
PINNABLE = ("ScheduledStationAETitle", "ScheduledProcedureStepStartDate", "Modality")


@dataclass
class WorkflowFacts:
    dimse: DimseFacts
    extra: dict[str, Any] = field(default_factory=dict)


def _flat(ds: Any, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """An identifier as {keyword: text}, the items of sequences flattened into the same mapping (MWL keys
    live in the Scheduled Procedure Step Sequence)."""
    out = {} if out is None else out
    if ds is None:
        return out
    for elem in ds:
        if not elem.keyword:
            continue
        if elem.VR == "SQ":
            out.setdefault(elem.keyword, "")
            for item in elem.value or ():
                _flat(item, out)
                break  # the first item says what the peer returns; bounded
            continue
        try:
            value = elem.value
        except Exception:  # an undecodable value is a character-set fact, kept as such
            value = "<undecodable>"
        out.setdefault(elem.keyword, "" if value is None else str(value))
    return out


def _non_ascii(values: Mapping[str, Any]) -> list[str]:
    return [k for k, v in values.items() if isinstance(v, str) and any(ord(c) > 127 for c in v)]


async def worklist(target: Target, keys: Mapping[str, Any], *, relax: bool = True, keep: int = KEEP_ENTRIES,
                   **kw: Any) -> WorkflowFacts:
    """MWL C-FIND with `keys`. In `extra`: `keys_asked` (keywords), `keys_returned` (keywords some match
    carried with a value), `keys_empty` (asked, present in no match with a value), `character_sets` (the
    Specific Character Sets the matches named, "" = none), `non_ascii` (keywords with non-ASCII text),
    `entries` (the first matches, flattened), and, when nothing matched and `relax`, `relaxed`: for each
    pinned key (station AE, date, modality), how many entries match without it (more C-FINDs on the same
    association)."""
    query_keys = dict(keys)
    extra: dict[str, Any] = {}

    async def one(assoc: Association, facts: DimseFacts, ks: Mapping[str, Any],
                  record: bool) -> tuple[int, Response | None]:
        matches, final = 0, None
        query = nw.find_worklist(assoc, ks)
        async for rsp in query:
            query.matches.clear()  # we count; memory stays bounded
            if rsp.pending:
                matches += 1
                if record:
                    _record(extra, rsp, keep)
            else:
                final = rsp
        return matches, final

    async def action(assoc: Association, facts: DimseFacts) -> None:
        extra.update(keys_asked=sorted(_flat(nw.worklist_identifier(query_keys))), returned_counts={},
                     character_sets=[], non_ascii=[], entries=[])
        matches, final = await one(assoc, facts, query_keys, True)
        facts.matches = matches
        if final is not None:
            _take(final, facts)
        if matches or not relax or facts.category != "success":
            return
        relaxed: list[dict[str, Any]] = []
        for key in PINNABLE:
            value = query_keys.get(key)
            if value is None or str(value).strip() in ("", "*"):
                continue
            loose = {k: v for k, v in query_keys.items() if k != key}
            n, fin = await one(assoc, facts, loose, False)
            relaxed.append({"without": key, "matches": n,
                            "status": fin.status if fin is not None else None})
        if len(relaxed) > 1:
            everything = {k: v for k, v in query_keys.items() if k not in PINNABLE}
            n, _fin = await one(assoc, facts, everything, False)
            relaxed.append({"without": "+".join(str(r["without"]) for r in relaxed), "matches": n})
        extra["relaxed"] = relaxed

    facts = await run_service("C-FIND", target, [(nw.WORKLIST_FIND, DEFAULT_TRANSFER_SYNTAXES)], action, **kw)
    counts: dict[str, int] = extra.pop("returned_counts", {})
    if "keys_asked" in extra:
        extra["keys_returned"] = sorted(counts)
        extra["keys_empty"] = [k for k in extra["keys_asked"] if k not in counts
                               and k != "ScheduledProcedureStepSequence"] if facts.matches else []
    return WorkflowFacts(facts, extra)


def _record(extra: dict[str, Any], rsp: Response, keep: int) -> None:
    flat = _flat(rsp.identifier)
    for k, v in flat.items():
        if str(v).strip():
            extra["returned_counts"][k] = extra["returned_counts"].get(k, 0) + 1
    charset = flat.get("SpecificCharacterSet", "")
    if charset not in extra["character_sets"] and len(extra["character_sets"]) < 16:
        extra["character_sets"].append(charset)
    for k in _non_ascii(flat):
        if k not in extra["non_ascii"]:
            extra["non_ascii"].append(k)
    if "<undecodable>" in flat.values() and "undecodable" not in extra:
        extra["undecodable"] = [k for k, v in flat.items() if v == "<undecodable>"]
    if len(extra["entries"]) < keep:
        extra["entries"].append(flat)


# --------------------------------------------------------------------------------------------------- MPPS

def _step(operation: str, rsp: Response) -> dict[str, Any]:
    """One N-service response as evidence; the attributes an N-service failure names (Attribute Identifier
    List, 0000,1005: missing or invalid attributes) are decoded like an Offending Element."""
    from ..dimse.status import decode_offending_elements

    ev = rsp.evidence()
    out = {"operation": operation, **{k: ev.get(k) for k in ("status", "status_hex", "status_name", "category",
                                                              "error_comment", "offending_elements", "rtt_ms")
                                      if ev.get(k) is not None}}
    attrs = getattr(rsp.message, "attribute_identifier_list", None)
    if attrs:
        out["attributes"] = decode_offending_elements(tuple(attrs))
    return out


async def mpps(target: Target, *, stage: str = "cycle", final: str = "COMPLETED", instance_uid: str | None = None,
               entry: Mapping[str, Any] | None = None, study_uid: str | None = None,
               images: tuple[tuple[str, str], ...] = (), **kw: Any) -> WorkflowFacts:
    """MPPS on one association: `stage` "cycle" = N-CREATE IN PROGRESS then N-SET `final`; "create" = only
    the N-CREATE; "set" = only the N-SET of `instance_uid`. In `extra`: `sop_instance_uid`, `steps` (one per
    request: operation, status, name, category, Error Comment, Offending Element, rtt), `state` reached
    ("none", "IN PROGRESS", `final`), `waiting_for` (the request that got no response, if any)."""
    from pydicom.uid import generate_uid

    uid = instance_uid or generate_uid()
    extra: dict[str, Any] = {"sop_instance_uid": uid, "steps": [], "state": "IN PROGRESS" if stage == "set" else "none",
                             "stage": stage}

    async def action(assoc: Association, facts: DimseFacts) -> None:
        if stage in ("cycle", "create"):
            extra["waiting_for"] = "N-CREATE"
            ds = nw.mpps_in_progress(station_ae=target.calling_ae, entry=entry, study_uid=study_uid)
            rsp = await nw.mpps_create(assoc, ds, uid)
            extra.pop("waiting_for")
            extra["steps"].append(_step("N-CREATE", rsp))
            _take(rsp, facts)
            if rsp.category not in ("success", "warning"):
                return
            created = getattr(rsp.message, "affected_sop_instance_uid", None)
            if created and created != uid:  # the SCP may assign its own (PS3.4 F.7.2.1.1)
                extra["sop_instance_uid"] = created
            extra["state"] = "IN PROGRESS"
        if stage in ("cycle", "set"):
            extra["waiting_for"] = "N-SET"
            rsp = await nw.mpps_set(assoc, nw.mpps_final(final, images=images), extra["sop_instance_uid"])
            extra.pop("waiting_for")
            extra["steps"].append(_step("N-SET", rsp))
            _take(rsp, facts)
            if rsp.category in ("success", "warning"):
                extra["state"] = final

    facts = await run_service("N-CREATE" if stage != "set" else "N-SET", target,
                              [(nw.MPPS, DEFAULT_TRANSFER_SYNTAXES)], action, **kw)
    return WorkflowFacts(facts, extra)


# --------------------------------------------------------------------------------------- Storage Commitment

async def commitment(target: Target, sources: "list[Any]", *, store: bool = True, listen_port: int = 0,
                     listen_host: str = "127.0.0.1", wait: float = 30.0, **kw: Any) -> WorkflowFacts:
    """Storage Commitment for `sources` (net.datasets.StoreSource): C-STORE them first when `store`, then
    N-ACTION (Transaction UID, the refs), then wait up to `wait` s for the N-EVENT-REPORT on this association
    or, with `listen_port`, on a new one to our listener. `extra`: transaction_uid, requested, stores,
    action (the N-ACTION-RSP), report (probes: net.workflow.read_report) or None, report_ms, listening,
    listener_connections (calling AE titles that associated to the listener), listen_error."""
    import time

    from pydicom.uid import generate_uid

    from .dimse import store_contexts

    uid = generate_uid()
    refs = [(s.sop_class_uid, s.sop_instance_uid) for s in sources]
    extra: dict[str, Any] = {"transaction_uid": uid, "requested": len(refs), "stores": [], "report": None,
                             "listening": bool(listen_port), "listener_connections": []}
    listener: nw.CommitmentListener | None = None
    if listen_port:
        listener = nw.CommitmentListener(target.calling_ae)
        try:
            await listener.start(listen_host, listen_port)
        except OSError as exc:
            extra["listen_error"] = f"cannot listen on {listen_host}:{listen_port}: {exc.strerror or exc}"
            return WorkflowFacts(DimseFacts("N-ACTION", outcome="listen-failed", detail=extra["listen_error"]), extra)

    async def action(assoc: Association, facts: DimseFacts) -> None:
        extra["waiting_for"] = "N-ACTION"
        assoc.context_for(nw.STORAGE_COMMITMENT)  # refused: NoAcceptedContext before anything is stored
        extra.pop("waiting_for")
        if store:
            for src in sources:
                rsp = await assoc.store(src)
                extra["stores"].append({"sop_instance_uid": src.sop_instance_uid, **rsp.evidence()})
                if rsp.category not in ("success", "warning"):
                    extra["store_failed"] = True
                    _take(rsp, facts)
                    return
        extra["waiting_for"] = "N-ACTION"
        rsp = await nw.commitment_action(assoc, uid, refs)
        extra.pop("waiting_for")
        extra["action"] = _step("N-ACTION", rsp)
        _take(rsp, facts)
        if rsp.category not in ("success", "warning"):
            return
        t0 = time.monotonic()
        report = await nw.wait_report(assoc, listener, wait)
        extra["report_ms"] = round((time.monotonic() - t0) * 1000.0, 1) if report is not None else None
        extra["report"] = report

    contexts: list[Any] = list(store_contexts(sources)) if store else []
    contexts.append((nw.STORAGE_COMMITMENT, DEFAULT_TRANSFER_SYNTAXES))
    try:
        facts = await run_service("N-ACTION", target, contexts, action, **kw)
    finally:
        if listener is not None:
            extra["listener_connections"] = list(listener.connections)
            await listener.close()
    return WorkflowFacts(facts, extra)


# ------------------------------------------------------------------------------------------- user identity

from ..user_identity import IDENTITY_TYPES  # noqa: E402  (one table for the check, the CLI and playbooks)


async def _attempt(target: Target, identity: Any, *, max_pdu: int, timeouts: Any, trace: Any,
                   tls_context: Any) -> dict[str, Any]:
    """One association with Verification and `identity` (a ul UserIdentityRQ, or None): how it ended, and
    whether the A-ASSOCIATE-AC carried a User Identity server response. Released at once."""
    from ..net import (AssociationAborted, AssociationRejected, AssociationTimeout, ConnectFailed,
                       PeerProtocolError, associate)
    from ..net.datasets import VERIFICATION
    from ..ul.items import UserInformation
    from ..ul.pdu import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

    ui = UserInformation(max_length=max_pdu, implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                         implementation_version_name=IMPLEMENTATION_VERSION_NAME, user_identity_rq=identity)
    out: dict[str, Any] = {"outcome": "accepted"}
    try:
        assoc = await associate(target, [VERIFICATION], max_pdu=max_pdu, timeouts=timeouts, trace=trace,
                                tls_context=tls_context, user_information=ui)
    except AssociationRejected as exc:
        return {"outcome": "rejected", "reject": exc.evidence()}
    except AssociationAborted as exc:
        return {"outcome": "aborted", "abort": {"source": exc.source, "reason": exc.reason,
                                                "source_name": exc.source_name, "reason_name": exc.reason_name}}
    except AssociationTimeout as exc:
        return {"outcome": "timeout", "detail": str(exc)}
    except ConnectFailed as exc:
        return {"outcome": "connect-failed", "connect_outcome": exc.outcome, "detail": exc.detail}
    except PeerProtocolError as exc:
        return {"outcome": "protocol-error", "detail": str(exc)}
    ac_ui = assoc.ac.user_information
    response = ac_ui.user_identity_ac if ac_ui is not None else None
    out["server_response"] = response is not None
    out["server_response_length"] = len(response.server_response) if response is not None else 0
    try:
        await assoc.release()
    except Exception:  # the finding is about the negotiation; a messy release is in the trace
        if assoc.is_open:
            await assoc.abort()
    return out


async def user_identity(target: Target, identity_type: int, primary: bytes, secondary: bytes = b"", *,
                        positive_response: bool = True, compare: bool = True, max_pdu: int = 16384,
                        timeouts: Any = None, trace: Any = None, tls_context: Any = None) -> dict[str, Any]:
    """User identity negotiation facts: `with_identity` (the association proposing it) and, when `compare`,
    `without_identity` (the same association without it), each {outcome, reject/abort, server_response}.
    `identity_type` 0 = none configured: the association without one is tried first and, only if it is
    refused, once more with a bare user name ("DICOMDOCTOR", type 1) to see whether the answer changes
    (`dummy`). The credentials never enter the facts: only the type and the lengths."""
    from ..net.timeouts import DEFAULT_TIMEOUTS
    from ..ul.items import UserIdentityRQ

    kw = dict(max_pdu=max_pdu, timeouts=timeouts or DEFAULT_TIMEOUTS, trace=trace, tls_context=tls_context)
    dummy = identity_type == 0
    if dummy:
        identity_type, primary, secondary = 1, b"DICOMDOCTOR", b""
    rq = UserIdentityRQ(identity_type, primary, secondary, positive_response)
    facts: dict[str, Any] = {"identity_type": identity_type, "positive_response_requested": positive_response,
                             "primary_length": len(primary), "secondary_length": len(secondary), "dummy": dummy}
    if dummy:
        facts["without_identity"] = await _attempt(target, None, **kw)
        if facts["without_identity"]["outcome"] in ("rejected", "aborted"):
            facts["with_identity"] = await _attempt(target, rq, **kw)
        return facts
    facts["with_identity"] = await _attempt(target, rq, **kw)
    w = facts["with_identity"]
    if w["outcome"] == "accepted" and positive_response and not w.get("server_response") and identity_type in (1, 2):
        # No positive response: does the peer check identities at all? A decoy it must refuse tells (pynetdicom
        # verifies user names and passcodes but never answers them, PS3.7 D.3.3.7.2 notwithstanding).
        import secrets

        decoy = secrets.token_hex(8).encode()
        wrong = UserIdentityRQ(identity_type, primary if identity_type == 2 else b"dd-" + decoy,
                               b"dd-" + decoy if identity_type == 2 else b"", positive_response)
        facts["decoy"] = await _attempt(target, wrong, **kw)
    if compare and w["outcome"] in ("accepted", "rejected", "aborted"):
        facts["without_identity"] = await _attempt(target, None, **kw)
    return facts

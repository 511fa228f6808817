"""C-MOVE and C-GET as facts, with what the final status cannot show (FM-25, FM-31..35).

* C-MOVE: our own Storage SCP listens as the destination, so the facts say whether the peer connected back
  at all (`connect_back`) and how many instances really arrived, not only what the counters claim. When the
  move fails without a connection, two cheap follow-ups on the same association tell the causes apart:
  a C-MOVE to a random AE title (does this PACS answer an unknown destination differently, e.g. 0xA801, or
  the same way, as Orthanc's bare 0xC000 does?) and a C-FIND with the same keys (was there anything to move?).
* C-GET: every storage class proposed with the SCP role for us; the facts record which roles the peer
  accepted, so a PACS that ignores role selection is told apart from one that failed to send.
* `sample`: with no unique key given, retrieve ONE instance found by C-FIND (first study, first series,
  first image): a read-only check must not pull a whole archive to the doctor.

Received instances are counted, never held in memory (a moved study can be gigabytes); with `out_dir` they
are written as Part-10 files. Nothing here judges.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Mapping

from ..net import (Association, AssociationError, NoAcceptedContext, SCPContext, SCPServer, StorageSCP,
                   retrieve_contexts)
from ..net import datasets as nds
from ..net.association import DEFAULT_TRANSFER_SYNTAXES
from ..target import Target
from ..ul.pdu import AAssociateAC
from . import dimse as pd

# PS3.4 C.4.2.2.1 / C.4.3.2.1: a hierarchical (non-relational) retrieve names the unique key of its level and
# of every level above it in the model. We never negotiate relational retrieve, so these are required.
UNIQUE_KEYS = {
    "patient": {"PATIENT": ("PatientID",), "STUDY": ("PatientID", "StudyInstanceUID"),
                "SERIES": ("PatientID", "StudyInstanceUID", "SeriesInstanceUID"),
                "IMAGE": ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")},
    "study": {"STUDY": ("StudyInstanceUID",), "SERIES": ("StudyInstanceUID", "SeriesInstanceUID"),
              "IMAGE": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")},
    "patientstudyonly": {"PATIENT": ("PatientID",), "STUDY": ("PatientID", "StudyInstanceUID")},
}
STUDY_ROOT_FIND = nds.QR_MODELS["study"][0]
# The detail of a "nothing-to-retrieve" outcome (engine/checks/qr.py says it in the run's language).
NOTHING_TO_SAMPLE = "no instance matched the keys, nothing to sample"


def model_key(model: str) -> str:
    key = model.lower().replace(" ", "").replace("-", "").replace("_", "")
    return {"patientroot": "patient", "studyroot": "study"}.get(key, key)


def missing_unique_keys(level: str, keys: Mapping[str, Any], model: str) -> list[str] | None:
    """The unique keys a hierarchical retrieve at `level` needs but `keys` lacks (absent, empty or wildcarded:
    unique keys match single values or UID lists only). None when the level does not exist in the model."""
    table = UNIQUE_KEYS.get(model_key(model))
    if table is None:
        return []  # a UID given as the model: we cannot know its hierarchy
    needed = table.get(level.upper())
    if needed is None:
        return None
    out = []
    for k in needed:
        v = keys.get(k)
        text = "\\".join(map(str, v)) if isinstance(v, (list, tuple)) else ("" if v is None else str(v))
        if not text.strip() or "*" in text or "?" in text:
            out.append(k)
    return out


def random_ae() -> str:
    """A 16-character AE title no PACS has configured."""
    return "DD" + secrets.token_hex(7).upper()


class _CountingStorage(StorageSCP):
    """The move destination: counts what arrives and writes it to `directory` if one is given, but never keeps
    data set bytes in memory."""

    async def on_store(self, ctx: SCPContext, rq: Any, dataset: bytes, transfer_syntax: str) -> Any:
        status = await super().on_store(ctx, rq, dataset, transfer_syntax)
        if self.received:
            self.received[-1].data = None
        return status


async def _first(assoc: Association, level: str, keys: dict[str, Any], want: str) -> str | None:
    """`want` of the first C-FIND match (Study Root), cancelling the rest."""
    query = assoc.find(level, keys, "study")
    value: str | None = None
    async for rsp in query:
        query.matches.clear()  # bounded: we keep one value, not every response
        if rsp.pending and value is None and rsp.identifier is not None:
            value = str(rsp.identifier.get(want, "") or "") or None
            if value:
                await query.cancel()
    return value


async def sample_instance(assoc: Association, base: Mapping[str, Any]) -> dict[str, str] | None:
    """Study, series and SOP Instance UIDs of one instance matching `base` (the playbook's keys, used at STUDY
    level), by three Study Root C-FINDs on this association. UIDs only: nothing that identifies a patient."""
    study_keys = {k: v for k, v in base.items() if k not in ("SeriesInstanceUID", "SOPInstanceUID")}
    study_keys["StudyInstanceUID"] = study_keys.get("StudyInstanceUID") or ""
    study = await _first(assoc, "STUDY", study_keys, "StudyInstanceUID")
    if not study:
        return None
    series = await _first(assoc, "SERIES", {"StudyInstanceUID": study, "SeriesInstanceUID": ""},
                          "SeriesInstanceUID")
    if not series:
        return None
    sop = await _first(assoc, "IMAGE", {"StudyInstanceUID": study, "SeriesInstanceUID": series,
                                        "SOPInstanceUID": ""}, "SOPInstanceUID")
    if not sop:
        return None
    return {"StudyInstanceUID": study, "SeriesInstanceUID": series, "SOPInstanceUID": sop}


async def count_matches(assoc: Association, level: str, keys: Mapping[str, Any], model: str) -> int | None:
    """0 or 1 (cancelled after the first): does a C-FIND with the retrieve's keys match anything? None if we
    cannot ask (no accepted C-FIND context, or the query failed)."""
    try:
        query = assoc.find(level, dict(keys), model)
        n = 0
        async for rsp in query:
            query.matches.clear()
            if rsp.pending:
                n += 1
                await query.cancel()
            elif rsp.category not in ("success", "cancel"):
                return None
        return min(n, 1)
    except NoAcceptedContext:
        return None


def _find_contexts(model: str) -> list[Any]:
    """C-FIND contexts proposed alongside a retrieve: the retrieve's model (to count matches) and Study Root
    (to sample). The peer may refuse them; the follow-ups are then skipped."""
    sops = [nds.sop_class_for(model, "find")]
    if STUDY_ROOT_FIND not in sops:
        sops.append(STUDY_ROOT_FIND)
    return [(s, DEFAULT_TRANSFER_SYNTAXES) for s in sops]


async def _prepare(assoc: Association, facts: pd.DimseFacts, level: str, keys: dict[str, Any], model: str,
                   sample: bool) -> tuple[str, dict[str, Any], str] | None:
    """The level, keys and model to retrieve with; None (facts explain) when sampling found nothing."""
    if not sample:
        return level, keys, model
    facts.retrieved = {"stage": "sampling"}  # replaced once the retrieve itself starts; says where it failed
    picked = await sample_instance(assoc, keys)
    facts.sampled = picked
    if picked is None:
        facts.outcome, facts.detail = "nothing-to-retrieve", NOTHING_TO_SAMPLE
        return None
    return "IMAGE", dict(picked), "study"


async def _follow_up(assoc: Association, facts: pd.DimseFacts, level: str, ident: dict[str, Any], model: str) -> None:
    """After a C-MOVE that failed (or sent nothing) without a connection reaching us: a C-MOVE to a random AE
    title and a C-FIND with the same keys. Their failures never replace the main result: a PACS that aborts
    the C-FIND (Orthanc, for an AE not allowed to query) only leaves `query_matches` unknown."""
    ae = random_ae()
    try:
        probe = await assoc.move(level, ident, ae, model=model)
        ev = probe.final.evidence()
        facts.random_destination = {"ae_title": ae, "completed": probe.completed, "failed": probe.failed,
                                    **{k: ev[k] for k in ("status", "status_hex", "status_name", "category",
                                                          "error_comment", "rtt_ms") if k in ev}}
        facts.query_matches = await count_matches(assoc, level, ident, model)
    except AssociationError as exc:
        note = f"{type(exc).__name__}: {exc}"
        if facts.random_destination is None:
            facts.random_destination = {"ae_title": ae, "error": note}
        else:
            facts.random_destination["find_error"] = note


def _retrieve_facts(result: Any, facts: pd.DimseFacts) -> None:
    pd._take(result.final, facts)
    facts.completed, facts.failed = result.completed, result.failed
    facts.warning, facts.remaining = result.warning, result.remaining
    facts.pending = result.pending_count or len(result.pending)


async def move(target: Target, level: str, keys: Mapping[str, Any], destination: str, *, model: str = "study",
               listen_host: str = "127.0.0.1", listen_port: int | None = None, out_dir: str | Path | None = None,
               sample: bool = False, discriminate: bool = True, grace: float = 1.0, **kw: Any) -> pd.DimseFacts:
    server: SCPServer | None = None
    storage = _CountingStorage(out_dir)
    if listen_port is not None:
        server = SCPServer(destination, storage, max_pdu=int(kw.get("max_pdu", 16384)))
        try:
            await server.start(listen_host, listen_port)
        except OSError as exc:
            return pd.DimseFacts("C-MOVE", "listen-failed", f"cannot listen on {listen_host}:{listen_port} as the "
                                                            f"move destination {destination}: {exc.strerror or exc}")

    def arrived() -> bool:
        return server is not None and bool(server.records)

    async def action(assoc: Association, facts: pd.DimseFacts) -> None:
        plan = await _prepare(assoc, facts, level, dict(keys), model, sample)
        if plan is None:
            return
        lvl, ident, mdl = plan
        facts.retrieved = {"level": lvl, "model": mdl}
        _retrieve_facts(await assoc.move(lvl, ident, destination, model=mdl), facts)
        if server is not None and (facts.completed or 0) > len(storage.received):
            # The final response can overtake the last sub-operation's C-STORE-RSP: wait a little for it.
            try:
                await storage.wait_for(facts.completed or 0, grace)
            except TimeoutError:
                pass
        quiet = not arrived() and facts.status != 0xA801 and (
            facts.category in ("failure", "warning") or (facts.category == "success" and not facts.completed))
        if discriminate and quiet:
            await _follow_up(assoc, facts, lvl, ident, mdl)

    try:
        contexts, _ = retrieve_contexts("study" if sample else model, service="move")
        facts = await pd.run_service("C-MOVE", target, contexts + _find_contexts(model), action, **kw)
        if server is not None:
            facts.received = len(storage.received)
            facts.connect_back = bool(server.records)
            accepted = sum(1 for r in server.records if isinstance(r.reply, AAssociateAC))
            facts.destination = {"ae_title": destination, "host": listen_host, "port": server.port,
                                 "associations": len(server.records), "accepted": accepted,
                                 "calling_ae": sorted({r.rq.calling_ae for r in server.records if r.rq})[:5]}
    finally:
        if server is not None:
            await server.close()
    return facts


async def get(target: Target, level: str, keys: Mapping[str, Any], *, model: str = "study",
              out_dir: str | Path | None = None, sample: bool = False, **kw: Any) -> pd.DimseFacts:
    async def action(assoc: Association, facts: pd.DimseFacts) -> None:
        proposed = set(pd.GET_STORAGE_CLASSES)
        scp = sorted(uid for uid, (_scu, scp_role) in assoc.accepted_roles.items() if scp_role and uid in proposed)
        facts.roles = {"proposed": len(proposed), "answered": len(assoc.accepted_roles), "scp_accepted": len(scp)}
        plan = await _prepare(assoc, facts, level, dict(keys), model, sample)
        if plan is None:
            return
        lvl, ident, mdl = plan
        facts.retrieved = {"level": lvl, "model": mdl}

        def on_store(rq: Any, data: bytes, ts: str) -> int:
            facts.received += 1
            if out_dir is not None:
                path = pd.write_part10(Path(out_dir), rq.affected_sop_class_uid, rq.affected_sop_instance_uid, ts,
                                       data)
                if len(facts.files) < pd.KEEP_RESULTS:
                    facts.files.append(str(path))
            return 0x0000

        result = await assoc.get(lvl, ident, on_store, model=mdl)
        _retrieve_facts(result, facts)
        facts.stores = [{"sop_class_uid": c, "sop_instance_uid": i, "status": st}
                        for c, i, st in result.stores[:pd.KEEP_RESULTS]]

    contexts, roles = retrieve_contexts("study" if sample else model, pd.GET_STORAGE_CLASSES, service="get")
    return await pd.run_service("C-GET", target, contexts + _find_contexts(model), action, roles=roles, **kw)

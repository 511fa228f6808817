"""The workflow services in a capture: Modality Worklist C-FIND, MPPS N-CREATE / N-SET, Storage Commitment
N-ACTION / N-EVENT-REPORT, Instance Availability Notification and user identity negotiation.

`WorkflowRecord` (one per association, filled by association.py) keeps what each service's requests and
responses say: the worklist pins and match count, each MPPS step's requested state and status, each
commitment transaction's instance counts. Values are read from the small data sets those messages carry
(pdustream keeps them, capped); patient data is never kept, only keywords and the values a modality is
configured with (station AE title, date, modality).

The judgement comes at the end of the capture (`workflow_findings`), not when an association closes: the
N-EVENT-REPORT of a commitment usually comes on a new association from the SCP, and the N-SET that completes
an MPPS on another association than its N-CREATE, so both are matched across the capture's associations (by
Transaction UID, by SOP Instance UID). Causes come from engine/judge.py, as for the live checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..engine import judge
from ..engine.kb import KnowledgeBase
from ..engine.model import Finding, Status
from ..messages import Msg, Text, counted, join, msg
from ..ul import USER_IDENTITY_TYPE_NAMES

__all__ = ["WorkflowRecord", "workflow_findings", "keep_dataset", "MWL", "MPPS", "COMMITMENT", "IAN"]

MWL = "1.2.840.10008.5.1.4.31"
MPPS = "1.2.840.10008.3.1.2.3.3"
COMMITMENT = "1.2.840.10008.1.20.1"
COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
IAN = "1.2.840.10008.5.1.4.33"
WORKFLOW_CLASSES = frozenset({MWL, MPPS, COMMITMENT, IAN})
MAX_ITEMS = 50            # workflow operations kept per association (the rest are counted)
MAX_SEEN = 10             # distinct stations / dates / failure reasons listed
_ORDER = {Status.PASS: 0, Status.SKIP: 0, Status.WARN: 1, Status.ERROR: 2, Status.FAIL: 3}


def keep_dataset(name: str, sop_class: str | None) -> bool:
    """Whether pdustream should keep the data set of this message (it is small and says what the workflow
    did): the MPPS and IAN attribute lists, the commitment request and report, the worklist's matches."""
    if name in ("N-CREATE-RQ", "N-SET-RQ"):
        return sop_class in (MPPS, IAN)
    if name in ("N-ACTION-RQ", "N-EVENT-REPORT-RQ"):
        return sop_class == COMMITMENT
    if name == "C-FIND-RSP":
        return sop_class == MWL
    return False


def _decode(data: bytes | None, transfer_syntax: str | None) -> Any:
    if not data:
        return None
    ts = transfer_syntax or "1.2.840.10008.1.2"
    try:
        from io import BytesIO

        from pydicom.filereader import read_dataset

        return read_dataset(BytesIO(data), ts == "1.2.840.10008.1.2", ts != "1.2.840.10008.1.2.2")
    except Exception:  # a broken data set is a detail of the finding, never a crash
        return None


def _text(ds: Any, keyword: str) -> str | None:
    try:
        value = ds.get(keyword) if ds is not None else None
    except Exception:
        return None
    return None if value is None else str(value).strip()


def _items(ds: Any, keyword: str) -> list[Any]:
    try:
        value = ds.get(keyword) if ds is not None else None
        return list(value) if value is not None else []
    except Exception:
        return []


_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC"})


def _charset_facts(ds: Any, non_ascii: set[str], undecodable: set[str], charsets: set[str]) -> None:
    """Which text attributes of a worklist entry carry non-ASCII bytes, and which cannot be decoded in the
    declared Specific Character Set (keywords only, never the text)."""
    cs = ds.get("SpecificCharacterSet") if ds is not None else None
    declared = [] if cs is None else [str(cs)] if isinstance(cs, str) else [str(c) for c in cs]
    charsets.add("\\".join(declared))
    from pydicom.datadict import dictionary_VR, keyword_for_tag

    def walk(d: Any) -> None:
        for tag in list(d.keys()):
            try:
                raw = d.get_item(tag)
                vr = getattr(raw, "VR", None) or dictionary_VR(tag)
            except Exception:
                continue
            if vr == "SQ":
                for item in d[tag].value or ():
                    walk(item)
                continue
            value = getattr(raw, "value", None)
            if vr in _TEXT_VRS and isinstance(value, bytes) and any(b > 0x7F for b in value):
                kw = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
                non_ascii.add(kw)
                if declared == ["ISO_IR 192"]:
                    try:
                        value.decode("utf-8")
                    except UnicodeDecodeError:
                        undecodable.add(kw)

    try:
        walk(ds)
    except Exception:
        pass


@dataclass
class WorkflowRecord:
    """What one association did of the workflow services (association.py calls `message`)."""

    worklist: list[dict[str, Any]] = field(default_factory=list)
    mpps: list[dict[str, Any]] = field(default_factory=list)
    commit_actions: list[dict[str, Any]] = field(default_factory=list)
    commit_reports: list[dict[str, Any]] = field(default_factory=list)
    ian: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    undecodable: int = 0
    _open: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    # filled by `seal` when the association ends
    tid: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.worklist or self.mpps or self.commit_actions or self.commit_reports or self.ian
                    or self.facts.get("user_identity"))

    def _add(self, bucket: list[dict[str, Any]], item: dict[str, Any], key: tuple[int, int]) -> None:
        if len(bucket) >= MAX_ITEMS:
            self.dropped += 1
            return
        bucket.append(item)
        self._open[key] = item

    def message(self, a: Any, direction: int, ts: float, context_id: int, m: Any, data: bytes | None) -> None:
        import warnings

        try:
            # pydicom warns about each odd value of a damaged data set; the finding's counts are the report
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._message(a, direction, ts, context_id, m, data)
        except Exception:  # a data set pydicom cannot read lazily: the step is counted, the capture still analysed
            self.undecodable += 1

    def _message(self, a: Any, direction: int, ts: float, context_id: int, m: Any, data: bytes | None) -> None:
        name = m.name
        sop_class = getattr(m, "affected_sop_class_uid", None) or getattr(m, "requested_sop_class_uid", None) \
            or a.abstract_syntax(context_id)
        if sop_class not in WORKFLOW_CLASSES:
            return
        by = a.who(direction)
        if not getattr(m, "IS_RESPONSE", False):
            key = (direction, getattr(m, "message_id", 0))
            ds = _decode(data, a.transfer_syntax(context_id))
            base = {"message_id": key[1], "by": by, "ts": ts, "t_ms": a._ms(ts), "status": None,
                    "answered": False}
            if name == "C-FIND-RQ" and sop_class == MWL:
                sps = (_items(ds, "ScheduledProcedureStepSequence") or [None])[0]
                pins = {k: v for k, v in (("station", _text(sps, "ScheduledStationAETitle")),
                                          ("date", _text(sps, "ScheduledProcedureStepStartDate")),
                                          ("modality", _text(sps, "Modality"))) if v}
                asked = [e.keyword for e in ds if e.keyword] if ds is not None else []
                asked += [e.keyword for e in sps if e.keyword] if sps is not None else []
                self._add(self.worklist, {**base, "pins": pins, "keys_asked": asked, "matches": 0,
                                          "stations": [], "dates": [], "_returned": set(), "_non_ascii": set(),
                                          "_undecodable": set(), "_charsets": set()}, key)
            elif name == "N-CREATE-RQ" and sop_class == MPPS:
                self._add(self.mpps, {**base, "operation": "N-CREATE", "sop_instance_uid":
                                      getattr(m, "affected_sop_instance_uid", None),
                                      "state": _text(ds, "PerformedProcedureStepStatus"),
                                      "station": _text(ds, "PerformedStationAETitle")}, key)
            elif name == "N-SET-RQ" and sop_class == MPPS:
                self._add(self.mpps, {**base, "operation": "N-SET", "sop_instance_uid":
                                      getattr(m, "requested_sop_instance_uid", None),
                                      "state": _text(ds, "PerformedProcedureStepStatus")}, key)
            elif name == "N-ACTION-RQ" and sop_class == COMMITMENT:
                self._add(self.commit_actions, {
                    **base, "transaction_uid": _text(ds, "TransactionUID"), "action_type_id": m.action_type_id,
                    "requested_sop_instance_uid": m.requested_sop_instance_uid,
                    "instances": len(_items(ds, "ReferencedSOPSequence")) if ds is not None else None,
                    "decoded": ds is not None}, key)
            elif name == "N-EVENT-REPORT-RQ" and sop_class == COMMITMENT:
                failed = _items(ds, "FailedSOPSequence")
                reasons: list[str] = []
                for item in failed:
                    reason = item.get("FailureReason") if item is not None else None
                    if isinstance(reason, int) and f"0x{reason:04X}" not in reasons and len(reasons) < MAX_SEEN:
                        reasons.append(f"0x{reason:04X}")
                self._add(self.commit_reports, {
                    **base, "transaction_uid": _text(ds, "TransactionUID"), "event_type_id": m.event_type_id,
                    "committed": len(_items(ds, "ReferencedSOPSequence")) if ds is not None else None,
                    "failed": len(failed) if ds is not None else None, "failure_reasons": reasons,
                    "decoded": ds is not None}, key)
            elif name == "N-CREATE-RQ" and sop_class == IAN:
                n = sum(len(_items(s, "ReferencedSOPSequence")) for s in _items(ds, "ReferencedSeriesSequence"))
                self._add(self.ian, {**base, "operation": "N-CREATE", "instances": n if ds is not None else None,
                                     "sop_instance_uid": getattr(m, "affected_sop_instance_uid", None)}, key)
            return
        key = (1 - direction, getattr(m, "message_id_being_responded_to", 0))
        item = self._open.get(key)
        if item is None:
            return
        from ..dimse import response_evidence

        ev = response_evidence(m, m.service)
        if ev.get("category") == "pending":
            if "matches" in item:
                item["matches"] += 1
                ds = _decode(data, a.transfer_syntax(context_id))
                if ds is not None:
                    item["_returned"].update(e.keyword for e in ds if e.keyword and not e.is_empty)
                    for sps in _items(ds, "ScheduledProcedureStepSequence")[:1]:
                        item["_returned"].update(e.keyword for e in sps if e.keyword and not e.is_empty)
                        for k, kw in (("stations", "ScheduledStationAETitle"),
                                      ("dates", "ScheduledProcedureStepStartDate")):
                            v = _text(sps, kw)
                            if v and v not in item[k] and len(item[k]) < MAX_SEEN:
                                item[k].append(v)
                    _charset_facts(ds, item["_non_ascii"], item["_undecodable"], item["_charsets"])
            return
        del self._open[key]
        item.update(answered=True, status=ev.get("status"), status_hex=ev.get("status_hex"),
                    status_name=ev.get("status_name"), category=ev.get("category"), rsp_t_ms=a._ms(ts), rsp_ts=ts)
        if ev.get("error_comment"):
            item["error_comment"] = ev["error_comment"]
        if item.get("operation") == "N-CREATE" and not item.get("sop_instance_uid"):
            item["sop_instance_uid"] = getattr(m, "affected_sop_instance_uid", None)

    def seal(self, a: Any, tid: str) -> None:
        """The association ended: note how (for requests never answered) and its user identity."""
        self.tid = tid
        self._open.clear()
        end = a.end[0] if a.end else "capture-end"
        abort = a.abort[0] if a.abort is not None else None
        self.facts = {"end": "abort" if abort is not None else end, "first_ts": a.first_ts,
                      "abort": (abort.source, abort.reason) if abort is not None else None,
                      "acceptor": str(a.acceptor_end), "called_ae": a.rq.called_ae if a.rq else None,
                      "calling_ae": a.rq.calling_ae if a.rq else None,
                      "outcome": "accepted" if a.ac is not None else "rejected" if a.rj is not None else
                      "aborted" if abort is not None else "no-answer"}
        if a.rj is not None:
            self.facts["reject"] = {"result": a.rj.result, "source": a.rj.source, "reason": a.rj.reason}
        for item in self.worklist:
            for k in ("_returned", "_non_ascii", "_undecodable", "_charsets"):
                item[k.lstrip("_") if k != "_returned" else "keys_returned"] = sorted(item.pop(k))
        ui = a.rq.user_information if a.rq is not None else None
        uid = ui.user_identity_rq if ui is not None else None
        if uid is not None:
            kind = uid.identity_type
            ident: dict[str, Any] = {"type": kind, "type_name": USER_IDENTITY_TYPE_NAMES.get(kind, f"type {kind}"),
                                     "positive_response_requested": uid.positive_response_requested}
            if kind in (1, 2):
                # The user name is who connects, not a secret; the passcode is, so only its length is kept.
                ident["username"] = uid.primary_field.decode("utf-8", "replace")
                if kind == 2:
                    ident["passcode_length"] = len(uid.secondary_field)
            else:
                ident["token_length"] = len(uid.primary_field)
            ac_ui = a.ac.user_information if a.ac is not None else None
            resp = ac_ui.user_identity_ac if ac_ui is not None else None
            ident["server_response"] = resp is not None
            if resp is not None:
                ident["server_response_length"] = len(resp.server_response)
            self.facts["user_identity"] = ident


# ================================================================================================ judgement

@dataclass
class _Out:
    """One association's workflow finding under construction."""

    parts: list[Text] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    status: Status = Status.PASS
    evidence: dict[str, Any] = field(default_factory=dict)

    def add(self, text: Text, status: Status = Status.PASS, causes: Iterable[str] = ()) -> None:
        self.parts.append(text)
        if _ORDER[status] > _ORDER[self.status]:
            self.status = status
        self.causes += [c for c in causes if c not in self.causes]


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_") and k not in ("ts", "rsp_ts")}


def _status_text(item: dict[str, Any]) -> str:
    if not item.get("answered"):
        return "no response"
    return str(item.get("status_hex") or "no status")


def _unanswered(rec: WorkflowRecord, own_silent: str, own_abort: str, service: str) -> tuple[Status, tuple[str, ...]]:
    """A workflow request without a response: the live checks' no-response / abort causes, or a warning
    when the capture simply ended first."""
    f = rec.facts
    if f.get("end") == "capture-end":
        return Status.WARN, ()
    if f.get("abort") is not None:
        src, reason = f["abort"]
        return Status.FAIL, judge.request_abort_causes(own_abort, src, reason, service=service)
    return Status.FAIL, judge.no_response_causes(own_silent, "dimse", service=service)


_PIN_KEYWORDS = {"station": "ScheduledStationAETitle", "date": "ScheduledProcedureStepStartDate",
                 "modality": "Modality"}


def _relaxed(q: dict[str, Any], later: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
    """Later queries of the association that drop some of an empty query's pins (as `dicomdoctor worklist`
    does, and a user at the modality's console): what each dropped pin brings back, for worklist_suspects."""
    out: list[Mapping[str, Any]] = []
    for r in later:
        pins, mine = r["pins"], q["pins"]
        if not r.get("answered") or not set(pins) < set(mine) or any(pins[k] != mine[k] for k in pins):
            continue
        dropped = [_PIN_KEYWORDS[k] for k in _PIN_KEYWORDS if k in mine and k not in pins]
        out.append({"without": "+".join(dropped), "matches": r["matches"]})
    return out


def _worklist(rec: WorkflowRecord, out: _Out) -> None:
    for i, q in enumerate(rec.worklist):
        pins = q["pins"]
        text: Msg = msg("worklist query: {matches}", matches=counted(q["matches"], "{n} match", "{n} matches"))
        if pins.get("station"):
            text = text + msg(", station {station}", station=pins["station"])
        if pins.get("date"):
            text = text + msg(", date {date}", date=pins["date"])
        if pins.get("modality"):
            text = text + msg(", modality {modality}", modality=pins["modality"])
        status: Status = Status.PASS
        causes: tuple[str, ...] = ()
        if not q["answered"]:
            status, causes = _unanswered(rec, "dimse-timeout", "peer-aborted", "c-find")
            text = text + msg("; no final response")
        elif q.get("category") in ("failure", "warning"):
            causes = judge.status_causes(q.get("status"), "C-FIND")
            status = Status.FAIL if q["category"] == "failure" else Status.WARN
            text = text + msg("; ended with {status} ({name})", status=q.get("status_hex"), name=q.get("status_name"))
        else:
            missing = judge.worklist_missing_keys(q["keys_returned"], q["keys_asked"]) if q["matches"] else []
            charset = judge.charset_problem(q["charsets"], q["non_ascii"], q["undecodable"])
            causes = judge.worklist_causes(matches=q["matches"], suspects=[], missing=missing, charset=charset)
            q.update(missing_keys=missing, charset_problem=charset or None)
            if q["matches"] == 0:
                relaxed = _relaxed(q, rec.worklist[i + 1:])
                suspects = judge.worklist_suspects(relaxed)
                q.update(relaxed=relaxed, suspects=suspects)
                back = next((r["matches"] for r in relaxed if r["without"] == suspects[0]), 0) if suspects else 0
                if back:
                    text = text + (msg(" (the worklist is empty for these keys, but {n} entry matches without "
                                       "{key})", n=back, key=suspects[0]) if back == 1 else
                                   msg(" (the worklist is empty for these keys, but {n} entries match without "
                                       "{key})", n=back, key=suspects[0]))
                else:
                    text = text + msg(" (the worklist is empty for these keys)")
            if missing:
                text = text + msg("; no value for {keys} in any entry", keys=", ".join(missing))
            if charset == "undeclared":
                text = text + msg("; non-ASCII text in {keys} without a Specific Character Set",
                                  keys=", ".join(q["non_ascii"]))
            elif charset == "undecodable":
                text = text + msg("; {keys} cannot be decoded in the declared character set",
                                  keys=", ".join(q["undecodable"]))
            status = Status.WARN if causes else Status.PASS
        out.add(text, status, causes)


def _step(item: dict[str, Any], rec_tid: str, here: str) -> Msg:
    state = item.get("state") or ""
    text = msg("{operation} {state} ({status})", operation=item["operation"], state=state,
               status=_status_text(item)) if state else \
        msg("{operation} ({status})", operation=item["operation"], status=_status_text(item))
    if item.get("category") in ("failure", "warning") and item.get("status_name"):
        text = msg("{operation} {state} ({status} {name})", operation=item["operation"], state=state,
                   status=item.get("status_hex"), name=item.get("status_name")) if state else \
            msg("{operation} ({status} {name})", operation=item["operation"], status=item.get("status_hex"),
                name=item.get("status_name"))
    if rec_tid != here:
        text = text + msg(" on another association")
    return text


def _mpps(records: list[WorkflowRecord], outs: dict[str, _Out]) -> None:
    by_uid: dict[str, list[tuple[WorkflowRecord, dict[str, Any]]]] = {}
    for rec in records:
        for item in rec.mpps:
            by_uid.setdefault(str(item.get("sop_instance_uid") or "?"), []).append((rec, item))
    for uid, steps in by_uid.items():
        steps.sort(key=lambda s: s[1]["ts"])
        home, first = steps[0]
        out = outs[home.tid]
        parts = [_step(item, rec.tid, home.tid) for rec, item in steps]
        text: Msg = msg("MPPS {uid}: {steps}", uid=uid, steps=join(parts, sep=msg(", then ")))
        status: Status = Status.PASS
        causes: tuple[str, ...] = ()
        creates = [s for s in steps if s[1]["operation"] == "N-CREATE"]
        if not creates:
            text = text + msg("; no N-CREATE for this instance in the capture")
        bad = next(((r, s) for r, s in steps if s.get("category") in ("failure", "warning") or not s["answered"]),
                   None)
        if bad is not None:
            rec, s = bad
            op = s["operation"].lower()
            if not s["answered"]:
                status, causes = _unanswered(rec, "mpps-no-response", "mpps-refused", op)
            elif s["category"] == "failure":
                status, causes = Status.FAIL, judge.workflow_status_causes(s.get("status"), op, "mpps-refused")
            else:
                status, causes = Status.WARN, judge.status_causes(s.get("status"), op)
        else:
            last = next((s for _, s in reversed(steps) if s.get("state")), None)
            if last is not None and last["state"] in ("COMPLETED", "DISCONTINUED"):
                text = text + msg("; the step reached {state}", state=last["state"])
            elif steps[-1][1]["operation"] == "N-CREATE":
                text = text + msg("; still IN PROGRESS at the end of the capture")
        out.add(text, status, causes)
        out.evidence.setdefault("mpps", []).append(
            {"sop_instance_uid": uid, "steps": [{**_public(s), "association": r.tid} for r, s in steps]})
        for rec, item in steps:
            if rec.tid != home.tid:  # the association that continues a step begun elsewhere says so too
                outs[rec.tid].add(msg("MPPS {uid}: {step}, continuing a step begun on another association",
                                      uid=uid, step=_step(item, rec.tid, rec.tid)))
                outs[rec.tid].evidence.setdefault("mpps", []).append(
                    {"sop_instance_uid": uid, "steps": [_public(item)], "begun_on": home.tid})


def _seconds(a: float, b: float) -> float:
    return round(b - a, 3)


def _commitment(records: list[WorkflowRecord], outs: dict[str, _Out]) -> None:
    reports: dict[str, list[tuple[WorkflowRecord, dict[str, Any]]]] = {}
    for rec in records:
        for rp in rec.commit_reports:
            reports.setdefault(str(rp.get("transaction_uid") or "?"), []).append((rec, rp))
    matched: set[int] = set()
    for rec in records:
        out = outs[rec.tid]
        for act in rec.commit_actions:
            uid = str(act.get("transaction_uid") or "?")
            n = act.get("instances")
            count = counted(n, "{n} instance", "{n} instances") if n is not None else msg("data set not decoded")
            text: Msg = msg("storage commitment transaction {uid}: N-ACTION {count} ({status})", uid=uid,
                            count=count, status=_status_text(act))
            ev = {**_public(act)}
            status: Status = Status.PASS
            causes: tuple[str, ...] = ()
            later = [(r, rp) for r, rp in reports.get(uid, []) if rp["ts"] >= act["ts"]]
            if not act["answered"]:
                status, causes = _unanswered(rec, "commitment-no-report", "commitment-refused", "n-action")
            elif act.get("category") == "failure":
                status = Status.FAIL
                causes = judge.workflow_status_causes(act.get("status"), "n-action", "commitment-refused")
                text = text + msg(": refused ({name})", name=act.get("status_name"))
            elif later:
                r, rp = later[0]
                matched.add(id(rp))
                where = msg("on the same association") if r is rec else msg("on a new association")
                gap = rp["ts"] - act["ts"]
                after = msg("{s:.1f} s later", s=gap) if gap >= 1 else msg("{ms:.0f} ms later", ms=gap * 1000)
                text = text + msg("; N-EVENT-REPORT {where} {later}: {committed} committed, {failed} failed",
                                  where=where, later=after, committed=rp.get("committed"), failed=rp.get("failed"))
                if rp.get("failure_reasons"):
                    text = text + msg(" ({reasons})", reasons=", ".join(rp["failure_reasons"]))
                causes = judge.commitment_causes(report_received=True, failed=int(rp.get("failed") or 0),
                                                 listener_connected=None, listening=False)
                status = Status.FAIL if causes else Status.PASS
                ev["report"] = {**_public(rp), "association": r.tid, "same_association": r is rec,
                                "after_s": _seconds(act["ts"], rp["ts"])}
            else:
                causes = judge.commitment_causes(report_received=False, failed=0, listener_connected=None,
                                                 listening=False)
                status = Status.FAIL
                text = text + msg("; no N-EVENT-REPORT for this transaction in the capture")
            out.add(text, status, causes)
            out.evidence.setdefault("commitment", []).append(ev)
    for rec in records:
        out = outs[rec.tid]
        for rp in rec.commit_reports:
            if id(rp) in matched:
                uid = str(rp.get("transaction_uid") or "?")
                out.add(msg("storage commitment report for transaction {uid} (requested on another association): "
                            "{committed} committed, {failed} failed", uid=uid, committed=rp.get("committed"),
                            failed=rp.get("failed")))
                out.evidence.setdefault("commitment_reports", []).append(_public(rp))
                continue
            uid = str(rp.get("transaction_uid") or "?")
            causes = judge.commitment_causes(report_received=True, failed=int(rp.get("failed") or 0),
                                             listener_connected=None, listening=False)
            out.add(msg("storage commitment report for transaction {uid}: {committed} committed, {failed} failed "
                        "(its N-ACTION is not in the capture)", uid=uid, committed=rp.get("committed"),
                        failed=rp.get("failed")), Status.FAIL if causes else Status.PASS, causes)
            out.evidence.setdefault("commitment_reports", []).append(_public(rp))


def _ian(rec: WorkflowRecord, out: _Out) -> None:
    for item in rec.ian:
        n = item.get("instances")
        count = counted(n, "{n} instance", "{n} instances") if n is not None else msg("data set not decoded")
        status: Status = Status.PASS
        causes: tuple[str, ...] = ()
        if not item["answered"]:
            status, causes = _unanswered(rec, "dimse-timeout", "peer-aborted", "n-create")
        elif item.get("category") == "failure":
            status, causes = Status.FAIL, judge.status_causes(item.get("status"), "n-create")
        out.add(msg("instance availability notification: N-CREATE {count} ({status})", count=count,
                    status=_status_text(item)), status, causes)


def _identity(rec: WorkflowRecord, out: _Out, without: dict[str, dict[str, Any]]) -> None:
    ident = rec.facts.get("user_identity")
    if not ident:
        return
    kind = ident["type"]
    if kind in (1, 2):
        text: Msg = msg("user identity {type}: user {username}", type=ident["type_name"], username=ident["username"])
        if kind == 2:
            text = text + msg(", passcode {n} bytes", n=ident["passcode_length"])
    else:
        text = msg("user identity {type}: token {n} bytes", type=ident["type_name"], n=ident["token_length"])
    f = rec.facts
    if f["outcome"] != "accepted":
        pass  # no A-ASSOCIATE-AC, so no response to expect: the outcome below says it all
    elif ident["server_response"]:
        text = text + msg("; server response received ({n} bytes)", n=ident.get("server_response_length", 0))
    elif ident["positive_response_requested"]:
        text = text + msg("; positive response requested, none received")
    else:
        text = text + msg("; no positive response requested")
    with_identity = {"outcome": f["outcome"], "server_response": ident["server_response"]}
    if "reject" in f:
        with_identity["reject"] = f["reject"]
    other = without.get(f"{f.get('called_ae')}@{f.get('acceptor')}")
    causes = judge.user_identity_causes(with_identity, other, positive_response=ident["positive_response_requested"])
    if f["outcome"] == "rejected":
        text = text + msg("; the association was rejected")
    elif f["outcome"] == "aborted":
        text = text + msg("; the association was aborted")
    elif f["outcome"] != "accepted":
        text = text + msg("; the association got no answer")
    status = Status.PASS if not causes else Status.WARN if f["outcome"] == "accepted" else Status.FAIL
    out.add(text, status, causes)
    out.evidence["user_identity"] = ident


def workflow_findings(records: list[WorkflowRecord], kb: KnowledgeBase, lang: str) -> dict[str, Finding]:
    """association target id -> its capture.workflow finding, for every association that used a workflow
    service or proposed a user identity."""
    from .judge import _causes, _title

    records = sorted(records, key=lambda r: r.facts.get("first_ts", 0.0))
    outs = {r.tid: _Out() for r in records}
    # Associations without a user identity, by acceptor: what the same peer answers without one.
    without: dict[str, dict[str, Any]] = {}
    for r in records:
        if not r.facts.get("user_identity"):
            f = r.facts
            without[f"{f.get('called_ae')}@{f.get('acceptor')}"] = {"outcome": f["outcome"],
                                                                   **({"reject": f["reject"]} if "reject" in f else {})}
    for r in records:
        _identity(r, outs[r.tid], without)
        _worklist(r, outs[r.tid])
        if r.worklist:
            outs[r.tid].evidence["worklist"] = [_public(q) for q in r.worklist]
    _mpps(records, outs)
    _commitment(records, outs)
    for r in records:
        _ian(r, outs[r.tid])
        if r.ian:
            outs[r.tid].evidence["instance_availability"] = [_public(i) for i in r.ian]
        if r.dropped:
            outs[r.tid].evidence["operations_not_listed"] = r.dropped
        if r.undecodable:
            outs[r.tid].evidence["data_sets_not_decodable"] = r.undecodable
    found: dict[str, Finding] = {}
    for r in records:
        out = outs[r.tid]
        if not out.parts:
            continue
        summary = join(out.parts, sep=msg("; ")).render(lang)
        found[r.tid] = Finding(r.tid, "capture.workflow", _title(kb, "capture.workflow", lang), out.status, summary,
                               out.evidence, _causes(kb, out.causes, lang), 0.0)
    return found

"""The simulator's workflow services: a Modality Worklist from YAML/JSON entries, MPPS with the state checks of
PS3.4 F.7.1, Storage Commitment with its report on the same association (or, for an AE title of
--move-dest, on a new one), and user identity required. Each `--fault` of faults.py turns one on, with a
mode that breaks it on purpose.

Worklist entries are flat {keyword: value} mappings (the Scheduled Procedure Step keys are nested for the
answer, as net/workflow.py does for queries); "today" as a date is the simulator's today. Bad files are
BadInput naming the file (and the line, for YAML).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..errors import BadInput
from ..net import workflow as nw

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

SERVICE_UIDS = {"worklist": nw.WORKLIST_FIND, "mpps": nw.MPPS, "commitment": nw.STORAGE_COMMITMENT}
MAX_ENTRIES = 10000
DEFAULT_ENTRY = {"PatientName": "DOE^SYNTHETIC", "PatientID": "SIMWL0001", "PatientBirthDate": "19700101",
                 "PatientSex": "O", "AccessionNumber": "SIMACC0001", "RequestedProcedureID": "SIMRP0001",
                 "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.10001",
                 "RequestedProcedureDescription": "CT HEAD", "ScheduledStationAETitle": "DICOMDOCTOR",
                 "Modality": "CT", "ScheduledProcedureStepStartDate": "today",
                 "ScheduledProcedureStepStartTime": "080000",
                 "ScheduledProcedureStepID": "SIMSPS0001", "ScheduledProcedureStepDescription": "HEAD"}


def load_worklist(path: str | None) -> list[dict[str, Any]]:
    """Entries from a YAML or JSON file (a list of mappings, or {entries: [...]}); None = one synthetic entry
    for today's CT at station DICOMDOCTOR."""
    if not path:
        return [dict(DEFAULT_ENTRY)]
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"worklist file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            from ..yamlguard import check_expansion

            node = yaml.compose(text, Loader=yaml.SafeLoader)
            check_expansion(node)
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"worklist file {path}:{exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # yaml.YAMLError, the expansion guard
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise BadInput(f"worklist file {path}{where}: {getattr(exc, 'problem', None) or exc}") from None
    if isinstance(data, Mapping):
        data = data.get("entries")
    if not isinstance(data, list) or not all(isinstance(e, Mapping) for e in data):
        raise BadInput(f"worklist file {path}: expected a list of entries ({{keyword: value}} mappings)")
    from pydicom.datadict import tag_for_keyword

    for i, e in enumerate(data):
        bad = [k for k in e if tag_for_keyword(str(k)) is None]
        if bad:
            raise BadInput(f"worklist file {path}: entry {i + 1}: unknown DICOM keyword {bad[0]!r}")
    return [{str(k): "" if v is None else str(v) for k, v in e.items()} for e in data[:MAX_ENTRIES]]


def _matches(value: str, wanted: str, vr: str) -> bool:
    """PS3.4 C.2.2.2 matching, the parts a modality uses: universal, wildcards, DA ranges, lists."""
    import fnmatch

    wanted = wanted.strip()
    if not wanted or wanted == "*":
        return True
    value = value.strip()
    if vr == "DA" and "-" in wanted:
        lo, _, hi = wanted.partition("-")
        return (not lo or value >= lo) and (not hi or value <= hi)
    if "\\" in wanted:
        return any(_matches(value, w, vr) for w in wanted.split("\\"))
    if "\\" in value:
        return any(_matches(v, wanted, vr) for v in value.split("\\"))
    if any(c in wanted for c in "*?"):
        return fnmatch.fnmatchcase(value, wanted)
    return value == wanted


def match_worklist(entries: Iterable[Mapping[str, Any]], identifier: "Dataset") -> list["Dataset"]:
    """The entries that match the identifier's keys (top level and the Scheduled Procedure Step item), each
    answered with the keys asked for."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataset import Dataset

    today = nw.worklist_date("today")
    asked_top = {e.keyword: str(e.value if e.value is not None else "") for e in identifier
                 if e.keyword and e.VR != "SQ"}
    asked_sps: dict[str, str] = {}
    seq = identifier.get("ScheduledProcedureStepSequence")  # by keyword: the Sequence itself
    if seq:
        asked_sps = {e.keyword: str(e.value if e.value is not None else "") for e in seq[0]
                     if e.keyword and e.VR != "SQ"}
    out = []
    for entry in entries:
        values = {k: (today if v == "today" else v) for k, v in entry.items()}
        ok = True
        for kw, wanted in {**asked_top, **asked_sps}.items():
            if kw == "SpecificCharacterSet":
                continue
            tag = tag_for_keyword(kw)
            vr = str(dictionary_VR(tag)) if tag is not None else ""
            if wanted.strip() and not _matches(str(values.get(kw, "")), nw.worklist_date(wanted), vr):
                ok = False
                break
        if not ok:
            continue
        ds = Dataset()
        for kw in asked_top:
            setattr(ds, kw, values.get(kw, ""))
        if "SpecificCharacterSet" in values:
            ds.SpecificCharacterSet = values["SpecificCharacterSet"]
        item = Dataset()
        for kw in asked_sps or nw.SPS_RETURN_KEYS:
            setattr(item, kw, values.get(kw, ""))
        ds.ScheduledProcedureStepSequence = [item]
        out.append(ds)
    return out


class WorkflowServices:
    """MPPS and Storage Commitment for the simulator: `modes` {service: mode} from the faults; `stored(uid)`
    says whether the simulator holds an instance (commitment answers for those)."""

    def __init__(self, modes: Mapping[str, str], stored: Any, destinations: Mapping[str, tuple[str, int]]) -> None:
        self.modes = dict(modes)
        self.stored = stored
        self.destinations = destinations
        self.steps: dict[str, str] = {}  # MPPS SOP Instance UID -> state
        self._hang = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    def supports(self, uid: str) -> bool:
        return any(SERVICE_UIDS[s] == uid for s in self.modes if s in SERVICE_UIDS)

    async def close(self) -> None:
        self._hang.set()
        for t in list(self._tasks):
            t.cancel()

    async def dispatch(self, base: Any, am: Any) -> bool:
        """Answer an N-CREATE / N-SET / N-ACTION; False when the message is not ours."""
        from ..dimse.messages import NActionRQ, NActionRSP, NCreateRQ, NCreateRSP, NSetRQ, NSetRSP
        from ..net.datasets import decode, encode

        rq = am.message
        abstract, ts = base.accepted.get(am.context_id, ("", ""))
        if isinstance(rq, NCreateRQ) and abstract == nw.MPPS:
            mode = self.modes.get("mpps", "ok")
            if mode == "hang":
                await self._hang.wait()
                return True
            uid = rq.affected_sop_instance_uid or ""
            status, comment = self._create(mode, uid, decode(am.dataset, ts) if am.dataset else None)
            rsp = NCreateRSP(message_id_being_responded_to=rq.message_id, affected_sop_class_uid=nw.MPPS,
                             affected_sop_instance_uid=uid, status=status, error_comment=comment)
            await base.channel.send_message(am.context_id, rsp)
            return True
        if isinstance(rq, NSetRQ) and abstract == nw.MPPS:
            ds = decode(am.dataset, ts) if am.dataset else None
            status, comment = self._set(rq.requested_sop_instance_uid, ds)
            await base.channel.send_message(am.context_id, NSetRSP(
                message_id_being_responded_to=rq.message_id, affected_sop_class_uid=nw.MPPS,
                affected_sop_instance_uid=rq.requested_sop_instance_uid, status=status, error_comment=comment))
            return True
        if isinstance(rq, NActionRQ) and abstract == nw.STORAGE_COMMITMENT:
            mode = self.modes.get("commitment", "ok")
            await base.channel.send_message(am.context_id, NActionRSP(
                message_id_being_responded_to=rq.message_id, affected_sop_class_uid=nw.STORAGE_COMMITMENT,
                affected_sop_instance_uid=nw.STORAGE_COMMITMENT_INSTANCE, action_type_id=1, status=0x0000))
            if mode == "no-report":
                return True
            ds = decode(am.dataset, ts) if am.dataset else None
            event, report = self._report(ds, mode)
            delay = float(mode.split(":", 1)[1]) if mode.startswith("delay:") else 0.0
            task = asyncio.ensure_future(self._send_report(base, am.context_id, ts, event, report, delay,
                                                           encode))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return True
        return False

    def _create(self, mode: str, uid: str, ds: Any) -> tuple[int, str | None]:
        if mode == "refuse":
            return 0x0120, "simulator fault mpps=refuse: no Scheduled Step Attributes Sequence accepted"
        status = str(getattr(ds, "PerformedProcedureStepStatus", "") or "") if ds is not None else ""
        if status != "IN PROGRESS":
            return 0x0106, "an MPPS is created IN PROGRESS (PS3.4 F.7.2.1)"
        if uid in self.steps:
            return 0x0111, None
        if len(self.steps) > 10000:  # bounded memory: forget the oldest steps
            self.steps.pop(next(iter(self.steps)))
        self.steps[uid] = "COMPLETED" if mode == "closed" else "IN PROGRESS"
        return 0x0000, None

    def _set(self, uid: str, ds: Any) -> tuple[int, str | None]:
        if uid not in self.steps:
            return 0x0112, None
        if self.steps[uid] != "IN PROGRESS":
            return 0xC310, f"the step is already {self.steps[uid]}"
        new = str(getattr(ds, "PerformedProcedureStepStatus", "") or "IN PROGRESS") if ds is not None else ""
        if new not in ("IN PROGRESS", "COMPLETED", "DISCONTINUED"):
            return 0x0106, f"no such state {new!r}"
        self.steps[uid] = new
        return 0x0000, None

    def _report(self, ds: Any, mode: str) -> tuple[int, "Dataset"]:
        from pydicom.dataset import Dataset

        out = Dataset()
        out.TransactionUID = str(getattr(ds, "TransactionUID", "") or "") if ds is not None else ""
        ok, bad = [], []
        for item in (getattr(ds, "ReferencedSOPSequence", None) or []) if ds is not None else []:
            ref = Dataset()
            ref.ReferencedSOPClassUID = item.get("ReferencedSOPClassUID", "")
            ref.ReferencedSOPInstanceUID = item.get("ReferencedSOPInstanceUID", "")
            if mode == "fail" or not self.stored(str(ref.ReferencedSOPInstanceUID)):
                ref.FailureReason = 0x0110 if mode == "fail" else 0x0112
                bad.append(ref)
            else:
                ok.append(ref)
        if ok:
            out.ReferencedSOPSequence = ok
        if bad:
            out.FailedSOPSequence = bad
        return (2 if bad else 1), out

    async def _send_report(self, base: Any, context_id: int, ts: str, event: int, report: "Dataset", delay: float,
                           encode: Any) -> None:
        from ..dimse.messages import NEventReportRQ

        if delay:
            await asyncio.sleep(delay)  # the fault: an archive that reports late
        rq = NEventReportRQ(message_id=1, affected_sop_class_uid=nw.STORAGE_COMMITMENT,
                            affected_sop_instance_uid=nw.STORAGE_COMMITMENT_INSTANCE, event_type_id=event,
                            command_data_set_type=0x0001)
        dest = self.destinations.get(base.rq.calling_ae.strip())
        if dest is None:  # no address for this AE title: report on the association the request came on
            try:
                await base.channel.send_message(context_id, rq, encode(report, ts))
            except Exception:  # the requestor left: the report is lost, as with a real archive
                pass
            return
        from ..net import associate
        from ..target import Target

        try:
            target = Target(host=dest[0], port=dest[1], called_ae=base.rq.calling_ae.strip(),
                            calling_ae=base.rq.called_ae.strip() or "SIMULATOR")
            async with await associate(target, [(nw.STORAGE_COMMITMENT, (ts,))]) as assoc:
                await assoc.request(rq, report, abstract_syntax=nw.STORAGE_COMMITMENT)
        except Exception:  # cannot connect back: the modality sees no report
            pass


def user_identity_ac(rq: Any) -> Any:
    """For user-identity-required: None = reject (no identity proposed); else the AC's response item (an
    empty server response when a positive response was asked for) or False for none."""
    from ..ul.items import UserIdentityAC

    ui = rq.user_information
    ident = ui.user_identity_rq if ui is not None else None
    if ident is None:
        return None
    return UserIdentityAC(b"") if ident.positive_response_requested else False

"""The SCU side of the workflow services over an `Association`: Modality Worklist C-FIND identifiers,
MPPS N-CREATE / N-SET, Storage Commitment N-ACTION and the N-EVENT-REPORT that answers it.

Identifiers are built as a modality sends them (IHE Scheduled Workflow): the Scheduled Procedure Step keys
go inside the Scheduled Procedure Step Sequence (0040,0100), the others at the top level.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from .association import Association
    from .responses import Response

WORKLIST_FIND = "1.2.840.10008.5.1.4.31"
MPPS = "1.2.840.10008.3.1.2.3.3"
STORAGE_COMMITMENT = "1.2.840.10008.1.20.1"
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"  # the well-known SOP Instance (PS3.4 J.3.5)
INSTANCE_AVAILABILITY = "1.2.840.10008.5.1.4.33"

# Keys of the Scheduled Procedure Step Sequence item (PS3.4 K.6.1.2.2) that a modality sends.
SPS_KEYS = ("ScheduledStationAETitle", "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime",
            "Modality", "ScheduledPerformingPhysicianName", "ScheduledProcedureStepDescription",
            "ScheduledStationName", "ScheduledProcedureStepLocation", "ScheduledProcedureStepID",
            "ScheduledProtocolCodeSequence", "ScheduledProcedureStepStatus")
# What a modality asks back at the top level (patient, visit, requested procedure, imaging service request).
TOP_RETURN_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                   "ReferringPhysicianName", "StudyInstanceUID", "RequestedProcedureID",
                   "RequestedProcedureDescription")
SPS_RETURN_KEYS = ("ScheduledStationAETitle", "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime",
                   "Modality", "ScheduledPerformingPhysicianName", "ScheduledProcedureStepDescription",
                   "ScheduledStationName", "ScheduledProcedureStepID")


def worklist_date(value: str, today: _dt.date | None = None) -> str:
    """"today" (also inside a range: "today-", "-today") -> YYYYMMDD; anything else as given."""
    day = (today or _dt.date.today()).strftime("%Y%m%d")
    return "-".join(day if part.strip().lower() == "today" else part.strip() for part in value.split("-"))


def split_worklist_keys(keys: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """{keyword: value} -> (top-level keys, Scheduled Procedure Step keys)."""
    top: dict[str, Any] = {}
    sps: dict[str, Any] = {}
    for k, v in keys.items():
        (sps if k in SPS_KEYS else top)[k] = "" if v is None else v
    return top, sps


def worklist_identifier(keys: Mapping[str, Any]) -> "Dataset":
    """The MWL C-FIND identifier: the default return keys, overridden or narrowed by `keys` (an empty value
    asks for that key back; a value matches on it). `ScheduledProcedureStepStartDate` may say "today"."""
    from pydicom.dataset import Dataset

    top, sps = split_worklist_keys(keys)
    ds = Dataset()
    for kw in TOP_RETURN_KEYS:
        setattr(ds, kw, "")
    for kw, v in top.items():
        setattr(ds, kw, v)
    item = Dataset()
    for kw in SPS_RETURN_KEYS:
        setattr(item, kw, "")
    for kw, v in sps.items():
        if kw == "ScheduledProcedureStepStartDate" and isinstance(v, str):
            v = worklist_date(v)
        setattr(item, kw, v)
    ds.ScheduledProcedureStepSequence = [item]
    return ds


def find_worklist(assoc: "Association", keys: Mapping[str, Any]) -> Any:
    """A `FindQuery` over the Modality Worklist model (iterate it for the responses)."""
    return assoc.find(None, worklist_identifier(keys), "worklist")


# --------------------------------------------------------------------------------------------------- MPPS

def mpps_in_progress(*, station_ae: str, entry: Mapping[str, Any] | None = None, study_uid: str | None = None,
                     modality: str = "OT", now: _dt.datetime | None = None) -> "Dataset":
    """The N-CREATE data set of a Modality Performed Procedure Step IN PROGRESS (PS3.4 F.7.2.1, IHE RAD-6)
    for a synthetic procedure, linked to a worklist `entry` ({keyword: text}) when one is given."""
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    from ..synthetic import SYNTHETIC_PATIENT_NAME

    entry = entry or {}
    now = now or _dt.datetime.now()
    ssa = Dataset()
    ssa.StudyInstanceUID = entry.get("StudyInstanceUID") or study_uid or generate_uid()
    ssa.ReferencedStudySequence = []
    ssa.AccessionNumber = entry.get("AccessionNumber", "")
    ssa.RequestedProcedureID = entry.get("RequestedProcedureID", "")
    ssa.RequestedProcedureDescription = entry.get("RequestedProcedureDescription", "")
    ssa.ScheduledProcedureStepID = entry.get("ScheduledProcedureStepID", "")
    ssa.ScheduledProcedureStepDescription = entry.get("ScheduledProcedureStepDescription", "")
    ssa.ScheduledProtocolCodeSequence = []
    ds = Dataset()
    ds.ScheduledStepAttributesSequence = [ssa]
    ds.PatientName = entry.get("PatientName") or SYNTHETIC_PATIENT_NAME
    ds.PatientID = entry.get("PatientID") or "DD-TEST-MPPS"
    ds.PatientBirthDate = entry.get("PatientBirthDate", "")
    ds.PatientSex = entry.get("PatientSex", "")
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = "DD" + now.strftime("%H%M%S")
    ds.PerformedStationAETitle = station_ae
    ds.PerformedStationName = "DICOMDOCTOR"
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = now.strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = now.strftime("%H%M%S")
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "dicomdoctor test procedure step (synthetic)"
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = entry.get("Modality") or modality
    ds.StudyID = ""
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    return ds


def mpps_final(status: str = "COMPLETED", *, series_uid: str | None = None, images: tuple[tuple[str, str], ...] = (),
               now: _dt.datetime | None = None) -> "Dataset":
    """The N-SET data set that ends the step: COMPLETED or DISCONTINUED, the end date/time and the series
    performed (the `images` (SOP class, SOP instance) stored)."""
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    now = now or _dt.datetime.now()
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = now.strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = now.strftime("%H%M%S")
    series = Dataset()
    series.PerformingPhysicianName = ""
    series.ProtocolName = "DICOMDOCTOR"
    series.OperatorsName = ""
    series.SeriesInstanceUID = series_uid or generate_uid()
    series.SeriesDescription = "dicomdoctor test series (synthetic)"
    series.RetrieveAETitle = ""
    refs = []
    for sop_class, sop_instance in images:
        ref = Dataset()
        ref.ReferencedSOPClassUID = sop_class
        ref.ReferencedSOPInstanceUID = sop_instance
        refs.append(ref)
    series.ReferencedImageSequence = refs
    series.ReferencedNonImageCompositeSOPInstanceSequence = []
    ds.PerformedSeriesSequence = [series]
    return ds


async def mpps_create(assoc: "Association", ds: "Dataset", instance_uid: str) -> "Response":
    from ..dimse.messages import NCreateRQ

    return await assoc.request(NCreateRQ(affected_sop_class_uid=MPPS, affected_sop_instance_uid=instance_uid,
                                         command_data_set_type=0x0001), ds, abstract_syntax=MPPS)


async def mpps_set(assoc: "Association", ds: "Dataset", instance_uid: str) -> "Response":
    from ..dimse.messages import NSetRQ

    return await assoc.request(NSetRQ(requested_sop_class_uid=MPPS, requested_sop_instance_uid=instance_uid),
                               ds, abstract_syntax=MPPS)


# -------------------------------------------------------------------------------------- Storage Commitment

# Failure Reason (0008,1197) values of a Storage Commitment report (PS3.4 J.3.3.1.1).
FAILURE_REASONS = {0x0110: "processing failure", 0x0112: "no such object instance", 0x0213: "resource limitation",
                   0x0122: "referenced SOP class not supported", 0x0119: "class / instance conflict",
                   0x0131: "duplicate transaction UID"}


def commitment_request(transaction_uid: str, refs: "tuple[tuple[str, str], ...] | list[tuple[str, str]]") -> "Dataset":
    """The N-ACTION-RQ data set (action type 1): the Transaction UID and the (SOP class, SOP instance) refs."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.TransactionUID = transaction_uid
    items = []
    for sop_class, sop_instance in refs:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        items.append(item)
    ds.ReferencedSOPSequence = items
    return ds


async def commitment_action(assoc: "Association", transaction_uid: str,
                            refs: "tuple[tuple[str, str], ...] | list[tuple[str, str]]") -> "Response":
    from ..dimse.messages import NActionRQ

    return await assoc.request(NActionRQ(requested_sop_class_uid=STORAGE_COMMITMENT,
                                         requested_sop_instance_uid=STORAGE_COMMITMENT_INSTANCE, action_type_id=1,
                                         command_data_set_type=0x0001),
                               commitment_request(transaction_uid, refs), abstract_syntax=STORAGE_COMMITMENT)


def read_report(event_type_id: int | None, ds: "Dataset | None", *, via: str, calling_ae: str = "",
                keep: int = 50) -> dict[str, Any]:
    """An N-EVENT-REPORT of Storage Commitment -> facts: event type (1 all committed, 2 some failed),
    transaction UID, counts, the failed items (at most `keep`) with their Failure Reason."""
    ok = list(getattr(ds, "ReferencedSOPSequence", None) or []) if ds is not None else []
    bad = list(getattr(ds, "FailedSOPSequence", None) or []) if ds is not None else []
    failed = []
    for item in bad[:keep]:
        reason = item.get("FailureReason")
        code = int(reason) if reason is not None else None
        failed.append({"sop_class_uid": str(item.get("ReferencedSOPClassUID", "")),
                       "sop_instance_uid": str(item.get("ReferencedSOPInstanceUID", "")),
                       "failure_reason": code, "failure_reason_hex": f"0x{code:04X}" if code is not None else None,
                       "reason_name": FAILURE_REASONS.get(code or -1, "unknown reason")})
    return {"event_type_id": event_type_id, "via": via, "calling_ae": calling_ae,
            "transaction_uid": str(getattr(ds, "TransactionUID", "") or "") if ds is not None else "",
            "success": len(ok), "failed": len(bad), "failed_items": failed,
            "committed": [(str(i.get("ReferencedSOPClassUID", "")), str(i.get("ReferencedSOPInstanceUID", "")))
                          for i in ok[:keep]]}


async def answer_event_report(channel: Any, context_id: int, rq: Any) -> None:
    from ..dimse.messages import NEventReportRSP

    await channel.send_message(context_id, NEventReportRSP(
        message_id_being_responded_to=rq.message_id, affected_sop_class_uid=rq.affected_sop_class_uid,
        affected_sop_instance_uid=rq.affected_sop_instance_uid, event_type_id=rq.event_type_id, status=0x0000))


class CommitmentListener:
    """Our SCP for the N-EVENT-REPORT a Storage Commitment SCP sends on a new association (PS3.4 J.3.3):
    `reports` (an asyncio.Queue of read_report facts), `connections` (calling AE titles that associated)."""

    def __init__(self, ae_title: str, *, max_pdu: int = 16384) -> None:
        import asyncio

        from .scp import SCPBehaviour, SCPServer

        listener = self
        self.reports: "asyncio.Queue[dict[str, Any]]" = asyncio.Queue()
        self.connections: list[str] = []

        class _Behaviour(SCPBehaviour):
            def supports(self, abstract_syntax: str) -> bool:
                return abstract_syntax == STORAGE_COMMITMENT or super().supports(abstract_syntax)

            def negotiate(self, rq: Any) -> Any:
                listener.connections.append(rq.calling_ae)
                return super().negotiate(rq)

        class _Server(SCPServer):
            async def _dispatch(self, base: Any, am: Any) -> None:
                from ..dimse.messages import NEventReportRQ

                rq = am.message
                if isinstance(rq, NEventReportRQ) and base.accepted.get(am.context_id, ("",))[0] == STORAGE_COMMITMENT:
                    ts = base.accepted[am.context_id][1]
                    try:
                        ds = decode(am.dataset, ts)
                    except Exception:  # an undecodable report is still a report: counted as such
                        ds = None
                    await answer_event_report(base.channel, am.context_id, rq)
                    listener.reports.put_nowait(read_report(rq.event_type_id, ds, via="listener",
                                                            calling_ae=base.rq.calling_ae))
                    return
                await super()._dispatch(base, am)

        from .datasets import decode
        self.server = _Server(ae_title, _Behaviour(), max_pdu=max_pdu)

    async def start(self, host: str, port: int) -> int:
        return await self.server.start(host, port)

    async def close(self) -> None:
        await self.server.close()


async def wait_report(assoc: "Association", listener: CommitmentListener | None,
                      seconds: float) -> dict[str, Any] | None:
    """The Storage Commitment report, from whichever comes first within `seconds`: an N-EVENT-REPORT on
    this association (answered here), or one our listener received. None when none came."""
    import asyncio
    import time as _time

    from ..dimse.messages import NEventReportRQ
    from .datasets import decode

    deadline = _time.monotonic() + max(0.0, seconds)
    while True:
        left = deadline - _time.monotonic()
        if listener is not None and not listener.reports.empty():
            return listener.reports.get_nowait()
        if left <= 0:
            return None
        waits: list[Any] = [asyncio.ensure_future(assoc.channel.next_event(left))] if assoc.is_open else []
        if listener is not None:
            waits.append(asyncio.ensure_future(listener.reports.get()))
        if not waits:
            await asyncio.sleep(min(left, 0.05))  # the association ended and nothing else to wait on
            return None
        done, pending = await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        for p in pending:
            p.cancel()
        for d in done:
            if d.cancelled() or d.exception() is not None:
                continue  # a timed-out wait on the association: the loop checks the deadline
            value = d.result()
            if isinstance(value, dict):
                return value
            ev = value
            if ev.kind == "message" and isinstance(ev.message.message, NEventReportRQ):
                rq = ev.message.message
                ts = assoc.accepted.get(ev.message.context_id, ("", ""))[1]
                try:
                    ds = decode(ev.message.dataset, ts)
                except Exception:
                    ds = None
                await answer_event_report(assoc.channel, ev.message.context_id, rq)
                return read_report(rq.event_type_id, ds, via="same-association")
            if ev.kind != "message":
                from .errors import AssociationError
                try:
                    await assoc._fail(ev, "dimse")  # the peer ended the association: recorded in its trace
                except AssociationError:
                    pass  # a report may still come to the listener

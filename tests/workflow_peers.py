"""Real peers for the workflow services: dcmtk wlmscpfs with worklist files made by dump2dcm from dump text,
and pynetdicom MPPS / Storage Commitment SCPs with handlers that check the MPPS state machine and fail on
purpose. Synthetic data only (DOE^SYNTHETIC, DDWL... IDs)."""

from __future__ import annotations

import datetime as _dt
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import peers

WLMSCPFS = "/usr/bin/wlmscpfs"
DUMP2DCM = "/usr/bin/dump2dcm"


def today() -> str:
    return _dt.date.today().strftime("%Y%m%d")


def worklist_dump(*, patient_id: str = "DDWL0001", name: str = "DOE^SYNTHETIC", station: str = "CT01",
                  modality: str = "CT", date: str | None = None, accession: str = "ACC0001",
                  charset: str | None = None, study_uid: str = "1.2.826.0.1.3680043.8.498.1",
                  omit: Sequence[str] = ()) -> str:
    """A worklist entry as dcmtk dump text (the format of dcmtk's wlistdb examples)."""
    lines = []
    if charset is not None:
        lines.append(f"(0008,0005) CS  [{charset}]")
    top = [("(0008,0050) SH", accession, "AccessionNumber"), ("(0010,0010) PN", name, "PatientName"),
           ("(0010,0020) LO", patient_id, "PatientID"), ("(0010,0030) DA", "19700101", "PatientBirthDate"),
           ("(0010,0040) CS", "O", "PatientSex"), ("(0020,000d) UI", study_uid, "StudyInstanceUID"),
           ("(0032,1060) LO", "CT HEAD", "RequestedProcedureDescription")]
    lines += [f"{tag}  [{v}]" for tag, v, kw in top if kw not in omit]
    lines += ["(0040,0100) SQ", "(fffe,e000) -", f"(0008,0060) CS  [{modality}]", f"(0040,0001) AE  [{station}]",
              f"(0040,0002) DA  [{date or today()}]", "(0040,0003) TM  [080000]", "(0040,0006) PN  [SMITH]",
              "(0040,0007) LO  [HEAD]", "(0040,0009) SH  [SPS0001]", "(0040,0010) SH  [STN1]",
              "(fffe,e00d) -", "(fffe,e0dd) -"]
    if "RequestedProcedureID" not in omit:
        lines.append("(0040,1001) SH  [RP0001]")
    return "\n".join(lines) + "\n"


def write_worklist(folder: Path, dumps: Sequence[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lockfile").touch()
    for i, text in enumerate(dumps):
        dump = folder / f"entry{i}.dump"
        dump.write_text(text, encoding="utf-8")
        subprocess.run([DUMP2DCM, "--write-xfer-little", str(dump), str(folder / f"entry{i}.wl")], check=True,
                       capture_output=True, timeout=30)
        dump.unlink()


def start_wlmscpfs(base: Path, dumps: Sequence[str], *flags: str, ae_title: str = "WLM") -> peers.Peer:
    """/usr/bin/wlmscpfs serving `dumps` (dump texts) as the worklist of `ae_title`."""
    workdir = peers._unique_dir(base, "wlmscpfs")
    write_worklist(workdir / "db" / ae_title, dumps)
    port = peers.free_port()
    argv = [WLMSCPFS, "-v", "-dfp", str(workdir / "db"), *flags, str(port)]
    return peers._spawn("wlmscpfs", argv, workdir, host=peers.LOOPBACK, port=port, ae_title=ae_title)


# ------------------------------------------------------------------------------------ pynetdicom MPPS SCP

@dataclass
class WorkflowSCP:
    """A pynetdicom AE serving MPPS and/or Storage Commitment on a thread. `instances` {uid: status text}
    of the MPPS it holds; `events` what it was asked; `reports` what it sent back."""

    ae_title: str
    port: int
    server: Any = None
    instances: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    report_sent: threading.Event = field(default_factory=threading.Event)

    def target_text(self) -> str:
        return f"{self.ae_title}@{peers.LOOPBACK}:{self.port}"

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()

    def __enter__(self) -> "WorkflowSCP":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _status(code: int, comment: str = "", attributes: Sequence[int] = ()) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment
    if attributes:  # N-service responses name attributes in Attribute Identifier List (0000,1005)
        ds.AttributeIdentifierList = list(attributes)
    return ds


def start_mpps_scp(*, ae_title: str = "MPPSSCP", fault: str = "", port: int | None = None) -> WorkflowSCP:
    """pynetdicom MPPS SCP keeping each step's state (PS3.4 F.7.1: IN PROGRESS -> COMPLETED | DISCONTINUED,
    final states cannot change: 0xC310; an unknown step: 0x0112). Faults: "refuse" (no MPPS context),
    "create-missing" (N-CREATE answered 0x0120 with an Attribute Identifier List and Error Comment), "final-on-create"
    (the SCP closes the step itself, as a broken RIS bridge does, so our N-SET meets its state check),
    "hang" (N-CREATE never answered until the SCP stops)."""
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification

    port = port or peers.free_port()
    scp = WorkflowSCP(ae_title=ae_title, port=port)
    release = threading.Event()
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_supported_context(Verification)
    if fault != "refuse":
        ae.add_supported_context(ModalityPerformedProcedureStep)

    def on_create(event: Any) -> Any:
        uid = str(event.request.AffectedSOPInstanceUID)
        scp.events.append("N-CREATE")
        if fault == "hang":
            release.wait(60)
            return 0x0110, None
        if fault == "create-missing":
            return _status(0x0120, "Scheduled Step Attributes Sequence has no Accession Number", [0x00080050]), None
        ds = event.attribute_list
        if str(ds.get("PerformedProcedureStepStatus", "")) != "IN PROGRESS":
            return _status(0x0106, "N-CREATE must be IN PROGRESS", [0x00400252]), None
        if uid in scp.instances:
            return 0x0111, None
        scp.instances[uid] = "COMPLETED" if fault == "final-on-create" else "IN PROGRESS"
        return 0x0000, ds

    def on_set(event: Any) -> Any:
        uid = str(event.request.RequestedSOPInstanceUID)
        scp.events.append("N-SET")
        if uid not in scp.instances:
            return 0x0112, None
        if scp.instances[uid] != "IN PROGRESS":
            return _status(0xC310, f"step is already {scp.instances[uid]}"), None
        new = str(event.modification_list.get("PerformedProcedureStepStatus", "IN PROGRESS"))
        scp.instances[uid] = new
        return 0x0000, event.modification_list

    scp.server = ae.start_server((peers.LOOPBACK, port), block=False,
                                 evt_handlers=[(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)])
    stop = scp.stop

    def stop_all() -> None:
        release.set()
        stop()
    scp.stop = stop_all  # type: ignore[method-assign]
    return scp


def start_commitment_scp(*, ae_title: str = "COMMITSCP", fault: str = "", report_to: int = 0,
                         port: int | None = None) -> WorkflowSCP:
    """pynetdicom Storage SCP + Storage Commitment SCP. After answering N-ACTION it opens a new association
    to the requestor (its calling AE title) at 127.0.0.1:`report_to` and sends the N-EVENT-REPORT: every
    instance it stored is committed, the others fail with 0x0112 (no such object instance). Faults: "refuse"
    (no commitment context), "no-report" (never reports), "fail-all" (every item fails, 0x0110)."""
    from pydicom.dataset import Dataset
    from pynetdicom import AE, AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import StorageCommitmentPushModel, Verification

    port = port or peers.free_port()
    scp = WorkflowSCP(ae_title=ae_title, port=port)
    stored: set[str] = set()
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_supported_context(Verification)
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax)
    if fault != "refuse":
        ae.add_supported_context(StorageCommitmentPushModel)
    reporter = AE(ae_title=ae_title)
    reporter.acse_timeout = reporter.dimse_timeout = reporter.network_timeout = 10
    reporter.add_requested_context(StorageCommitmentPushModel)

    def on_store(event: Any) -> int:
        stored.add(str(event.request.AffectedSOPInstanceUID))
        scp.events.append("C-STORE")
        return 0x0000

    def report(calling_ae: str, ds: Any) -> None:
        out = Dataset()
        out.TransactionUID = ds.TransactionUID
        ok, bad = [], []
        for item in ds.ReferencedSOPSequence:
            ref = Dataset()
            ref.ReferencedSOPClassUID = item.ReferencedSOPClassUID
            ref.ReferencedSOPInstanceUID = item.ReferencedSOPInstanceUID
            if fault == "fail-all" or str(item.ReferencedSOPInstanceUID) not in stored:
                ref.FailureReason = 0x0110 if fault == "fail-all" else 0x0112
                bad.append(ref)
            else:
                ok.append(ref)
        if ok:
            out.ReferencedSOPSequence = ok
        if bad:
            out.FailedSOPSequence = bad
        try:
            assoc = reporter.associate(peers.LOOPBACK, report_to, ae_title=calling_ae)
        except Exception as exc:  # recorded: the test asks why no report came
            scp.reports.append(f"connect failed: {exc}")
            scp.report_sent.set()
            return
        if assoc.is_established:
            status, _reply = assoc.send_n_event_report(out, 2 if bad else 1, StorageCommitmentPushModel,
                                                       "1.2.840.10008.1.20.1.1")
            scp.reports.append(f"sent event {2 if bad else 1}, status {getattr(status, 'Status', None)}")
            assoc.release()
        else:
            scp.reports.append("connect failed: association not established")
        scp.report_sent.set()

    def on_action(event: Any) -> Any:
        scp.events.append("N-ACTION")
        ds = event.action_information
        if fault != "no-report":
            threading.Thread(target=report, args=(event.assoc.requestor.ae_title, ds), daemon=True).start()
        return 0x0000, None

    scp.server = ae.start_server((peers.LOOPBACK, port), block=False,
                                 evt_handlers=[(evt.EVT_C_STORE, on_store), (evt.EVT_N_ACTION, on_action)])
    return scp


def start_identity_scp(*, ae_title: str = "IDSCP", users: dict[str, str] | None = None,
                       port: int | None = None, response: bytes | None = b"dd-ok") -> WorkflowSCP:
    """pynetdicom Verification SCP; with `users` {name: passcode} an EVT_USER_ID handler verifies user name +
    passcode identities, and a JWT equal to users["jwt"] (pynetdicom rejects the association when it returns
    False, and sends a positive response only for types 3-5). Without `users`: identities are ignored."""
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import Verification

    port = port or peers.free_port()
    scp = WorkflowSCP(ae_title=ae_title, port=port)
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_supported_context(Verification)

    def on_user_id(event: Any) -> Any:
        name = event.primary_field.decode("utf-8", "replace")
        scp.events.append(f"user-id type {event.user_id_type} {name}")
        secret = (event.secondary_field or b"").decode("utf-8", "replace")
        ok = users is not None and ((event.user_id_type == 2 and users.get(name) == secret) or
                                    (event.user_id_type == 5 and users.get("jwt") == name))
        return ok, (response if ok else None)

    handlers = [(evt.EVT_USER_ID, on_user_id)] if users is not None else []
    scp.server = ae.start_server((peers.LOOPBACK, port), block=False, evt_handlers=handlers)
    return scp


def worklist_entry(*, station: str = "CT01", modality: str = "CT") -> Any:
    """A worklist entry as pynetdicom returns it (synthetic)."""
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "DOE^SYNTHETIC", "DDWL0009", "19700101", "O"
    ds.AccessionNumber, ds.StudyInstanceUID, ds.RequestedProcedureID = "ACC0009", generate_uid(), "RP0009"
    ds.RequestedProcedureDescription, ds.ReferringPhysicianName = "CT HEAD", ""
    sps = Dataset()
    sps.ScheduledStationAETitle, sps.Modality, sps.ScheduledProcedureStepStartDate = station, modality, today()
    sps.ScheduledProcedureStepStartTime, sps.ScheduledProcedureStepID = "080000", "SPS0009"
    sps.ScheduledProcedureStepDescription, sps.ScheduledPerformingPhysicianName = "HEAD", ""
    sps.ScheduledStationName = "STN1"
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


def start_workflow_scp(*, ae_title: str = "RISPACS", fault: str = "", report_to: int = 0,
                       entries: Sequence[Any] | None = None) -> WorkflowSCP:
    """One pynetdicom AE serving the whole IHE Scheduled Workflow chain: Modality Worklist (the `entries`),
    MPPS with state checks, Storage, Storage Commitment (report on a new association to 127.0.0.1:`report_to`)
    and Study Root C-FIND of what it stored. Each fault breaks one step: "mwl-refuse", "mpps-refuse"
    (N-CREATE 0x0110), "store-fail" (C-STORE 0xA700), "commit-no-report", "mpps-final" (N-SET 0xC310: the
    step was closed by someone else), "find-none" (C-FIND finds nothing)."""
    from pydicom.dataset import Dataset
    from pynetdicom import AE, AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import (ModalityPerformedProcedureStep, ModalityWorklistInformationFind,
                                      StorageCommitmentPushModel, StudyRootQueryRetrieveInformationModelFind,
                                      Verification)

    port = peers.free_port()
    scp = WorkflowSCP(ae_title=ae_title, port=port)
    worklist = list(entries) if entries is not None else [worklist_entry()]
    stored: dict[str, Any] = {}
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    for uid in (Verification, ModalityPerformedProcedureStep, StorageCommitmentPushModel,
                StudyRootQueryRetrieveInformationModelFind):
        ae.add_supported_context(uid)
    if fault != "mwl-refuse":
        ae.add_supported_context(ModalityWorklistInformationFind)
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax)
    reporter = AE(ae_title=ae_title)
    reporter.add_requested_context(StorageCommitmentPushModel)

    def on_find(event: Any) -> Any:
        scp.events.append("C-FIND")
        ident = event.identifier
        if event.request.AffectedSOPClassUID == ModalityWorklistInformationFind:
            for e in worklist:
                yield 0xFF00, e
            yield 0x0000, None
            return
        want = str(ident.get("StudyInstanceUID", ""))
        seen = set()
        for ds in stored.values():
            if fault != "find-none" and str(ds.StudyInstanceUID) == want and want not in seen:
                seen.add(want)
                out = Dataset()
                out.QueryRetrieveLevel, out.StudyInstanceUID = "STUDY", want
                out.PatientID, out.AccessionNumber = ds.get("PatientID", ""), ds.get("AccessionNumber", "")
                yield 0xFF00, out
        yield 0x0000, None

    def on_store(event: Any) -> int:
        scp.events.append("C-STORE")
        if fault == "store-fail":
            return 0xA700
        stored[str(event.request.AffectedSOPInstanceUID)] = event.dataset
        return 0x0000

    def on_create(event: Any) -> Any:
        scp.events.append("N-CREATE")
        if fault == "mpps-refuse":
            return _status(0x0110, "no order for this procedure step"), None
        scp.instances[str(event.request.AffectedSOPInstanceUID)] = "COMPLETED" if fault == "mpps-final" else \
            "IN PROGRESS"
        return 0x0000, event.attribute_list

    def on_set(event: Any) -> Any:
        scp.events.append("N-SET")
        uid = str(event.request.RequestedSOPInstanceUID)
        if uid not in scp.instances:
            return 0x0112, None
        if scp.instances[uid] != "IN PROGRESS":
            return _status(0xC310, f"step is already {scp.instances[uid]}"), None
        scp.instances[uid] = str(event.modification_list.get("PerformedProcedureStepStatus", "IN PROGRESS"))
        return 0x0000, event.modification_list

    def report(calling_ae: str, ds: Any) -> None:
        out = Dataset()
        out.TransactionUID = ds.TransactionUID
        ok = []
        for item in ds.ReferencedSOPSequence:
            ref = Dataset()
            ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = item.ReferencedSOPClassUID, \
                item.ReferencedSOPInstanceUID
            ok.append(ref)
        out.ReferencedSOPSequence = ok
        assoc = reporter.associate(peers.LOOPBACK, report_to, ae_title=calling_ae)
        if assoc.is_established:
            assoc.send_n_event_report(out, 1, StorageCommitmentPushModel, "1.2.840.10008.1.20.1.1")
            assoc.release()
            scp.reports.append("sent")
        scp.report_sent.set()

    def on_action(event: Any) -> Any:
        scp.events.append("N-ACTION")
        if fault != "commit-no-report":
            threading.Thread(target=report, args=(event.assoc.requestor.ae_title, event.action_information),
                             daemon=True).start()
        return 0x0000, None

    scp.server = ae.start_server((peers.LOOPBACK, port), block=False, evt_handlers=[
        (evt.EVT_C_FIND, on_find), (evt.EVT_C_STORE, on_store), (evt.EVT_N_CREATE, on_create),
        (evt.EVT_N_SET, on_set), (evt.EVT_N_ACTION, on_action)])
    return scp

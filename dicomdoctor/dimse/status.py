"""THE catalogue of DIMSE status codes: PS3.7 Annex C (general codes and classes) and the service-specific
codes of PS3.4 (Storage B.2.3, Query/Retrieve C.4.1.1.4, C.4.2.1.5, C.4.3.1.4), plus implementation-specific
Cxxx codes seen in the wild (failure-modes.md Table G) as notes.

`lookup(code, service)` answers "what does this status mean for this service": the service's table first,
then the general table, then the class of the range. A status is never an error: unknown codes get a
category from their range and the name "Unknown status 0x....". Meanings are written for a PACS
administrator, not a toolkit author.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .commands import tag_name

SUCCESS, WARNING, FAILURE, CANCEL, PENDING = "success", "warning", "failure", "cancel", "pending"
CATEGORIES = (SUCCESS, WARNING, FAILURE, CANCEL, PENDING)

SERVICES = ("c-echo", "c-store", "c-find", "c-move", "c-get", "n-event-report", "n-get", "n-set",
            "n-action", "n-create", "n-delete")


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """One status code, decoded. ``service`` is the table that gave the meaning (None = general or
    range class); ``known`` is False when only the range said anything; ``vendor_notes`` list what
    known implementations mean by this exact code (trust them only if the peer is that implementation)."""

    code: int
    name: str
    category: str
    meaning: str
    service: str | None = None
    known: bool = True
    vendor_notes: tuple[str, ...] = ()

    @property
    def hex(self) -> str:
        return f"0x{self.code:04X}"


@dataclass(frozen=True, slots=True)
class _Entry:
    lo: int
    hi: int
    name: str
    category: str
    meaning: str


def _e(code: int | tuple[int, int], name: str, category: str, meaning: str) -> _Entry:
    lo, hi = code if isinstance(code, tuple) else (code, code)
    return _Entry(lo, hi, name, category, meaning)


# --- PS3.7 Annex C: general status codes ----------------------------------------------------------------
GENERAL: tuple[_Entry, ...] = (
    _e(0x0000, "Success", SUCCESS, "The operation completed successfully."),
    _e(0x0105, "No such attribute", FAILURE,
       "The peer does not know a tag we sent (the Offending Element names it)."),
    _e(0x0106, "Invalid attribute value", FAILURE,
       "An attribute we sent has a value the peer does not accept (see Offending Element / Error Comment)."),
    _e(0x0107, "Attribute list error", WARNING,
       "The operation was done, but one or more attributes in the list were not recognised or not supported."),
    _e(0x0110, "Processing failure", FAILURE,
       "The peer failed while processing the request; the Error Comment usually says why."),
    _e(0x0111, "Duplicate SOP instance", FAILURE,
       "N-CREATE: an instance with this SOP Instance UID already exists on the peer."),
    _e(0x0112, "No such SOP instance", FAILURE,
       "The SOP instance named in the request does not exist on the peer."),
    _e(0x0113, "No such event type", FAILURE, "The peer does not know the Event Type ID of this N-EVENT-REPORT."),
    _e(0x0114, "No such argument", FAILURE, "An event or action argument is not known to the peer."),
    _e(0x0115, "Invalid argument value", FAILURE, "An event or action argument has a value the peer rejects."),
    _e(0x0116, "Attribute value out of range", WARNING,
       "The operation was done, but an attribute value was outside the range the peer supports."),
    _e(0x0117, "Invalid object instance", FAILURE,
       "The SOP Instance UID in the request is not valid (malformed or not allowed)."),
    _e(0x0118, "No such SOP class", FAILURE, "The SOP class named in the request is not known to the peer."),
    _e(0x0119, "Class-instance conflict", FAILURE,
       "The SOP instance exists but does not belong to the SOP class named in the request."),
    _e(0x0120, "Missing attribute", FAILURE, "A required attribute is missing from the request."),
    _e(0x0121, "Missing attribute value", FAILURE, "A required attribute is present but empty."),
    _e(0x0122, "Refused: SOP class not supported", FAILURE,
       "The peer does not support this SOP class for this operation (e.g. a worklist query sent to a "
       "query/retrieve-only PACS). Check the peer's conformance statement and configuration."),
    _e(0x0123, "No such action type", FAILURE, "The peer does not know the Action Type ID of this N-ACTION."),
    _e(0x0124, "Refused: not authorized", FAILURE,
       "The peer refuses this operation for our AE title / address (a permission setting, e.g. Orthanc "
       "AllowFind/AllowGet per modality)."),
    _e(0x0210, "Duplicate invocation", FAILURE,
       "The Message ID is already in use for an outstanding operation on this association."),
    _e(0x0211, "Unrecognized operation", FAILURE,
       "The peer does not implement this DIMSE operation on this association."),
    _e(0x0212, "Mistyped argument", FAILURE, "A parameter of the request has the wrong type or encoding."),
    _e(0x0213, "Resource limitation", FAILURE,
       "The peer is temporarily out of resources (memory, threads, storage); retry later."),
    _e(0xFE00, "Cancel", CANCEL, "The operation was terminated by a C-CANCEL."),
)

# --- PS3.4 service-specific codes -----------------------------------------------------------------------
_STORE = (
    _e(0x0000, "Success", SUCCESS, "The instance was stored."),
    _e((0xA700, 0xA7FF), "Refused: out of resources", FAILURE,
       "The peer could not store the instance: disk full, quota reached, or the file could not be written "
       "(permissions, path). It usually repeats for every instance."),
    _e((0xA900, 0xA9FF), "Error: data set does not match SOP class", FAILURE,
       "The peer checked the data set against the SOP class and refused it (missing Type 1 attributes, "
       "wrong SOP class for the content)."),
    _e((0xC000, 0xCFFF), "Error: cannot understand", FAILURE,
       "The peer could not parse or process the data set (encoding, transfer syntax, an exception in its "
       "handler). Implementation-specific; see the Error Comment."),
    _e(0xB000, "Warning: coercion of data elements", WARNING,
       "Stored, but the peer changed some attributes (e.g. patient ID or issuer from its worklist). "
       "Re-read the stored header if it matters."),
    _e(0xB007, "Warning: data set does not match SOP class", WARNING,
       "Stored anyway, although the data set does not conform to its SOP class."),
    _e(0xB006, "Warning: elements discarded", WARNING,
       "Stored, but the peer dropped some elements (often private tags)."),
)
_FIND = (
    _e(0x0000, "Success", SUCCESS, "Matching is complete; no more identifiers follow."),
    _e(0xFF00, "Pending", PENDING, "A match is returned; optional keys were supported as requested."),
    _e(0xFF01, "Pending (optional keys not supported)", PENDING,
       "A match is returned, but one or more optional keys were not supported for matching or return."),
    _e(0xFE00, "Cancel", CANCEL, "Matching was terminated by a C-CANCEL."),
    _e(0xA700, "Refused: out of resources", FAILURE, "The peer ran out of resources while searching."),
    _e(0xA900, "Identifier does not match SOP class", FAILURE,
       "The query identifier is not valid for this information model: often a missing Query/Retrieve Level "
       "(0008,0052) or a missing unique key above the query level."),
    _e((0xC000, 0xCFFF), "Unable to process", FAILURE,
       "The peer could not process the query (implementation-specific; see the Error Comment). Some peers "
       "answer this when they do not offer C-FIND on this port or database access failed."),
)
_MOVE_GET_COMMON = (
    _e(0xFF00, "Pending", PENDING, "Sub-operations are continuing (the counters say how many remain)."),
    _e(0x0000, "Success", SUCCESS, "All sub-operations completed without failures or warnings."),
    _e(0xFE00, "Cancel", CANCEL, "Sub-operations were terminated by a C-CANCEL."),
    _e(0xA701, "Refused: out of resources - unable to calculate number of matches", FAILURE,
       "The peer could not even work out which instances match (database or memory problem); retry with a "
       "smaller query."),
    _e(0xA702, "Refused: out of resources - unable to perform sub-operations", FAILURE,
       "The peer found the instances but could not send them. Most often it could not open or use the "
       "storage association (connect-back, AE or port problem), less often a real resource limit."),
    _e(0xA900, "Identifier does not match SOP class", FAILURE,
       "The retrieve identifier is not valid for this information model (level or unique keys)."),
    _e(0xAA00, "None of the frames requested were found", FAILURE,
       "Frame-level retrieve: none of the requested frames exist in the SOP instance."),
    _e(0xAA01, "Unable to create new object for this SOP class", FAILURE,
       "Composite instance retrieve: the peer cannot create the new object."),
    _e(0xAA02, "Unable to extract frames", FAILURE, "Frame-level retrieve: the peer could not extract the frames."),
    _e(0xAA03, "Time-based request for a non-time-based instance", FAILURE,
       "Frame-level retrieve: a time range was requested from an instance that has no time dimension."),
    _e(0xAA04, "Invalid request", FAILURE, "Frame-level or composite instance retrieve: the request is invalid."),
    _e((0xC000, 0xCFFF), "Unable to process", FAILURE,
       "The peer could not process the retrieve (implementation-specific; see the Error Comment)."),
)
_MOVE = _MOVE_GET_COMMON + (
    _e(0xB000, "Warning: sub-operations complete - one or more failures", WARNING,
       "Some instances were not delivered; compare the completed/failed counters with what arrived."),
    _e(0xA801, "Refused: move destination unknown", FAILURE,
       "The peer does not know the destination AE title: register it (AE title, host, port) on the PACS "
       "(Orthanc DicomModalities, dcmqrscp AETable, dcm4chee devices); check spelling and case."),
)
_GET = _MOVE_GET_COMMON + (
    _e(0xB000, "Warning: sub-operations complete - one or more failures or warnings", WARNING,
       "Some instances were not delivered or were stored with warnings; check the counters."),
)
_ECHO = (_e(0x0000, "Success", SUCCESS, "The peer answered the C-ECHO: DICOM communication works."),)
# N-services use the general codes (PS3.7 §10.1); 0x0001 is service-specific (MPPS, UPS, media creation).
_N_OPTIONAL = (_e(0x0001, "Warning: requested optional attributes not supported", WARNING,
                  "The operation was done, but some optional attributes were not supported."),)

SERVICE_TABLES: dict[str, tuple[_Entry, ...]] = {
    "c-echo": _ECHO,
    "c-store": _STORE,
    "c-find": _FIND,
    "c-move": _MOVE,
    "c-get": _GET,
    "n-event-report": (),
    "n-get": _N_OPTIONAL,
    "n-set": _N_OPTIONAL,
    "n-action": (),
    "n-create": _N_OPTIONAL,
    "n-delete": (),
}

# failure-modes.md Table G: what some implementations mean by specific codes. Notes, not meanings: an
# 0xC211 from dcmtk does not mean what pynetdicom means by it.
VENDOR_NOTES: dict[int, tuple[str, ...]] = {
    0xC000: ("Many toolkits (dcmtk, Orthanc, dcm4che, fo-dicom) send 0xC000 as a generic "
             "'unable to process / cannot understand'; often the operation is not offered on that port.",),
    0xC001: ("pynetdicom SCP: the handler returned a status Dataset without (0000,0900) Status.",),
    0xC002: ("pynetdicom SCP: the handler returned an invalid status object.",),
    0xC004: ("Conquest: the database search failed or returned zero records (C-MOVE/C-FIND).",),
    0xC210: ("pynetdicom Storage SCP: failed to decode the incoming data set.",),
    0xC211: ("pynetdicom Storage SCP: exception in the C-STORE handler (see the SCP's log).",),
    0xC310: ("pynetdicom Find SCP: failed to decode the query identifier.",),
    0xC311: ("pynetdicom Find SCP: exception in the C-FIND handler.",),
    0xC312: ("pynetdicom Find SCP: failed to encode the handler's identifier.",),
    0xC410: ("pynetdicom Get SCP: failed to decode the identifier.",),
    0xC411: ("pynetdicom Get SCP: exception in the C-GET handler.",),
    0xC413: ("pynetdicom Get SCP: the handler yielded an invalid number of sub-operations.",),
    0xC510: ("pynetdicom Move SCP: failed to decode the identifier.",),
    0xC511: ("pynetdicom Move SCP: exception in the C-MOVE handler.",),
    0xC513: ("pynetdicom Move SCP: the handler yielded an invalid number of sub-operations.",),
}

_SERVICE_ALIASES = {s.replace("-", ""): s for s in SERVICES}


def normalize_service(service: str | None) -> str | None:
    """'C-STORE', 'c_store', 'cstore' -> 'c-store'; None stays None. Raises ValueError for others."""
    if service is None:
        return None
    key = service.strip().lower().replace("_", "-")
    if key in SERVICE_TABLES:
        return key
    found = _SERVICE_ALIASES.get(key.replace("-", ""))
    if found is None:
        raise ValueError(f"unknown DIMSE service {service!r}; expected one of: {', '.join(SERVICES)}")
    return found


def range_category(code: int) -> str:
    """The class of a code from its range alone (PS3.7 Annex C; failure-modes Table E). Codes outside
    every defined range count as failure: an unexplained non-success status must not pass."""
    if code == 0x0000:
        return SUCCESS
    if code in (0xFF00, 0xFF01):
        return PENDING
    if code == 0xFE00:
        return CANCEL
    if code in (0x0001, 0x0107, 0x0116) or 0xB000 <= code <= 0xBFFF:
        return WARNING
    return FAILURE


def _find(entries: tuple[_Entry, ...], code: int) -> _Entry | None:
    for entry in entries:  # exact codes are listed before the ranges that contain them where it matters
        if entry.lo == code == entry.hi:
            return entry
    for entry in entries:
        if entry.lo <= code <= entry.hi:
            return entry
    return None


def lookup(code: int, service: str | None = None) -> StatusInfo:
    """Decode a status for a service ("c-store", ..., or None for the general table)."""
    svc = normalize_service(service)
    notes = VENDOR_NOTES.get(code, ())
    if svc is not None:
        entry = _find(SERVICE_TABLES[svc], code)
        if entry is not None:
            return StatusInfo(code, entry.name, entry.category, entry.meaning, svc, True, notes)
    entry = _find(GENERAL, code)
    if entry is not None:
        return StatusInfo(code, entry.name, entry.category, entry.meaning, None, True, notes)
    cat = range_category(code)
    if 0xC000 <= code <= 0xCFFF:
        return StatusInfo(code, "Failure: unable to process (implementation-specific)", FAILURE,
                          "A Cxxx code: the peer failed and chose its own code for why. See the Error Comment "
                          "and the peer's logs.", None, bool(notes), notes)
    return StatusInfo(code, f"Unknown status 0x{code:04X}", cat,
                      f"Not a status defined for {svc or 'DIMSE in general'}; its range makes it a {cat}.",
                      None, False, notes)


def category(code: int, service: str | None = None) -> str:
    """'success' | 'warning' | 'failure' | 'cancel' | 'pending'."""
    return lookup(code, service).category


def all_entries(service: str | None = None) -> list[StatusInfo]:
    """Every catalogued entry (ranges as their first code) of a service table, or of the general table."""
    svc = normalize_service(service)
    entries = GENERAL if svc is None else SERVICE_TABLES[svc]
    return [StatusInfo(e.lo, e.name, e.category, e.meaning, svc) for e in entries]


# --- evidence from a response -----------------------------------------------------------------------------

_EVIDENCE_FIELDS = (
    # attribute on a message, tag in a command set, evidence key
    ("error_comment", 0x00000902, "error_comment"),
    ("error_id", 0x00000903, "error_id"),
    ("number_of_remaining_suboperations", 0x00001020, "remaining"),
    ("number_of_completed_suboperations", 0x00001021, "completed"),
    ("number_of_failed_suboperations", 0x00001022, "failed"),
    ("number_of_warning_suboperations", 0x00001023, "warning"),
)


def decode_offending_elements(tags: Any) -> list[dict[str, str]]:
    """(0000,0901) Offending Element -> [{"tag": "(0008,0052)", "keyword": "QueryRetrieveLevel", "name": ...}]."""
    if tags is None:
        return []
    if isinstance(tags, int):
        tags = (tags,)
    if isinstance(tags, (bytes, bytearray)):
        return [{"tag": "", "keyword": "", "name": f"undecodable value {bytes(tags).hex()}"}]
    return [tag_name(int(t)) for t in tags]


def response_evidence(response: Any, service: str | None = None) -> dict[str, Any]:
    """Everything a finding should keep about a response status: code, name, category, meaning, Error
    Comment, Error ID, Offending Element (named via pydicom's dictionary), sub-operation counters.

    ``response`` is a response message (messages.py) or a decoded command set (tag -> value mapping).
    ``service`` defaults to the message's own service.
    """
    if isinstance(response, Mapping):
        def get(attr: str, tag: int) -> Any:
            return response.get(tag)
        status = response.get(0x00000900)
        offending = response.get(0x00000901)
    else:
        def get(attr: str, tag: int) -> Any:
            return getattr(response, attr, None)
        status = None if 0x00000900 in getattr(response, "missing", ()) else getattr(response, "status", None)
        offending = getattr(response, "offending_element", None)
        if service is None:
            service = getattr(response, "SERVICE", None)
    out: dict[str, Any] = {}
    if not isinstance(status, int):
        out.update(status=None, status_name="No status", category=FAILURE,
                   meaning="The response carries no usable (0000,0900) Status element.")
    else:
        info = lookup(status, service)
        out.update(status=status, status_hex=info.hex, status_name=info.name, category=info.category,
                   meaning=info.meaning)
        if info.vendor_notes:
            out["vendor_notes"] = list(info.vendor_notes)
    for attr, tag, key in _EVIDENCE_FIELDS:
        value = get(attr, tag)
        if value is not None:
            out[key] = value
    if offending is not None:
        out["offending_elements"] = decode_offending_elements(offending)
    return out

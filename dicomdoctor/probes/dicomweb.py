"""DICOMweb facts (PS3.18): what QIDO-RS, WADO-RS and STOW-RS at a base URL answered. No judgement here.

Each probe makes the requests a viewer or a modality gateway would, and keeps what came back: the HTTP
exchange (probes/http.py), the DICOM JSON model read with pydicom (`Dataset.from_json`), the first study and
its metadata, a multipart WADO-RS instance's first part, a STOW-RS response's Referenced / Failed SOP
Sequences. A QIDO-RS that is not answered with DICOM JSON also asks the usual base paths of the same server
(Orthanc /dicom-web, dcm4chee-arc /dcm4chee-arc/aets/AE/rs ...), so the finding can say where it answers.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..dicomweb_target import read_secret
from ..target import DicomWebOptions, TLSOptions
from .http import Credentials, HttpClient, HttpExchange

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

ACCEPT_JSON = "application/dicom+json"
ACCEPT_INSTANCE = 'multipart/related; type="application/dicom"'
JSON_TYPES = ("application/dicom+json", "application/json")
# What a study and an instance are summarised by in the evidence (DICOM keywords, so reports redact PHI).
STUDY_KEYS = ("StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
              "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "PatientName", "PatientID",
              "SpecificCharacterSet")
INSTANCE_KEYS = ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "Modality",
                 "TransferSyntaxUID", "Rows", "Columns", "NumberOfFrames")
MAX_JSON_BYTES = 8 << 20
MAX_KEPT = 50  # data sets of a DICOM JSON answer read with pydicom (the rest are only counted)


# ----------------------------------------------------------------------------------------- DICOM JSON

@dataclass(frozen=True)
class DicomJson:
    """A body read as the DICOM JSON model (PS3.18 Annex F). `error` says why it is not one."""

    ok: bool
    count: int = 0
    datasets: tuple["Dataset", ...] = field(default=(), repr=False)
    error: str = ""
    is_list: bool = True


def answer_of(ex: HttpExchange, *, keep: int = MAX_KEPT) -> DicomJson | None:
    """The DICOM JSON of a 2xx answer (None for any other status)."""
    if ex.status is None or not 200 <= ex.status < 300:
        return None
    if ex.truncated:
        return DicomJson(False, error=f"the answer is longer than the {len(ex.body):,} bytes we read "
                         "(ask for fewer results: limit)")
    return read_dicom_json(ex.body, keep=keep)


def read_dicom_json(body: bytes, *, keep: int = MAX_KEPT) -> DicomJson:
    """A JSON array of data sets (QIDO-RS, metadata) or one data set (a STOW-RS response)."""
    if not body.strip():
        return DicomJson(True, 0)
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return DicomJson(False, error=f"not UTF-8 (byte {exc.start})")
    except ValueError as exc:
        return DicomJson(False, error=f"not JSON: {exc}")
    is_list = isinstance(doc, list)
    items = doc if is_list else [doc]
    if not all(isinstance(x, dict) for x in items):
        kinds = sorted({type(x).__name__ for x in items if not isinstance(x, dict)})
        return DicomJson(False, len(items), error=f"a JSON array of {', '.join(kinds)}, not of DICOM data sets "
                         "(objects keyed by tags such as \"0020000D\")", is_list=is_list)
    from pydicom.dataset import Dataset  # lazy

    out = []
    for item in items[:keep]:
        bad = [k for k in item if not (isinstance(k, str) and len(k) == 8 and _is_hex(k))]
        if bad:
            return DicomJson(False, len(items), error=f"key {str(bad[0])[:40]!r} is not a DICOM tag (8 hex digits)",
                             is_list=is_list)
        try:
            out.append(Dataset.from_json(item, bulk_data_uri_handler=_no_bulk_data))
        except Exception as exc:  # pydicom raises several kinds for a bad value; each is a fact about the body
            return DicomJson(False, len(items), error=f"pydicom cannot read it: {type(exc).__name__}: {exc}"[:300],
                             is_list=is_list)
    return DicomJson(True, len(items), tuple(out), is_list=is_list)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _no_bulk_data(*_: Any) -> bytes:
    return b""  # BulkDataURIs are not fetched: the metadata is what is judged


def plain(value: Any) -> Any:
    """A pydicom value as a JSON-safe plain value (never a Python repr in a report)."""
    from pydicom.multival import MultiValue
    from pydicom.sequence import Sequence as DicomSequence

    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # IS is an int subclass, DSfloat a float one: JSON wants the plain numbers
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value)} bytes"
    if isinstance(value, DicomSequence):
        return f"{len(value)} items"
    if isinstance(value, (MultiValue, list, tuple)):
        return [plain(v) for v in value]
    return str(value)  # PersonName, DSfloat, IS, UID...


def summarize(ds: "Dataset", keys: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in keys:
        if k in ds:
            out[k] = plain(ds[k].value)
    return out


def keywords(ds: "Dataset") -> list[str]:
    return [e.keyword or f"{e.tag.group:04X}{e.tag.element:04X}" for e in ds]


# ---------------------------------------------------------------------------------------------- client

def client_for(options: DicomWebOptions, *, timeout: float, budget: float,
               fallback_tls: TLSOptions | None = None, max_bytes: int = MAX_JSON_BYTES) -> HttpClient:
    """The HTTP client for a target's DICOMweb options: the secret read now (BadInput when it is gone), TLS
    verified unless `insecure`, with the DICOM target's --ca / --insecure when the DICOMweb ones are not set."""
    creds = None
    if options.secret is not None:
        secret = read_secret(options.secret)
        creds = Credentials("basic", secret, options.user) if options.user else Credentials("bearer", secret)
    context = None
    if options.url.startswith("https:"):
        from ..net.tls import client_context

        ca, insecure = options.ca, options.insecure
        if ca is None and not insecure and fallback_tls is not None:
            ca, insecure = fallback_tls.ca, fallback_tls.insecure
        context = client_context(TLSOptions(ca=ca, insecure=insecure))
    return HttpClient(timeout=timeout, budget=budget, ssl_context=context, credentials=creds, max_bytes=max_bytes)


# ------------------------------------------------------------------------------------------------ QIDO

@dataclass(frozen=True)
class QidoFacts:
    base: str
    exchange: HttpExchange
    answer: DicomJson | None = None            # when the server answered 2xx
    studies: tuple[dict[str, Any], ...] = ()   # summaries of the studies it listed (STUDY_KEYS)
    returned_keys: tuple[str, ...] = ()        # the attributes of the first study
    alternatives: tuple[dict[str, Any], ...] = ()   # other base paths tried: {base, outcome, http_status, ...}

    @property
    def answers_at(self) -> str | None:
        """The other base path that answered QIDO-RS with DICOM JSON (or asked for credentials), if any."""
        for alt in self.alternatives:
            if alt.get("dicom_json") or alt.get("http_status") == 401:
                return str(alt["base"])
        return None


def is_dicom_json_answer(ex: HttpExchange, answer: DicomJson | None) -> bool:
    return ex.status is not None and 200 <= ex.status < 300 and ex.media_type in JSON_TYPES \
        and answer is not None and answer.ok and answer.is_list


def candidate_bases(base: str, ae_titles: Sequence[str] = ()) -> list[str]:
    """The base paths DICOMweb servers commonly use, on the same origin as `base` (which is left out)."""
    p = urllib.parse.urlsplit(base)
    origin = f"{p.scheme}://{p.netloc}"
    path = p.path.rstrip("/")
    paths = ["/dicom-web", "/dicomweb", "/orthanc/dicom-web", "/wado-rs"]
    if path and path not in paths:
        paths.insert(0, f"{path}/dicom-web")
    for ae in dict.fromkeys([*ae_titles, "DCM4CHEE"]):
        paths.append(f"/dcm4chee-arc/aets/{urllib.parse.quote(ae)}/rs")
    return [origin + x for x in dict.fromkeys(paths) if origin + x != base]


async def probe_qido(client: HttpClient, base: str, *, limit: int = 10, keys: Mapping[str, Any] | None = None,
                     ae_titles: Sequence[str] = ()) -> QidoFacts:
    query = {**{str(k): _query_value(v) for k, v in (keys or {}).items()}}
    if limit > 0:
        query["limit"] = str(limit)
    url = f"{base}/studies" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    ex = await client.fetch("GET", url, headers={"Accept": ACCEPT_JSON})
    answer = answer_of(ex)
    studies = tuple(summarize(ds, STUDY_KEYS) for ds in (answer.datasets if answer and answer.ok else ()))
    returned = tuple(keywords(answer.datasets[0])) if answer and answer.ok and answer.datasets else ()
    alternatives: list[dict[str, Any]] = []
    if ex.outcome == "answered" and not is_dicom_json_answer(ex, answer) and ex.status not in (401, 403):
        alternatives = await find_base(client, base, ae_titles)
    return QidoFacts(base, ex, answer, studies, returned, tuple(alternatives))


def _query_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return "" if v is None else str(v)


async def find_base(client: HttpClient, base: str, ae_titles: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Ask the usual base paths for one study; stop at the first that answers DICOM JSON or wants credentials."""
    tried: list[dict[str, Any]] = []
    for cand in candidate_bases(base, ae_titles):
        ex = await client.fetch("GET", f"{cand}/studies?limit=1", headers={"Accept": ACCEPT_JSON})
        answer = answer_of(ex)
        ok = is_dicom_json_answer(ex, answer)
        tried.append({"base": cand, "outcome": ex.outcome, "http_status": ex.status,
                      "content_type": ex.content_type, "dicom_json": ok})
        if ok or ex.status == 401 or ex.outcome != "answered":
            break  # found it, or the server stopped answering: asking further would only wait
    return tried


# ------------------------------------------------------------------------------------------------ WADO

@dataclass(frozen=True)
class InstancePart:
    """The first part of a multipart/related WADO-RS answer."""

    content_type: str | None = None
    size: int = 0
    complete: bool = False
    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    transfer_syntax: str | None = None
    error: str = ""

    def evidence(self) -> dict[str, Any]:
        ev = {"content_type": self.content_type, "bytes": self.size, "complete": self.complete,
              "sop_class_uid": self.sop_class_uid, "sop_instance_uid": self.sop_instance_uid,
              "transfer_syntax": self.transfer_syntax}
        if self.error:
            ev["error"] = self.error
        return ev


@dataclass(frozen=True)
class WadoFacts:
    base: str
    study_uid: str
    metadata: HttpExchange
    answer: DicomJson | None = None
    instances: int = 0
    first_instance: dict[str, Any] = field(default_factory=dict)
    returned_keys: tuple[str, ...] = ()
    retrieve: HttpExchange | None = None
    part: InstancePart | None = None


def media_params(content_type: str | None) -> dict[str, str]:
    """The parameters of a media type (boundary, type), unquoted, keys lower case."""
    out: dict[str, str] = {}
    for piece in (content_type or "").split(";")[1:]:
        key, eq, value = piece.strip().partition("=")
        if eq:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


def first_part(body: bytes, content_type: str | None, *, complete_body: bool) -> InstancePart:
    """Read the first part of a multipart/related body (RFC 2387) and the Part-10 header inside it."""
    from ..dimse.part10 import Part10Error, Part10NeedMore, parse_part10_header

    boundary = media_params(content_type).get("boundary")
    if not boundary:
        return InstancePart(error="the multipart answer names no boundary")
    delim = b"--" + boundary.encode("latin-1")
    start = body.find(delim)
    if start < 0:
        return InstancePart(error="the boundary never appears in the body")
    head_end = body.find(b"\r\n\r\n", start)
    if head_end < 0:
        return InstancePart(error="the first part has no end of headers")
    headers = {}
    for line in body[start + len(delim):head_end].split(b"\r\n"):
        key, colon, value = line.decode("latin-1").partition(":")
        if colon:
            headers[key.strip().lower()] = value.strip()
    data_start = head_end + 4
    end = body.find(b"\r\n" + delim, data_start)
    data = body[data_start:end] if end >= 0 else body[data_start:]
    complete = end >= 0 or complete_body
    part = InstancePart(content_type=headers.get("content-type"), size=len(data), complete=end >= 0)
    try:
        info = parse_part10_header(data)
    except Part10NeedMore:
        return _with(part, error="the part ends inside its DICOM File Meta header" if complete else "")
    except Part10Error as exc:
        return _with(part, error=f"the part is not a DICOM Part-10 file: {exc}")
    return _with(part, sop_class_uid=info.sop_class_uid, sop_instance_uid=info.sop_instance_uid,
                 transfer_syntax=info.transfer_syntax)


def _with(part: InstancePart, **changes: Any) -> InstancePart:
    import dataclasses

    return dataclasses.replace(part, **changes)


async def probe_wado(client: HttpClient, base: str, study_uid: str, *, instance: bool = True,
                     max_bytes: int = 64 << 20) -> WadoFacts:
    """The study's metadata (WADO-RS /metadata), then its first instance as multipart/related."""
    q = urllib.parse.quote
    ex = await client.fetch("GET", f"{base}/studies/{q(study_uid)}/metadata", headers={"Accept": ACCEPT_JSON})
    answer = answer_of(ex)
    facts = WadoFacts(base, study_uid, ex, answer)
    if not (answer and answer.ok and answer.datasets):
        return facts
    ds = answer.datasets[0]
    first = summarize(ds, INSTANCE_KEYS)
    facts = WadoFacts(base, study_uid, ex, answer, answer.count, first, tuple(keywords(ds)))
    series, sop = first.get("SeriesInstanceUID"), first.get("SOPInstanceUID")
    if not instance or not series or not sop:
        return facts
    url = f"{base}/studies/{q(study_uid)}/series/{q(str(series))}/instances/{q(str(sop))}"
    rx = await client.fetch("GET", url, headers={"Accept": ACCEPT_INSTANCE}, max_bytes=max_bytes)
    part = None
    if rx.status is not None and 200 <= rx.status < 300 and rx.media_type == "multipart/related":
        part = first_part(rx.body, rx.content_type, complete_body=not rx.truncated)
    return WadoFacts(base, study_uid, ex, answer, answer.count, first, tuple(keywords(ds)), rx, part)


# ------------------------------------------------------------------------------------------------ STOW

@dataclass(frozen=True)
class StowFacts:
    base: str
    exchange: HttpExchange
    sent_sop_instance_uid: str
    sent_sop_class_uid: str
    sent_bytes: int
    answer: DicomJson | None = None
    referenced: tuple[dict[str, Any], ...] = ()   # ReferencedSOPSequence items
    failed: tuple[dict[str, Any], ...] = ()       # FailedSOPSequence items (failure_reason as an int)
    warning_reason: int | None = None
    retrieve_url: str | None = None

    @property
    def stored(self) -> bool:
        """Did the answer reference the instance we sent?"""
        return any(r.get("sop_instance_uid") == self.sent_sop_instance_uid for r in self.referenced)


def multipart_body(part10: bytes, boundary: str | None = None) -> tuple[bytes, str]:
    """(body, Content-Type) of a STOW-RS request carrying one Part-10 instance."""
    boundary = boundary or f"dicomdoctor-{uuid.uuid4().hex}"
    head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii")
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    return head + part10 + tail, f'multipart/related; type="application/dicom"; boundary={boundary}'


def _sop_item(ds: "Dataset") -> dict[str, Any]:
    item: dict[str, Any] = {"sop_class_uid": plain(ds.get("ReferencedSOPClassUID")),
                            "sop_instance_uid": plain(ds.get("ReferencedSOPInstanceUID"))}
    if "FailureReason" in ds:
        item["failure_reason"] = int(ds.FailureReason)
    if "WarningReason" in ds:
        item["warning_reason"] = int(ds.WarningReason)
    return item


async def probe_stow(client: HttpClient, base: str, part10: bytes, *, sop_instance_uid: str,
                     sop_class_uid: str, study_uid: str | None = None) -> StowFacts:
    """POST BASE/studies (or BASE/studies/STUDY: store into that study only) with one instance."""
    body, ctype = multipart_body(part10)
    url = f"{base}/studies" + (f"/{urllib.parse.quote(study_uid)}" if study_uid else "")
    ex = await client.fetch("POST", url, body=body, headers={"Content-Type": ctype, "Accept": ACCEPT_JSON})
    facts = StowFacts(base, ex, sop_instance_uid, sop_class_uid, len(part10))
    # Orthanc 1.10 sends its 409 / 400 STOW-RS answers as DICOM JSON without a Content-Type: read what looks
    # like JSON whatever the header says.
    looks_json = ex.media_type in JSON_TYPES or (not ex.media_type and ex.body.lstrip()[:1] in (b"{", b"["))
    if ex.status is None or not ex.body.strip() or not looks_json:
        return facts
    answer = read_dicom_json(ex.body, keep=1)
    if not answer.ok or not answer.datasets:
        return StowFacts(base, ex, sop_instance_uid, sop_class_uid, len(part10), answer)
    ds = answer.datasets[0]
    referenced = tuple(_sop_item(x) for x in ds.get("ReferencedSOPSequence", []) or [])
    failed = tuple(_sop_item(x) for x in ds.get("FailedSOPSequence", []) or [])
    warning = int(ds.WarningReason) if "WarningReason" in ds and ds.WarningReason is not None else None
    retrieve = plain(ds.get("RetrieveURL")) if "RetrieveURL" in ds else None
    return StowFacts(base, ex, sop_instance_uid, sop_class_uid, len(part10), answer, referenced, failed, warning,
                     str(retrieve) if retrieve else None)

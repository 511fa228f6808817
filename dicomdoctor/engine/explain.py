"""Explain a DIMSE status or a line a DICOM tool printed: which facts the line states, and their causes.

`explain(text, service=None, lang="en")` answers `dicomdoctor explain` and the TUI's explain view with plain
values: {"input", "status", "facts", "causes"}.

A line is read by its *structure* before its wording. The facts a line can state are extracted here:
- a DIMSE status anywhere in it ("Move SCP Result: (Failure - 0xc502)", "status: 43009"), with the service
  named by its C-FIND / C-MOVE / Move SCU / Store Response... prefix;
- an A-ASSOCIATE-RJ or A-ABORT in any spelling ("result=1, source=1, reason=7", "1/1/7", dcmtk's "Result:
  Rejected Permanent, Source: Service User / Reason: ...", fo-dicom's "CalledAENotRecognized", dcm4che's
  "result: 1 - rejected-permanent");
- dcmtk OFCondition codes of the network module (0006:xxxx: ASC 01xx, DIMSE 02xx, DUL 03xx);
- the phase of a timeout: a dial that timed out (TCP never came up) or a read that did (TCP was up: an
  association or DIMSE timeout, not a firewall);
- bytes no DICOM peer sends where a PDU was expected: a PDU "length" that is ASCII (an HTTP answer read as a
  PDU header: 1414541105 is "TP/1" of "HTTP/1.1") and a PDU type that is a TLS record type (0x15 alert, 0x16
  handshake: the peer expects TLS);
- local errors that must not be blamed on the peer (a data set without SOP Class UID, a missing file, an AE
  title over 16 characters).
Each fact is turned into ranked causes by `engine.judge` (the one home of judgement); whatever the structure
does not explain falls back to the knowledge base's text signatures (`KnowledgeBase.match_text`).

Pure: no I/O besides loading the knowledge base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, Callable

from ..errors import BadInput
from ..messages import Msg, Text, msg, norm_lang, render
from . import judge
from .kb import KnowledgeBase, load_kb

__all__ = ["Fact", "explain", "extract_facts", "parse_status", "decode_status", "normalize_service", "labels",
           "MAX_CAUSES"]

MAX_CAUSES = 5
MAX_TEXT = 64 * 1024  # a pasted log is read up to here: bounded time for every extractor and signature
_STRUCTURE_TOP = 100.0  # score of a structural fact's first cause; signature scores stay below

_HEX4 = re.compile(r"^(?:status[\s:=]*)?(?:0x)?([0-9a-f]{4})h?$", re.IGNORECASE)
_HEX_PREFIXED = re.compile(r"^(?:status[\s:=]*)?0x([0-9a-f]{1,4})h?$", re.IGNORECASE)
_DECIMAL = re.compile(r"^(?:status[\s:=]*)?(\d{1,5})$", re.IGNORECASE)

# The words renderers print around an explanation (the CLI's text output and the TUI use the same ones).
_LABELS = {
    "en": {"status": "Status", "category": "category", "as": "as", "causes": "Likely causes (most likely first)",
           "related": "Related causes", "fixes": "Fixes", "refs": "References", "none": "No cause in the knowledge "
           "base is tied to this status.", "notes": "Known implementations", "general": "general",
           "facts": "Recognised in the text", "no_match": "No match",
           "hint": "A status code as DICOM tools print it (A801, 0xA801, 43009) or an error line from any tool "
                   "(dcmtk, pynetdicom, Orthanc, dcm4che, fo-dicom, go-dicom, dicom-rs, dcmjs-dimse, Python ssl...). "
                   "Enter: explain. Esc: back.",
           "input": "Status or error text", "placeholder": "A801 or an error message", "service": "Service",
           "any_service": "any service"},
    "zh": {"status": "状态", "category": "类别", "as": "用于", "causes": "可能原因（按可能性排序）",
           "related": "相关原因", "fixes": "解决方法", "refs": "参考", "none": "知识库中没有与该状态关联的原因。",
           "notes": "已知实现的含义", "general": "通用", "facts": "从文本中识别出的事实", "no_match": "无法识别",
           "hint": "输入 DICOM 工具打印的状态码（A801、0xA801、43009），或任意工具的错误信息（dcmtk、pynetdicom、Orthanc、"
                   "dcm4che、fo-dicom、go-dicom、dicom-rs、dcmjs-dimse、Python ssl 等）。回车：解释。Esc：返回。",
           "input": "状态码或错误信息", "placeholder": "A801 或错误信息", "service": "服务", "any_service": "任意服务"},
}


def labels(lang: str = "en") -> dict[str, str]:
    """The renderers' labels in `lang` (English when the language is unknown)."""
    return _LABELS.get(norm_lang(lang), _LABELS["en"])


# ------------------------------------------------------------------------------------------ statuses

def parse_status(text: str) -> int | None:
    """The status code in `text`, or None when it is not a lone status."""
    t = text.strip()
    for rx in (_HEX_PREFIXED, _HEX4):
        m = rx.match(t)
        if m:
            return int(m.group(1), 16)
    m = _DECIMAL.match(t)
    if m and len(m.group(1)) != 4:  # four digits are hex, as status codes are printed ("0110")
        value = int(m.group(1))
        if value <= 0xFFFF:
            return value
    return None


def _status_dict(info: Any) -> dict[str, Any]:
    return {"code": info.code, "hex": f"0x{info.code:04X}", "name": info.name, "category": info.category,
            "meaning": info.meaning, "service": info.service, "known": bool(info.known),
            "vendor_notes": list(info.vendor_notes or ())}


def decode_status(code: int, service: str | None) -> dict[str, Any]:
    """The status decoded by dimse.status; without a service and when the code is not a general one, the
    meanings of every service that defines it (the first is the headline)."""
    from ..dimse import status as st

    if service is not None:
        return _status_dict(st.lookup(code, service))
    general = st.lookup(code, None)
    per_service = [_status_dict(info) for info in (st.lookup(code, svc) for svc in st.SERVICES)
                   if info.service is not None and info.known]
    head = _status_dict(general) if general.known or not per_service else dict(per_service[0])
    if per_service:
        head["by_service"] = per_service
    return head


def normalize_service(service: str | None) -> str | None:
    """"C_MOVE", "c-move", "move"... -> "c-move"; BadInput for an unknown service."""
    if not service:
        return None
    from ..dimse import status as st

    try:
        return st.normalize_service(service)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


# --------------------------------------------------------------------------------------------- facts

@dataclass(frozen=True, slots=True)
class Fact:
    """One thing a line states, and the causes judge.py gives it (most likely first)."""

    kind: str  # local / wire / reject / status / abort / timeout / connect
    summary: Text  # what was recognised, a message (it quotes the line's own values)
    causes: tuple[str, ...]
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {"kind": self.kind, "summary": render(self.summary, lang), "causes": list(self.causes),
                **self.detail}


@dataclass(frozen=True, slots=True)
class _Line:
    """The text once, in the spellings the extractors need."""

    raw: str  # whitespace collapsed
    lower: str
    flat: str  # lower case, letters and digits only ("Called AE Title" -> "calledaetitle")

    @classmethod
    def of(cls, text: str) -> "_Line":
        raw = " ".join(text.split())
        lower = raw.lower()
        return cls(raw, lower, re.sub(r"[^a-z0-9]", "", lower))


# --- services: the prefix a tool puts before a status names the service it belongs to
_SERVICE_WORDS = re.compile(
    r"\b(?:([cn])[-_ ]?(echo|store|find|move|get|cancel|create|set|action|delete|event[-_ ]?report)\b"
    r"|(echo|store|find|move|get)(?:\s+(?:scu|scp|request|response|rsp|rq|result|failed|sub-?operation)))",
    re.IGNORECASE)


def _service_in(line: _Line) -> str | None:
    m = _SERVICE_WORDS.search(line.raw)
    if m is None:
        return None
    if m.group(2):
        letter, word = m.group(1).lower(), m.group(2).lower().replace("_", "-").replace(" ", "-")
        if word == "cancel":
            return None
        if word == "eventreport":
            word = "event-report"
        return f"{letter}-{word}"
    return f"c-{m.group(3).lower()}"


# --- DIMSE statuses inside a line
_STATUS_IN_LINE = (
    re.compile(r"(?<![0-9a-z:.])0x([0-9a-f]{4})(?![0-9a-z])", re.IGNORECASE),
    re.compile(r"\bstatus\b[^0-9a-z]{0,4}([0-9a-f]{4})h?(?![0-9a-z.:])", re.IGNORECASE),
    re.compile(r"(?<![0-9a-z:.])([0-9a-f]{4})H\b"),
    re.compile(r"\bstatus: 0x([0-9a-f]{1,4})\b", re.IGNORECASE),  # dcmtk: "(Unknown Status: 0x110)"
)
_STATUS_DECIMAL = re.compile(r"\bstatus\b[\s:=]{1,3}(\d{5})(?![0-9a-z.])", re.IGNORECASE)


def _status_in(line: _Line) -> int | None:
    for rx in _STATUS_IN_LINE:
        m = rx.search(line.raw)
        if m:
            return int(m.group(1), 16)
    m = _STATUS_DECIMAL.search(line.raw)  # dcmjs-dimse logs "status: 43009"
    if m and int(m.group(1)) <= 0xFFFF:
        return int(m.group(1))
    return None


def _status_fact(line: _Line, service: str | None) -> tuple[Fact | None, int | None, str | None]:
    code = _status_in(line)
    if code is None:
        return None, None, None
    svc = service or _service_in(line)
    from ..dimse import status as st

    if st.category(code, svc) in ("success", "pending"):
        return None, code, svc
    causes = judge.status_causes(code, svc)
    summary = msg("DIMSE status 0x{code:04X} ({service})", code=code, service=svc.upper()) if svc else \
        msg("DIMSE status 0x{code:04X}", code=code)
    return Fact("status", summary, causes, {"status": code, "service": svc}), code, svc


# --- A-ASSOCIATE-RJ in every spelling
_RJ_NUMERIC = re.compile(r"result\W{0,3}(\d)\b\D{0,48}?source\W{0,3}(\d)\b\D{0,48}?reason\W{0,3}(\d+)\b",
                         re.IGNORECASE)
_RJ_SLASHED = re.compile(r"\b(?:rj|reject\w*)\b\D{0,24}?\b([12])\s*/\s*([123])\s*/\s*(\d)\b", re.IGNORECASE)
# (flattened phrase, source, reason): the reason names of PS3.8 Table 9-21 as the tools print them
_RJ_REASONS: tuple[tuple[str, int | None, int], ...] = (
    ("calledae", 1, 7), ("callingae", 1, 3), ("appcontext", 1, 2), ("applicationcontext", 1, 2),
    ("protocolversion", 2, 2), ("congestion", 3, 1), ("locallimit", 3, 2),
    ("noreason", None, 1),
)


def _reject_source(flat: str) -> int | None:
    if "presentation" in flat:
        return 3
    if "acse" in flat:
        return 2
    if "serviceuser" in flat:
        return 1
    return None


def _reject_in(line: _Line) -> tuple[int, int, int] | None:
    if "reject" not in line.lower and not re.search(r"\brj\b", line.lower):
        return None
    for rx in (_RJ_NUMERIC, _RJ_SLASHED):
        m = rx.search(line.raw)
        if m:
            return int(m.group(1)), int(m.group(2)), int(m.group(3))
    # "no reason" is only read after the word "reason" (a tool may say "no reason" about something else)
    tail = line.flat[line.flat.find("reason"):] if "reason" in line.flat else ""
    for phrase, source, reason in _RJ_REASONS:
        if phrase in (tail if source is None else line.flat):
            result = 2 if "transient" in line.flat else 1
            # a reason name belongs to one source, except "no reason given" (service-user or ACSE)
            return result, source if source is not None else (_reject_source(line.flat) or 1), reason
    return None


def _reject_fact(line: _Line) -> Fact | None:
    found = _reject_in(line)
    if found is None:
        return None
    result, source, reason = found
    return Fact("reject", msg("A-ASSOCIATE-RJ result {result}, source {source}, reason {reason}", result=result,
                              source=source, reason=reason),
                judge.reject_causes(result, source, reason), {"result": result, "source": source, "reason": reason})


# --- phases: where in the exchange a failure happened
_ASSOC_PHASE = re.compile(r"association request failed|could not negotiate association|requesting association"
                          r"|dicomassociation - connecting to aet"
                          r"|failed to establish association|association negotiation|receiveassociation"
                          r"|a-associate-rq|association rejected|association request:|associate request"
                          r"|acse timeout|association timeout|waiting for (?:the )?a-associate",
                          re.IGNORECASE)
_DIMSE_PHASE = re.compile(r"\b(?:sending|received?)\b.*\b(?:request|response)\b|\b(?:store|echo|find|move|get)"
                          r"(?: scu| scp| request)? failed|\bc-(?:store|find|move|get|echo)\b|dimse"
                          r"|failed receiving|p-data", re.IGNORECASE)


# The phases as the facts name them ("during the dimse phase"), in the reader's language.
_PHASE_WORDS: dict[str, Text] = {"association": msg("association"), "dimse": msg("dimse")}


def _phase(line: _Line) -> str | None:
    dimse = _DIMSE_PHASE.search(line.raw) is not None
    assoc = _ASSOC_PHASE.search(line.raw) is not None
    if dimse and (not assoc or re.search(r"sending \w+ request|failed receiving dimse|dimse", line.lower)):
        return "dimse"
    if assoc:
        return "association"
    return None


# --- A-ABORT, or a connection closed under us
_ABORT_NUMERIC = re.compile(r"abort\w*\W.{0,20}?source\W{0,3}(\d)\b\D{0,40}?reason\W{0,3}(\d)\b", re.IGNORECASE)
_ABORT_WORDS = re.compile(r"peer aborted association|association abort|a-abort|aabort|abortedexception"
                          r"|connection reset by peer|econnreset|\[errno 104\]|aborted the association"
                          r"|broken pipe|epipe|\bunexpected eof\b|connection closed by (?:the )?peer"
                          r"|dul network closed|0006:0310|0006:0317|0006:031d|connection closed while waiting"
                          r"|\bconnection reset\b", re.IGNORECASE)


def _abort_fact(line: _Line) -> Fact | None:
    m = _ABORT_NUMERIC.search(line.raw)
    source: int | None = None
    reason: int | None = None
    if m:
        source, reason = int(m.group(1)), int(m.group(2))
    elif _ABORT_WORDS.search(line.raw) is None:
        return None
    elif "abort" in line.lower:
        if "serviceuser" in line.flat:
            source = 0
        elif "serviceprovider" in line.flat:
            source = 2
        if source is not None:
            reason = 0 if "notspecified" in line.flat else None
    if re.search(r"\b(?:dial|connect)\b[^,;]{0,40}(?:connection reset|econnreset)", line.lower):
        return None  # a reset during connect is a connect outcome
    phase = _phase(line)
    where = _PHASE_WORDS.get(phase or "", phase)
    if source is not None or "abort" in line.lower:
        kind = "abort"
        what = msg("an A-ABORT during the {phase} phase", phase=where) if phase else msg("an A-ABORT")
    elif re.search(r"reset|econnreset|errno 104", line.lower):
        kind = "reset"
        what = msg("the connection was reset during the {phase} phase", phase=where) if phase else \
            msg("the connection was reset")
    else:
        kind = "closed"
        what = msg("the connection was closed during the {phase} phase", phase=where) if phase else \
            msg("the connection was closed")
    service = _service_in(line) if phase == "dimse" else None
    return Fact("abort", what,
                judge.abort_causes(source, reason, phase, kind=kind, service=service),
                {"source": source, "reason": reason, "phase": phase})


# --- timeouts and their phase
_DIAL_TIMEOUT = re.compile(r"\bdial tcp\b[^\n]{0,80}?(?:i/o timeout|timed out|deadline exceeded)"
                           r"|connect timed out|connect timeout|connection timed out|\[errno 110\]"
                           r"|etimedout|tcp initiali[sz]ation error: (?:connection )?timed out"
                           r"|failed to connect: context deadline exceeded", re.IGNORECASE)
_READ_TIMEOUT = re.compile(r"\bread tcp\b[^\n]{0,80}?i/o timeout|read timed out|network read timeout|0006:031a"
                           r"|0006:0207|no data available \(timeout|acse timeout|dimse timeout"
                           r"|exceeded (?:association|pdu) timeout|timeout waiting for|receive timeout"
                           r"|sockettimeoutexception: read"
                           # dcmjs-dimse names the called AE once it sent the A-ASSOCIATE-RQ: "PACS -> Connection
                           # timeout" is an idle socket after TCP was up (before it, the name is empty)
                           r"|\w -> connection timeout", re.IGNORECASE)


def _timeout_fact(line: _Line) -> Fact | None:
    if _DIAL_TIMEOUT.search(line.raw) and not re.search(r"\bread tcp\b", line.lower):
        return Fact("connect", msg("the TCP connect timed out (TCP never came up)"), judge.connect_causes("timeout"),
                    {"outcome": "timeout"})
    if _READ_TIMEOUT.search(line.raw) is None:
        return None
    if re.search(r"acse timeout|association timeout|exceeded association timeout", line.lower):
        phase: str | None = "association"
    elif re.search(r"dimse timeout|exceeded pdu timeout|0006:0207|no data available", line.lower):
        phase = "dimse"
    else:
        phase = _phase(line)
    what = msg("a read timed out while waiting in the {phase} phase", phase=_PHASE_WORDS.get(phase, phase)) \
        if phase else msg("a read timed out after TCP was up (phase not stated)")
    if phase is None:  # TCP was up; the line does not say whether the A-ASSOCIATE-AC or a response was awaited
        both = zip_longest(judge.timeout_causes("association"), judge.timeout_causes("dimse"))
        causes = tuple(dict.fromkeys(c for pair in both for c in pair if c))
    else:
        causes = judge.timeout_causes(phase)
    return Fact("timeout", what, causes, {"phase": phase})


# --- connect outcomes
_CONNECT = (
    ("refused", re.compile(r"connection refused|econnrefused|actively refused|\[errno 111\]|\(10061\)"
                           r"|wsaeconnrefused|connectexception: connection refused", re.IGNORECASE)),
    ("unreachable", re.compile(r"no route to host|network is unreachable|host is unreachable|ehostunreach"
                               r"|enetunreach|\[errno 11[03]\]|\[errno 101\]|host is down", re.IGNORECASE)),
    ("dns", re.compile(r"no such host|name or service not known|nodename nor servname|getaddrinfo|enotfound"
                       r"|unknownhostexception|eai_again|temporary failure in name resolution|\[errno -[23]\]"
                       r"|no such host is known|unknown host|0006:0320|lookup \S+ on \S+", re.IGNORECASE)),
    ("reset", re.compile(r"\b(?:dial|connect)\b[^,;]{0,40}(?:connection reset|econnreset)", re.IGNORECASE)),
)


def _connect_fact(line: _Line) -> Fact | None:
    for outcome, rx in _CONNECT:
        if outcome == "unreachable" and "[errno 110]" in line.lower:
            continue  # 110 is a timeout, handled with the timeouts
        if rx.search(line.raw):
            return Fact("connect", msg("the TCP connect failed: {outcome}", outcome=outcome),
                        judge.connect_causes(outcome),
                        {"outcome": outcome})
    return None


# --- bytes no DICOM peer sends where a PDU was expected
_PDU_TYPE = (
    re.compile(r"unrecognized pdu type:?\s*(?:0x)?([0-9a-f]{1,2})\b", re.IGNORECASE),  # dcmtk: hex, no 0x
    re.compile(r"pdu type\D{0,40}?0x([0-9a-f]{1,2})\b", re.IGNORECASE),  # go-dicom, pynetdicom: 0x..
    re.compile(r"unknown pdu type:?\s*(\d{1,3})\b", re.IGNORECASE),  # fo-dicom, dcmjs-dimse: decimal
    re.compile(r"unexpected pdu type\D{0,40}?(\d{1,3})\b", re.IGNORECASE),
    re.compile(r"pdu_type: (\d{1,3})\b"),  # dicom-rs: "Unknown { pdu_type: 72, data: [...] }"
)
_PDU_TYPE_BASE = (16, 16, 10, 10, 10)
_PDU_LENGTH = re.compile(r"(?:pdu|length)\D{0,30}?(\d{7,10})\b|(\d{7,10}) (?:bytes )?exceeds", re.IGNORECASE)
_TLS_RECORD_TYPES = {0x14: "change-cipher-spec", 0x15: "alert", 0x16: "handshake", 0x17: "application data"}


def _wire_kind_of_type(byte: int) -> tuple[str, Msg] | None:
    if byte in _TLS_RECORD_TYPES:
        return "tls", msg("PDU type 0x{byte:02X} is a TLS {record} record", byte=byte, record=_TLS_RECORD_TYPES[byte])
    if 1 <= byte <= 7:
        return None  # a real PDU type arriving at the wrong moment: a protocol error, not foreign bytes
    if byte == 0x48:
        return "http", msg("PDU type 0x48 is 'H', the first byte of an HTTP answer")
    if 0x20 <= byte < 0x7F:
        return "text", msg("PDU type 0x{byte:02X} is {char}: the peer answered in text", byte=byte,
                           char=repr(chr(byte)))
    return "garbage", msg("PDU type 0x{byte:02X} is not a DICOM PDU type", byte=byte)


def _wire_kind_of_length(length: int) -> tuple[str, Msg] | None:
    raw = length.to_bytes(4, "big") if length < 1 << 32 else b""
    if len(raw) != 4:
        return None
    text = raw.decode("latin-1")
    if all(0x20 <= b < 0x7F for b in raw):
        if text in ("TTP/", "TP/1", "P/1.", "/1.1", "/1.0"):
            return "http", msg("PDU length {length} is the ASCII text {text}, part of 'HTTP/1.1': an HTTP answer "
                               "read as a PDU header", length=length, text=repr(text))
        return "text", msg("PDU length {length} is the ASCII text {text}: the peer answered in text", length=length,
                           text=repr(text))
    if raw[0] == 0x03 and raw[1] <= 0x04:
        return "tls", msg("PDU length {length} starts with TLS version bytes 03 {minor:02x}", length=length,
                          minor=raw[1])
    if length > 0x01000000:  # no DICOM peer sends a 16 MiB+ PDU
        return "garbage", msg("PDU length {length} is larger than any DICOM peer sends", length=length)
    return None


def _wire_fact(line: _Line) -> Fact | None:
    found: tuple[str, Msg] | None = None
    for rx, base in zip(_PDU_TYPE, _PDU_TYPE_BASE):
        m = rx.search(line.raw)
        if m:
            value = int(m.group(1), base)
            if value <= 0xFF:
                found = _wire_kind_of_type(value)
            if found:
                break
    if found is None:
        m = _PDU_LENGTH.search(line.raw)
        if m:
            found = _wire_kind_of_length(int(next(g for g in m.groups() if g)))
    if found is None:
        return None
    kind, summary = found
    return Fact("wire", summary, judge.wire_causes(kind), {"wire": kind})


# --- local errors: the peer is not to blame
_LOCAL: tuple[tuple[str, Msg, "re.Pattern[str]"], ...] = (
    ("missing-sop-class", msg("the data set has no SOP Class UID (0008,0016)"),
     re.compile(r"sop ?class ?uid\W{0,3}(?:\(0008,0016\)\W{0,3})?(?:not found|is missing|missing|is required"
                r"|required|absent|is empty|not present)|(?:missing|no|without)\W{1,3}sop ?class ?uid"
                r"|(?:missing|no) \(0008,0016\)|affectedsopclassuid.{0,20}(?:missing|empty)"
                r"|no sop class or instance uid|required elements? (?:are|is) missing:[^.]{0,60}sopclassuid",
                re.IGNORECASE)),
    ("ae-title", msg("a local AE title is invalid (over 16 characters or bad characters)"),
     re.compile(r"\bae(?:t| title)?\b[^.\n]{0,40}(?:longer than 16|more than 16|exceeds 16|over 16|too long"
                r"|must be (?:16|no more)|must not contain|invalid)|invalid\W{1,3}(?:called |calling )?"
                r"(?:ae|aet|ae title)\b|ae title.{0,40}(?:cannot be empty|16 characters)"
                r"|'(?:ae_title|called_ae|calling_ae)\w*' value .{0,40}must not exceed 16", re.IGNORECASE)),
    ("file", msg("a local file cannot be read (missing, unreadable or not DICOM)"),
     re.compile(r"no such file or directory|filenotfounderror|file not found|cannot open file|can't open file"
                r"|could not open file|enoent|permission denied.{0,30}\.dcm|not a dicom file|invaliddicomerror"
                r"|missing (?:the )?dicm prefix|file meta information header.{0,20}missing"
                r"|\bno such file\b|does not exist:? \S+\.dcm|cannot access (?:file|path)|bad dicom file"
                r"|invalid dicom file", re.IGNORECASE)),
)


def _local_fact(line: _Line) -> Fact | None:
    for kind, summary, rx in _LOCAL:
        if rx.search(line.raw):
            if kind == "ae-title" and "reject" in line.lower:
                continue  # a peer refusing our AE title is a reject, not a local error
            return Fact("local", msg("{what} (a local problem, not the peer's)", what=summary),
                        judge.local_causes(kind),
                        {"local": kind})
    return None


# --- dcmtk OFCondition codes of the network module (dcmnet's cond.h: ASC 01xx, DIMSE 02xx, DUL 03xx)
_CONDITION = re.compile(r"\b0006:([0-9a-f]{4})\b", re.IGNORECASE)
_MALFORMED_CONDITIONS = {0x0203: "DIMSE bad message", 0x020B: "DIMSE failed to parse a received message",
                         0x020F: "DIMSE unexpected PDV type", 0x0307: "DUL illegal or ill-formed PDU",
                         0x0308: "DUL illegal PDU length", 0x031F: "DUL received an unexpected PDU",
                         0x0322: "DUL unsupported peer protocol"}
_CLOSED_CONDITIONS = {0x020C: "DIMSE read PDV failed", 0x020D: "DIMSE failed to receive a message",
                      0x020E: "DIMSE failed to send a message"}


def _condition_fact(line: _Line) -> Fact | None:
    """dcmtk's innermost condition that this module knows and no other extractor already covered: the
    malformed-PDU family and the DIMSE receive/send failures (a connection that broke under the DIMSE
    exchange). Refused connects, aborts, timeouts and foreign PDU types are read from the condition's text
    by the other extractors."""
    codes = [int(c, 16) for c in _CONDITION.findall(line.raw)]
    for code in reversed(codes):
        if code in _MALFORMED_CONDITIONS:
            return Fact("wire", f"dcmtk 0006:{code:04x}: {_MALFORMED_CONDITIONS[code]}",
                        judge.wire_causes("malformed"), {"wire": "malformed", "condition": f"0006:{code:04x}"})
        if code in _CLOSED_CONDITIONS:
            return Fact("abort", msg("dcmtk 0006:{code:04x}: {condition} (the connection broke during the DIMSE "
                                     "exchange)", code=code, condition=_CLOSED_CONDITIONS[code]),
                        judge.abort_causes(None, None, "dimse", kind="closed", service=_service_in(line)),
                        {"condition": f"0006:{code:04x}", "phase": "dimse"})
    return None


_Extractor = Callable[[_Line], "Fact | None"]
# Most decisive first: a local error is never the peer's; foreign bytes say what the peer is; an explicit
# reject or status is the peer's own answer; then what happened to the connection.
_EXTRACTORS: tuple[_Extractor, ...] = (_local_fact, _wire_fact, _reject_fact)
_LATE_EXTRACTORS: tuple[_Extractor, ...] = (_timeout_fact, _connect_fact, _abort_fact, _condition_fact)


def extract_facts(text: str, service: str | None = None) -> list[Fact]:
    """The facts `text` states, most decisive first (duplicates of one kind dropped)."""
    line = _Line.of(text[:MAX_TEXT])
    facts: list[Fact] = [f for f in (x(line) for x in _EXTRACTORS) if f is not None]
    status, _, _ = _status_fact(line, service)
    if status is not None:
        facts.append(status)
    facts += [f for f in (x(line) for x in _LATE_EXTRACTORS) if f is not None]
    seen: set[str] = set()
    out: list[Fact] = []
    for fact in facts:
        if fact.kind not in seen:
            seen.add(fact.kind)
            out.append(fact)
    return out


# ------------------------------------------------------------------------------------------- explain

def _cause_dict(kb: KnowledgeBase, cause_id: str, score: float, lang: str) -> dict[str, Any]:
    c = kb.cause(cause_id, lang, strict=False)
    return {"id": c.id, "title": c.title, "explanation": c.explanation, "fixes": list(c.fixes),
            "refs": list(c.refs), "score": score}


def _rank(facts: list[Fact], text_ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Causes of the facts in order, then the signature matches the facts did not name, with scores that
    decrease down the list."""
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    score = _STRUCTURE_TOP
    for fact in facts:
        for cid in fact.causes:
            if cid not in seen:
                seen.add(cid)
                out.append((cid, round(score, 3)))
                score = max(score - 5.0, 55.0)
    ceiling = (out[-1][1] - 1.0) if out else None
    for cid, s in text_ranked:
        if cid not in seen:
            seen.add(cid)
            out.append((cid, min(s, ceiling) if ceiling is not None else s))
    return out


def explain(text: str, service: str | None = None, lang: str = "en",
            kb: KnowledgeBase | None = None) -> dict[str, Any]:
    """The explanation as plain values: {"input", "status": {...} | None, "facts": [...], "causes": [...]}.
    Raises BadInput when the text is neither a status nor something the structure or the knowledge base
    recognises."""
    kb = kb or load_kb(lang)
    svc = normalize_service(service)
    code = parse_status(text)
    if code is not None:
        ranked = judge.ranked_status_causes(code, svc)
        return {"input": text, "status": decode_status(code, svc), "facts": [],
                "causes": [_cause_dict(kb, cid, s, lang) for cid, s in ranked[:MAX_CAUSES]]}
    if not text.strip():
        raise BadInput(msg("explain: give a DIMSE status (e.g. A801, 0xC000, 43009) or an error message")
                       .render(lang))
    text = text[:MAX_TEXT]
    line = _Line.of(text)
    facts = extract_facts(text, svc)
    _, line_code, line_svc = _status_fact(line, svc)
    text_ranked = kb.match_text(text)
    if text_ranked:
        top = text_ranked[0][1]
        text_ranked = [r for r in text_ranked if r[1] >= top * 0.5]  # the plausible ones, not every weak hit
    ranked = _rank(facts, text_ranked)
    if not ranked:
        shown = line.raw if len(line.raw) <= 80 else line.raw[:77] + "..."
        raise BadInput(msg("explain: {text} is not a DIMSE status and matches no known error message (try a "
                           "status such as A801 or 0xC000, or paste the tool's exact error line)", text=repr(shown))
                       .render(lang))
    status = decode_status(line_code, line_svc) if line_code is not None else None
    return {"input": text, "status": status, "facts": [f.to_dict(lang) for f in facts],
            "causes": [_cause_dict(kb, cid, s, lang) for cid, s in ranked[:MAX_CAUSES]]}

"""What is listening on the port: classify the first bytes a peer sends back (failure-modes §0 step 4).

A DICOM acceptor always answers an A-ASSOCIATE-RQ with PDU type 0x02 (AC), 0x03 (RJ) or 0x07 (A-ABORT).
Anything else is diagnostic by itself: a TLS record (0x15/0x16 then 0x03 0x0x) means the port wants TLS, an
ASCII "HTTP/1." means a web server, "SSH-" an SSH daemon. No bytes at all is either an immediate close or
silence until our timeout. This module is pure (bytes in, a fact out); the network side is in
`probes.association`, which sends the request and hands what came back to `classify`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..messages import Msg, Text, msg
from ..ul.pdu import PDU_NAMES

# PDU types a peer may legally send in answer to an A-ASSOCIATE-RQ (PS3.8 §9.3, Table 9-1).
ASSOCIATE_AC = 0x02
ASSOCIATE_RJ = 0x03
ABORT = 0x07
# How many bytes of an unexpected answer we keep, as hex, for the evidence.
SAMPLE_BYTES = 32


class Kind(str, enum.Enum):
    """What the first bytes say is on the port."""

    DICOM = "dicom"                # a DICOM PDU header we expect (AC, RJ, A-ABORT)
    DICOM_UNEXPECTED = "dicom-unexpected"  # a DICOM PDU type, but not one valid as an answer to an RQ
    TLS = "tls"                    # a TLS record: plain DICOM sent to a TLS port
    HTTP = "http"                  # a web server (Orthanc 8042, dcm4chee 8080, DICOMweb)
    SSH = "ssh"
    TEXT = "text"                  # another line-oriented service banner (SMTP, FTP, ...)
    GARBAGE = "garbage"            # bytes that are none of the above
    SILENCE = "silence"            # TCP open, no byte before our timeout
    CLOSED = "closed"              # the peer closed (FIN) without a byte
    RESET = "reset"                # the peer reset the connection without a byte


@dataclass(frozen=True, slots=True)
class FirstBytes:
    """The classification of what came back, with enough raw detail for the evidence."""

    kind: Kind
    detail: str
    sample_hex: str = ""
    pdu_type: int | None = None
    claimed_length: int | None = None
    # `detail` as a message, for a check's summary in the run's language (the evidence keeps English).
    message: Msg | None = field(default=None, compare=False)

    @property
    def text(self) -> Text:
        return self.message if self.message is not None else self.detail

    def to_json_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "detail": self.detail, "sample_hex": self.sample_hex,
                "pdu_type": self.pdu_type, "claimed_length": self.claimed_length}


_TLS_CONTENT_TYPES = {0x14: "change-cipher-spec", 0x15: "alert", 0x16: "handshake", 0x17: "application-data"}


def looks_like_tls(data: bytes) -> bool:
    """A TLS record header: content type 0x14..0x17, then major version 3 and a minor version 0..4."""
    return len(data) >= 3 and data[0] in _TLS_CONTENT_TYPES and data[1] == 0x03 and data[2] <= 0x04


def classify(data: bytes, *, eof: bool = False, reset: bool = False, timed_out: bool = False) -> FirstBytes:
    """Classify the first bytes received after our A-ASSOCIATE-RQ.

    `data` is what arrived (possibly fewer than 6 bytes); `eof`/`reset`/`timed_out` say how reading ended
    when nothing (or too little) arrived. Order matters: a TLS alert starts with 0x15, which is not a DICOM
    PDU type, so TLS is tested before DICOM types; "HTTP" starts with 0x48, "SSH-" with 0x53.
    """
    sample = data[:SAMPLE_BYTES].hex(" ")
    if not data:
        if reset:
            return _said(Kind.RESET, msg("the peer reset the connection without sending a byte"))
        if eof:
            return _said(Kind.CLOSED, msg("the peer closed the connection without sending a byte"))
        return _said(Kind.SILENCE, msg("the TCP connection is open but the peer sent nothing"))
    if looks_like_tls(data):
        what = _TLS_CONTENT_TYPES[data[0]]
        if data[0] == 0x15 and len(data) >= 7:
            tls = msg("a TLS {what} record (version 3.{minor}), alert level {level} description {description}",
                      what=what, minor=data[2], level=data[5], description=data[6])
        else:
            tls = msg("a TLS {what} record (version 3.{minor})", what=what, minor=data[2])
        return _said(Kind.TLS, tls, sample)
    if data.startswith(b"HTTP/") or data[:4] in (b"GET ", b"POST", b"HEAD"):
        line = data.split(b"\r\n", 1)[0][:80].decode("ascii", "replace")
        return _said(Kind.HTTP, msg("an HTTP answer: {line!r}", line=line), sample)
    if data.startswith(b"SSH-"):
        line = data.split(b"\n", 1)[0][:80].decode("ascii", "replace").strip()
        return _said(Kind.SSH, msg("an SSH banner: {line!r}", line=line), sample)
    pdu_type = data[0]
    if pdu_type in PDU_NAMES and (len(data) < 2 or data[1] == 0):
        claimed = int.from_bytes(data[2:6], "big") if len(data) >= 6 else None
        name = PDU_NAMES[pdu_type]
        kind = Kind.DICOM if pdu_type in (ASSOCIATE_AC, ASSOCIATE_RJ, ABORT) else Kind.DICOM_UNEXPECTED
        if claimed is not None:
            pdu = msg("{name} (PDU type 0x{pdu_type:02x}) claiming {claimed} bytes", name=name, pdu_type=pdu_type,
                      claimed=claimed)
        else:
            pdu = msg("{name} (PDU type 0x{pdu_type:02x})", name=name, pdu_type=pdu_type)
        return _said(kind, pdu, sample, pdu_type=pdu_type, claimed_length=claimed)
    if _printable_line(data):
        line = data.split(b"\n", 1)[0][:80].decode("ascii", "replace").strip()
        return _said(Kind.TEXT, msg("a text banner: {line!r}", line=line), sample)
    return _said(Kind.GARBAGE, msg("{n} bytes that are not a DICOM PDU (first byte 0x{first:02x})", n=len(data),
                                   first=data[0]), sample, pdu_type=pdu_type)


def _said(kind: Kind, detail: Msg, sample: str = "", *, pdu_type: int | None = None,
          claimed_length: int | None = None) -> FirstBytes:
    return FirstBytes(kind, str(detail), sample, pdu_type, claimed_length, detail)


def _printable_line(data: bytes) -> bool:
    head = data[:64]
    return len(head) >= 4 and all(32 <= b < 127 or b in (9, 10, 13) for b in head)

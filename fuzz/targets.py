"""What each fuzz target does with one input, and which exceptions are the documented answer to bad bytes.

A target function gets the mutated bytes and returns normally, or raises one of its `EXPECTED` exceptions
(the parser's documented way of saying "malformed"); anything else escaping is a crash. The capture target
must not even raise for a damaged file once its header was read: damage is a finding.
"""

from __future__ import annotations

import io
from typing import Any, Callable

from dicomdoctor.capture.reader import CaptureFormatError
from dicomdoctor.dimse import Reassembler, command_violations, response_evidence
from dicomdoctor.ul import (NEED_DATA, AAssociateAC, AAssociateRQ, AReleaseRP, AssociateRequest, PDataTF,
                            PDUReader, PresentationContextAC, ProtocolError, ReleaseRequest, ULConnection,
                            UserInformation, decode_pdu, encode_pdu, validate)

IMPLICIT = "1.2.840.10008.1.2"


def ul(data: bytes) -> None:
    """decode_pdu (lenient), then what decoded must re-encode to an equal PDU; validate both ways."""
    try:
        pdu = decode_pdu(data)
    except ProtocolError:
        validate(None, data)
        return
    again = decode_pdu(encode_pdu(pdu))
    if again != pdu:
        raise AssertionError(f"re-encoding changed the PDU: {pdu!r} -> {again!r}")
    validate(pdu, data)


def ulconn(data: bytes) -> None:
    """A ULConnection fed a peer's bytes (role and chunk size from the first two bytes); never raises."""
    if len(data) < 2:
        return
    role = "acceptor" if data[0] & 1 else "requestor"
    step = data[1] or len(data)
    stream = data[2:]
    conn = ULConnection(role, max_pdu_length=4096)
    conn.connection_made(now=0.0)
    if role == "requestor":
        conn.send(AAssociateRQ("SCP", "FUZZER", user_information=UserInformation(4096, "1.2.3")), now=0.0)
    now = 0.0
    for i in range(0, len(stream), step):
        now += 0.01
        conn.receive_data(stream[i:i + step], now=now)
        _answer(conn, now)
        conn.data_to_send()
    conn.on_timer(now + 3600.0)
    conn.receive_data(b"", now=now + 3600.0)
    _answer(conn, now + 3600.0)
    conn.data_to_send()


def _answer(conn: ULConnection, now: float) -> None:
    """Play the local user the way a driver does, so the peer's later PDUs meet an established association:
    accept an A-ASSOCIATE-RQ, answer an A-RELEASE-RQ (when the state allows it; a LocalProtocolError here would
    be our misuse, not the peer's doing, and is a crash too)."""
    while (ev := conn.next_event()) is not NEED_DATA:
        if isinstance(ev, AssociateRequest) and conn.can_send(AAssociateAC):
            cids = [c.context_id for c in ev.pdu.presentation_contexts][:8]
            conn.send(AAssociateAC(called_ae="SCP", calling_ae="FUZZER",
                                   presentation_contexts=tuple(PresentationContextAC(c, 0, IMPLICIT) for c in cids),
                                   user_information=UserInformation(4096, "1.2.3")), now=now)
        elif isinstance(ev, ReleaseRequest) and conn.can_send(AReleaseRP):
            conn.send(AReleaseRP(), now=now)


def dimse(data: bytes) -> None:
    """P-DATA-TF PDUs framed by PDUReader into a Reassembler, as a capture reads them: a DIMSE error drops
    the message in progress and reading goes on; a framing error ends the stream."""
    reader = PDUReader(1 << 16)
    reasm = Reassembler(max_dataset_bytes=1 << 16)
    reader.feed(data)
    while True:
        try:
            pdu = reader.next_pdu()
        except ProtocolError:
            return
        if pdu is None:
            return
        if not isinstance(pdu, PDataTF):
            continue
        for pdv in pdu.pdvs:
            try:
                m = reasm.add_pdv(pdv)  # type: ignore[arg-type]  # PDVLike wants settable fields; PDV is frozen
            except ProtocolError:
                continue
            if m is None:
                continue
            command_violations(m.command)
            msg = m.message
            if getattr(msg, "status", None) is not None:
                response_evidence(msg)
            msg.to_command_bytes()


_KB: Any = None


def pcap(data: bytes) -> None:
    """The whole capture analysis (reader, TCP reassembly, PDU framing, judgement) over an in-memory file.
    Only a file that is not a capture at all may raise (CaptureFormatError: exit 3, one message)."""
    global _KB
    from dicomdoctor.capture.analyse import CaptureAnalysis

    if _KB is None:
        from dicomdoctor.engine.kb import load_kb

        _KB = load_kb("en")
    try:
        analysis = CaptureAnalysis(source="fuzz.pcap", kb=_KB, max_pending=1 << 16).run(io.BytesIO(data))
    except CaptureFormatError as exc:
        if not _header_damage(data, exc):
            raise
        return
    analysis.report()


def _header_damage(data: bytes, exc: CaptureFormatError) -> bool:
    """CaptureFormatError is the answer only for a file that is not a capture or whose file header (pcap
    global header, the first pcapng section header) is broken: nothing could be read to report on."""
    text = str(exc)
    return any(s in text for s in ("is not a pcap or pcapng capture", "global header cut short",
                                   "section header cut short", "section header with a bad byte-order",
                                   "section header length"))


# Every exception escaping a target is a crash: the targets already catch the documented ones.
TARGETS: dict[str, Callable[[bytes], None]] = {"ul": ul, "ulconn": ulconn, "dimse": dimse, "pcap": pcap}

"""Two ULConnections linked in memory: requestor <-> acceptor (STYLE.md #1). Time is injected."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from dicomdoctor.ul import (
    NEED_DATA,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    Aborted,
    AReleaseRP,
    AReleaseRQ,
    ARTIMExpired,
    AssociateAccept,
    AssociateReject,
    AssociateRequest,
    DataTransfer,
    LocalProtocolError,
    PDataTF,
    PDV,
    PresentationContextAC,
    PresentationContextRQ,
    ProtocolViolation,
    ReleaseConfirm,
    ReleaseRequest,
    State,
    Transition,
    TransportClosed,
    ULConnection,
    UserInformation,
    decode_pdu,
    encode_pdu,
    raw_pdu,
)

from .golden import ECHO_UID, IMPLICIT_LE, h

RQ = AAssociateRQ("ANY-SCP", "ECHOSCU", presentation_contexts=[PresentationContextRQ(1, ECHO_UID, [IMPLICIT_LE])],
                  user_information=UserInformation(16384, "1.2.3.4", "TEST_01"))
AC = AAssociateAC("ANY-SCP", "ECHOSCU", presentation_contexts=[PresentationContextAC(1, 0, IMPLICIT_LE)],
                  user_information=UserInformation(32768, "1.2.3.4", "TEST_01"))
DATA = PDataTF([PDV(1, True, True, b"\x00" * 20)])


def drain(conn: ULConnection) -> list[Any]:
    events = []
    while (ev := conn.next_event()) is not NEED_DATA:
        events.append(ev)
    return events


def deliver(data: bytes, dst: ULConnection, now: float | None = None) -> list[Any]:
    dst.receive_data(data, now=now)
    return drain(dst)


def associated(max_pdu: int = 16384) -> tuple[ULConnection, ULConnection]:
    req, acc = ULConnection("requestor", max_pdu_length=max_pdu), ULConnection("acceptor", artim_timeout=30)
    req.connection_made()
    acc.connection_made(now=0.0)
    assert acc.state is State.STA2 and acc.artim_deadline == 30.0
    rq = replace(RQ, user_information=replace(RQ.user_information, max_length=max_pdu))
    [ev] = deliver(req.send(rq), acc)
    assert isinstance(ev, AssociateRequest) and ev.pdu == rq and acc.state is State.STA3
    assert acc.artim_deadline is None and acc.peer_max_pdu_length == max_pdu
    [ev] = deliver(acc.send(AC), req)
    assert isinstance(ev, AssociateAccept) and ev.pdu == AC
    assert req.state is acc.state is State.STA6 and req.peer_max_pdu_length == 32768
    return req, acc


def test_associate_data_release() -> None:
    req, acc = associated()
    [ev] = deliver(req.send(DATA), acc)
    assert isinstance(ev, DataTransfer) and ev.pdu == DATA
    [ev] = deliver(acc.send(DATA), req)
    assert isinstance(ev, DataTransfer)
    assert deliver(req.send(AReleaseRQ()), acc) == [ReleaseRequest(collision=False)]
    assert req.state is State.STA7 and acc.state is State.STA8
    acc.send(DATA)                                   # AR-7: P-DATA still allowed while releasing
    [ev] = deliver(encode_pdu(DATA), req)            # AR-6: and received
    assert isinstance(ev, DataTransfer) and req.state is State.STA7
    assert deliver(acc.send(AReleaseRP(), now=10.0), req) == [ReleaseConfirm(collision=False)]
    assert req.state is State.STA1 and req.must_close
    assert acc.state is State.STA13 and acc.artim_deadline == 40.0 and not acc.must_close
    assert deliver(b"", acc) == [TransportClosed(expected=True, state=State.STA13)]
    assert acc.state is State.STA1 and acc.must_close and acc.artim_deadline is None
    assert acc.data_to_send() == b"" and req.data_to_send() == b""


def test_reject() -> None:
    req, acc = ULConnection("requestor"), ULConnection("acceptor")
    acc.connection_made()
    deliver(req.send(RQ), acc)
    rj = AAssociateRJ(1, 1, 7)
    [ev] = deliver(acc.send(rj, now=5.0), req)
    assert isinstance(ev, AssociateReject) and ev.pdu.reason_name == "called-AE-title-not-recognized"
    assert req.state is State.STA1 and req.must_close
    assert acc.state is State.STA13 and acc.artim_deadline == 35.0
    acc.on_timer(34.9)
    assert drain(acc) == [] and acc.state is State.STA13
    acc.on_timer(35.0)                              # the requestor never closed: ARTIM closes for us
    assert drain(acc) == [ARTIMExpired(State.STA13)] and acc.state is State.STA1 and acc.must_close


def test_user_abort() -> None:
    req, acc = associated()
    [ev] = deliver(req.send(AAbort(), now=1.0), acc)
    assert ev == Aborted(AAbort(0, 0), 0, 0) and acc.state is State.STA1 and acc.must_close
    assert req.state is State.STA13 and req.artim_deadline == 31.0
    assert deliver(b"", req) == [TransportClosed(expected=True, state=State.STA13)]


def test_release_collision() -> None:
    req, acc = associated()
    from_req, from_acc = req.send(AReleaseRQ()), acc.send(AReleaseRQ())
    assert req.state is acc.state is State.STA7
    assert deliver(from_acc, req) == [ReleaseRequest(collision=True)] and req.state is State.STA9
    assert deliver(from_req, acc) == [ReleaseRequest(collision=True)] and acc.state is State.STA10
    with pytest.raises(LocalProtocolError):        # the acceptor answers only after its confirmation
        acc.send(AReleaseRP())
    rp = req.send(AReleaseRP())                     # AR-9
    assert req.state is State.STA11
    assert deliver(rp, acc) == [ReleaseConfirm(collision=True)] and acc.state is State.STA12   # AR-10
    assert deliver(acc.send(AReleaseRP()), req) == [ReleaseConfirm(collision=True)]           # AR-4 / AR-3
    assert req.state is State.STA1 and req.must_close and acc.state is State.STA13
    assert deliver(b"", acc)[0].expected


def test_artim_expires_when_no_rq_arrives() -> None:
    acc = ULConnection("acceptor", artim_timeout=30.0)
    acc.connection_made(now=100.0)
    assert acc.artim_deadline == 130.0
    acc.on_timer(129.99)
    assert drain(acc) == [] and acc.state is State.STA2
    acc.on_timer(130.0)
    assert drain(acc) == [ARTIMExpired(State.STA2)] and acc.must_close and acc.artim_deadline is None
    assert acc.data_to_send() == b""


def test_local_protocol_errors_change_nothing() -> None:
    req = ULConnection("requestor")
    for bad in (DATA, AReleaseRQ(), AReleaseRP(), AC, AAssociateRJ()):
        with pytest.raises(LocalProtocolError):
            req.send(bad)
    with pytest.raises(LocalProtocolError):
        req.note_sent_pdata()
    with pytest.raises(LocalProtocolError):
        req.send(AAssociateRQ("X" * 17, "Y"))      # cannot be encoded: state untouched
    assert req.state is State.STA1 and not req.can_send(PDataTF) and req.can_send(AAssociateRQ)
    acc = ULConnection("acceptor")
    with pytest.raises(LocalProtocolError):
        acc.send(RQ)
    req, acc = associated()
    req.note_sent_pdata()
    assert req.state is State.STA6 and req.can_send(PDataTF) and not req.can_send(AAssociateAC)


def test_unexpected_pdu_aborts_with_provider_source() -> None:
    req, acc = associated()
    events = deliver(encode_pdu(AC), acc)            # an AC in Sta6: AA-8
    assert [type(e) for e in events] == [ProtocolViolation]
    assert events[0].fatal and events[0].violation.code == "unexpected-pdu"
    assert decode_pdu(acc.data_to_send()) == AAbort(2, 2)
    assert acc.state is State.STA13 and acc.artim_deadline is not None
    assert deliver(encode_pdu(DATA), acc) == []      # after framing loss/abort: ignored


def test_garbage_and_oversized_pdus() -> None:
    req, acc = associated()
    [ev] = deliver(b"HTTP/1.1 200 OK\r\n\r\n", req)
    assert isinstance(ev, ProtocolViolation) and ev.fatal and "0x48" in ev.violation.message
    assert ev.violation.code == "unrecognized-pdu"
    assert decode_pdu(req.data_to_send()) == AAbort(2, 1)       # unrecognized-PDU
    req, acc = associated(max_pdu=1000)
    big = encode_pdu(PDataTF([PDV(1, False, True, bytes(2000))]))
    [ev] = deliver(big, req)
    assert ev.violation.code == "pdu-too-large" and "above the cap of 1000" in ev.violation.message
    assert decode_pdu(req.data_to_send()) == AAbort(2, 6)
    req, acc = associated()
    [ev] = deliver(h("04 00 00000008 00000010 01 03 aabb"), req)
    assert ev.violation.code == "malformed" and ev.violation.offset == 6


def test_protocol_version_rejected_by_provider() -> None:
    acc = ULConnection("acceptor")
    events = deliver(encode_pdu(AAssociateRQ("A", "B", protocol_version=2,
                                             presentation_contexts=RQ.presentation_contexts,
                                             user_information=RQ.user_information)), acc)
    assert [e.violation.code for e in events] == ["protocol-version", "protocol-version"]
    assert [e.fatal for e in events] == [False, True]
    assert decode_pdu(acc.data_to_send()) == AAssociateRJ(1, 2, 2) and acc.state is State.STA13


def test_transport_closed_mid_association_and_truncated_pdu() -> None:
    req, acc = associated()
    events = deliver(encode_pdu(DATA)[:9], req) + deliver(b"", req)
    assert [type(e) for e in events] == [ProtocolViolation, TransportClosed]
    assert events[0].violation.code == "truncated-pdu" and not events[0].fatal
    assert events[1] == TransportClosed(expected=False, state=State.STA6)
    assert req.state is State.STA1 and req.must_close


def test_non_fatal_violations_precede_the_event() -> None:
    req = ULConnection("requestor")
    req.send(RQ)
    odd = AAssociateAC("ANY-SCP", "ECHOSCU", presentation_contexts=[PresentationContextAC(1, 7, "")],
                       user_information=UserInformation(None, "1.2.3.4"))
    events = deliver(encode_pdu(odd), req)
    assert [type(e) for e in events][-1] is AssociateAccept
    assert {e.violation.code for e in events[:-1]} == {"context-result", "max-length-missing"}
    assert all(not e.fatal for e in events[:-1]) and req.peer_max_pdu_length is None


def test_peer_speaks_before_our_rq() -> None:
    req = ULConnection("requestor")
    req.connection_made()
    events = deliver(encode_pdu(AAbort(2, 0)), req)
    assert [type(e) for e in events] == [ProtocolViolation, Aborted] and req.must_close


def test_peer_aborts_before_its_rq() -> None:
    acc = ULConnection("acceptor")
    assert deliver(encode_pdu(AAbort(0, 0)), acc) == [Aborted(AAbort(0, 0), 0, 0)]   # AA-2 in Sta2
    assert acc.state is State.STA1 and acc.must_close


def test_observer_sees_every_transition_and_max_pdu_follows_what_we_send() -> None:
    seen: list[Transition] = []
    req = ULConnection("requestor", max_pdu_length=4096, on_transition=seen.append)
    req.send(AAssociateRQ("A", "B", presentation_contexts=RQ.presentation_contexts,
                          user_information=UserInformation(0, "1.2")))
    assert req.max_pdu_length == 0                   # we advertised "no limit"
    req.receive_data(encode_pdu(AC))
    drain(req)
    req.note_sent_pdata()
    assert [t.action for t in seen] == ["AE-1", "AE-2", "AE-3", "DT-1"]
    assert seen[1].next_state is State.STA5


def test_byte_by_byte_delivery_and_many_pdus_at_once() -> None:
    req, acc = associated()
    stream = b"".join(req.send(DATA) for _ in range(50))
    got: list[Any] = []
    for i in range(len(stream)):
        got += deliver(stream[i:i + 1], acc)
    assert len(got) == 50 and all(isinstance(e, DataTransfer) for e in got)
    assert len(deliver(b"".join(encode_pdu(DATA) for _ in range(50)), acc)) == 50


def test_raw_rj_with_undefined_codes_is_lenient() -> None:
    req = ULConnection("requestor")
    req.send(RQ)
    events = deliver(raw_pdu(0x03, h("00 05 09 09")), req)
    assert isinstance(events[-1], AssociateReject) and events[-1].pdu.result == 5
    assert {e.violation.code for e in events[:-1]} == {"reject-result", "reject-reason"}


def test_100_mb_of_pdata_through_the_connection_is_fast() -> None:
    """6400 P-DATA-TF PDUs of 16 KiB (105 MB) arriving in 64 KiB reads, every one an event (how fast is a
    benchmark's business; a quadratic buffer would meet the pytest timeout)."""
    req, acc = associated()
    block = encode_pdu(PDataTF([PDV(1, False, False, bytes(16378))])) * 4    # 4 PDUs = 65536 bytes
    count = 0
    for _ in range(1600):
        acc.receive_data(block)
        while (ev := acc.next_event()) is not NEED_DATA:
            count += 1
    assert count == 6400 and acc.state is State.STA6

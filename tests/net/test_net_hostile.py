"""Our SCU against hostile raw-socket peers (benchmarks/hostile_peers.py): every bound holds and every
failure says what the peer did. Assertions count bytes and objects held, never wall time."""

from __future__ import annotations

from typing import Any

import pytest

from dicomdoctor.dimse.fragment import FRAGMENT_OVERHEAD, MAX_COMMAND_BYTES
from dicomdoctor.net import AssociationTimeout, PeerProtocolError, Timeouts, Trace, associate
from dicomdoctor.net import limits
from dicomdoctor.net.association import CANCEL_GRACE, MATCHES_KEPT, RELEASE_PDUS_TOLERATED
from dicomdoctor.target import Target
from hostile import hostile_peer
from peers import arun

VERIFICATION = "1.2.840.10008.1.1"
FIND = "StudyRootQueryRetrieveInformationModelFind"
# Generous safety nets only: the operation deadline is what these tests exercise.
TIMEOUTS = Timeouts(connect=5, association=5, dimse=10, release=5, operation=2.0)


@pytest.fixture
def small_dataset_cap() -> Any:
    """A 1 MiB receive cap, so the tests reach it after a moment of flooding."""
    before = limits.default_max_dataset()
    limits.set_default_max_dataset(1 << 20)
    yield 1 << 20
    limits.set_default_max_dataset(before)


def _target(port: int) -> Target:
    return Target("127.0.0.1", port, "HOSTILE")


async def _echo(port: int, trace: Trace | None = None) -> Any:
    assoc = await associate(_target(port), [VERIFICATION], timeouts=TIMEOUTS, trace=trace)
    try:
        return await assoc.echo()
    finally:
        await assoc.abort()


def test_endless_command_fragments_stop_at_the_command_cap() -> None:
    with hostile_peer("frag-command") as peer:
        with pytest.raises(PeerProtocolError) as err:
            arun(_echo(peer.port))
    assert f"exceeds {MAX_COMMAND_BYTES} bytes" in str(err.value)
    assert err.value.violation.code == "dimse-fragmentation"


@pytest.mark.parametrize("case", ["frag-dataset", "frag-tiny"])
def test_endless_data_set_stops_at_the_cap_counting_fragment_overhead(case: str, small_dataset_cap: int) -> None:
    # The cap must end this, not a deadline: the operation deadline here is only a hang guard, so a loaded
    # machine that floods slowly still reaches the cap first.
    guard = Timeouts(connect=5, association=5, dimse=60, release=5, operation=60.0)

    async def go() -> Any:
        assoc = await associate(_target(peer.port), [VERIFICATION], timeouts=guard)
        try:
            with pytest.raises(PeerProtocolError) as err:
                await assoc.echo()
            # The partial message was dropped: nothing of the flood is still held.
            assert not assoc.channel.reassembler.in_progress
            return err.value
        finally:
            await assoc.abort()
    with hostile_peer(case) as peer:
        exc = arun(go())
    assert f"exceeds {small_dataset_cap} bytes" in str(exc)
    assert exc.violation.code == "dimse-fragmentation"
    if case == "frag-tiny":
        # 1-byte PDVs: the cap was reached by the per-fragment charge, long before 1 MiB of payload.
        assert f"{FRAGMENT_OVERHEAD} bytes per fragment" in str(exc)


def test_pending_forever_ends_at_the_operation_deadline_keeping_counts() -> None:
    async def go() -> Any:
        assoc = await associate(_target(peer.port), [FIND], timeouts=TIMEOUTS)
        query = assoc.find("STUDY", {"PatientID": ""})
        try:
            with pytest.raises(AssociationTimeout) as err:
                async for _rsp in query:
                    pass
            return err.value, query
        finally:
            await assoc.abort()
    with hostile_peer("pending-forever") as peer:
        exc, query = arun(go())
    assert exc.phase == "operation"
    assert query.match_count > 0 and len(query.matches) <= MATCHES_KEPT


def test_ignored_cancel_is_aborted_after_the_grace_and_said() -> None:
    async def go() -> Any:
        # An operation deadline far beyond the grace: the cancel grace must speak first.
        t = Timeouts(connect=5, association=5, dimse=10, release=5, operation=CANCEL_GRACE * 20)
        assoc = await associate(_target(peer.port), [FIND], timeouts=t)
        query = assoc.find("STUDY", {"PatientID": ""})
        try:
            with pytest.raises(AssociationTimeout) as err:
                async for _rsp in query:
                    if query.match_count >= 3 and not query.cancel_sent:
                        await query.cancel()
            return err.value, assoc
        finally:
            await assoc.abort()
    with hostile_peer("pending-forever") as peer:
        exc, assoc = arun(go())
    assert exc.phase == "cancel"
    assert any(v.code == "cancel-ignored" for v in assoc.violations)


def test_release_flood_is_cut_off_and_is_a_violation() -> None:
    async def go() -> Any:
        trace = Trace()
        assoc = await associate(_target(peer.port), [VERIFICATION], timeouts=TIMEOUTS, trace=trace)
        rsp = await assoc.echo()
        with pytest.raises(PeerProtocolError) as err:
            await assoc.release()
        return rsp, err.value, trace
    with hostile_peer("release-flood") as peer:
        rsp, exc, trace = arun(go())
    assert rsp.ok
    assert exc.violation.code == "pdu-after-release-rq"
    # The trace holds the association, the echo and the few messages we tolerated: bounded, not the flood.
    assert len(trace) <= RELEASE_PDUS_TOLERATED + 20 and trace.size <= trace.max_bytes


def test_response_without_required_fields_is_a_protocol_error_not_a_timeout() -> None:
    with hostile_peer("missing-fields") as peer:
        with pytest.raises(PeerProtocolError) as err:
            arun(_echo(peer.port))
    assert err.value.violation.code == "response-missing-fields"
    assert "Status" in str(err.value) and "Message ID Being Responded To" in str(err.value)


def test_wrong_command_group_length_is_a_protocol_error() -> None:
    with hostile_peer("bad-group-length") as peer:
        with pytest.raises(PeerProtocolError) as err:
            arun(_echo(peer.port))
    assert err.value.violation.code == "command-group-length"


def test_trace_is_bounded_by_bytes_and_keeps_no_big_pdu() -> None:
    from dicomdoctor.net.trace import KEEP_PDU_BELOW, MAX_SUMMARY

    trace = Trace(max_entries=100000, max_bytes=64 << 10)
    for i in range(10000):
        trace.add("recv", "P-DATA-TF", "x" * 2000, KEEP_PDU_BELOW + 1, object())
    assert trace.size <= trace.max_bytes and trace.dropped > 0
    assert all(e.pdu is None for e in trace.entries)  # a big PDU is described, not held
    assert all(len(e.summary) < MAX_SUMMARY + 40 for e in trace.entries)

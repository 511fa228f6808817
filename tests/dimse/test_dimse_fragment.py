"""Fragmentation into P-DATA-TF PDUs and reassembly (PS3.8 §9.3.5, Annex D/E; PS3.7 §9.3.1)."""

from __future__ import annotations

import struct

import pytest

from dicomdoctor.dimse import (
    UNLIMITED_CHUNK,
    CEchoRQ,
    CEchoRSP,
    CFindRSP,
    CStoreRQ,
    FragmentationError,
    MalformedCommand,
    Reassembler,
    fragment,
    fragment_dataset_stream,
    max_pdv_data,
    pdv_header,
)
from dicomdoctor.dimse.fragment import FRAGMENT_OVERHEAD, MAX_COMMAND_BYTES
from dicomdoctor.ul.codec import decode_pdu
from dicomdoctor.ul.errors import RemoteProtocolError
from dicomdoctor.ul.pdu import PDV, PDataTF

CMD = CStoreRQ(message_id=1, affected_sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
               affected_sop_instance_uid="1.2.3.4").to_command_bytes()


def split_pdus(chunks) -> list[bytes]:
    """Join the writer's chunks and cut the stream at PDU boundaries, as a peer would read it."""
    stream = b"".join(bytes(c) for c in chunks)
    out, pos = [], 0
    while pos < len(stream):
        length = struct.unpack_from(">I", stream, pos + 2)[0]
        out.append(stream[pos:pos + 6 + length])
        pos += 6 + length
    return out


def test_pdv_header_golden() -> None:
    # P-DATA-TF, reserved, PDU length 6+10=16 | PDV item length 2+10=12, context 3, control 0b11.
    assert pdv_header(3, True, True, 10).hex() == "04" "00" "00000010" "0000000c" "03" "03"
    assert pdv_header(1, False, False, 0).hex() == "04" "00" "00000006" "00000002" "01" "00"


@pytest.mark.parametrize("max_pdu", [7, 8, 13, 16, 100, 4095, 16384, 16385, 65536, 0])
def test_fragments_respect_the_peer_max_and_reassemble(max_pdu: int) -> None:
    dataset = bytes(range(256)) * 40 + b"\x07"  # 10241 bytes: odd, not a multiple of anything useful
    pdus = split_pdus(fragment(5, CMD, dataset, max_pdu))
    r = Reassembler()
    done = []
    for raw in pdus:
        length = struct.unpack_from(">I", raw, 2)[0]
        if max_pdu:
            assert length <= max_pdu, "PDU variable field over the peer's Maximum Length Received"
        pdu = decode_pdu(raw)
        assert isinstance(pdu, PDataTF) and len(pdu.pdvs) == 1  # one PDV per PDU (FM-44)
        done += r.add(pdu)
    assert len(done) == 1
    msg = done[0]
    assert msg.context_id == 5 and msg.command == CMD and msg.dataset == dataset
    assert isinstance(msg.message, CStoreRQ) and msg.message.affected_sop_instance_uid == "1.2.3.4"
    assert not r.in_progress
    limit = max_pdv_data(max_pdu)
    expected_ds_pdus = -(-len(dataset) // limit)
    expected_cmd_pdus = -(-len(CMD) // limit)
    assert len(pdus) == expected_ds_pdus + expected_cmd_pdus


def test_dataset_chunks_are_memoryviews_of_the_callers_buffer() -> None:
    dataset = bytearray(b"x" * 50_001)
    chunks = list(fragment(1, CMD, dataset, 16384))
    views = [c for c in chunks if isinstance(c, memoryview)]
    assert len(views) == 4
    for v in views:
        assert v.obj is dataset  # a slice of the caller's buffer, not a copy
    dataset[-1:] = b"!"
    assert bytes(views[-1])[-1:] == b"!"
    assert sum(len(v) for v in views) == len(dataset)
    # headers are small bytes; the command goes as one joined bytes object
    assert all(isinstance(c, bytes) for c in chunks if not isinstance(c, memoryview))


def test_unlimited_uses_a_sane_chunk() -> None:
    views = [c for c in fragment(1, CMD, bytes(3 * UNLIMITED_CHUNK + 1), 0) if isinstance(c, memoryview)]
    assert [len(v) for v in views] == [UNLIMITED_CHUNK] * 3 + [1]


def test_no_dataset_and_empty_dataset() -> None:
    echo = CEchoRQ(message_id=1).to_command_bytes()
    pdus = split_pdus(fragment(1, echo, None, 16384))
    assert len(pdus) == 1 and pdus[0][11] == 0x03  # command + last
    pdus = split_pdus(fragment(1, CMD, b"", 16384))
    assert len(pdus) == 2 and pdus[1][11] == 0x02 and len(pdus[1]) == 12  # empty last data-set fragment


@pytest.mark.parametrize("max_pdu", [1, 6])
def test_max_too_small_is_an_error(max_pdu: int) -> None:
    with pytest.raises(ValueError, match="no room"):
        list(fragment(1, CMD, b"x", max_pdu))


@pytest.mark.parametrize("ctx", [0, 2, 256])
def test_context_id_must_be_odd_1_to_255(ctx: int) -> None:
    with pytest.raises(ValueError):
        list(fragment(ctx, CMD, None, 0))


@pytest.mark.parametrize("sizes", [[10], [3, 4, 5], [100, 0, 7], [], [1] * 30])
def test_stream_matches_whole(sizes: list[int]) -> None:
    data = bytes(range(sum(sizes) or 0))[: sum(sizes)] if sum(sizes) < 256 else b"z" * sum(sizes)
    chunks, pos = [], 0
    for n in sizes:
        chunks.append(data[pos:pos + n])
        pos += n
    out = list(fragment_dataset_stream(3, iter(chunks), 12))
    pdus = split_pdus(out)
    assert b"".join(p[12:] for p in pdus) == data
    assert all(len(p) - 6 <= 12 for p in pdus)
    assert [p[11] for p in pdus][-1] == 0x02 and all(p[11] == 0x00 for p in pdus[:-1])


def _pdv(ctx: int, cmd: bool, last: bool, data: bytes) -> PDV:
    return PDV(ctx, cmd, last, data)


def test_reassembly_of_several_messages_in_one_pdu() -> None:
    echo = CEchoRSP(message_id_being_responded_to=1).to_command_bytes()
    r = Reassembler()
    done = r.add(PDataTF((_pdv(1, True, True, echo), _pdv(3, True, False, CMD[:10]),
                          _pdv(3, True, True, CMD[10:]), _pdv(3, False, True, b"DATA"))))
    assert [m.message.name for m in done] == ["C-ECHO-RSP", "C-STORE-RQ"]
    assert done[1].dataset == b"DATA" and done[1].context_id == 3


@pytest.mark.parametrize("pdvs, needle", [
    ([(1, False, True, b"x")], "no command before it"),
    ([(1, True, False, CMD[:5]), (3, True, True, CMD[5:])], "PS3.8 Annex E forbids interleaving"),
    ([(1, True, True, CMD), (3, False, True, b"x")], "while a message on context 1 is incomplete"),
    ([(1, True, False, CMD[:5]), (1, False, True, b"x")], "before the command's last fragment"),
    ([(1, True, True, CMD), (1, True, True, CMD)], "after the command's last fragment"),
])
def test_violations_are_protocol_errors(pdvs, needle: str) -> None:
    r = Reassembler()
    with pytest.raises(FragmentationError, match=needle) as info:
        for p in pdvs:
            r.add_pdv(_pdv(*p))
    assert isinstance(info.value, RemoteProtocolError)
    assert info.value.abort_reason == 5


def test_data_after_a_message_without_dataset_says_so() -> None:
    r = Reassembler()
    assert r.add_pdv(_pdv(1, True, True, CEchoRQ().to_command_bytes())) is not None
    with pytest.raises(FragmentationError, match="C-ECHO-RQ, announced no data set"):
        r.add_pdv(_pdv(1, False, True, b"x"))


def test_caps() -> None:
    r = Reassembler(max_command_bytes=50)
    with pytest.raises(FragmentationError, match="exceeds 50 bytes"):
        r.add_pdv(_pdv(1, True, False, b"\x00" * 51))
    cap = 10 + FRAGMENT_OVERHEAD  # every fragment is charged its overhead on top of its payload
    r = Reassembler(max_dataset_bytes=cap)
    r.add_pdv(_pdv(1, True, True, CMD))
    r.add_pdv(_pdv(1, False, False, b"x" * 10))
    with pytest.raises(FragmentationError, match=f"exceeds {cap} bytes"):
        r.add_pdv(_pdv(1, False, False, b"x"))


def test_default_command_cap_is_a_few_kilobytes() -> None:
    r = Reassembler()
    assert r.max_command_bytes == MAX_COMMAND_BYTES <= 16384
    with pytest.raises(FragmentationError, match=f"exceeds {MAX_COMMAND_BYTES} bytes"):
        for _ in range(MAX_COMMAND_BYTES):
            r.add_pdv(_pdv(1, True, False, b"\x00" * 64))
    assert not r.in_progress  # the partial command was dropped with the error


def test_tiny_fragments_are_charged_their_overhead() -> None:
    """A million 1-byte PDVs must not cost a million objects: the cap counts what each fragment costs."""
    cap = 100 * (1 + FRAGMENT_OVERHEAD)
    r = Reassembler(max_dataset_bytes=cap)
    r.add_pdv(_pdv(1, True, True, CMD))
    accepted = 0
    with pytest.raises(FragmentationError, match="per fragment"):
        for _ in range(10000):
            r.add_pdv(_pdv(1, False, False, b"x"))
            accepted += 1
    assert accepted == 100  # stopped at the charged cap, not after 10000 one-byte payloads
    assert len(r._data) == 0  # and dropped what it held


def test_buffered_fragments_are_copied_not_views_into_the_pdu() -> None:
    """A memoryview of one byte would keep its whole received PDU alive; the Reassembler copies."""
    r = Reassembler()
    r.add_pdv(_pdv(1, True, True, CMD))
    big = bytearray(b"y" * 100000)
    r.add_pdv(_pdv(1, False, False, memoryview(big)[:1]))
    done = r.add_pdv(_pdv(1, False, True, b"z"))
    assert done is not None and done.dataset == b"yz" and isinstance(done.dataset, bytes)


def test_malformed_command_from_peer() -> None:
    with pytest.raises(MalformedCommand):
        Reassembler().add_pdv(_pdv(1, True, True, b"\x00\x00\x00\x01\xff\x00\x00\x00"))


def test_streaming_sink_gets_fragments_and_can_decline() -> None:
    got: list[tuple[bytes, bool]] = []
    seen = []

    def sink(ctx, message):
        seen.append((ctx, message.name))
        if isinstance(message, CStoreRQ):
            return lambda data, last: got.append((bytes(data), last))
        return None  # buffer everything else

    # The cap (4 bytes + one fragment's overhead) applies to buffered data only.
    r = Reassembler(dataset_sink=sink, max_dataset_bytes=4 + FRAGMENT_OVERHEAD)
    data = b"0123456789" * 3
    done = []
    for raw in split_pdus(fragment(1, CMD, data, 16)):
        done += r.add(decode_pdu(raw))
    assert seen == [(1, "C-STORE-RQ")]
    assert b"".join(d for d, _ in got) == data and [last for _, last in got][-1] is True
    assert done[0].dataset is None and done[0].dataset_streamed
    rsp = CFindRSP(status=0xFF00, command_data_set_type=1).to_command_bytes()
    done = []
    for raw in split_pdus(fragment(3, rsp, b"ID", 16)):
        done += r.add(decode_pdu(raw))
    assert done[0].dataset == b"ID" and not done[0].dataset_streamed
    assert done[0].to_message().command.status == 0xFF00


def test_reset_drops_a_partial_message() -> None:
    r = Reassembler()
    r.add_pdv(_pdv(1, True, False, CMD[:4]))
    assert r.in_progress and r.context_id == 1
    r.reset()
    assert not r.in_progress
    assert r.add_pdv(_pdv(3, True, True, CEchoRQ().to_command_bytes())) is not None


def test_an_error_drops_the_partial_message_and_the_next_one_works() -> None:
    r = Reassembler()
    r.add_pdv(_pdv(1, True, False, CMD[:5]))
    with pytest.raises(FragmentationError):
        r.add_pdv(_pdv(3, True, True, CMD))
    assert not r.in_progress
    assert r.add_pdv(_pdv(3, True, True, CEchoRQ().to_command_bytes())).message.name == "C-ECHO-RQ"

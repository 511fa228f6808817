"""The simulator answers a C-FIND identifier it cannot read or match with a failure status; it never aborts."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from dicomdoctor.dimse.messages import CFindRQ
from dicomdoctor.net import Timeouts, associate
from dicomdoctor.sim.server import Simulator
from dicomdoctor.target import Target
from peers import arun

FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Q/R Find


def _el(tag: int, value: bytes) -> bytes:
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


CASES = [
    _el(0x00080052, b"STUDY ") + _el(0x00201208, b"abc "),          # an IS that is not a number
    _el(0x00080052, b"STUDY ") + b"\x10\x00\x20\x00\xff\x00\x00\x00AB",  # an element cut short
    _el(0x00080052, b"STUDY ") + _el(0x00100010, b"\xff\xfe\x80\x81"),  # bytes no character set decodes
    _el(0x00080052, b"FOO "),                                          # no such level
    b"",                                                                # no identifier at all
]


async def _find(sim: Simulator, identifier: bytes) -> tuple[Any, bool]:
    assoc = await associate(Target("127.0.0.1", sim.port, "SIM"), [(FIND, "1.2.840.10008.1.2")],
                            timeouts=Timeouts.uniform(10))
    cid, _ts = assoc.context_for(FIND)
    await assoc._send(cid, CFindRQ(message_id=7, affected_sop_class_uid=FIND), identifier)
    while True:
        rsp = assoc._make_response(await assoc._response(7), 0.0)
        if not rsp.pending:
            break
    alive = assoc.is_open
    await assoc.release()
    return rsp, alive


@pytest.mark.parametrize("identifier", CASES)
def test_odd_identifiers_are_answered_and_the_association_lives(identifier: bytes) -> None:
    async def go() -> Any:
        sim = Simulator("SIM", [])
        await sim.start()
        try:
            return await _find(sim, identifier)
        finally:
            await sim.close()
    final, alive = arun(go())
    assert alive and final.status is not None and not final.pending


def test_an_identifier_matching_cannot_handle_gets_a900_not_an_abort() -> None:
    async def go() -> Any:
        sim = Simulator("SIM", [])
        await sim.start()

        def broken(*a: Any, **k: Any) -> Any:
            raise TypeError("a key of an unexpected VR")
        sim.store.query = broken  # type: ignore[method-assign]
        try:
            return await _find(sim, CASES[0])
        finally:
            await sim.close()
    final, alive = arun(go())
    assert alive and final.status == 0xA900 and "not understood" in (final.error_comment or "")

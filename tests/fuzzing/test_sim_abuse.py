"""The simulator under abuse (the short version of `python fuzz/run.py --target sim`): 200 mutated
connections, 20 at a time, against `dicomdoctor simulate` in its own process; afterwards it is still running
and a well-formed C-ECHO from pynetdicom succeeds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fuzz.abuse import abuse_simulator  # noqa: E402

pytestmark = pytest.mark.interop


def test_simulator_survives_mutated_connections() -> None:
    pytest.importorskip("pynetdicom")
    res = abuse_simulator(connections=200, concurrency=20, seed=7, seconds=600.0)
    assert res.inputs == 200
    assert res.crashes == 0, res.signatures
    assert res.extra["echo"] == "0x0000", res.extra

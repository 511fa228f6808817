"""A bounded, seeded slice of `python fuzz/run.py` in the normal suite: the UL decoder, ULConnection, DIMSE
reassembly and the capture analysis each get thousands of mutated inputs (a second or so each) and must not
let a single exception escape. The count, not the clock, bounds each run, so it is the same inputs every time;
the per-input guard is only a generous safety net here (hangs are measured by the fuzz script)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fuzz import run as fuzz_run  # noqa: E402
from fuzz import seeds, targets  # noqa: E402

from dicomdoctor.capture.reader import CaptureReader  # noqa: E402

INPUTS = {"ul": 20000, "ulconn": 4000, "dimse": 10000, "pcap": 1500}


@pytest.mark.parametrize("target", list(INPUTS))
def test_mutated_inputs_never_escape(target: str) -> None:
    res = fuzz_run.fuzz_target(target, seconds=600.0, max_inputs=INPUTS[target], seed=20261202, hang=60.0,
                               crash_dir=None, log=lambda s: None)
    assert res.inputs == INPUTS[target]
    assert res.crashes == 0 and res.hangs == 0, res.signatures


@pytest.mark.parametrize("target", list(INPUTS))
def test_seeds_are_valid_inputs(target: str) -> None:
    for data in fuzz_run.seeds_for(target):
        targets.TARGETS[target](data)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(seeds.captures()),
       st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, 4000))
def test_capture_reader_on_bent_files(data: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    buf = bytearray(data[:max(cut, 24)])
    for pos, value in edits:
        if pos < len(buf):
            buf[pos] = value
    reader = CaptureReader(io.BytesIO(bytes(buf)))
    try:
        for _ in reader:
            pass
    except ValueError as exc:  # CaptureFormatError: only for a broken file header
        assert targets._header_damage(bytes(buf), exc), exc  # type: ignore[arg-type]
        return
    st_ = reader.stats
    assert st_.damage_offset is None or 0 < st_.damage_offset < len(buf)
    targets.pcap(bytes(buf))

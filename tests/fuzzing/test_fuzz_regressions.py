"""Every input a fuzz run found crashing (tests/data/fuzz/<target>/*.bin, saved by fuzz/run.py) is replayed
through its target: a bug once found stays fixed. Plus the fuzz script's command line itself."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fuzz import run as fuzz_run  # noqa: E402
from fuzz.targets import TARGETS  # noqa: E402

DATA = ROOT / "tests" / "data" / "fuzz"
CASES = sorted(p for t in TARGETS for p in (DATA / t).glob("*.bin")) if DATA.is_dir() else []


def test_regression_files_exist() -> None:
    # The two reader crashes of the issue (a short Enhanced Packet Block; an absurd pcap record length).
    assert {p.name for p in CASES} >= {"crash-epb-shorter-than-fixed-part.bin", "crash-pcap-record-length-absurd.bin"}


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_replay(path: Path) -> None:
    TARGETS[path.parent.name](path.read_bytes())


def test_command_line_prints_counts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc = fuzz_run.main(["--minutes", "10", "--target", "ul,dimse", "--inputs", "300", "--crash-dir",
                        str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "ul" in out and "300 inputs" in out and "0 crashes, 0 hangs" in out and "summary:" in out
    assert not list(tmp_path.iterdir())  # nothing crashed, nothing saved


def test_command_line_rejects_an_unknown_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert fuzz_run.main(["--target", "nope"]) == 3
    assert "unknown target nope" in capsys.readouterr().err


def test_crashing_input_is_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(data: bytes) -> None:
        raise IndexError("boom")

    monkeypatch.setitem(TARGETS, "boom", boom)
    monkeypatch.setattr(fuzz_run, "seeds_for", lambda target: (b"seed",))
    r = fuzz_run.fuzz_target("boom", seconds=600.0, max_inputs=50, seed=1, crash_dir=tmp_path, log=lambda s: None)
    assert r.crashes == 50 and len(r.signatures) == 1 and len(r.saved) == 1
    assert list((tmp_path / "boom").glob("crash-*.bin"))

"""Fixtures of the capture tests: `capture` records real loopback traffic with our own capture/live.py."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import peers  # noqa: E402
from dicomdoctor.capture.live import CaptureError, record  # noqa: E402


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`with capture(port, ...) as path:` records loopback TCP to/from those ports into a pcap."""
    @contextmanager
    def _cap(*ports: int, name: str = "session.pcap", pcapng: bool = False) -> Iterator[Path]:
        path = tmp_path / name
        try:
            ctx = record(str(path), [(peers.LOOPBACK, ports[0])], extra_ports=ports[1:], pcapng=pcapng,
                         tool="dumpcap" if pcapng else None)
            cap = ctx.__enter__()
        except CaptureError as exc:
            pytest.skip(f"cannot capture on lo: {exc}")
        try:
            yield path
        finally:
            ctx.__exit__(None, None, None)
        assert cap.proc is None

    yield _cap

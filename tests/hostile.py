"""The hostile peers of benchmarks/hostile_peers.py for the tests (one definition, shared with the benchmark).

    with hostile_peer("frag-tiny") as peer: ... peer.port ...
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "hostile_peers.py"


def load_hostile_peers() -> ModuleType:
    mod = sys.modules.get("hostile_peers")
    if mod is None:
        spec = importlib.util.spec_from_file_location("hostile_peers", _PATH)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules["hostile_peers"] = mod
        spec.loader.exec_module(mod)
    return mod


def hostile_peer(case: str, **kw: Any) -> Any:
    """A started HostilePeer (a context manager that closes its socket)."""
    return load_hostile_peers().HostilePeer(case, **kw)


CASES: dict[str, str] = load_hostile_peers().CASES

"""The fault-injecting SCP of the demo and the tests (see DESIGN.md, `dicomdoctor simulate --help`).

Public API: `Simulator` (asyncio), `SimulatorThread` (for sync callers), `parse_fault`, `build_fault_set`,
`FaultSet`, `faults_help`, `InstanceStore`. Imported lazily: `dicomdoctor simulate --help` needs only the
fault table, not asyncio servers or pydicom.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Simulator", "SimulatorThread", "parse_fault", "build_fault_set", "FaultSet", "faults_help",
           "InstanceStore"]

_WHERE = {"Simulator": "server", "SimulatorThread": "server", "parse_fault": "faults",
          "build_fault_set": "faults", "FaultSet": "faults", "faults_help": "faults", "InstanceStore": "store"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

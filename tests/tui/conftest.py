"""Fixtures of the TUI tests: a real peer on loopback (our simulator) and a port where nothing listens.

The app is built from real command-line arguments (`dicomdoctor tui ...` through cli.build_parser and
commands.tui.build_config), so the tests exercise the same glue as a user."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from dicomdoctor.cli import build_parser
from dicomdoctor.commands.tui import build_config

# Short timeouts: a loopback peer answers in milliseconds; a test must never wait 10 s for a dead one.
FAST = ["--timeout", "3", "--dimse-timeout", "3"]


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    from dicomdoctor.sim import SimulatorThread

    with SimulatorThread("SIM") as s:
        yield s


@pytest.fixture(scope="module")
def closed_port(sim: Any) -> int:
    """A loopback port held bound but not listening for the module's life (connections are refused)."""
    return int(sim.call(sim.sim.closed_port))


@pytest.fixture
def make_app() -> Callable[..., Any]:
    from dicomdoctor.tui.app import DoctorApp

    def factory(*argv: str) -> DoctorApp:
        args = build_parser().parse_args(["tui", *argv, *FAST])
        return DoctorApp(build_config(args))

    return factory

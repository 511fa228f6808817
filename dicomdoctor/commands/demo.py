"""`dicomdoctor demo`: the doctor against a small hospital of simulated peers, each broken differently.

Several simulators start on free loopback ports (plus one port where nothing listens), the standard
playbook runs against the PACSes and the workflow playbook (worklist, MPPS, store, storage commitment,
read-back) against the RIS/PACS ones, all at once (one report, several targets), and the result is shown in
the TUI on a terminal, else printed in --format. It takes a couple of seconds and needs no network. The
workflow playbook writes (an MPPS, a synthetic instance): only to the demo's own simulators.

Exit code: 0 when the demo ran, whatever its findings (they are meant to fail: that is what it shows);
3 when the demo itself could not run. The report's own verdict is deliberately not the exit code, so that
`dicomdoctor demo --format nagios` in a smoke test does not "fail" because the demo did its job.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any

from ..engine.context import RunOptions
from ..engine.model import Report
from ..net.timeouts import Timeouts
from ..target import Target, TLSOptions

# Short phase timeouts: every peer is on loopback, and the demo must finish in seconds.
DEMO_TIMEOUTS = Timeouts(connect=2.0, association=3.0, dimse=3.0, release=2.0)
# The commitment report that never comes is waited for this long (else the DIMSE timeout): on loopback a
# report that is coming comes in milliseconds, and the demo stays fast.
COMMIT_WAIT = "0.25"


@dataclass(frozen=True)
class Scenario:
    """One simulated peer: what it is, how it is broken, and how the demo addresses it."""

    aet: str
    faults: tuple[str, ...]
    story: str  # one line for the legend
    called_ae: str | None = None  # what the "user" typed, when it differs from the peer's title
    tls: bool = False
    listening: bool = True  # False: a port where nothing listens
    playbook: str = "standard"  # the shipped playbook it is diagnosed with
    checks: tuple[str, ...] = ()  # checks added to that playbook for this peer
    sets: tuple[str, ...] = ()  # --set CHECK.PARAM=VALUE for this peer's playbook


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("PACS", (), "a healthy PACS (the baseline)"),
    Scenario("ARCHIVE", ("called-ae-strict",), "answers only to its own AE title; the user kept dcmtk's "
             "default ANY-SCP", called_ae="ANY-SCP"),
    Scenario("MINIPACS", ("refuse-sop=CTImageStorage",), "does not accept CT images"),
    Scenario("OLDPACS", ("max-pdu=4096",), "advertises a tiny maximum PDU (4096 bytes)"),
    Scenario("BUSYPACS", ("reject=local-limit",), "refuses associations: too many open"),
    Scenario("FLAKY", ("status=c-echo:0110",), "answers C-ECHO with a processing failure"),
    Scenario("WEBPORT", ("http",), "is really a web server (the HTTP port, not the DICOM port)"),
    Scenario("SECURE", ("tls=self-signed",), "DICOM over TLS with a self-signed certificate", tls=True),
    Scenario("DOWN", (), "nothing listens on its port (server not running)", listening=False),
    # The IHE Scheduled Workflow chain, each breaking at another step (the steps after it are skipped).
    Scenario("RIS", ("worklist", "mpps=refuse", "commitment"), "a RIS whose worklist answers but which refuses "
             "the MPPS N-CREATE (the chain breaks at its 2nd step)", playbook="workflow"),
    Scenario("WFPACS", ("worklist", "mpps", "commitment=no-report"), "a RIS + PACS whose storage commitment "
             "report never comes (the chain breaks at the commitment)", playbook="workflow",
             sets=(f"workflow.commit.wait={COMMIT_WAIT}",)),
    Scenario("IDPACS", ("user-identity-required",), "requires a user identity (username, Kerberos...); we send "
             "none", checks=("assoc.user-identity",)),
)


class Fleet:
    """The demo's simulators, served by one event loop in a background thread, so that the engine (and the
    TUI, which runs its own loop) can use them from the main thread."""

    def __init__(self, scenarios: tuple[Scenario, ...] = SCENARIOS) -> None:
        from ..sim.server import Simulator

        self.scenarios = scenarios
        # Only the healthy PACS holds instances (for users who point findscu at it while the TUI is open).
        self.sims: list[Any] = [Simulator(s.aet, list(s.faults), seed=0 if s.faults else 12)
                                if s.listening else None for s in scenarios]
        self._closed_ports: list[socket.socket] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo simulators", daemon=True)
        self.targets: list[Target] = []

    def start(self) -> list[Target]:
        self._thread.start()
        try:
            ports = asyncio.run_coroutine_threadsafe(self._start_all(), self._loop).result(30)
        except BaseException:
            self.stop()
            raise
        for scenario, port in zip(self.scenarios, ports):
            self.targets.append(Target(host="127.0.0.1", port=port, called_ae=scenario.called_ae or scenario.aet,
                                       called_ae_given=True, tls=TLSOptions() if scenario.tls else None))
        return self.targets

    async def _start_all(self) -> list[int]:
        async def one(sim: Any) -> int:
            if sim is None:
                # Bound but not listening: the kernel refuses connections, and nobody else gets the port.
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                self._closed_ports.append(s)
                return int(s.getsockname()[1])
            return int(await sim.start())

        return list(await asyncio.gather(*(one(s) for s in self.sims)))

    def stop(self) -> None:
        if self._thread.is_alive():
            async def close_all() -> None:
                await asyncio.gather(*(s.close() for s in self.sims if s is not None), return_exceptions=True)

            try:
                asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(15)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()
        for s in self._closed_ports:
            s.close()
        self._closed_ports.clear()

    def legend(self) -> str:
        lines = ["dicomdoctor demo: simulated peers on this machine (loopback only):"]
        for scenario, target in zip(self.scenarios, self.targets):
            marker = f" [{scenario.playbook} playbook]" if scenario.playbook != "standard" else ""
            lines.append(f"  {target.id:<30} {scenario.story}{marker}")
        if any(s.playbook == "workflow" for s in self.scenarios):
            lines.append("  (the workflow playbook writes an MPPS and a synthetic instance: only to these "
                         "simulators)")
        return "\n".join(lines)

    def __enter__(self) -> "Fleet":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def demo_playbooks(scenarios: tuple[Scenario, ...] = SCENARIOS) -> list[Any]:
    """The playbook of each scenario (scenarios that ask for the same one share the same object, so that
    they run as one playbook: see engine/multirun.py)."""
    from ..engine.playbook import apply_overrides, load_playbook, make_playbook

    made: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Any] = {}
    out = []
    for s in scenarios:
        key = (s.playbook, s.checks, s.sets)
        if key not in made:
            playbook = load_playbook(s.playbook)
            if s.checks:
                extra = make_playbook(s.playbook, s.checks).checks
                playbook = dataclasses.replace(playbook, checks=playbook.checks + extra)
            made[key] = apply_overrides(playbook, list(s.sets)) if s.sets else playbook
        out.append(made[key])
    return out


def _options(targets: list[Target], lang: str) -> RunOptions:
    # Wide AE guessing: these are our own simulators, and the ARCHIVE scenario shows what guessing finds.
    return RunOptions(timeouts=DEMO_TIMEOUTS, lang=lang, concurrency=len(targets), guess_ae="wide")


def diagnose(targets: list[Target], lang: str = "en", playbooks: list[Any] | None = None) -> Report:
    """Every target at once, each with its scenario's playbook (`playbooks`, default: those of SCENARIOS,
    by position; the standard playbook for targets past them)."""
    from ..engine.multirun import run_mixed_sync
    from ..engine.playbook import load_playbook

    chosen = list(playbooks if playbooks is not None else demo_playbooks())
    if len(chosen) < len(targets):
        chosen += [load_playbook("standard")] * (len(targets) - len(chosen))
    return run_mixed_sync(list(zip(targets, chosen)), _options(targets, lang))


def tui_app(targets: list[Target], lang: str = "en", playbooks: list[Any] | None = None) -> Any:
    """The TUI, set to run the demo's playbooks against its targets as soon as it opens (it runs the engine
    itself, live, while the simulators serve from the Fleet's thread: the standard playbook, and the workflow
    playbook for the RIS/PACS targets); None when the TUI is not available (it is optional for the demo: then
    the text report is printed)."""
    try:
        from ..tui.app import DoctorApp
        from ..tui.session import TuiConfig
    except ImportError:
        return None
    from ..engine.playbook import load_playbook

    standard = load_playbook("standard")
    chosen = list(playbooks if playbooks is not None else demo_playbooks())[:len(targets)]
    # The TUI opens on the standard playbook; the targets with another one run theirs (while it stays chosen).
    per_target = tuple((t.id, p) for t, p in zip(targets, chosen)
                       if (p.name, p.checks) != (standard.name, standard.checks))
    try:
        return DoctorApp(TuiConfig(options=_options(targets, lang), targets=tuple(targets),
                                   target_playbooks=per_target))
    except TypeError:  # another version of the TUI's API: fall back to the printed report
        return None


def run(args: argparse.Namespace) -> int:
    from ._common import emit

    lang = getattr(args, "lang", "en") or "en"
    wants_tui = (args.format is None and not args.no_tui and not getattr(args, "output", None)
                 and sys.stdin.isatty() and sys.stdout.isatty())
    with Fleet() as fleet:
        playbooks = demo_playbooks(fleet.scenarios)
        app = tui_app(fleet.targets, lang, playbooks) if wants_tui else None
        if app is not None:
            app.run()  # the simulators keep serving until the user quits
            return 0
        report = diagnose(fleet.targets, lang, playbooks)
        if args.format in (None, "text"):
            # The legend says what each peer is; to stderr, so stdout stays exactly the report.
            print(fleet.legend() + "\n", file=sys.stderr, flush=True)
        emit(report, args)  # its exit code (the verdict) is not the demo's: see the module docstring
    return 0

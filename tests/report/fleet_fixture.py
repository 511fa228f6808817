"""A report from a real fleet run: five simulators with different faults and a healthy dcmtk storescp, all on
loopback, diagnosed with the shipped `standard` playbook by the real runner.

The renderer tests look at this report as a person would (screenshots, PDF pages), so it must hold what real
runs produce: AE-title guesses, presentation-context matrices, product guesses, PDU traces.

Run it as a script to write every format into a folder and look at them:
    python3 tests/report/fleet_fixture.py /tmp/fleet
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/peers.py

import peers  # noqa: E402

from dicomdoctor.engine.context import RunOptions  # noqa: E402
from dicomdoctor.engine.model import Report  # noqa: E402
from dicomdoctor.engine.playbook import load_playbook  # noqa: E402
from dicomdoctor.engine.runner import run_playbook  # noqa: E402
from dicomdoctor.net.timeouts import Timeouts  # noqa: E402
from dicomdoctor.sim.server import Simulator  # noqa: E402
from dicomdoctor.target import Target  # noqa: E402

# (simulator AE, faults, the called AE we use): one fault per cause class a vendor ticket is about.
FAULTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("PACS", ("called-ae-strict",), "WRONGAE"),                   # fail: called AE not recognised
    ("ARCHIVE", ("calling-ae-allow=CT01,WS02",), "ARCHIVE"),       # fail: calling AE not recognised
    ("ROUTER", ("refuse-sop=CTImageStorage",), "ROUTER"),          # warn: abstract syntax refused
    ("MINIPDU", ("max-pdu=4096",), "MINIPDU"),                     # warn: small PDU
    ("FLAKY", ("abort-after=0",), "FLAKY"),                        # fail: aborts the C-ECHO
)
TIMEOUTS = Timeouts(connect=5.0, association=5.0, dimse=5.0, release=2.0)


async def _run(storescp_port: int) -> Report:
    async with contextlib.AsyncExitStack() as stack:
        targets = []
        for aet, faults, called in FAULTS:
            sim = await stack.enter_async_context(Simulator(aet, list(faults), seed=2))
            targets.append(Target(host="127.0.0.1", port=sim.port, called_ae=called, called_ae_given=True))
        targets.append(Target(host="127.0.0.1", port=storescp_port, called_ae="STORESCP", called_ae_given=True))
        return await run_playbook(load_playbook("standard"), targets, RunOptions(timeouts=TIMEOUTS))


@contextlib.contextmanager
def _storescp(base: Path) -> Iterator[peers.Peer]:
    with peers.start_storescp(base, "--ignore") as peer:
        yield peer


def build_fleet_report(base: Path) -> Report:
    """Start the six peers under `base`, diagnose them, stop them; the report of that run."""
    with _storescp(base) as scp:
        return asyncio.run(_run(scp.port))


def main(out: Path) -> None:
    from dicomdoctor.report import FORMATS, render

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        report = build_fleet_report(Path(tmp))
    for fmt in FORMATS:
        for lang in ("en", "zh"):
            data = render(report, fmt, lang=lang, color=False, trace=True)
            ext = {"markdown": "md", "text": "txt", "junit": "xml", "prometheus": "prom"}.get(fmt, fmt)
            path = out / f"report-{lang}.{ext}"
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                path.write_text(data, encoding="utf-8")
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/fleet"))

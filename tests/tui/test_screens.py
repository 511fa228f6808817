"""Screenshots of the main screens at 80x24 (the smallest size the TUI is laid out for), checked for the
texts a user must be able to read there. The status words are text, so the screens read without colour.

pytest-textual-snapshot would pin every cell; it is not used because the findings carry live durations
("1.2 ms") that change on every run. Set DICOMDOCTOR_TUI_SCREENSHOTS=DIR to keep the SVGs for a look.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from textual.widgets import Input

from tui_helpers import aio, drive, run_done, until

SIZE = (80, 24)


def _shot(app: Any, name: str, tmp_path: Path) -> str:
    folder = Path(os.environ.get("DICOMDOCTOR_TUI_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    app.save_screenshot(filename=f"{name}.svg", path=str(folder))
    svg = (folder / f"{name}.svg").read_text(encoding="utf-8")
    # The SVG holds the text in <text> runs with &#160; for spaces: flatten to searchable text.
    runs = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return html.unescape(" ".join(runs)).replace("\xa0", " ")


async def _shot_showing(pilot: Any, name: str, tmp_path: Path, *needles: str) -> str:
    """The screenshot once the screen shows every needle (the app renders after handling its messages)."""
    shot: list[str] = [""]

    def showing() -> bool:
        shot[0] = _shot(pilot.app, name, tmp_path)
        return all(n in shot[0] for n in needles)

    await until(pilot, showing, f"{name} showing {needles}")
    return shot[0]


@aio
async def test_main_screen_at_80x24_after_a_failure(make_app: Any, closed_port: int, tmp_path: Path) -> None:
    app = make_app(f"PACS@127.0.0.1:{closed_port}")
    async with drive(app, size=SIZE) as pilot:
        await run_done(pilot)
        await _shot_showing(pilot, "main-fail", tmp_path, "Target", "Calling AE", "TLS off", "Playbook", "standard",
                            "Verdict: FAIL", "net.reachable", "FAIL", "SKIP", "PASS", "refused",
                            "Re-run", "Export", "Trace", "Explain", "Help", "Quit")


@aio
async def test_main_screen_at_80x24_healthy_peer(make_app: Any, sim: Any, tmp_path: Path) -> None:
    app = make_app(sim.target())
    async with drive(app, size=SIZE) as pilot:
        await run_done(pilot)
        await _shot_showing(pilot, "main-pass", tmp_path, "Verdict: PASS", "dimse.echo", "net.dns")


@aio
async def test_start_screen_trace_and_explain_at_80x24(make_app: Any, sim: Any, tmp_path: Path) -> None:
    app = make_app()
    async with drive(app, size=SIZE) as pilot:
        await _shot_showing(pilot, "start", tmp_path, "AE@host:port", "press Enter")
        await until(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "target-input")
        field = app.screen.query_one("#target-input", Input)
        field.value = sim.target()
        await pilot.press("enter")
        await run_done(pilot)
        await pilot.press("t")
        await until(pilot, lambda: type(app.screen).__name__ == "TraceScreen")
        await pilot.press("down")
        await _shot_showing(pilot, "trace", tmp_path, "PDU trace of SIM@", "A-ASSOCIATE-AC", "<< recv",
                            "AAssociateAC")
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ExplainScreen")
        await pilot.press(*"A801", "enter")
        await _shot_showing(pilot, "explain", tmp_path, "Status 0xA801", "move destination")

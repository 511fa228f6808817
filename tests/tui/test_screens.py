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

from tui_helpers import aio, run_done

SIZE = (80, 24)


def _shot(app: Any, name: str, tmp_path: Path) -> str:
    folder = Path(os.environ.get("DICOMDOCTOR_TUI_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    app.save_screenshot(filename=f"{name}.svg", path=str(folder))
    svg = (folder / f"{name}.svg").read_text(encoding="utf-8")
    # The SVG holds the text in <text> runs with &#160; for spaces: flatten to searchable text.
    runs = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return html.unescape(" ".join(runs)).replace("\xa0", " ")


@aio
async def test_main_screen_at_80x24_after_a_failure(make_app: Any, closed_port: int, tmp_path: Path) -> None:
    app = make_app(f"PACS@127.0.0.1:{closed_port}")
    async with app.run_test(size=SIZE) as pilot:
        await run_done(pilot)
        text = _shot(app, "main-fail", tmp_path)
    for needle in ("Target", "Calling AE", "TLS off", "Playbook", "standard",
                   "Verdict: FAIL", "net.reachable", "FAIL", "SKIP", "PASS", "refused",
                   "Re-run", "Export", "Trace", "Explain", "Help", "Quit"):
        assert needle in text, needle


@aio
async def test_main_screen_at_80x24_healthy_peer(make_app: Any, sim: Any, tmp_path: Path) -> None:
    app = make_app(sim.target())
    async with app.run_test(size=SIZE) as pilot:
        await run_done(pilot)
        text = _shot(app, "main-pass", tmp_path)
    assert "Verdict: PASS" in text and "dimse.echo" in text and "net.dns" in text


@aio
async def test_start_screen_trace_and_explain_at_80x24(make_app: Any, sim: Any, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = _shot(app, "start", tmp_path)
        assert "AE@host:port" in text and "press Enter" in text
        field = app.screen.query_one("#target-input", Input)
        field.value = sim.target()
        await pilot.press("enter")
        await run_done(pilot)
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()
        text = _shot(app, "trace", tmp_path)
        assert "PDU trace of SIM@" in text and "A-ASSOCIATE-AC" in text and "<< recv" in text
        assert "AAssociateAC" in text
        await pilot.press("x")
        await pilot.pause()
        await pilot.press(*"A801", "enter")
        await pilot.pause()
        text = _shot(app, "explain", tmp_path)
        assert "Status 0xA801" in text and "move destination" in text

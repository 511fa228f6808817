"""Helpers of the TUI tests (imported by module name, like tests/report/report_fixtures.py)."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any, Callable


def aio(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run an async test in a fresh event loop: no pytest-asyncio/anyio plugin is needed for run_test()."""

    @functools.wraps(test)  # keeps the signature, so pytest still injects the fixtures
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return wrapper


async def wait_for(pilot: Any, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app process messages until `condition()` holds (the run happens in a worker thread)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


async def run_done(pilot: Any) -> None:
    await wait_for(pilot, lambda: pilot.app.report is not None and pilot.app.session is None)
    await pilot.pause()  # let the selection and the detail pane render

"""Helpers of the TUI tests (imported by module name, like tests/report/report_fixtures.py).

Nothing here waits on wall time: `drive` runs the app under Pilot with a message hook, and `until` re-checks
its condition each time the app has dispatched a message (the diagnosis worker's RunProgress / RunFinished,
the detail pane's FindingDetail.Shown, a key...), after letting the app finish handling what is queued. A
loaded machine only makes the same sequence of messages arrive later. `GUARD` is a safety net that ends a
hung test; no assertion depends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any, AsyncIterator, Callable

GUARD = 120.0


def aio(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run an async test in a fresh event loop: no pytest-asyncio/anyio plugin is needed for run_test()."""

    @functools.wraps(test)  # keeps the signature, so pytest still injects the fixtures
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return wrapper


class _Arrivals:
    """Set whenever the app (or any of its widgets) dispatches a message."""

    def __init__(self, chained: Callable[[Any], None] | None) -> None:
        self.event = asyncio.Event()
        self.chained = chained

    def __call__(self, message: Any) -> None:
        self.event.set()
        if self.chained is not None:
            self.chained(message)


@contextlib.asynccontextmanager
async def drive(app: Any, *, message_hook: Callable[[Any], None] | None = None, **kwargs: Any) -> AsyncIterator[Any]:
    """`app.run_test(**kwargs)` whose pilot `until` can wait on."""
    arrivals = _Arrivals(message_hook)
    async with app.run_test(message_hook=arrivals, **kwargs) as pilot:
        pilot._dd_arrivals = arrivals
        yield pilot


async def until(pilot: Any, condition: Callable[[], Any], what: str = "") -> None:
    """Let the app process its messages until `condition()` holds."""
    arrivals: _Arrivals | None = getattr(pilot, "_dd_arrivals", None)
    assert arrivals is not None, "start the app with tui_helpers.drive(app) to wait on its messages"

    async def loop() -> None:
        while True:
            await pilot.pause()  # the app and the screen handle everything queued so far
            arrivals.event.clear()
            if condition():
                return
            await arrivals.event.wait()  # the next message: a worker's, a widget's, a timer's

    try:
        await asyncio.wait_for(loop(), GUARD)
    except asyncio.TimeoutError:
        raise AssertionError(f"the app never reached: {what or condition}") from None


wait_for = until  # the older name


def detail_shows(app: Any, key: str | None = None) -> bool:
    """The detail pane shows (mounted, not just asked for) the finding under the table's cursor, or `key`'s."""
    from dicomdoctor.engine.model import Finding
    from dicomdoctor.tui.widgets import FindingDetail, FindingsTable
    from dicomdoctor.tui.widgets.findings import row_key

    main = app.screen_stack[0]
    shown = main.query_one(FindingDetail).shown
    want = key or main.query_one(FindingsTable).key_at_cursor()
    return isinstance(shown, Finding) and want is not None and row_key(shown.target, shown.check) == want


async def run_done(pilot: Any) -> None:
    """The run is over, its finding selected and shown in the detail pane."""
    app = pilot.app
    await until(pilot, lambda: app.report is not None and app.session is None and detail_shows(app),
                "the run's end, with the selected finding on screen")

"""An asyncio service in a background thread with its own event loop, for synchronous callers (tests, the
exporter's command, scripts): the simulator and the exporter both run this way.

A subclass gives `_serve_start()` (bind and start serving; an exception there is raised in the thread that
called `start`) and `_serve_close()`; `start` returns once the service listens, `stop` ends it.
"""

from __future__ import annotations

import asyncio
import threading


class LoopThread:
    def __init__(self, name: str) -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    async def _serve_start(self) -> None:
        raise NotImplementedError

    async def _serve_close(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _start_thread(self, timeout: float) -> None:
        """Start the thread and wait until the service listens (`timeout` is a safety net)."""
        self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self._name} did not start")
        if self._error is not None:
            self._thread.join(5)
            self._thread = None
            raise self._error

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._stop = asyncio.Event()
            try:
                loop.run_until_complete(self._serve_start())
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                self._error = exc
                return
            finally:
                self._ready.set()
            loop.run_until_complete(self._stop.wait())
            loop.run_until_complete(self._serve_close())
        finally:
            loop.close()

    def _stop_thread(self, timeout: float) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass  # the loop already ended (start failed)
        thread.join(timeout)

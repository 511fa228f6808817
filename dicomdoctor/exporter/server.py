"""The exporter's routes over `http.HTTPServer`, in the manner of blackbox_exporter (multi-target pattern):

* `GET /probe?target=AE@host:port&playbook=NAME`: run the playbook against the target within the scrape's
  deadline (`X-Prometheus-Scrape-Timeout-Seconds` minus `MARGIN`) and answer its metrics. A probe that fails is
  `dicomdoctor_probe_success 0`, never an HTTP error; only a bad query is (400, with the reason).
* `GET /metrics`: the exporter's own counters.  `GET /`: recent probes.  `GET /report?id=N`: one probe's HTML
  report.  `GET /-/healthy`: "OK".

`Exporter` runs in the caller's event loop; `ExporterThread` runs one in a background thread (tests,
benchmarks).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ..errors import BadInput
from ..net.loopthread import LoopThread
from ..target import Target
from .config import ExporterConfig
from .http import HTTPServer, Request, Response
from .metrics import CONTENT_TYPE, exporter_text, probe_text
from .page import index_html
from .probe import Prober, ProbeResult

# Taken from the scrape timeout so the answer reaches Prometheus before it gives up (blackbox's default).
MARGIN = 0.5
HTML = "text/html; charset=utf-8"
_RESOLVER_THREADS = 32


def probe_budget(header: str | None, default: float) -> float:
    """Seconds a probe may take: the scrape timeout Prometheus announces, minus MARGIN."""
    timeout = default
    if header:
        try:
            value = float(header)
        except ValueError:
            raise BadInput(f"X-Prometheus-Scrape-Timeout-Seconds {header!r} is not a number") from None
        if not value > 0 or value != value:
            raise BadInput(f"X-Prometheus-Scrape-Timeout-Seconds {header!r} must be more than 0")
        timeout = value
    return timeout - MARGIN if timeout > 2 * MARGIN else timeout / 2


class Exporter:
    def __init__(self, config: ExporterConfig, *, lang: str = "en") -> None:
        from ..engine.kb import load_kb

        self.config = config
        self.lang = lang
        self.prober = Prober(config, kb=load_kb(lang))
        self.http = HTTPServer(self.handle)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        # Name resolution runs in the loop's default executor: wide enough that one slow DNS server does not
        # queue every other target's lookup behind it (as engine.runner.run does for a fleet).
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=min(_RESOLVER_THREADS, 4 + self.config.max_concurrency),
                               thread_name_prefix="dicomdoctor-resolve"))
        return await self.http.start(host, port)

    async def close(self) -> None:
        await self.http.close()

    async def handle(self, request: Request) -> Response:
        routes: dict[str, Callable[[Request], Any]] = {
            "/probe": self.probe, "/metrics": self.metrics, "/": self.index, "/report": self.report,
            "/-/healthy": self.healthy}
        route = routes.get(request.path)
        if route is None:
            response = Response.text(404, f"no page {request.path}; try /, /probe or /metrics\n")
        else:
            try:
                response = await route(request)
            except BadInput as exc:
                response = Response.text(400, f"{exc}\n")
        self.prober.stats.count_request(request.path if route is not None else "other", response.status)
        return response

    async def probe(self, request: Request) -> Response:
        text = request.param("target")
        if not text:
            raise BadInput("the target parameter is missing: /probe?target=AE@HOST:PORT&playbook=NAME")
        module = request.param("playbook") or request.param("module") or self.config.default_module
        playbook = self.config.module(module)
        target = self.config.target(text)
        budget = probe_budget(request.headers.get("x-prometheus-scrape-timeout-seconds"), self.config.timeout)
        result = await self.prober.probe(target, module, playbook, budget)
        return Response.text(200, probe_text(result), CONTENT_TYPE)

    async def metrics(self, request: Request) -> Response:
        return Response.text(200, exporter_text(self.prober.stats), CONTENT_TYPE)

    async def index(self, request: Request) -> Response:
        return Response.text(200, index_html(self.prober.recent(), modules=self.config.modules,
                                             default_module=self.config.default_module), HTML)

    async def report(self, request: Request) -> Response:
        raw = request.param("id") or ""
        found = self.prober.find(int(raw)) if raw.isdigit() else None
        if found is None:
            return Response.text(404, f"no probe {raw!r} in the recent history\n")
        from ..report import render  # jinja2: only when a report is looked at

        lang = request.param("lang") or self.lang
        if lang not in ("en", "zh"):
            raise BadInput(f"lang {lang!r}: expected en or zh")
        return Response.text(200, str(render(found.report, "html", lang=lang)), HTML)

    async def healthy(self, request: Request) -> Response:
        return Response.text(200, "OK\n")


class ExporterThread(LoopThread):
    """An Exporter on loopback in a background thread with its own event loop.

        with ExporterThread(config) as exp:
            urllib.request.urlopen(f"{exp.url}/probe?target=...")
    """

    def __init__(self, config: ExporterConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__("dicomdoctor exporter")
        self.config, self.host, self.port = config, host, port
        self.exporter: Exporter | None = None
        self._probes = threading.Condition()
        self.results: list[ProbeResult] = []
        self.arrived: list[tuple[Target, bool]] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _on_probe(self, result: ProbeResult) -> None:
        with self._probes:
            self.results.append(result)
            self._probes.notify_all()

    def _on_arrival(self, target: Target, busy: bool) -> None:
        with self._probes:
            self.arrived.append((target, busy))
            self._probes.notify_all()

    def wait_for_arrivals(self, n: int, timeout: float = 120.0) -> bool:
        """True once `n` probes have arrived (woken by each arrival; `timeout` is a safety net)."""
        with self._probes:
            return self._probes.wait_for(lambda: len(self.arrived) >= n, timeout)

    def wait_for_probe(self, predicate: Callable[[ProbeResult], bool], after: int = 0,
                       timeout: float = 120.0) -> ProbeResult | None:
        """The first probe answered from index `after` on that satisfies `predicate` (woken by each probe;
        `timeout` is a safety net)."""
        with self._probes:
            found: list[ProbeResult] = []

            def ready() -> bool:
                found[:] = [r for r in self.results[after:] if predicate(r)][:1]
                return bool(found)

            self._probes.wait_for(ready, timeout)
            return found[0] if found else None

    def start(self, timeout: float = 60.0) -> "ExporterThread":
        self._start_thread(timeout)
        return self

    async def _serve_start(self) -> None:
        self.exporter = Exporter(self.config)
        self.exporter.prober.listeners.append(self._on_probe)
        self.exporter.prober.arrivals.append(self._on_arrival)
        self.host, self.port = await self.exporter.start(self.host, self.port)

    async def _serve_close(self) -> None:
        assert self.exporter is not None
        await self.exporter.close()

    def stop(self) -> None:
        self._stop_thread(30)

    def __enter__(self) -> "ExporterThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

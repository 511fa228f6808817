"""`dicomdoctor exporter`: a Prometheus exporter in the manner of blackbox_exporter (multi-target pattern).

Prometheus scrapes `/probe?target=AE@host:port&playbook=NAME`; the exporter runs that playbook (a module) with
the engine and answers the same series as `--format prometheus`, plus `dicomdoctor_probe_success` and
`dicomdoctor_probe_duration_seconds`. See docs/monitoring.md for the Prometheus side, docs/ARCHITECTURE.md for
the internals: config.py (the YAML), probe.py (deadline, no overlap per peer, bounded concurrency), http.py
(a small asyncio HTTP/1.1 server), metrics.py, page.py, server.py (the routes).
"""

from .config import ExporterConfig, default_config, load_config, parse_config
from .probe import ProbeResult, Prober
from .server import MARGIN, Exporter, ExporterThread, probe_budget

__all__ = ["MARGIN", "Exporter", "ExporterConfig", "ExporterThread", "ProbeResult", "Prober", "default_config",
           "load_config", "parse_config", "probe_budget"]

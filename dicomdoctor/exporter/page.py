"""GET /: a small HTML page of the recent probes and what they found, each linking to its full report."""

from __future__ import annotations

import html
import time
from typing import Iterable
from urllib.parse import quote

from .. import __version__
from .probe import ProbeResult

_STYLE = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
          "td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}"
          ".ok{color:#1a7f37}.bad{color:#cf222e}code{font-size:90%}")


def index_html(results: Iterable[ProbeResult], *, modules: Iterable[str], default_module: str) -> str:
    rows = []
    for r in results:
        problem = r.first_problem
        found = (f"<code>{html.escape(problem.check)}</code>: {html.escape(problem.summary)}"
                 + (f"<br><small>likely: {html.escape(problem.causes[0].title)}</small>" if problem.causes else "")
                 if problem is not None else "all checks passed")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.started))
        status = '<b class="ok">OK</b>' if r.success else '<b class="bad">FAIL</b>'
        rows.append(f"<tr><td>{when}</td><td><code>{html.escape(r.target.id)}</code></td>"
                    f"<td>{html.escape(r.module)}</td><td>{status}</td><td>{r.duration:.3f} s</td>"
                    f"<td>{found}</td><td><a href=\"/report?id={r.id}\">report</a></td></tr>")
    table = ("<table><tr><th>time (UTC)</th><th>target</th><th>playbook</th><th>result</th><th>duration</th>"
             "<th>finding</th><th></th></tr>" + "".join(rows) + "</table>") if rows else "<p>No probe yet.</p>"
    names = ", ".join(f"<code>{html.escape(m)}</code>" for m in sorted(modules))
    example = f"/probe?target={quote('PACS@127.0.0.1:104')}&amp;playbook={quote(default_module)}"
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>dicomdoctor exporter</title>"
            f"<style>{_STYLE}</style></head><body><h1>dicomdoctor exporter</h1>"
            f"<p>Probe: <a href=\"{example}\"><code>{example}</code></a> &middot; playbooks: {names} &middot; "
            f"<a href=\"/metrics\">/metrics</a></p><h2>Recent probes</h2>{table}"
            f"<p><small>dicomdoctor {html.escape(__version__)}</small></p></body></html>\n")

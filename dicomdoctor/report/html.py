"""One self-contained HTML file: no external CSS, JS, fonts or images, so it can be mailed to a vendor, opened
offline in a hospital network, and printed (the `@media print` stylesheet lays out A4 pages).

The structure (summary table, a section per target that needs attention, healthy targets in one line,
appendices with the evidence) is built in `document.py`, shared with the PDF and Markdown renderers; the
template (templates/report.html.j2, package data) only lays out its strings. Jinja2 with autoescape ON for
every value: hostile peers put markup in AE titles and implementation version names, and knowledge-base
texts are data, not HTML.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from ..engine.model import Report
from .document import build

TEMPLATES = Path(__file__).parent / "templates"


@functools.lru_cache(maxsize=1)
def _env() -> Any:
    import jinja2  # lazy: see report/__init__.py

    # autoescape=True, not select_autoescape(): the template's .j2 suffix would not match "html".
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(report: Report, *, lang: str = "en", color: bool | None = None, trace: bool = False) -> str:
    doc = build(report, lang)
    html: str = _env().get_template("report.html.j2").render(report=report, doc=doc, lb=doc.lb)
    return html

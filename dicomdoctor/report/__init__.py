"""Renderers over the immutable results model: text, json, junit, markdown, html, pdf, nagios, prometheus.

`render(report, fmt)` is the one entry point. Each format lives in its own module, imported only when that
format is asked for: rich, jinja2, fpdf2 and pydicom cost tens to hundreds of milliseconds to import, and a
monitoring run that prints Nagios output should not pay for the PDF engine.

Every renderer receives a report that has already been redacted (see `redact.py`) unless `show_phi`.
The human-facing formats (html, pdf, markdown) lay out one document built by `document.py`: a summary
table of targets, a section per target that needs attention, healthy targets in one line, evidence appendices.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model import is cheap, but keep the package import free of side effects
    from ..engine.model import Report

# format -> module holding `render(report, *, lang, color, trace) -> str | bytes`
_MODULES = {
    "text": "text",
    "json": "json_",
    "junit": "junit",
    "markdown": "markdown",
    "html": "html",
    "pdf": "pdf",
    "nagios": "nagios",
    "prometheus": "prometheus",
}
FORMATS: tuple[str, ...] = tuple(_MODULES)
# Formats whose output is bytes rather than text (write them in binary mode).
BINARY_FORMATS: frozenset[str] = frozenset({"pdf"})


def render(report: "Report", fmt: str, *, lang: str = "en", show_phi: bool = False, color: bool | None = None,
           trace: bool = False) -> str | bytes:
    """Render `report` as `fmt` (one of FORMATS); bytes for pdf, str otherwise.

    lang: labels and headings language ("en", "zh"); the report's own texts come from the knowledge base
    already in that language. show_phi: keep patient names/IDs/birth dates. color: text format only
    (None = decide from NO_COLOR/FORCE_COLOR and whether stdout is a terminal). trace: include the PDU trace
    in the text format (html, pdf and markdown carry the trace of each failed target in their appendices).
    """
    try:
        module_name = _MODULES[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}; choose one of: {', '.join(FORMATS)}") from None
    from .redact import redact_report, sanitize_report

    report = sanitize_report(report)  # always: a peer's control characters never reach a terminal or a report
    if not show_phi:
        report = redact_report(report)
    module = importlib.import_module(f"{__name__}.{module_name}")
    return module.render(report, lang=lang, color=color, trace=trace)  # type: ignore[no-any-return]


__all__ = ["BINARY_FORMATS", "FORMATS", "render"]

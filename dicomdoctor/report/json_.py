"""JSON report, schema `dicomdoctor.report/1` (DESIGN.md); named json_ so it never shadows the stdlib."""

from __future__ import annotations

import json

from ..engine.model import Report


def render(report: Report, *, lang: str = "en", color: bool | None = None, trace: bool = False) -> str:
    # ensure_ascii=False: Chinese cause texts stay readable; the CLI writes UTF-8.
    return json.dumps(report.to_json_dict(), indent=2, ensure_ascii=False) + "\n"

"""The Textual TUI (`dicomdoctor tui`). Never imported by the engine; `commands/tui.py` imports it lazily.

Layout (STYLE.md 10): `app.py` (state and the diagnosis worker), `screens/` (rendering only), `widgets/`,
`app.tcss`; `session.py` is the Textual-free bridge to the engine.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DoctorApp", "TuiConfig", "export_report"]


def __getattr__(name: str) -> Any:
    # `TuiConfig` is needed by callers that build a config before deciding to start the app.
    if name == "TuiConfig":
        from .session import TuiConfig

        return TuiConfig
    if name in ("DoctorApp", "export_report"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Screens of the TUI: main (form, findings, detail), trace, explain, and the export and help dialogs."""

from .explain import ExplainScreen
from .export import ExportDialog
from .help import HelpScreen
from .main import MainScreen
from .trace import TraceScreen

__all__ = ["ExplainScreen", "ExportDialog", "HelpScreen", "MainScreen", "TraceScreen"]

"""Widgets of the TUI: the target form, the findings list and the finding detail pane."""

from .detail import FindingDetail
from .findings import FindingsTable
from .target_form import TargetForm

__all__ = ["FindingDetail", "FindingsTable", "TargetForm"]

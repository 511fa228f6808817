"""Messages from the diagnosis worker to the app. Each carries the run id: a message from a run that was
cancelled or replaced is dropped, so a late thread can never overwrite the results on screen."""

from __future__ import annotations

from textual.message import Message

from ..engine.model import Report
from ..engine.runner import RunEvent


class RunProgress(Message, bubble=False):
    """A check started or ended, or a target is done (`event.kind`)."""

    def __init__(self, run_id: int, event: RunEvent) -> None:
        super().__init__()
        self.run_id = run_id
        self.event = event


class RunFinished(Message, bubble=False):
    def __init__(self, run_id: int, report: Report) -> None:
        super().__init__()
        self.run_id = run_id
        self.report = report


class RunFailed(Message, bubble=False):
    """The run could not happen at all (bad playbook, cancelled, an engine bug): one line for the user."""

    def __init__(self, run_id: int, reason: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.reason = reason

"""The target form: `AE@host:port`, calling AE, TLS and playbook. It only collects text; the app parses it
(so a bad target is reported by the same `parse_target` as on the command line) and shows errors here."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Select, Static, Switch


class TargetForm(Vertical):
    """A one-row form (3 lines) plus an error line that is shown only when there is an error."""

    @dataclass
    class Submitted(Message):
        """Enter was pressed in the target or calling-AE field."""

        target: str
        calling_ae: str
        tls: bool
        playbook: str

    def __init__(self, *, target: str = "", calling_ae: str = "DICOMDOCTOR", tls: bool = False,
                 playbooks: list[str] | None = None, playbook: str = "standard", error: str = "",
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self._target = target
        self._calling_ae = calling_ae
        self._tls = tls
        names = list(playbooks or [])
        if playbook not in names:  # a playbook file given with --playbook PATH
            names.append(playbook)
        self._playbooks = names
        self._playbook = playbook
        self._error = error

    def compose(self) -> ComposeResult:
        with Horizontal(id="form-row"):
            target = Input(self._target, placeholder="AE@host:port, e.g. PACS@10.0.0.5:104", id="target-input")
            target.border_title = "Target"
            yield target
            calling = Input(self._calling_ae, placeholder="DICOMDOCTOR", id="calling-input", max_length=16)
            calling.border_title = "Calling AE"
            yield calling
            tls = Switch(self._tls, id="tls-switch")
            tls.border_title = _tls_title(self._tls)
            yield tls
            select: Select[str] = Select([(name, name) for name in self._playbooks], value=self._playbook,
                                         allow_blank=False, id="playbook-select")
            yield select
        yield Static(self._error, id="target-error", markup=False, classes="" if self._error else "hidden")

    def on_mount(self) -> None:
        titled(self.query_one("#playbook-select", Select), "Playbook")

    @on(Switch.Changed, "#tls-switch")
    def _tls_changed(self, event: Switch.Changed) -> None:
        # The switch alone is colour; the title says it in words.
        event.switch.border_title = _tls_title(event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted(
            target=self.query_one("#target-input", Input).value,
            calling_ae=self.query_one("#calling-input", Input).value,
            tls=self.query_one("#tls-switch", Switch).value,
            playbook=str(self.query_one("#playbook-select", Select).value)))

    def show_error(self, text: str) -> None:
        """An inline message under the form ("" hides it). Words, not only colour: it starts with "Error:"."""
        error = self.query_one("#target-error", Static)
        error.update(f"Error: {text}" if text else "")
        error.set_class(not text, "hidden")

    @property
    def playbook(self) -> str:
        return str(self.query_one("#playbook-select", Select).value)

    def set_target(self, text: str) -> None:
        self.query_one("#target-input", Input).value = text

    def focus_target(self) -> None:
        self.query_one("#target-input", Input).focus()


def _tls_title(on: bool) -> str:
    return "TLS on" if on else "TLS off"


def titled(select: "Select[str]", title: str) -> None:
    """Put a title on a Select's visible box (the Select itself draws no border; its current-value part does)."""
    from textual.widgets._select import SelectCurrent

    try:
        select.query_one(SelectCurrent).border_title = title
    except Exception:  # a future Textual may draw it differently: the title is a nicety
        select.border_title = title

"""Explain view: type a DIMSE status (A801, 0xC000) or paste an error message; see the causes and fixes.
The answer comes from `commands.explain.explain`, the same function as `dicomdoctor explain`."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Select, Static

from ...commands.explain import explain
from ...engine.kb import SERVICES  # the DIMSE services explain() accepts
from ...errors import BadInput
from ..widgets.target_form import titled

HINT = ("A status code as DICOM tools print it (A801, 0xA801, 43009) or an error message from any tool "
        "(dcmtk, pynetdicom, Orthanc, dcm4che, Python ssl...). Enter: explain. Esc: back.")


class ExplainScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, *, lang: str = "en", text: str = "") -> None:
        super().__init__()
        self.lang = lang
        self._initial = text

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="explain-row"):
            field = Input(self._initial, placeholder="A801 or an error message", id="explain-input")
            field.border_title = "Status or error text"
            yield field
            service: Select[str] = Select([(s.upper(), s) for s in SERVICES], prompt="any service",
                                          id="explain-service")
            yield service
        with VerticalScroll(id="explain-result"):
            yield Static(HINT, id="explain-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        titled(self.query_one("#explain-service", Select), "Service")
        self.query_one("#explain-input", Input).focus()
        if self._initial:
            self.answer(self._initial)

    @on(Input.Submitted, "#explain-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self.answer(event.value)

    @on(Select.Changed, "#explain-service")
    def _service_changed(self, event: Select.Changed) -> None:
        text = self.query_one("#explain-input", Input).value
        if text.strip():
            self.answer(text)

    def answer(self, text: str) -> None:
        """Show the explanation of `text` (the KB lookup is a few dictionary scans: no worker needed)."""
        value = self.query_one("#explain-service", Select).value
        service = value if isinstance(value, str) else None
        out = self.query_one("#explain-text", Static)
        try:
            result = explain(text, service, self.lang)
        except BadInput as exc:
            out.update(Text(f"No match: {exc}"))
            return
        out.update(render_explanation(result))
        self.query_one("#explain-result", VerticalScroll).scroll_home(animate=False)


_CATEGORY_STYLE = {"success": "bold green", "pending": "bold cyan", "cancel": "bold yellow",
                   "warning": "bold yellow"}


def render_explanation(result: dict[str, Any]) -> Text:
    """The answer of `commands.explain.explain` as one Text that wraps to the pane's width (the command's
    own text rendering is pre-wrapped for a 100-column terminal)."""
    text = Text()
    status = result.get("status")
    if status is not None:
        service = f" ({str(status['service']).upper()})" if status.get("service") else ""
        text.append(f"Status {status['hex']}{service}: {status['name']}\n",
                    style=_CATEGORY_STYLE.get(status["category"], "bold red"))
        text.append(f"category: {status['category']}\n")
        text.append(f"{status['meaning']}\n")
        for other in status.get("by_service", []):
            if other.get("service") == status.get("service") and other["name"] == status["name"]:
                continue
            text.append(f"as {str(other['service']).upper()}: {other['name']} ({other['category']}). "
                        f"{other['meaning']}\n")
        for note in status.get("vendor_notes", []):
            text.append(f"Known implementations: {note}\n", style="dim")
        if not result["causes"]:
            text.append("\nNo cause in the knowledge base is tied to this status.", style="dim")
            return text
        text.append("\nRelated causes:", style="bold")
    else:
        text.append("Likely causes (most likely first):", style="bold")
    for n, cause in enumerate(result["causes"], 1):
        text.append(f"\n\n{n}. {cause['title']}", style="bold")
        text.append(f"  [{cause['id']}]", style="dim")
        text.append(f"\n{cause['explanation']}")
        text.append("\nFixes:", style="italic")
        for fix in cause["fixes"]:
            text.append(f"\n  - {fix}")
        if cause.get("refs"):
            text.append("\nReferences: " + "; ".join(cause["refs"]), style="dim")
    return text

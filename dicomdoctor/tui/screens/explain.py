"""Explain view: type a DIMSE status (A801, 0xC000) or paste an error message; see the facts recognised in it,
the causes and their fixes. The answer comes from `engine.explain.explain`, the same function as `dicomdoctor
explain`, and is rendered with the same labels (`engine.explain.labels`, English or Chinese)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Select, Static

from ...engine.explain import explain, labels
from ...engine.kb import SERVICES  # the DIMSE services explain() accepts
from ...errors import BadInput
from ..widgets.target_form import titled



class ExplainScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, *, lang: str = "en", text: str = "") -> None:
        super().__init__()
        self.lang = lang
        self._initial = text

    def compose(self) -> ComposeResult:
        lab = labels(self.lang)
        yield Header()
        with Horizontal(id="explain-row"):
            field = Input(self._initial, placeholder=lab["placeholder"], id="explain-input")
            field.border_title = lab["input"]
            yield field
            service: Select[str] = Select([(s.upper(), s) for s in SERVICES], prompt=lab["any_service"],
                                          id="explain-service")
            yield service
        with VerticalScroll(id="explain-result"):
            yield Static(lab["hint"], id="explain-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        titled(self.query_one("#explain-service", Select), labels(self.lang)["service"])
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
            out.update(Text(f"{labels(self.lang)['no_match']}: {exc}"))
            return
        out.update(render_explanation(result, self.lang))
        self.query_one("#explain-result", VerticalScroll).scroll_home(animate=False)


_CATEGORY_STYLE = {"success": "bold green", "pending": "bold cyan", "cancel": "bold yellow",
                   "warning": "bold yellow"}


def render_explanation(result: dict[str, Any], lang: str = "en") -> Text:
    """The answer of `engine.explain.explain` as one Text that wraps to the pane's width (the command's own
    text rendering is pre-wrapped for a 100-column terminal); same sections and labels as the command."""
    lab = labels(lang)
    text = Text()
    status = result["status"]
    facts = result.get("facts") or []
    if status is not None:
        service = f" ({str(status['service']).upper()})" if status.get("service") else ""
        text.append(f"{lab['status']} {status['hex']}{service}: {status['name']}\n",
                    style=_CATEGORY_STYLE.get(status["category"], "bold red"))
        text.append(f"{lab['category']}: {status['category']}\n")
        text.append(f"{status['meaning']}\n")
        for other in status.get("by_service", []):
            if other.get("service") == status.get("service") and other["name"] == status["name"]:
                continue
            text.append(f"{lab['as']} {str(other['service']).upper()}: {other['name']} ({other['category']}). "
                        f"{other['meaning']}\n")
        for note in status.get("vendor_notes", []):
            text.append(f"{lab['notes']}: {note}\n", style="dim")
    if facts:
        text.append(("\n" if status is not None else "") + f"{lab['facts']}:", style="bold")
        for fact in facts:
            text.append(f"\n  - {fact['summary']}")
        text.append("\n\n")
    if status is not None and not facts:
        if not result["causes"]:
            text.append(f"\n{lab['none']}", style="dim")
            return text
        text.append(f"\n{lab['related']}:", style="bold")
    else:
        text.append(f"{lab['causes']}:", style="bold")
    for n, cause in enumerate(result["causes"], 1):
        text.append(f"\n\n{n}. {cause['title']}", style="bold")
        text.append(f"  [{cause['id']}]", style="dim")
        text.append(f"\n{cause['explanation']}")
        text.append(f"\n{lab['fixes']}:", style="italic")
        for fix in cause["fixes"]:
            text.append(f"\n  - {fix}")
        if cause.get("refs"):
            text.append(f"\n{lab['refs']}: " + "; ".join(cause["refs"]), style="dim")
    return text

"""The help dialog: what the screen shows and the keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# Paragraphs are single lines (the dialog wraps them to its width); the key table keeps its columns.
_ABOUT = ("Type a target as AE@host:port (the called AE title, then the host and port) and press Enter: "
          "the playbook runs, each check appears as it runs (RUN.., then PASS, WARN, FAIL, SKIP or ERROR) "
          "with its duration, and the verdict sums them up. When the run ends the first failing check is "
          "selected; the pane below the list shows its summary, evidence and the likely causes, most likely "
          "first, with fixes. Several targets may be given, separated by commas. The workflow playbook "
          "(worklist, MPPS, store, storage commitment, read-back; it writes to the peer) shows, for each "
          "finding of its target, the chain: each step's status in order and where it broke.")
_KEYS = """Keys
  r        run the playbook again
  e        export the report (HTML, Markdown or JSON)
  t        the PDU trace of the selected target (Esc to come back)
  x        explain a DIMSE status code or an error message
  ?        this help
  q        quit (Ctrl+Q works everywhere, also in a text field)
  Enter    on a finding: read its detail (the list makes room);  Esc: back to the list
  Tab      next field / list / pane;  Up/Down move in the list
  Ctrl+P   command palette (the same actions)"""
_PHI = ("Patient data is redacted on screen and in exports unless dicomdoctor was started with --show-phi.")
HELP = "\n\n".join(("dicomdoctor: interactive diagnosis", _ABOUT, _KEYS, _PHI, "Esc, q or ? closes this help."))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss_help", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(HELP, markup=False)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)

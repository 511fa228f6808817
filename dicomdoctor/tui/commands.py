"""Command palette entries (Ctrl+P) for the same actions as the keys."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (name in the palette, help line, app action)
ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Re-run the diagnosis", "Run the playbook again against the same target (r)", "rerun"),
    ("Export the report", "Write the report as HTML, Markdown or JSON (e)", "export"),
    ("Show the PDU trace", "The PDUs exchanged with the selected target (t)", "trace"),
    ("Explain a status or error", "Causes and fixes for a DIMSE status or an error message (x)", "explain"),
    ("Help", "What the screen shows and the keys (?)", "help"),
    ("Quit dicomdoctor", "Leave the program (q)", "quit"),
)


class DoctorCommands(Provider):
    async def discover(self) -> Hits:
        for name, help_text, action in ACTIONS:
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in ACTIONS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.app.run_action, action), text=name,
                          help=help_text)

"""The Textual app: owns the state of the diagnosis (the run, the report, the target results) and the
worker that runs the engine; the screens only render what it hands them.

Flow: the target form posts `TargetForm.Submitted` -> `start_run` parses the target (errors go back to the
form, inline) -> `_diagnose`, a thread worker, runs the playbook through `session.Session` and posts
`RunProgress` per check and `RunFinished` / `RunFailed` at the end (`post_message` is the thread-safe way
into the app) -> the handlers update the main screen. Each message carries a run id, and messages of an
older run are dropped.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Sequence

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen, Screen

from ..engine.model import Report, TargetResult
from ..engine.playbook import Playbook, apply_overrides, load_playbook, shipped_playbooks
from ..engine.runner import RunEvent
from ..errors import BadInput
from ..report._common import verdict_line
from ..target import Target, TLSOptions, parse_target
from .commands import DoctorCommands
from .messages import RunFailed, RunFinished, RunProgress
from .screens import ExplainScreen, ExportDialog, HelpScreen, MainScreen, TraceScreen
from .session import Session, TuiConfig, first_problem, for_display
from .widgets import TargetForm


class DoctorApp(App[int]):
    """`DoctorApp(TuiConfig(...)).run()` returns the exit code of the last report (0 when none ran)."""

    CSS_PATH = "app.tcss"
    TITLE = "dicomdoctor"
    COMMANDS = App.COMMANDS | {DoctorCommands}
    BINDINGS = [
        Binding("r", "rerun", "Re-run"),
        Binding("e", "export", "Export"),
        Binding("t", "trace", "Trace"),
        Binding("x", "explain", "Explain"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, config: TuiConfig | None = None) -> None:
        super().__init__()
        self.config = config or TuiConfig()
        self.report: Report | None = None
        self.results: dict[str, TargetResult] = {}  # raw (unredacted) target results, for the trace view
        self.targets: tuple[Target, ...] = self.config.targets
        self.playbook_name = (self.config.playbook_obj.name if self.config.playbook_obj is not None
                              else self.config.playbook)
        self.session: Session | None = None
        self.run_id = 0
        self.done = 0

    # ---------------------------------------------------------------------------------------- start
    def get_default_screen(self) -> Screen[None]:
        c = self.config
        text = c.target_text or (", ".join(t.id for t in c.targets) if len(c.targets) > 1 else
                                 (_target_text(c.targets[0]) if c.targets else ""))
        playbooks = shipped_playbooks()
        playbook = c.playbook_obj.name if c.playbook_obj is not None else c.playbook
        return MainScreen(target=text, calling_ae=c.calling_ae, tls=c.tls is not None, playbooks=playbooks,
                          playbook=playbook, error=c.target_error, lang=c.lang)

    @property
    def main(self) -> MainScreen:
        screen = self.screen_stack[0]  # the default screen stays at the bottom of the stack
        assert isinstance(screen, MainScreen)
        return screen

    def on_main_screen_ready(self, _message: MainScreen.Ready) -> None:
        self._warm_up()
        if self.targets and not self.config.target_error:
            self.start_run(self.targets)
        else:
            self.main.form.focus_target()

    # ------------------------------------------------------------------------------------------ run
    @on(TargetForm.Submitted)
    def _form_submitted(self, event: TargetForm.Submitted) -> None:
        form = self.main.form
        self.playbook_name = event.playbook
        try:
            targets = self._parse_targets(event.target, event.calling_ae, event.tls)
        except BadInput as exc:
            form.show_error(str(exc))
            return
        form.show_error("")
        self.start_run(targets)

    def _parse_targets(self, text: str, calling_ae: str, tls_on: bool) -> tuple[Target, ...]:
        """The typed targets (several may be given, separated by commas), parsed like on the command line."""
        c = self.config
        if c.targets and text == self.main.initial_target and calling_ae == c.calling_ae \
                and tls_on == (c.tls is not None):
            return c.targets  # unchanged: keep what the command line (or the demo) built, labels included
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise BadInput("type a target: [CALLED_AE@]HOST[:PORT], e.g. PACS@10.0.0.5:104")
        tls = (c.tls or TLSOptions()) if tls_on else None  # the switch alone: verify with the system's CAs
        return tuple(parse_target(p, calling_ae=calling_ae or c.calling_ae,
                                  called_ae=c.called_ae,  # --called-ae wins over the AE@ part
                                  tls=tls) for p in parts)

    def start_run(self, targets: Sequence[Target]) -> None:
        """Start the playbook against `targets`, unless a run is going on (one association at a time per
        target is the politeness rule; two runs would break it)."""
        if self.session is not None:
            self.notify("A run is in progress; wait for it to end.", severity="warning")
            return
        try:
            playbook = self._playbook()
        except BadInput as exc:
            self.main.form.show_error(str(exc))
            self.main.form.focus_target()
            return
        self.targets = tuple(targets)
        self.report = None
        self.results = {}
        self.run_id += 1
        self.done = 0
        run_id = self.run_id

        def on_event(event: RunEvent) -> None:  # called in the worker thread: post, never touch widgets
            self.post_message(RunProgress(run_id, event))

        session = Session(playbook, self.targets, self.config.options, on_event=on_event,
                          per_target=self._per_target())
        self.session = session
        what = self.targets[0].id if len(self.targets) == 1 else f"{len(self.targets)} targets"
        self.sub_title = f"{session.name} on {what}" + (" (writes to the peer)" if _writes(session) else "")
        self.main.run_started(self._progress_text(session), targets=[t.id for t in self.targets])
        self.main.table.focus()
        self._diagnose(session, run_id)

    def _per_target(self) -> dict[str, Playbook]:
        """The targets' own playbooks (TuiConfig.target_playbooks), while the configured playbook is chosen."""
        c = self.config
        configured = c.playbook_obj.name if c.playbook_obj is not None else c.playbook
        return dict(c.target_playbooks) if self.playbook_name == configured else {}

    def _playbook(self) -> Playbook:
        c = self.config
        if c.playbook_obj is not None and self.playbook_name == c.playbook_obj.name:
            playbook = c.playbook_obj
        else:
            playbook = load_playbook(self.playbook_name)
        return apply_overrides(playbook, list(c.overrides)) if c.overrides else playbook

    @work(thread=True, exclusive=True, group="diagnosis", exit_on_error=False)
    def _diagnose(self, session: Session, run_id: int) -> None:
        # In a worker thread: the engine gets its own event loop and the UI stays responsive.
        try:
            report = session.run()
        except asyncio.CancelledError:
            self.post_message(RunFailed(run_id, "cancelled"))
        except BadInput as exc:
            self.post_message(RunFailed(run_id, str(exc)))
        except Exception as exc:  # an engine bug must not take the screen down with it
            self.post_message(RunFailed(run_id, f"internal error: {type(exc).__name__}: {exc}"))
        else:
            self.post_message(RunFinished(run_id, report))

    @work(thread=True, group="warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        # The first explain() loads the knowledge base and pydicom's dictionaries (~1 s on a slow machine);
        # do it now, off the UI thread, so that pressing x never freezes the screen. Errors show up later,
        # where they can be reported (the explain view, the run).
        from ..commands.explain import explain

        try:
            explain("0000", None, self.config.lang)
        except Exception:
            pass

    def _progress_text(self, session: Session) -> str:
        return f"Running {session.name}: {self.done} of {session.total_checks} checks done…"

    def on_run_progress(self, message: RunProgress) -> None:
        if message.run_id != self.run_id:
            return
        event = message.event
        if event.kind == "check-start" and event.check:
            self.main.check_started(event.target, event.check)
        elif event.kind == "finding" and event.finding is not None:
            self.done += 1
            self.main.check_finished(for_display(event.finding, self.config.show_phi))
            if self.session is not None:
                self.main.set_verdict(self._progress_text(self.session))
        elif event.kind == "target-done" and event.result is not None:
            self.results[event.result.id] = event.result

    def on_run_finished(self, message: RunFinished) -> None:
        if message.run_id != self.run_id:
            return
        self.session = None
        self.report = message.report
        for result in message.report.targets:
            self.results[result.id] = result
        select = first_problem(message.report.findings)
        self.main.run_finished(verdict_line(message.report, self.config.lang), select)

    def on_run_failed(self, message: RunFailed) -> None:
        if message.run_id != self.run_id:
            return
        self.session = None
        self.main.run_failed(message.reason)

    # -------------------------------------------------------------------------------------- actions
    def _modal_open(self) -> bool:
        return isinstance(self.screen, ModalScreen)

    def _back_to_main(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_rerun(self) -> None:
        if self._modal_open():
            return
        self._back_to_main()
        self.playbook_name = self.main.form.playbook
        if not self.targets:
            self.notify("No target yet: type one and press Enter.", severity="warning")
            self.main.form.focus_target()
            return
        self.start_run(self.targets)

    def action_trace(self) -> None:
        if self._modal_open():
            return
        if isinstance(self.screen, TraceScreen):
            self.pop_screen()
            return
        if not self.results:
            self.notify("No trace yet: it is shown once a target has been checked.", severity="warning")
            return
        selected = self.main.selected_target() if self.screen is self.main else None
        self._back_to_main()
        self.push_screen(TraceScreen(list(self.results.values()), selected, show_phi=self.config.show_phi))

    def action_explain(self) -> None:
        if self._modal_open():
            return
        if isinstance(self.screen, ExplainScreen):
            self.pop_screen()
            return
        status = self.main.selected_status() if self.screen is self.main else None
        self._back_to_main()
        # From a finding that carries a DIMSE status, open on that status (select-on-focus: typing replaces it).
        self.push_screen(ExplainScreen(lang=self.config.lang, text=f"{status:04X}" if status is not None else ""))

    def action_help(self) -> None:
        if not self._modal_open():
            self.push_screen(HelpScreen())

    def action_export(self) -> None:
        if self._modal_open():
            return
        if self.report is None:
            self.notify("Nothing to export yet: the report exists once a run has ended.", severity="warning")
            return
        self.push_screen(ExportDialog(), callback=self._export)

    def _export(self, choice: "tuple[str, str] | None") -> None:
        if choice is None or self.report is None:
            return
        fmt, path = choice
        try:
            written = export_report(self.report, fmt, path, lang=self.config.lang, show_phi=self.config.show_phi)
        except (OSError, ValueError) as exc:
            self.notify(f"Export failed: {exc}", severity="error", timeout=8)
            return
        self.notify(f"Report written to {written}", timeout=6)

    async def action_quit(self) -> None:
        self._cancel()
        self.exit(self.report.exit_code if self.report is not None else 0)

    def on_unmount(self) -> None:
        self._cancel()

    def _cancel(self) -> None:
        # The worker thread must end for the process to exit: cancel the engine's task in its own loop.
        session, self.session = self.session, None
        if session is not None:
            session.cancel()


def export_report(report: Report, fmt: str, path: str, *, lang: str = "en", show_phi: bool = False) -> Path:
    """Render `report` as `fmt` with the reports' own renderers (which redact unless show_phi) and write it."""
    from ..report import render  # lazy: jinja2 for html

    data = render(report, fmt, lang=lang, show_phi=show_phi, color=False)
    out = Path(path).expanduser()
    if isinstance(data, bytes):
        out.write_bytes(data)
    else:
        out.write_text(data if data.endswith("\n") else data + "\n", encoding="utf-8")
    return out


def _writes(session: Session) -> bool:
    """Whether the run writes to a peer (the workflow playbook: an MPPS, an instance): said in the title."""
    from ..engine import registry

    try:
        return any(registry.get_check(c.id).writes for _, p in session.pairs for c in p.checks)
    except Exception:  # an unknown check is the run's error to report, not the title's
        return False


def _target_text(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{target.called_ae}@{host}:{target.port}" if target.called_ae_given else f"{host}:{target.port}"


__all__ = ["DoctorApp", "export_report"]

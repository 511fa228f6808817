"""The TUI flows with App.run_test() (through tui_helpers.drive) + Pilot against real peers on loopback: our simulator, and a port
where nothing listens. Each test drives the app as a user would (keys), then looks at the widgets."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Input, Select, Static

from dicomdoctor.tui.screens import ExplainScreen, ExportDialog, HelpScreen, MainScreen, TraceScreen
from dicomdoctor.tui.widgets import FindingDetail, FindingsTable

from tui_helpers import GUARD, aio, detail_shows, drive, run_done, until


def _text(widget: Any) -> str:
    """All the text a widget (and its children) shows, for assertions."""
    parts = []
    for w in [widget, *widget.query("*")]:
        if isinstance(w, Static):
            parts.append(str(w.render()))
    return "\n".join(parts)


def _in_target_field(app: Any) -> bool:
    return isinstance(app.focused, Input) and app.focused.id == "target-input"


def _palette_offers(app: Any, words: str) -> bool:
    """The command palette lists a command with these words, highlighted (its search runs in a worker)."""
    from textual.widgets import OptionList

    lists = [w for w in app.screen.query(OptionList)]
    return any(o.option_count and o.highlighted is not None
               and words.lower() in str(o.get_option_at_index(o.highlighted).prompt).lower() for o in lists)


def _selected_key(app: Any) -> str | None:
    return app.screen_stack[0].query_one(FindingsTable).key_at_cursor()


@aio
async def test_without_target_the_cursor_is_in_the_target_field(make_app: Any) -> None:
    app = make_app()
    async with drive(app) as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "target-input")
        assert app.query_one("#calling-input", Input).value == "DICOMDOCTOR"
        assert app.query_one("#playbook-select", Select).value == "standard"


@aio
async def test_bad_target_text_is_an_inline_error(make_app: Any) -> None:
    app = make_app()
    async with drive(app) as pilot:
        await until(pilot, lambda: _in_target_field(app))
        await pilot.press(*"PACS@host:notaport", "enter")
        error = app.query_one("#target-error", Static)
        await until(pilot, lambda: error.display and "not a number" in str(error.render()))
        assert app.session is None and app.report is None
        # An AE title over 16 characters is refused the same way.
        app.query_one("#target-input", Input).value = "A_TITLE_MUCH_TOO_LONG@127.0.0.1:104"
        await pilot.press("enter")
        await until(pilot, lambda: "at most 16" in str(error.render()))


@aio
async def test_bad_target_on_the_command_line_opens_with_the_error(make_app: Any) -> None:
    app = make_app("PACS@host:99999")
    async with drive(app) as pilot:
        await until(pilot, lambda: "out of range" in str(app.query_one("#target-error", Static).render()))
        assert app.query_one("#target-input", Input).value == "PACS@host:99999"
        assert app.report is None


@aio
async def test_typed_target_runs_and_selects_the_first_failing_check(make_app: Any, closed_port: int) -> None:
    app = make_app()
    async with drive(app) as pilot:
        await until(pilot, lambda: _in_target_field(app))
        await pilot.press(*f"PACS@127.0.0.1:{closed_port}", "enter")
        await run_done(pilot)
        table = app.query_one(FindingsTable)
        assert table.row_count == 8  # every check of the standard playbook has a row
        assert app.report.verdict == "fail"
        assert _selected_key(app).endswith("net.reachable")
        assert app.focused is table
        detail = _text(app.query_one(FindingDetail))
        assert "FAIL" in detail and "refused" in detail
        assert "Causes" in detail and "server-not-running" in detail  # ranked causes with their ids
        verdict = str(app.query_one("#verdict", Static).render())
        assert "FAIL" in verdict and "1 failed" in verdict
        # Moving the cursor shows another finding: the skip says why.
        await pilot.press("down")
        await until(pilot, lambda: detail_shows(app) and "skipped: net.reachable failed" in _text(
            app.query_one(FindingDetail)), "the next finding in the detail pane")


@aio
async def test_target_on_the_command_line_runs_at_once(make_app: Any, sim: Any) -> None:
    app = make_app(sim.target())
    async with drive(app) as pilot:
        await run_done(pilot)
        assert app.report.verdict == "pass"
        table = app.query_one(FindingsTable)
        statuses = {str(table.get_cell(key, "status")) for key in table.rows}
        assert statuses <= {"PASS", "SKIP"} and "PASS" in statuses
        assert _selected_key(app) is not None  # nothing failed: the first row is selected
        # The presentation-context evidence is a table in the detail pane.
        await until(pilot, lambda: table.select(sim.target(), "assoc.presentation-contexts") and detail_shows(app))
        tables = app.query_one(FindingDetail).query(DataTable)
        assert tables and any(t.row_count > 0 for t in tables)
        assert "abstract_syntax" in {str(c.label) for t in tables for c in t.columns.values()}


@aio
async def test_progress_shows_each_check_as_it_runs(make_app: Any, sim: Any) -> None:
    seen: list[tuple[str, str | None]] = []
    app = make_app(sim.target())

    def hook(message: Any) -> None:
        event = getattr(message, "event", None)
        if event is not None and type(message).__name__ == "RunProgress":
            seen.append((event.kind, event.check))

    async with drive(app, message_hook=hook) as pilot:
        await run_done(pilot)
    starts = [c for k, c in seen if k == "check-start"]
    ends = [c for k, c in seen if k == "finding"]
    assert starts == ends and len(starts) == 8
    assert seen.index(("check-start", "dimse.echo")) < seen.index(("finding", "dimse.echo"))


@aio
async def test_trace_view_shows_the_pdus_and_their_fields(make_app: Any, sim: Any) -> None:
    app = make_app(sim.target())
    async with drive(app) as pilot:
        await run_done(pilot)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TraceScreen))
        trace = app.screen.query_one("#trace-table", DataTable)
        assert trace.row_count >= 4
        types = [str(trace.get_row_at(i)[2]) for i in range(trace.row_count)]
        assert "A-ASSOCIATE-RQ" in types and "P-DATA-TF" in types
        await pilot.press("down")  # the A-ASSOCIATE-AC
        await until(pilot, lambda: "AAssociateAC" in str(app.screen.query_one("#pdu-text", Static).render()))
        text = str(app.screen.query_one("#pdu-text", Static).render())
        assert "AAssociateAC" in text and "presentation_contexts" in text
        await pilot.press("t")  # t again (or Esc) goes back
        await until(pilot, lambda: isinstance(app.screen, MainScreen))


@aio
async def test_explain_view_answers_a801(make_app: Any) -> None:
    app = make_app()
    async with drive(app) as pilot:
        await until(pilot, lambda: _in_target_field(app))
        app.screen.query_one("#target-input", Input).blur()  # keys go to the app, not the field
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ExplainScreen))
        await pilot.press(*"A801", "enter")
        await until(pilot, lambda: "0xA801" in str(app.screen.query_one("#explain-text", Static).render()))
        text = str(app.screen.query_one("#explain-text", Static).render())
        assert "0xA801" in text and "move-destination-unknown" in text and "Fixes" in text
        app.screen.query_one("#explain-input", Input).value = "Connection refused"
        await pilot.press("enter")
        await until(pilot, lambda: "server-not-running" in str(app.screen.query_one("#explain-text", Static).render()))
        app.screen.query_one("#explain-input", Input).value = "zzz qqq"
        await pilot.press("enter")
        await until(pilot, lambda: "No match" in str(app.screen.query_one("#explain-text", Static).render()))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))


async def _export(pilot: Any, fmt: str, path: Path) -> None:
    app = pilot.app
    await pilot.press("e")
    await until(pilot, lambda: isinstance(app.screen, ExportDialog))
    assert app.screen.query_one("#export-path", Input).value == "./dicomdoctor-report.html"
    app.screen.query_one("#export-format", Select).value = fmt
    suffix = {"json": ".json", "markdown": ".md"}[fmt]
    await until(pilot, lambda: app.screen.query_one("#export-path", Input).value == f"./dicomdoctor-report{suffix}")
    app.screen.query_one("#export-path", Input).value = str(path)
    await pilot.press("enter")
    await until(pilot, lambda: path.exists())


@aio
async def test_export_json_and_markdown(make_app: Any, closed_port: int, tmp_path: Path) -> None:
    app = make_app(f"127.0.0.1:{closed_port}")
    async with drive(app) as pilot:
        await run_done(pilot)
        await _export(pilot, "json", tmp_path / "r.json")
        data = json.loads((tmp_path / "r.json").read_text())
        assert data["schema"] == "dicomdoctor.report/1" and data["verdict"] == "fail"
        assert any(f["check"] == "net.reachable" and f["status"] == "fail" for f in data["findings"])
        await _export(pilot, "markdown", tmp_path / "r.md")
        assert "net.reachable" in (tmp_path / "r.md").read_text()
        assert isinstance(app.screen, MainScreen)


@aio
async def test_export_before_a_run_says_so(make_app: Any) -> None:
    app = make_app()
    notes: list[str] = []
    app.notify = lambda message, **_: notes.append(str(message))  # type: ignore[method-assign]
    async with drive(app) as pilot:
        await until(pilot, lambda: _in_target_field(app))
        app.screen.query_one("#target-input", Input).blur()
        await pilot.press("e")
        await until(pilot, lambda: any("Nothing to export" in n for n in notes))
        assert isinstance(app.screen, MainScreen)


@aio
async def test_help_and_command_palette(make_app: Any, closed_port: int) -> None:
    app = make_app(f"127.0.0.1:{closed_port}")
    async with drive(app) as pilot:
        await run_done(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press(*"PDU trace")
        await until(pilot, lambda: _palette_offers(app, "PDU trace"), "the palette's search result")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TraceScreen))


@aio
async def test_rerun_runs_again(make_app: Any, closed_port: int) -> None:
    app = make_app(f"127.0.0.1:{closed_port}")
    async with drive(app) as pilot:
        await run_done(pilot)
        first = app.report
        await pilot.press("r")
        await until(pilot, lambda: app.report is not None and app.report is not first)
        assert app.run_id == 2


@aio
async def test_q_quits_with_the_exit_code_of_the_report(make_app: Any, closed_port: int) -> None:
    app = make_app(f"127.0.0.1:{closed_port}")
    async with drive(app) as pilot:
        await run_done(pilot)
        await pilot.press("q")
    assert app.return_value == 2  # fail, as `diagnose` would exit


def _closed_by_client(conn: socket.socket) -> bool:
    """Read until the client closes (b""); False if it stays open past the safety net."""
    conn.settimeout(GUARD)
    try:
        while conn.recv(65536):
            pass
    except socket.timeout:
        return False
    except OSError:
        return True  # reset: closed too
    return True


@aio
async def test_quit_during_a_run_cancels_it() -> None:
    from dicomdoctor.target import parse_target
    from dicomdoctor.tui.app import DoctorApp

    # A listener that never accepts: TCP connects (the kernel's backlog), then the A-ASSOCIATE-RQ gets no
    # answer. The association timeout is far longer than the test's safety net, so the only way for the
    # connection to close is the cancellation that quitting must cause: seen from the peer, not by a clock.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        app = DoctorApp(_config(parse_target(f"127.0.0.1:{silent.getsockname()[1]}"), timeout=3 * GUARD))
        async with drive(app) as pilot:
            await until(pilot, lambda: app.session is not None and app.done >= 1 and bool(app.main.running),
                        "a check waiting on the silent peer")
            session = app.session
            notes: list[str] = []
            app.notify = lambda message, **_: notes.append(str(message))  # type: ignore[method-assign]
            await pilot.press("r")
            assert app.session is session and app.run_id == 1
            await pilot.press("q")
        assert session is not None and session._cancelled  # noqa: SLF001 - the worker was told to stop
        assert any("in progress" in n for n in notes)  # r during the run did not start a second one
        assert app.report is None  # the run never finished: it was cancelled, not waited for
        silent.setblocking(False)
        conns = []
        while True:
            try:
                conns.append(silent.accept()[0])
            except BlockingIOError:
                break
        assert conns, "the run never connected"
        for conn in conns:
            with conn:
                assert _closed_by_client(conn), "quitting left the association attempt open"
    assert app.return_value == 0


def _config(*targets: Any, **kwargs: Any) -> Any:
    from dicomdoctor.engine.context import RunOptions
    from dicomdoctor.net.timeouts import Timeouts
    from dicomdoctor.tui.session import TuiConfig

    timeout = kwargs.pop("timeout", 3)
    options = RunOptions(timeouts=Timeouts(connect=timeout, association=timeout, dimse=timeout, release=1),
                         show_phi=kwargs.pop("show_phi", False))
    return TuiConfig(options=options, targets=tuple(targets), **kwargs)


@aio
async def test_several_targets_demo_style(sim: Any, closed_port: int) -> None:
    from dicomdoctor.target import parse_target
    from dicomdoctor.tui.app import DoctorApp

    good, bad = parse_target(sim.target()), parse_target(f"127.0.0.1:{closed_port}")
    app = DoctorApp(_config(good, bad))
    async with drive(app, size=(100, 30)) as pilot:
        await run_done(pilot)
        assert app.query_one(FindingsTable).row_count == 16
        assert _selected_key(app) == f"{bad.id}\x1fnet.reachable"
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TraceScreen))
        assert app.screen.selected == bad.id  # the trace of the selected finding's target
        assert app.screen.query_one("#trace-table", DataTable).row_count == 0
        app.screen.query_one("#trace-target", Select).value = good.id
        await until(pilot, lambda: app.screen.query_one("#trace-table", DataTable).row_count > 0)


def _phi_check() -> Any:
    from dicomdoctor.engine.context import failed

    async def phi(ctx: Any) -> Any:
        return failed("no study for PatientName=ROE^JANIS", causes=("find-no-matches",),
                      matches=[{"PatientName": "ROE^JANIS", "PatientID": "P0042", "StudyDate": "20240101"}])

    return phi


@aio
async def test_patient_data_is_redacted_on_screen_unless_show_phi() -> None:
    from dicomdoctor.engine import registry
    from dicomdoctor.engine.playbook import make_playbook
    from dicomdoctor.target import parse_target
    from dicomdoctor.tui.app import DoctorApp

    with registry.isolated_registry():
        registry.check("t.phi")(_phi_check())
        playbook = make_playbook("phi", ["t.phi"])
        for show_phi in (False, True):
            app = DoctorApp(_config(parse_target("127.0.0.1:1"), playbook_obj=playbook, show_phi=show_phi))
            async with drive(app) as pilot:
                await run_done(pilot)
                text = _text(app.query_one(FindingDetail)) + str(app.query_one(FindingsTable).get_row_at(0))
                tables = app.query_one(FindingDetail).query(DataTable)
                text += " ".join(str(cell) for t in tables for i in range(t.row_count) for cell in t.get_row_at(i))
            assert ("ROE^JANIS" in text) is show_phi and ("P0042" in text) is show_phi, text
            assert "20240101" in text  # not patient data: kept


@aio
async def test_enter_reads_the_finding_and_escape_goes_back(make_app: Any, closed_port: int) -> None:
    app = make_app(f"127.0.0.1:{closed_port}")
    async with drive(app) as pilot:
        await run_done(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: app.focused is app.query_one(FindingDetail) and app.screen.has_class("reading"))
        await pilot.press("escape")
        await until(pilot, lambda: app.focused is app.query_one(FindingsTable)
                    and not app.screen.has_class("reading"))


@aio
async def test_explain_opens_on_the_status_of_the_selected_finding(make_app: Any, sim: Any) -> None:
    app = make_app(sim.target())
    async with drive(app) as pilot:
        await run_done(pilot)
        assert app.query_one(FindingsTable).select(sim.target(), "dimse.echo")
        await until(pilot, lambda: detail_shows(app))
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ExplainScreen)
                    and "Status 0x0000" in str(app.screen.query_one("#explain-text", Static).render()))
        assert app.screen.query_one("#explain-input", Input).value == "0000"
        assert "Status 0x0000" in str(app.screen.query_one("#explain-text", Static).render())


@aio
async def test_tls_switch_runs_the_tls_checks(make_app: Any) -> None:
    from dicomdoctor.engine.model import Status
    from dicomdoctor.sim import SimulatorThread

    with SimulatorThread("SECURE", ["tls=self-signed"]) as secure:
        app = make_app()
        async with drive(app) as pilot:
            await until(pilot, lambda: _in_target_field(app))
            app.screen.query_one("#target-input", Input).value = secure.target()
            await pilot.click("#tls-switch")
            await until(pilot, lambda: str(app.screen.query_one("#tls-switch").border_title) == "TLS on")
            app.screen.query_one("#target-input", Input).focus()
            await pilot.press("enter")
            await run_done(pilot)
            tls = next(f for f in app.report.findings if f.check == "tls.handshake")
            assert tls.status is Status.FAIL  # a self-signed certificate is not trusted by default
            assert _selected_key(app).endswith("tls.handshake")

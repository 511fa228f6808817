"""`dicomdoctor tui` glue: arguments -> TuiConfig, errors before the screen opens, and lazy Textual."""

from __future__ import annotations

import subprocess
import sys

from dicomdoctor.cli import build_parser, main
from dicomdoctor.commands.tui import build_config
from dicomdoctor.target import TLSOptions


def _config(*argv: str):  # type: ignore[no-untyped-def]
    return build_config(build_parser().parse_args(["tui", *argv]))


def test_target_and_options_from_the_command_line() -> None:
    c = _config("PACS@127.0.0.1:11112", "--calling-ae", "ME", "--timeout", "2", "--show-phi", "--lang", "zh")
    assert [t.id for t in c.targets] == ["PACS@127.0.0.1:11112"]
    assert c.targets[0].calling_ae == "ME" and c.calling_ae == "ME"
    assert c.options.timeouts.connect == 2 and c.show_phi and c.lang == "zh"
    assert c.playbook == "standard" and c.target_error == ""


def test_without_target_nothing_runs_and_tls_is_remembered() -> None:
    c = _config("--tls", "--insecure")
    assert c.targets == () and c.target_text == ""
    assert c.tls == TLSOptions(insecure=True)


def test_bad_target_is_kept_for_the_inline_error() -> None:
    c = _config("PACS@host:notaport")
    assert c.targets == () and c.target_text == "PACS@host:notaport"
    assert "not a number" in c.target_error


def test_bad_playbook_is_exit_3_before_the_screen_opens(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["tui", "127.0.0.1:104", "--playbook", "no-such-playbook"]) == 3
    assert "unknown playbook" in capsys.readouterr().err


def test_textual_is_imported_only_by_the_tui() -> None:
    code = ("import sys, dicomdoctor.cli, dicomdoctor.commands.tui, dicomdoctor.engine.runner, "
            "dicomdoctor.tui.session, dicomdoctor.report; "
            "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr

"""`diagnose` and `run` end to end with fake checks (no network), plus one loopback smoke test."""

from __future__ import annotations

import argparse
import json
import socket
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from dicomdoctor import cli
from dicomdoctor.commands import _common
from dicomdoctor.engine import registry
from dicomdoctor.engine.context import CheckContext, CheckResult, failed, passed, warned
from dicomdoctor.engine.registry import check
from dicomdoctor.target import TLSOptions


@pytest.fixture
def fake() -> Iterator[None]:
    with registry.isolated_registry():
        @check("fake.ok", params={"word": "hello"})
        async def ok(ctx: CheckContext) -> CheckResult:
            t = ctx.target
            return passed(f"{ctx.params['word']} {t.calling_ae}->{t.called_ae}@{t.host}:{t.port}",
                          tls=t.tls is not None, timeout=ctx.options.timeouts.connect,
                          dimse=ctx.options.timeouts.dimse, max_pdu=ctx.options.max_pdu)

        @check("fake.warn")
        async def warn(ctx: CheckContext) -> CheckResult:
            return warned("hmm", causes=("slow-transfer",))

        @check("fake.fail", depends=("fake.ok",))
        async def fail(ctx: CheckContext) -> CheckResult:
            return failed("down", causes=("server-not-running",))

        yield


def write(tmp_path: Path, text: str, name: str = "pb.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return str(path)


def playbook(tmp_path: Path, *checks: str, extra: str = "") -> str:
    return write(tmp_path, "playbook: 1\nname: fake\n" + extra + "checks: [" + ", ".join(checks) + "]\n")


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict]:
    code = cli.main(argv + ["--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


# ------------------------------------------------------------------------------------------ bad input

def test_bad_target_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diagnose", "bad target@@"]) == 3
    err = capsys.readouterr().err
    assert "target 'bad target@@' is not [CALLED_AE@]HOST[:PORT]" in err and "Traceback" not in err


def test_ae_title_over_16_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diagnose", "ABCDEFGHIJKLMNOPQ@localhost"]) == 3
    assert "17 characters" in capsys.readouterr().err


def test_missing_playbook_file_names_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diagnose", "127.0.0.1", "--playbook", "missing.yaml"]) == 3
    assert "missing.yaml" in capsys.readouterr().err


def test_unknown_playbook_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diagnose", "127.0.0.1", "--playbook", "standrd"]) == 3
    assert "unknown playbook 'standrd'; did you mean standard?" in capsys.readouterr().err


def test_yaml_syntax_error_names_file_and_line(fake: None, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "playbook: 1\nchecks:\n  - fake.ok\n  - [fake.warn\n")
    assert cli.main(["diagnose", "127.0.0.1", "--playbook", path]) == 3
    assert f"{path}:5: YAML syntax error" in capsys.readouterr().err


def test_unknown_check_is_exit_3(fake: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "playbook: 1\nchecks:\n  - fake.ok\n  - fake.wran\n")
    assert cli.main(["diagnose", "127.0.0.1", "--playbook", path]) == 3
    assert f"{path}:4: unknown check 'fake.wran'; did you mean fake.warn?" in capsys.readouterr().err


@pytest.mark.parametrize("item, expected", [
    ("fake.ok.wrd=x", "check fake.ok has no parameter 'wrd'"),
    ("nothing", "expected CHECK.PARAM=VALUE"),
    ("fake.warn.x=1", "check fake.warn has no parameter 'x'"),
])
def test_bad_set_is_exit_3(fake: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], item: str,
                           expected: str) -> None:
    assert cli.main(["diagnose", "127.0.0.1", "--playbook", playbook(tmp_path, "fake.ok", "fake.warn"),
                     "--set", item]) == 3
    assert expected in capsys.readouterr().err


def test_missing_tls_file_is_exit_3(fake: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diagnose", "127.0.0.1", "--playbook", playbook(tmp_path, "fake.ok"),
                     "--ca", str(tmp_path / "nope.pem")]) == 3
    assert "--ca" in capsys.readouterr().err


def test_run_without_targets_is_exit_3(fake: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", playbook(tmp_path, "fake.ok")]) == 3
    assert "lists no targets" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ good runs

def test_diagnose_pass_json(fake: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, ["diagnose", "PACS@127.0.0.1:11112", "--playbook",
                                   playbook(tmp_path, "fake.ok"), "--set", "fake.ok.word=hi"])
    assert code == 0 and data["verdict"] == "pass" and data["playbook"] == "fake"
    (finding,) = data["findings"]
    assert finding["summary"] == "hi DICOMDOCTOR->PACS@127.0.0.1:11112"
    assert data["targets"][0]["id"] == "PACS@127.0.0.1:11112"


@pytest.mark.parametrize("checks, code", [(("fake.ok", "fake.warn"), 1), (("fake.ok", "fake.fail"), 2)])
def test_exit_codes_follow_the_verdict(fake: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       checks: tuple[str, ...], code: int) -> None:
    assert cli.main(["diagnose", "127.0.0.1", "--playbook", playbook(tmp_path, *checks),
                     "--no-color"]) == code
    out = capsys.readouterr().out
    assert "fake.ok" in out or "DICOMDOCTOR" in out or out  # text report printed


def test_playbook_targets_are_ignored_by_diagnose(fake: None, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = playbook(tmp_path, "fake.ok", extra="targets: [OTHER@10.9.9.9]\n")
    _, data = run_json(capsys, ["diagnose", "MINE@127.0.0.1", "--playbook", path])
    assert [t["id"] for t in data["targets"]] == ["MINE@127.0.0.1:104"]


def test_playbook_defaults_and_command_line_precedence(fake: None, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = playbook(tmp_path, "fake.ok", extra="defaults: {calling_ae: FROMBOOK, timeout: 3, max_pdu: 0, "
                                               "called_ae: BOOKAE, tls: {insecure: true}}\n")
    _, data = run_json(capsys, ["diagnose", "127.0.0.1", "--playbook", path])
    ev = data["findings"][0]["evidence"]
    assert data["findings"][0]["summary"].startswith("hello FROMBOOK->BOOKAE@")
    # The DIMSE timeout follows the timeout when none is given (a user's --timeout bounds every wait).
    assert (ev["timeout"], ev["dimse"], ev["max_pdu"], ev["tls"]) == (3, 3, 0, True)
    _, data = run_json(capsys, ["diagnose", "X@127.0.0.1", "--playbook", path, "-aet", "MINE", "--timeout", "7"])
    assert data["findings"][0]["summary"].startswith("hello MINE->X@")
    assert data["findings"][0]["evidence"]["timeout"] == 7


def test_output_file(fake: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert cli.main(["diagnose", "127.0.0.1", "--playbook", playbook(tmp_path, "fake.warn"), "--format", "json",
                     "-o", str(out)]) == 1
    assert json.loads(out.read_text())["verdict"] == "warn"
    assert capsys.readouterr().out == ""


def test_run_fleet(fake: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = playbook(tmp_path, "fake.ok", "fake.fail",
                    extra="targets:\n  - A@127.0.0.1:1\n  - {host: 127.0.0.2, port: 2, called_ae: B}\n")
    code, data = run_json(capsys, ["run", path, "--concurrency", "2", "-aet", "FLEET"])
    assert code == 2
    assert [t["id"] for t in data["targets"]] == ["A@127.0.0.1:1", "B@127.0.0.2:2"]
    assert [t["calling_ae"] for t in data["targets"]] == ["FLEET", "FLEET"]
    assert len(data["findings"]) == 4


def test_cli_defaults_mirror_the_parser() -> None:
    parser = cli.build_parser()
    for argv in (["diagnose", "x"], ["run", "x"]):
        args = parser.parse_args(argv)
        for name, value in _common.CLI_DEFAULTS.items():
            if hasattr(args, name):
                assert getattr(args, name) == value, name


def test_tls_options_imply_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    args = cli.build_parser().parse_args(["diagnose", "h", "--ca", str(ca)])
    assert _common.targets_from_args(args).tls == TLSOptions(ca=str(ca))
    args = cli.build_parser().parse_args(["diagnose", "h"])
    assert _common.targets_from_args(args).tls is None
    assert _common.tls_from_args(argparse.Namespace(tls=True)) == TLSOptions()


# ------------------------------------------------------------------------------------ loopback smoke

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_diagnose_closed_loopback_port_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not registry.is_registered("net.reachable"):
        pytest.skip("the real net.reachable check is not written yet")
    path = write(tmp_path, "playbook: 1\nchecks: [net.dns, net.reachable]\n")
    code, data = run_json(capsys, ["diagnose", f"127.0.0.1:{_closed_port()}", "--playbook", path,
                                   "--timeout", "3"])
    assert code == 2 and data["verdict"] == "fail"
    reach = next(f for f in data["findings"] if f["check"] == "net.reachable")
    assert reach["status"] == "fail" and reach["evidence"]["outcome"] == "refused"
    if all(registry.is_registered(c) for c in ("assoc.ae-title", "dimse.echo", "peer.identity")):
        code, data = run_json(capsys, ["diagnose", f"PACS@127.0.0.1:{_closed_port()}", "--timeout", "3"])
        assert code == 2 and data["playbook"] == "standard"
        assert {f["status"] for f in data["findings"]} <= {"pass", "fail", "skip"}

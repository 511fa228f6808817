"""--user / --passcode-file / --passcode-env / --identity-type / --identity-token-file / --identity-token-env /
--identity-response: the user identity (PS3.7 D.3.3.7) on every association of a command, against real peers: the
simulator's `user-identity-required` fault (rejects every association without an identity, 1/1/1) and pynetdicom
with an EVT_USER_ID handler (rejects a wrong passcode, 2/2/1). The passcode never appears in any output."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import workflow_peers as wp  # noqa: E402

from dicomdoctor.cli import main  # noqa: E402
from dicomdoctor.sim.server import SimulatorThread  # noqa: E402

pytest.importorskip("pynetdicom")
SECRET = "s3cret-Passcode-42"
TIMEOUTS = ["--timeout", "5", "--dimse-timeout", "10"]


@pytest.fixture
def sim() -> Iterator[str]:
    """The simulator requiring a user identity (it accepts any identity, as many PACS check only presence)."""
    s = SimulatorThread("SIMULATOR", ["user-identity-required", "worklist", "mpps", "commitment"])
    s.start()
    yield s.target()
    s.stop()


@pytest.fixture
def id_scp() -> Iterator[str]:
    """pynetdicom verifying user `tech` with SECRET (and accepting associations without an identity)."""
    scp = wp.start_identity_scp(users={"tech": SECRET})
    yield scp.target_text()
    scp.stop()


@pytest.fixture
def passcode_file(tmp_path: Path) -> Path:
    p = tmp_path / "pass.txt"
    p.write_text(SECRET + "\n")
    return p


def dd(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main([*argv, *TIMEOUTS])
    out, err = capsys.readouterr()
    assert SECRET not in out and SECRET not in err
    return rc, out, err


def findings(out: str) -> dict[str, Any]:
    return {f["check"]: f for f in json.loads(out)["findings"]}


def causes(f: dict[str, Any]) -> list[str]:
    return [c["id"] for c in f["causes"]]


# ------------------------------------------------------------------------------------------- the simulator

def test_echo_without_an_identity_names_the_requirement(capsys: pytest.CaptureFixture[str], sim: str) -> None:
    rc, out, _ = dd(capsys, "echo", sim, "--format", "json")
    f = findings(out)
    assert rc == 2 and f["dimse.echo"]["status"] == "fail"
    # the rejection (1/1/1, no reason) is explained by comparing with a bare user name, before AE probing
    assert f["assoc.user-identity"]["status"] == "fail"
    assert causes(f["assoc.user-identity"])[0] == "user-identity-required"
    assert "assoc.ae-title" not in f  # the identity explains it: no AE-title guesses sent to the peer


def test_echo_with_user_and_passcode_file_passes(capsys: pytest.CaptureFixture[str], sim: str,
                                                passcode_file: Path) -> None:
    rc, out, _ = dd(capsys, "echo", sim, "--user", "tech", "--passcode-file", str(passcode_file), "--format", "json")
    assert rc == 0, out
    assert findings(out)["dimse.echo"]["status"] == "pass"


@pytest.mark.parametrize("command", [["store", "--synthetic", "1"], ["find", "-k", "PatientID="],
                                     ["get", "-k", "PatientID=NOSUCH"], ["move", "-k", "PatientID=NOSUCH"],
                                     ["worklist", "--date", ""], ["mpps"], ["commit"]])
def test_other_commands_carry_the_identity(capsys: pytest.CaptureFixture[str], sim: str, passcode_file: Path,
                                           command: list[str]) -> None:
    argv = [command[0], sim, *command[1:], "--user", "tech", "--passcode-file", str(passcode_file), "--format", "json"]
    rc, out, _ = dd(capsys, *argv)
    f = findings(out)
    # associated (an empty simulator may find nothing: a warning, not a refusal)
    assert all(x["evidence"].get("outcome") != "rejected" for x in f.values()), out
    assert any(x["evidence"].get("associated") for x in f.values()), out
    assert "assoc.user-identity" not in f and rc in (0, 1), out


def test_identity_from_an_environment_variable_with_a_token(capsys: pytest.CaptureFixture[str], sim: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_TEST_TOKEN", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZWNoIn0.")
    rc, out, _ = dd(capsys, "echo", sim, "--identity-type", "jwt", "--identity-token-env", "DD_TEST_TOKEN",
                    "--identity-response", "-v")
    assert rc == 0, out
    # the trace shows the type and the lengths (40 bytes of token), and the simulator's positive response
    assert "user identity type 5 (40+0 bytes, response requested)" in out
    assert "user identity response (0 bytes)" in out and "eyJ" not in out


def test_diagnose_with_the_flags_passes_the_association_checks(capsys: pytest.CaptureFixture[str], sim: str,
                                                               passcode_file: Path) -> None:
    rc, out, _ = dd(capsys, "diagnose", sim, "--format", "json")
    assert rc != 0 and findings(out)["assoc.ae-title"]["status"] == "fail"
    rc, out, _ = dd(capsys, "diagnose", sim, "--user", "tech", "--passcode-file", str(passcode_file),
                    "--format", "json")
    f = findings(out)
    assoc = {k: v["status"] for k, v in f.items() if k.startswith("assoc.")}
    assert set(assoc) >= {"assoc.ae-title", "assoc.presentation-contexts", "assoc.pdu-length"}
    assert set(assoc.values()) <= {"pass", "warn"}, assoc
    assert f["dimse.echo"]["status"] == "pass" and rc == 0, out


def test_a_playbook_target_carries_its_identity(capsys: pytest.CaptureFixture[str], sim: str, tmp_path: Path,
                                                passcode_file: Path) -> None:
    host, port = sim.split("@")[1].split(":")
    book = tmp_path / "fleet.yaml"
    book.write_text("playbook: 1\nname: fleet\ntargets:\n"
                    f"  - {{called_ae: SIMULATOR, host: {host}, port: {port},\n"
                    f"     user_identity: {{username: tech, passcode_file: {passcode_file.name}}}}}\n"
                    "checks:\n  - assoc.ae-title\n  - dimse.echo\n")
    rc, out, _ = dd(capsys, "run", str(book), "--format", "json")
    assert rc == 0, out
    # the secret in clear is not a key a playbook accepts
    book.write_text(book.read_text().replace(f"passcode_file: {passcode_file.name}", "passcode: hunter2"))
    rc, out, err = dd(capsys, "run", str(book))
    assert rc == 3 and "unknown key 'passcode'" in err and "hunter2" not in err


def test_playbook_defaults_give_diagnose_the_identity(capsys: pytest.CaptureFixture[str], sim: str, tmp_path: Path,
                                                     passcode_file: Path) -> None:
    book = tmp_path / "id.yaml"
    book.write_text("playbook: 1\nname: id\ndefaults:\n  user_identity: {username: tech, passcode_file: pass.txt}\n"
                    "checks:\n  - assoc.ae-title\n  - dimse.echo\n")
    rc, out, _ = dd(capsys, "diagnose", sim, "--playbook", str(book), "--format", "json")
    assert rc == 0, out
    passcode_file.unlink()  # the file is checked when the playbook is read: file:line, exit 3
    rc, out, err = dd(capsys, "diagnose", sim, "--playbook", str(book))
    assert rc == 3 and f"{book}:4:" in err and "no such file" in err and err.count("\n") == 1, err


# ------------------------------------------------------------------------------------------- pynetdicom

def test_pynetdicom_accepts_the_right_passcode(capsys: pytest.CaptureFixture[str], id_scp: str,
                                               passcode_file: Path) -> None:
    rc, out, _ = dd(capsys, "echo", id_scp, "--user", "tech", "--passcode-file", str(passcode_file))
    assert rc == 0, out


def test_a_wrong_passcode_is_user_identity_rejected(capsys: pytest.CaptureFixture[str], id_scp: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_TEST_PASS", "wrong-passcode")
    rc, out, _ = dd(capsys, "echo", id_scp, "--user", "tech", "--passcode-env", "DD_TEST_PASS", "--format", "json")
    f = findings(out)
    assert rc == 2 and f["dimse.echo"]["status"] == "fail"
    # rejected (2/2/1) with the identity, accepted without it: the identity is wrong
    assert causes(f["assoc.user-identity"]) == ["user-identity-rejected"]
    assert "assoc.ae-title" not in f and "wrong-passcode" not in out


def test_the_check_uses_the_command_line_identity_and_set_wins(capsys: pytest.CaptureFixture[str], id_scp: str,
                                                              passcode_file: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    book = tmp_path / "id.yaml"
    book.write_text("playbook: 1\nname: id\nchecks:\n  - assoc.user-identity\n")
    flags = ["--user", "tech", "--passcode-file", str(passcode_file), "--format", "json"]
    rc, out, _ = dd(capsys, "diagnose", id_scp, "--playbook", str(book), *flags)
    f = findings(out)["assoc.user-identity"]
    assert rc == 0 and f["status"] == "pass" and f["evidence"]["type_proposed"] == 2, out
    monkeypatch.setenv("DD_TEST_PASS", "wrong")
    rc, out, _ = dd(capsys, "diagnose", id_scp, "--playbook", str(book), *flags,
                    "--set", "assoc.user-identity.username=tech", "--set", "assoc.user-identity.passcode_env=DD_TEST_PASS")
    assert causes(findings(out)["assoc.user-identity"]) == ["user-identity-rejected"]


def test_the_passcode_is_never_printed(capsys: pytest.CaptureFixture[str], id_scp: str, passcode_file: Path,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flags = ["--user", "tech", "--passcode-file", str(passcode_file)]
    for fmt in ("text", "json", "markdown", "junit"):
        rc, out, _ = dd(capsys, "diagnose", id_scp, *flags, "-v", "--format", fmt)
        assert rc in (0, 1), out  # pynetdicom's 16382-byte PDUs are a warning
    html = tmp_path / "report.html"
    rc, _, _ = dd(capsys, "diagnose", id_scp, *flags, "-v", "--format", "html", "-o", str(html))
    text = html.read_text()
    assert rc in (0, 1) and SECRET not in text and "IDSCP" in text
    # a failing run, whose explanation proposes the identity again, prints it no more
    monkeypatch.setenv("DD_TEST_PASS", SECRET[::-1])
    rc, out, _ = dd(capsys, "echo", id_scp, "--user", "tech", "--passcode-env", "DD_TEST_PASS", "-v", "--format", "json")
    assert rc == 2 and SECRET[::-1] not in out


# ------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("argv, words", [
    (["--user", "tech", "--passcode-file", "/no/such/passcode"], "--passcode-file /no/such/passcode: no such file"),
    (["--user", "tech", "--passcode-file", "{file}", "--passcode-env", "HOME"], "both given"),
    (["--user", "tech", "--passcode-file", "{empty}"], "the file is empty"),
    (["--user", "tech", "--passcode-env", "DD_TEST_EMPTY"], "DD_TEST_EMPTY: the environment variable is empty"),
    (["--user", "tech", "--passcode-env", "DD_SURELY_UNSET"], "DD_SURELY_UNSET: the environment variable is not set"),
    (["--identity-type", "jwt"], "--identity-type jwt needs --identity-token-file or --identity-token-env"),
    (["--identity-type", "kerberos", "--identity-token-file", "{empty}"], "the file is empty"),
    (["--passcode-file", "{file}"], "--passcode-file needs --user"),
    (["--user", "tech", "--identity-type", "username-passcode"], "needs --passcode-file or --passcode-env"),
    (["--user", "tech", "--identity-token-file", "{file}"], "--user goes with --identity-type username"),
    (["--identity-response"], "--identity-response needs a user identity"),
    (["--user", ""], "--user: the user name is empty"),
])
def test_bad_identity_input_is_one_line_and_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, passcode_file: Path,
                                                   argv: list[str], words: str) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    monkeypatch.setenv("DD_TEST_EMPTY", "")
    monkeypatch.delenv("DD_SURELY_UNSET", raising=False)
    argv = [a.replace("{file}", str(passcode_file)).replace("{empty}", str(empty)) for a in argv]
    for command in (["echo", "127.0.0.1:9"], ["diagnose", "127.0.0.1:9"], ["store", "127.0.0.1:9", "--synthetic", "1"]):
        rc, out, err = dd(capsys, *command, *argv)
        assert rc == 3 and out == "", (command, out, err)
        assert err.count("\n") == 1 and err.startswith("dicomdoctor: ") and words in err, err

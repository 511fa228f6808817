"""assoc.user-identity against pynetdicom with and without an EVT_USER_ID handler: each cause produced on a
real peer, and the passcode never printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import workflow_peers as wp  # noqa: E402

from dicomdoctor.engine.context import RunOptions  # noqa: E402
from dicomdoctor.engine.model import Finding  # noqa: E402
from dicomdoctor.engine.playbook import make_playbook  # noqa: E402
from dicomdoctor.engine.runner import run  # noqa: E402
from dicomdoctor.net.timeouts import Timeouts  # noqa: E402
from dicomdoctor.target import parse_target  # noqa: E402
import peers  # noqa: E402

pytestmark = pytest.mark.interop
pytest.importorskip("pynetdicom")
SECRET = "s3cret-Passcode-42"


@pytest.fixture
def id_scp() -> Iterator[Any]:
    f = peers.Factory(wp.start_identity_scp)
    yield f
    f.stop_all()


def identity(target: str, **params: Any) -> Finding:
    report = run(make_playbook("t", [("assoc.user-identity", params)]), [parse_target(target)],
                 RunOptions(timeouts=Timeouts(10, 10, 10, 10)))
    return next(f for f in report.findings if f.check == "assoc.user-identity")


def ids(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


@pytest.fixture
def passcode_file(tmp_path: Path) -> Path:
    p = tmp_path / "pass.txt"
    p.write_text(SECRET + "\n")
    return p


def test_accepted_and_confirmed(id_scp: Any, passcode_file: Path) -> None:
    scp = id_scp(users={"tech": SECRET})
    f = identity(scp.target_text(), username="tech", passcode_file=str(passcode_file))
    assert f.status.value == "pass", f.summary
    # pynetdicom answers no positive response to user name types; the decoy (a wrong passcode) is refused
    assert f.evidence["type_proposed"] == 2 and f.evidence["positive_response"] is False
    assert f.evidence["decoy"]["outcome"] == "rejected" and "verifies identities" in f.summary
    assert SECRET not in json.dumps(f.evidence)


def test_jwt_confirmed_with_a_server_response(id_scp: Any, tmp_path: Path) -> None:
    token = tmp_path / "jwt.txt"
    token.write_text("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZWNoIn0.\n")
    scp = id_scp(users={"jwt": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZWNoIn0."})
    f = identity(scp.target_text(), token_file=str(token))
    assert f.status.value == "pass", f.summary
    assert f.evidence["type_proposed"] == 5 and f.evidence["positive_response"] is True
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("eyJ.wrong.")
    g = identity(scp.target_text(), type="jwt", token_file=str(wrong))
    assert ids(g) == ["user-identity-rejected"]


def test_rejected_with_a_wrong_passcode(id_scp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    scp = id_scp(users={"tech": SECRET})
    monkeypatch.setenv("DD_TEST_PASS", "wrong")
    f = identity(scp.target_text(), username="tech", passcode_env="DD_TEST_PASS")
    assert f.status.value == "fail"
    assert ids(f) == ["user-identity-rejected"]  # without an identity pynetdicom accepts
    assert f.evidence["with_identity"]["outcome"] == "rejected"
    assert f.evidence["without_identity"]["outcome"] == "accepted"


def test_ignored_without_a_handler(id_scp: Any, passcode_file: Path) -> None:
    f = identity(id_scp().target_text(), username="tech", passcode_file=str(passcode_file))
    assert f.status.value == "warn"
    assert ids(f) == ["user-identity-ignored"]


def test_nothing_configured_and_not_needed(id_scp: Any) -> None:
    f = identity(id_scp().target_text())
    assert f.status.value == "pass" and f.evidence["dummy"] is True


def test_bad_secret_sources_are_bad_input(id_scp: Any, tmp_path: Path) -> None:
    scp = id_scp()
    book = tmp_path / "id.yaml"
    book.write_text("playbook: 1\nname: id\nchecks:\n  - assoc.user-identity\n")
    cmd = [sys.executable, "-m", "dicomdoctor", "diagnose", scp.target_text(), "--playbook", str(book),
           "--set", "assoc.user-identity.username=tech"]
    res = subprocess.run([*cmd, "--set", f"assoc.user-identity.passcode_file={tmp_path / 'none'}"],
                         capture_output=True, text=True, timeout=60)
    # A bad input inside a check is that check's error finding: exit 3, the message in the report
    assert res.returncode == 3 and "passcode file" in res.stdout + res.stderr and "Traceback" not in res.stderr
    env = subprocess.run([*cmd, "--set", "assoc.user-identity.passcode_env=DD_SURELY_UNSET_VAR"],
                         capture_output=True, text=True, timeout=60, env={k: v for k, v in os.environ.items()
                                                                           if k != "DD_SURELY_UNSET_VAR"})
    assert env.returncode == 3 and "DD_SURELY_UNSET_VAR" in env.stdout + env.stderr


def test_passcode_never_printed_with_trace(id_scp: Any, passcode_file: Path, tmp_path: Path) -> None:
    scp = id_scp(users={"tech": SECRET})
    book = tmp_path / "id.yaml"
    book.write_text("playbook: 1\nname: id\nchecks:\n  - id: assoc.user-identity\n    with: {username: tech, "
                    f"passcode_file: {passcode_file}}}\n")
    for fmt in ("json", "text"):
        res = subprocess.run([sys.executable, "-m", "dicomdoctor", "diagnose", scp.target_text(), "--playbook",
                              str(book), "-v", "--format", fmt], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        assert SECRET not in res.stdout and SECRET not in res.stderr

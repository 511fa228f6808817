"""Playbook loader: schema, every error as BadInput with file:line, targets, overrides, shipped playbooks."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from dicomdoctor.engine import playbook as pb
from dicomdoctor.engine import registry
from dicomdoctor.engine.context import CheckContext, CheckResult, passed
from dicomdoctor.engine.datafiles import data_dir
from dicomdoctor.engine.playbook import CheckRef, apply_overrides, load_playbook, make_playbook, parse_playbook
from dicomdoctor.engine.registry import check
from dicomdoctor.errors import BadInput
from dicomdoctor.target import TLSOptions

# Every check id of DESIGN.md, so the shipped playbooks can be validated without the real checks.
DESIGN_IDS = ("net.dns", "net.reachable", "tls.handshake", "assoc.ae-title", "assoc.presentation-contexts",
              "assoc.pdu-length", "peer.identity", "dimse.echo", "dimse.find", "dimse.store", "dimse.move",
              "dimse.get", "perf.throughput", "assoc.capacity", "dicomweb.qido", "dicomweb.wado", "dicomweb.stow",
              "mwl.find", "mpps.cycle", "commitment.request", "assoc.user-identity", "workflow.mpps-start",
              "workflow.store", "workflow.commit", "workflow.mpps-complete", "workflow.readback")
WRITES = ("dimse.store", "perf.throughput", "dicomweb.stow", "mpps.cycle", "commitment.request",
          "workflow.mpps-start", "workflow.store", "workflow.commit", "workflow.mpps-complete")


async def _noop(ctx: CheckContext) -> CheckResult:
    return passed("ok")


@pytest.fixture
def dummy() -> Iterator[None]:
    with registry.isolated_registry():
        for cid in DESIGN_IDS:
            params: dict = {}
            if cid == "dimse.find":
                params = {"level": "STUDY", "keys": {}, "max_results": 0, "timeout": 5.0, "cancel": False,
                          "model": None}
            if cid == "assoc.presentation-contexts":
                params = {"abstract_syntaxes": ["CTImageStorage"], "transfer_syntaxes": [], "roles": []}
            if cid == "dimse.store":
                params = {"files": [], "synthetic": 0}
            if cid == "dimse.move":
                params = {"destination": "DOCTOR", "listen_port": 11113, "sample": False}
            if cid == "dimse.get":
                params = {"sample": False}
            if cid == "perf.throughput":
                params = {"pdu_sizes": [16384], "count": 5, "size": 1048576}
            if cid == "assoc.capacity":
                params = {"max": 16}
            if cid == "dicomweb.qido":
                params = {"limit": 10, "keys": {}}
            if cid == "dicomweb.stow":
                params = {"sop_class": "CT", "study": ""}
            if cid == "mwl.find":
                params = {"date": "today", "relax": True}
            if cid == "workflow.commit":
                params = {"listen_port": 0, "wait": 0.0}
            func = type(_noop)(_noop.__code__, _noop.__globals__, cid.replace(".", "_").replace("-", "_"))
            check(cid, params=params, writes=cid in WRITES)(func)
        yield


def write(tmp_path: Path, text: str, name: str = "pb.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, **kw: object) -> str:
    path = write(tmp_path, text)
    with pytest.raises(BadInput) as err:
        load_playbook(str(path), **kw)  # type: ignore[arg-type]
    return str(err.value)


# ------------------------------------------------------------------------------------------ good files

def test_design_example_loads(dummy: None, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    path = write(tmp_path, """
        playbook: 1
        name: nightly-pacs
        description: what this playbook is for
        defaults: {calling_ae: DICOMDOCTOR, timeout: 5}
        targets:                       # optional: `diagnose TARGET` supplies one
          - PACS@pacs.example.org:104
          - {called_ae: ARCHIVE, host: 10.1.2.3, port: 2762, tls: {ca: ca.pem}}
        checks:
          - net.reachable              # a bare id, or an id with parameters
          - id: assoc.presentation-contexts
            with:
              abstract_syntaxes: [CTImageStorage, 1.2.840.10008.5.1.4.1.2.2.1]
              transfer_syntaxes: [ImplicitVRLittleEndian, JPEG2000Lossless]
          - id: dimse.move
            with: {destination: DOCTOR, listen_port: 11113}
        """)
    p = load_playbook(str(path))
    assert p.name == "nightly-pacs" and p.description == "what this playbook is for"
    assert p.defaults == {"calling_ae": "DICOMDOCTOR", "timeout": 5.0}
    assert p.check_ids == ("net.reachable", "assoc.presentation-contexts", "dimse.move")
    assert p.checks[0] == CheckRef("net.reachable", {}, line=9)
    assert p.checks[1].params["abstract_syntaxes"] == ["CTImageStorage", "1.2.840.10008.5.1.4.1.2.2.1"]
    assert type(p.checks[1].params["abstract_syntaxes"]) is list  # plain values, no line bookkeeping
    assert p.checks[2].params == {"destination": "DOCTOR", "listen_port": 11113}
    t1, t2 = p.targets
    assert (t1.called_ae, t1.host, t1.port, t1.tls) == ("PACS", "pacs.example.org", 104, None)
    assert (t2.called_ae, t2.host, t2.port) == ("ARCHIVE", "10.1.2.3", 2762)
    assert t2.tls == TLSOptions(ca=str(tmp_path / "ca.pem"))  # relative to the playbook's folder
    assert t2.id == "ARCHIVE@10.1.2.3:2762"


def test_name_defaults_to_file_stem(dummy: None, tmp_path: Path) -> None:
    path = write(tmp_path, "playbook: 1\nchecks: [net.reachable]\n", name="nightly.yaml")
    assert load_playbook(str(path)).name == "nightly"


def test_defaults_apply_to_targets(dummy: None, tmp_path: Path) -> None:
    path = write(tmp_path, """
        playbook: 1
        defaults: {calling_ae: ME, called_ae: THEM, tls: {insecure: true}}
        targets:
          - host.example
          - OTHER@host.example:11112
          - {host: "::1", port: 2762, calling_ae: US, tls: false, label: loopback}
        checks: [net.reachable]
        """)
    a, b, c = load_playbook(str(path)).targets
    assert (a.calling_ae, a.called_ae, a.tls) == ("ME", "THEM", TLSOptions(insecure=True))
    assert (b.calling_ae, b.called_ae) == ("ME", "OTHER")
    assert (c.host, c.port, c.calling_ae, c.called_ae, c.tls, c.id) == ("::1", 2762, "US", "THEM", None, "loopback")


def test_param_values_are_coerced_to_the_default_type(dummy: None, tmp_path: Path) -> None:
    path = write(tmp_path, """
        playbook: 1
        checks:
          - id: dimse.find
            with: {level: 1234, timeout: 3, keys: {PatientID: X}, model: [anything], max_results: }
          - id: assoc.presentation-contexts
            with: {abstract_syntaxes: CTImageStorage}
        """)
    p = load_playbook(str(path))
    assert p.checks[0].params == {"level": "1234", "timeout": 3.0, "keys": {"PatientID": "X"},
                                  "model": ["anything"]}  # an empty value keeps the default
    assert p.checks[1].params == {"abstract_syntaxes": ["CTImageStorage"]}


def test_merge_keys_and_anchors_work(dummy: None, tmp_path: Path) -> None:
    path = write(tmp_path, """
        playbook: 1
        targets:
          - &base {host: a.example, port: 11112}
          - {<<: *base, host: b.example}
        checks: [net.reachable]
        """)
    assert [(t.host, t.port) for t in load_playbook(str(path)).targets] == [("a.example", 11112),
                                                                             ("b.example", 11112)]


# --------------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("text, expected", [
    ("playbook: 1\nchecks: [net.reachable\n", "pb.yaml:3: YAML syntax error"),
    ("playbook: 1\nchecks:\n  - net.reachable\n  bad: x\n", "pb.yaml:4: YAML syntax error"),
    ("playbook: 1\nchecks: [net.reachable]\n\tname: x\n", "pb.yaml:3: YAML syntax error"),
    ("", "pb.yaml:1: the file is empty"),
    ("- net.reachable\n", "pb.yaml:1: a playbook is a mapping"),
    ("name: x\nchecks: [net.reachable]\n", "pb.yaml:1: missing `playbook: 1`"),
    ("playbook: 2\nchecks: [net.reachable]\n", "pb.yaml:1: unsupported playbook format 2"),
    ("playbook: 1\nchecks: [net.reachable]\ncheck: [x]\n", "pb.yaml:3: unknown key 'check' in a playbook; "
                                                          "did you mean 'checks'?"),
    ("playbook: 1\nname: a\nname: b\nchecks: [net.reachable]\n", "pb.yaml:3: YAML syntax error at column 1: "
                                                                "duplicate key 'name' (first at line 2)"),
    ("playbook: 1\n", "pb.yaml:1: missing `checks:`"),
    ("playbook: 1\nchecks: []\n", "pb.yaml:2: checks must be a non-empty list"),
    ("playbook: 1\nchecks: net.reachable\n", "pb.yaml:2: checks must be a non-empty list"),
    ("playbook: 1\nchecks:\n  - net.reachable\n  - dimse.ecco\n",
     "pb.yaml:4: unknown check 'dimse.ecco'; did you mean dimse.echo"),
    ("playbook: 1\nchecks:\n  - 42\n", "pb.yaml:3: a check id is text"),
    ("playbook: 1\nchecks:\n  - {with: {level: STUDY}}\n", "pb.yaml:3: a check entry with parameters needs `id:`"),
    ("playbook: 1\nchecks:\n  - {id: dimse.find, params: {}}\n", "pb.yaml:3: unknown key 'params' in a check entry"),
    ("playbook: 1\nchecks:\n  - id: dimse.find\n    with: [level]\n", "pb.yaml:4: `with` must be a mapping"),
    ("playbook: 1\nchecks:\n  - id: dimse.find\n    with:\n      levle: STUDY\n",
     "pb.yaml:5: check dimse.find has no parameter 'levle'; did you mean 'level'?"),
    ("playbook: 1\nchecks:\n  - id: net.reachable\n    with: {x: 1}\n",
     "pb.yaml:4: check net.reachable has no parameter 'x'; it takes no parameters"),
    ("playbook: 1\nchecks:\n  - id: dimse.find\n    with:\n      max_results: lots\n",
     "pb.yaml:5: dimse.find parameter 'max_results' must be a whole number, not str 'lots'"),
    ("playbook: 1\nchecks:\n  - id: dimse.find\n    with: {cancel: maybe}\n",
     "pb.yaml:4: dimse.find parameter 'cancel' must be true or false"),
    ("playbook: 1\nchecks:\n  - id: dimse.find\n    with: {keys: [PatientID]}\n",
     "pb.yaml:4: dimse.find parameter 'keys' must be a mapping, not a list"),
    ("playbook: 1\nchecks:\n  - net.reachable\n  - dimse.echo\n  - net.reachable\n",
     "pb.yaml:5: check net.reachable is listed twice (first at line 3)"),
    ("playbook: 1\ndefaults: [x]\nchecks: [net.reachable]\n", "pb.yaml:2: defaults must be a mapping"),
    ("playbook: 1\ndefaults: {timout: 5}\nchecks: [net.reachable]\n",
     "pb.yaml:2: unknown key 'timout' in defaults; did you mean 'timeout'?"),
    ("playbook: 1\ndefaults:\n  timeout: -1\nchecks: [net.reachable]\n", "pb.yaml:3: timeout must be a number"),
    ("playbook: 1\ndefaults:\n  calling_ae: NO\nchecks: [net.reachable]\n",
     "pb.yaml:3: defaults.calling_ae must be text, not the boolean False (quote it)"),
    ("playbook: 1\ndefaults:\n  calling_ae: ABCDEFGHIJKLMNOPQ\nchecks: [net.reachable]\n",
     "pb.yaml:3: defaults.calling_ae 'ABCDEFGHIJKLMNOPQ' has 17 characters"),
    ("playbook: 1\ntargets: PACS@x\nchecks: [net.reachable]\n", "pb.yaml:2: targets must be a list"),
    ("playbook: 1\ntargets:\n  - ok.example\n  - bad target@@\nchecks: [net.reachable]\n",
     "pb.yaml:4: target 'bad target@@' is not [CALLED_AE@]HOST[:PORT]"),
    ("playbook: 1\ntargets:\n  - PACS@x:99999\nchecks: [net.reachable]\n", "pb.yaml:3: target 'PACS@x:99999': port 99999 is out of range"),
    ("playbook: 1\ntargets:\n  - {port: 104}\nchecks: [net.reachable]\n", "pb.yaml:3: a target mapping needs `host:`"),
    ("playbook: 1\ntargets:\n  - host: x\n    port: http\nchecks: [net.reachable]\n",
     "pb.yaml:4: port 'http' is not a number"),
    ("playbook: 1\ntargets:\n  - host: x\n    aet: A\nchecks: [net.reachable]\n",
     "pb.yaml:4: unknown key 'aet' in a target"),
    ("playbook: 1\ntargets:\n  - [x]\nchecks: [net.reachable]\n", "pb.yaml:3: a target is AE@HOST:PORT text"),
    ("playbook: 1\ntargets:\n  - host: x\n    tls: {ca: nowhere.pem}\nchecks: [net.reachable]\n",
     "pb.yaml:4: tls.ca: file 'nowhere.pem' not found"),
    ("playbook: 1\ntargets:\n  - host: x\n    tls: yes-please\nchecks: [net.reachable]\n",
     "pb.yaml:4: tls must be true, false or a mapping"),
    ("playbook: 1\ndefaults:\n  tls:\n    insecure: 1\nchecks: [net.reachable]\n",
     "pb.yaml:4: defaults.tls.insecure must be true or false"),
    ("playbook: 1\nname: [x]\nchecks: [net.reachable]\n", "pb.yaml:2: name must be text"),
])
def test_errors_name_file_and_line(dummy: None, tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert expected in message
    assert message.startswith(str(tmp_path / "pb.yaml"))


def test_tls_key_without_cert(dummy: None, tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text("x")
    message = error_of(tmp_path, "playbook: 1\ndefaults:\n  tls:\n    key: k.pem\nchecks: [net.reachable]\n")
    assert "pb.yaml:4: defaults.tls.key is given without defaults.tls.cert" in message


def test_target_required(dummy: None, tmp_path: Path) -> None:
    message = error_of(tmp_path, "playbook: 1\nchecks: [net.reachable]\n", target_required=True)
    assert "the playbook lists no targets" in message


def test_missing_file_names_the_path(dummy: None) -> None:
    with pytest.raises(BadInput, match="playbook missing.yaml: no such file"):
        load_playbook("missing.yaml")
    with pytest.raises(BadInput, match="sub/x: no such file"):
        load_playbook("sub/x")


def test_folder_is_not_a_playbook(dummy: None, tmp_path: Path) -> None:
    (tmp_path / "d.yaml").mkdir()
    with pytest.raises(BadInput, match="is a folder"):
        load_playbook(str(tmp_path / "d.yaml"))


def test_not_utf8(dummy: None, tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"playbook: 1\n\xff\xfe\n")
    with pytest.raises(BadInput, match="not UTF-8"):
        load_playbook(str(path))


def test_names_resolve_to_shipped_playbooks(dummy: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "playbook: 1\nchecks: [net.reachable]\n", name="quick.yaml")
    write(tmp_path, "playbook: 1\nchecks: [net.reachable\n", name="broken.yaml")
    monkeypatch.setattr(pb, "data_dir", lambda kind: tmp_path)
    assert load_playbook("quick").source == "playbooks/quick.yaml"
    with pytest.raises(BadInput) as err:
        load_playbook("quik")
    assert "unknown playbook 'quik'; did you mean quick?" in str(err.value)
    with pytest.raises(BadInput, match=r"^playbooks/broken.yaml:3: YAML syntax error"):
        load_playbook("broken")


# ------------------------------------------------------------------------------------------ overrides

def _pb(dummy: None) -> pb.Playbook:
    return make_playbook("t", ["net.reachable", ("dimse.find", {"level": "STUDY"})])


def test_overrides_split_on_the_last_dot(dummy: None) -> None:
    p = apply_overrides(_pb(dummy), ["dimse.find.level=PATIENT", "dimse.find.max_results=5",
                                     "dimse.find.keys={PatientID: TEST01, PatientName: ''}"])
    assert p.checks[1].params == {"level": "PATIENT", "max_results": 5,
                                  "keys": {"PatientID": "TEST01", "PatientName": ""}}
    assert p.checks[0].params == {}


@pytest.mark.parametrize("item, expected", [
    ("dimse.find.level", "expected CHECK.PARAM=VALUE"),
    ("level=PATIENT", "expected CHECK.PARAM=VALUE"),
    ("dimse.find.=x", "expected CHECK.PARAM=VALUE"),
    ("dimse.fnd.level=PATIENT", "--set dimse.fnd.level: unknown check 'dimse.fnd'; did you mean dimse.find"),
    ("dimse.echo.repeat=2", "--set dimse.echo.repeat: check dimse.echo is not in playbook t"),
    ("dimse.find.levels=PATIENT", "--set dimse.find.levels: check dimse.find has no parameter 'levels'"),
    ("dimse.find.max_results=many", "--set dimse.find.max_results: dimse.find parameter 'max_results' must be"),
    ("dimse.find.keys={a: [}", "--set dimse.find.keys: cannot read the value"),
])
def test_override_errors(dummy: None, item: str, expected: str) -> None:
    with pytest.raises(BadInput) as err:
        apply_overrides(_pb(dummy), [item])
    assert expected in str(err.value)


def test_make_playbook_validates(dummy: None) -> None:
    with pytest.raises(BadInput, match="unknown check"):
        make_playbook("x", ["nope.nope"])
    with pytest.raises(BadInput, match="no parameter 'x'"):
        make_playbook("x", [("dimse.echo", {"x": 1})])
    p = make_playbook("echo", [CheckRef("dimse.echo")])
    assert p.check_ids == ("dimse.echo",) and p.source == "<echo>"


def test_parse_playbook_from_text(dummy: None) -> None:
    with pytest.raises(BadInput, match=r"^<playbook>:2: unknown check"):
        parse_playbook("playbook: 1\nchecks: [nope.nope]\n")


# ------------------------------------------------------------------------------------------ shipped

SHIPPED = sorted(p.stem for p in data_dir("playbooks").glob("*.yaml"))


def test_the_four_shipped_playbooks_exist() -> None:
    assert {"standard", "quick", "tls", "fleet-example"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_playbooks_are_valid(dummy: None, name: str) -> None:
    p = load_playbook(name, target_required=name.startswith("fleet"))
    assert p.name == name and p.description
    # Only the playbooks that say so at the top write to the peer.
    writing = name.startswith(("store", "throughput", "workflow"))
    assert writing or not any(registry.get_check(c).writes for c in p.check_ids)
    if writing:
        assert "WRITES" in (data_dir("playbooks") / f"{name}.yaml").read_text().splitlines()[0]


def test_standard_playbook_order(dummy: None) -> None:
    assert load_playbook("standard").check_ids == (
        "net.dns", "net.reachable", "tls.handshake", "assoc.ae-title", "assoc.presentation-contexts",
        "assoc.pdu-length", "peer.identity", "dimse.echo")
    assert load_playbook("tls").defaults["tls"] == TLSOptions()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_playbooks_load_with_the_real_checks(name: str) -> None:
    try:
        load_playbook(name)
    except BadInput as exc:
        if "unknown check" in str(exc):
            pytest.skip(f"a check of {name} is not written yet: {exc}")
        raise

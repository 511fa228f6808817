"""`--lang zh` says the summaries of the connection and negotiation checks (net.dns, net.reachable, tls.handshake,
assoc.ae-title, assoc.presentation-contexts, assoc.pdu-length, peer.identity, assoc.capacity, perf.throughput) in
Chinese: `dicomdoctor diagnose` against the fault-injecting simulator, healthy and with faults these checks judge,
in JSON. The English wording is what the other tests compare; here each finding of these checks must be in
Chinese (CJK characters), with no English sentence left over, and the data (hosts, AE titles, codes) kept."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pytest
import yaml

from dicomdoctor import cli, messages
from dicomdoctor.sim import SimulatorThread
import peers

CJK = re.compile(r"[\u4e00-\u9fff]")
MINE = ("net.dns", "net.reachable", "tls.handshake", "assoc.ae-title", "assoc.presentation-contexts",
        "assoc.pdu-length", "peer.identity", "assoc.capacity", "perf.throughput")
# The catalogues of the modules whose summaries these checks say (the checks, and the probes' clauses they quote).
CATALOGUES = ("assoc", "net", "tls", "identity", "capacity", "perf", "firstbytes", "raw")
# Four lowercase English words in a row: a sentence, not a value (values are taken out first).
ENGLISH_RUN = re.compile(r"\b[a-z]+(?:[ ,;:]+[a-z]+){3}\b")


def _english_fragments() -> list[str]:
    """The literal text of every English template of these modules that is sentence-like (three words or
    more): none may appear in a Chinese summary (it would be an untranslated template). Text the translation
    keeps as it is (a parameter's name: "perf.throughput pdu_sizes") is not a leftover."""
    out = set()
    for name in CATALOGUES:
        path = Path(messages.__file__).resolve().parent / "locale" / "zh" / f"{name}.yaml"
        for template, translation in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            for literal, *_ in string.Formatter().parse(template):
                literal = literal.strip(" ;:,()")
                if len(re.findall(r"[A-Za-z]+", literal)) >= 3 and literal not in translation:
                    out.add(literal)
    return sorted(out)


FRAGMENTS = _english_fragments()


def _values(tree: Any) -> Iterator[str]:
    """Every string in a finding's evidence: data the summary may quote as it is (peer text, OS errors, names)."""
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            yield str(k)
            yield from _values(v)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            yield from _values(v)


def playbook(tmp_path: Path) -> str:
    path = tmp_path / "zh-assoc.yaml"
    path.write_text("""playbook: 1
name: zh-assoc
checks:
  - id: net.dns
  - id: net.reachable
    with: {raw_probe: false}
  - id: tls.handshake
  - id: assoc.ae-title
  - id: assoc.presentation-contexts
  - id: assoc.pdu-length
  - id: peer.identity
  - id: assoc.capacity
    with: {max: 3, expect: 3}
  - id: perf.throughput
    with: {pdu_sizes: [16384, 0], count: 2, size: 65536, baseline: false}
""", encoding="utf-8")
    return str(path)


def zh_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, list[dict[str, Any]]]:
    code = cli.main(argv + ["--lang", "zh", "--format", "json"])
    return code, json.loads(capsys.readouterr().out)["findings"]


def assert_chinese(findings: list[dict[str, Any]], expect: Iterable[str] = MINE) -> dict[str, dict[str, Any]]:
    """Every finding of these checks reads in Chinese: CJK characters, no English template text, and no run of
    English words once the evidence's values (data) are taken out."""
    by_check = {f["check"]: f for f in findings}
    assert set(expect) <= set(by_check), sorted(by_check)
    for f in findings:
        if f["check"] not in MINE:
            continue
        summary = f["summary"]
        where = (f["check"], f["status"], summary)
        assert CJK.search(summary), where
        leftover = [t for t in FRAGMENTS if t in summary]
        assert not leftover, (where, leftover)
        rest = summary
        for value in sorted(set(_values(f["evidence"])), key=len, reverse=True):
            if len(value) >= 3:
                rest = rest.replace(value, " ")
        assert not ENGLISH_RUN.search(rest), (where, ENGLISH_RUN.search(rest))
    return by_check


@pytest.fixture
def simulator() -> Iterator[Callable[..., SimulatorThread]]:
    def start(*faults: str) -> SimulatorThread:
        sim = SimulatorThread("SIM", list(faults), seed=4)
        sim.start()
        return sim
    f = peers.Factory(start)
    yield f
    f.stop_all()


def test_the_fragments_cover_the_catalogues() -> None:
    # The leftover check is only as good as its list: it must hold the long sentences of every module.
    assert len(FRAGMENTS) > 100
    assert any("does not speak TLS on this port" in t for t in FRAGMENTS)
    assert any("simultaneous associations we tried" in t for t in FRAGMENTS)


def test_healthy_peer_in_chinese(simulator: Callable[..., SimulatorThread], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulator()
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", playbook(tmp_path)])
    found = assert_chinese(findings)
    assert code == 0, [(f["check"], f["status"], f["summary"]) for f in findings]
    assert found["tls.handshake"]["status"] == "skip" and "--tls" in found["tls.handshake"]["summary"]
    for c in set(MINE) - {"tls.handshake"}:
        assert found[c]["status"] == "pass", (c, found[c]["summary"])
    assert "DICOMDOCTOR" in found["assoc.ae-title"]["summary"] and "SIM" in found["assoc.ae-title"]["summary"]
    assert f"127.0.0.1:{sim.port}" in found["net.reachable"]["summary"]
    assert "DD_SIMULATOR" in found["peer.identity"]["summary"]
    assert "MB/s" in found["perf.throughput"]["summary"]


# (faults, the called AE title of the target (None: the simulator's), the checks that must not pass)
FAULTS: list[tuple[tuple[str, ...], str | None, tuple[str, ...]]] = [
    (("reject=called-ae",), None, ("assoc.ae-title",)),
    (("called-ae-strict",), "WRONG", ("assoc.ae-title",)),
    (("called-ae-strict",), "sim", ("assoc.ae-title",)),  # the same title in other letters
    (("calling-ae-allow=XX",), None, ("assoc.ae-title",)),
    (("reject=congestion",), None, ("assoc.ae-title",)),
    (("reject=no-reason",), None, ("assoc.ae-title",)),
    (("abort-on-associate",), None, ("assoc.ae-title",)),
    (("tls",), None, ("assoc.ae-title",)),  # plain DICOM sent to a TLS port
    (("http",), None, ("assoc.ae-title",)),
    (("garbage",), None, ("assoc.ae-title",)),
    (("close-on-connect",), None, ("assoc.ae-title",)),
    (("max-pdu=4096",), None, ("assoc.pdu-length",)),
    (("refuse-sop=CTImageStorage",), None, ("assoc.presentation-contexts",)),
    (("accept-ts=ImplicitVRLittleEndian",), None, ("assoc.presentation-contexts",)),
    (("max-associations=2",), None, ("assoc.capacity",)),
    (("status=c-store:A700",), None, ("perf.throughput",)),
    (("status=c-echo:0110",), None, ("assoc.capacity",)),  # accepted, then its C-ECHO refused
]


@pytest.mark.parametrize("faults, called, judged", FAULTS)
def test_faults_are_judged_in_chinese(faults: tuple[str, ...], called: str | None, judged: tuple[str, ...],
                                      simulator: Callable[..., SimulatorThread], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulator(*faults)
    code, findings = zh_json(capsys, ["diagnose", sim.target(called), "--playbook", playbook(tmp_path),
                                      "--timeout", "5"])
    found = assert_chinese(findings)
    for c in judged:
        assert found[c]["status"] in ("warn", "fail"), (c, found[c]["summary"])
    if called:
        assert called in found["assoc.ae-title"]["summary"]  # the AE title stays a value


def test_silent_listener_in_chinese(simulator: Callable[..., SimulatorThread], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulator("silent")
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", playbook(tmp_path),
                                      "--timeout", "0.5"])
    found = assert_chinese(findings, expect=("net.reachable", "assoc.ae-title"))
    assert found["assoc.ae-title"]["status"] == "fail"
    assert found["assoc.ae-title"]["causes"][0]["id"] == "association-timeout"


def test_slow_peer_in_chinese(simulator: Callable[..., SimulatorThread], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    # Associations are accepted, every DIMSE answer is late: the capacity probe's C-ECHO and the C-STOREs
    # time out.
    sim = simulator("slow=600")
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", playbook(tmp_path),
                                      "--timeout", "5", "--dimse-timeout", "0.5"])
    found = assert_chinese(findings, expect=("assoc.ae-title", "assoc.capacity"))
    assert found["assoc.ae-title"]["status"] == "pass"
    assert found["assoc.capacity"]["status"] == "fail", found["assoc.capacity"]["summary"]


def test_refused_connection_in_chinese(free_port: Callable[[], int], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, findings = zh_json(capsys, ["diagnose", f"PACS@127.0.0.1:{port}", "--playbook", playbook(tmp_path),
                                      "--timeout", "2"])
    found = assert_chinese(findings, expect=("net.reachable",))
    assert found["net.reachable"]["status"] == "fail" and str(port) in found["net.reachable"]["summary"]


@pytest.mark.parametrize("variant, flags, status", [
    ("ca", ["--ca"], "pass"),
    ("self-signed", [], "fail"),
    ("expired", ["--insecure"], "warn"),
    ("wrong-host", ["--ca"], "fail"),
])
def test_tls_in_chinese(variant: str, flags: list[str], status: str, simulator: Callable[..., SimulatorThread],
                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulator(f"tls={variant}")
    args = ["--tls"]
    if "--ca" in flags:
        assert sim.sim.cert_files is not None
        args += ["--ca", str(sim.sim.cert_files.ca)]
    if "--insecure" in flags:
        args.append("--insecure")
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", playbook(tmp_path), "--timeout", "5",
                                      *args])
    found = assert_chinese(findings, expect=("tls.handshake",))
    assert found["tls.handshake"]["status"] == status, found["tls.handshake"]["summary"]
    assert "TLS" in found["tls.handshake"]["summary"]


def test_tls_expected_but_plain_peer_in_chinese(simulator: Callable[..., SimulatorThread], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulator()
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", playbook(tmp_path), "--timeout", "5",
                                      "--tls", "--insecure"])
    found = assert_chinese(findings, expect=("tls.handshake",))
    assert found["tls.handshake"]["status"] == "fail" and "A-ASSOCIATE-AC" in found["tls.handshake"]["summary"]


def test_unknown_host_in_chinese(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, findings = zh_json(capsys, ["diagnose", "PACS@nonexistent.invalid:104", "--playbook", playbook(tmp_path),
                                      "--timeout", "5"])
    found = assert_chinese(findings, expect=("net.dns",))
    assert found["net.dns"]["status"] == "fail" and "nonexistent.invalid" in found["net.dns"]["summary"]


def test_bad_parameters_in_chinese(simulator: Callable[..., SimulatorThread], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    # A BadInput a check raises becomes an error finding (kind usage), its message in the run's language.
    sim = simulator()
    path = tmp_path / "bad.yaml"
    path.write_text("playbook: 1\nname: bad\nchecks:\n  - id: assoc.ae-title\n  - id: perf.throughput\n"
                    "    with: {pdu_sizes: [12]}\n  - id: assoc.presentation-contexts\n    with: {roles: [nope]}\n",
                    encoding="utf-8")
    code, findings = zh_json(capsys, ["diagnose", sim.target(), "--playbook", str(path), "--timeout", "5"])
    found = assert_chinese(findings, expect=("perf.throughput", "assoc.presentation-contexts"))
    for c in ("perf.throughput", "assoc.presentation-contexts"):
        assert found[c]["status"] == "error" and found[c]["evidence"]["error_kind"] == "usage", found[c]
    assert "12" in found["perf.throughput"]["summary"] and "'nope'" in found["assoc.presentation-contexts"]["summary"]

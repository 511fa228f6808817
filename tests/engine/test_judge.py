"""engine/judge.py, the one judgement: its rules (checks/_rules.yaml and the causes' `statuses`), that every cause
id they can give exists in the knowledge base, that nothing else in the tree maps facts to causes, and that a
later check is judged with the earlier checks' evidence."""

from __future__ import annotations

import ast
import itertools
import shutil
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from dicomdoctor.engine import judge
from dicomdoctor.engine.context import RunOptions
from dicomdoctor.engine.datafiles import data_dir
from dicomdoctor.engine.judge import Prior
from dicomdoctor.engine.kb import PRIOR_FLAGS, RULE_FACTS, KnowledgeBase, clear_cache, load_kb
from dicomdoctor.engine.model import Finding, PeerInfo
from dicomdoctor.engine.playbook import make_playbook
from dicomdoctor.engine.runner import RunEvent, run
from dicomdoctor.errors import BadInput
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.target import parse_target

PACKAGE = Path(judge.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_kb("en")


# ------------------------------------------------------------------------------ every cause exists

PRIORS = [Prior(), Prior(tcp_open=True), Prior(tls_ok=True, tcp_open=True), Prior(toolkit="DCMTK"),
          Prior(accepted_called_ae="PACS"), Prior(accepted_called_ae="pacs", called_ae_variant=True),
          Prior(calling_ae_checked=True), Prior(accepted_called_ae="PACS", calling_ae_checked=True),
          Prior(any_calling_ae=True, toolkit="DCMTK", tcp_open=True, tls_ok=True)]
SERVICES = [None, "c-echo", "c-store", "c-find", "c-move", "c-get", "n-create"]


def _every_answer() -> set[str]:
    """What every judge function answers over a grid of facts and priors."""
    out: set[str] = set()
    for prior in PRIORS:
        for result, source, reason in itertools.product((1, 2), (0, 1, 2, 3, 4), range(0, 9)):
            out.update(judge.reject_causes(result, source, reason, prior))
        for phase, kind, by, service, answered in itertools.product(
                (None, "association", "dimse", "release"), (None, "abort", "closed", "reset", "no-reply"),
                ("acceptor", "requestor", "unknown"), SERVICES, (None, True, False)):
            out.update(judge.abort_causes(0, 0, phase, prior, kind=kind, by=by, service=service, answered=answered))
        for outcome in (*judge.TCP_OUTCOMES, "weird"):
            for syn in (None, "closed", "prohibited", "filtered", "unreachable", "open", "other"):
                out.update(judge.connect_causes(outcome, prior, raw_syn=syn))
        for outcome in ("ok", "unknown-ca", "self-signed", "expired", "not-yet-valid", "hostname-mismatch",
                        "client-cert-required", "no-tls", "protocol-mismatch", "other", "timeout",
                        "connect-failed", "weird"):
            out.update(judge.tls_causes(outcome, prior))
            out.update(judge.judge_transport(outcome, prior, phase="tls").causes)
        for phase in (None, "association", "dimse", "release", "connect"):
            out.update(judge.timeout_causes(phase, prior, service="c-find"))
        for kind in ("tls", "http", "text", "garbage", "malformed", "unexpected", "weird"):
            out.update(judge.wire_causes(kind, prior))
    for kind in ("missing-sop-class", "ae-title", "file", "weird"):
        out.update(judge.local_causes(kind))
    for code in (None, "dimse-fragmentation", "cancel-ignored", "weird"):
        out.update(judge.violation_causes(code))
    kb = load_kb("en")
    patterns = {r.pattern for c in kb.causes_by_id.values() for r in c.statuses}
    codes = {0x0000, 0xFF00, 0xFF01, 0xFE00, 0x0001, 0x0107, 0xFFFF, None}
    for p in patterns:
        for fill in "0F8":
            codes.add(int(p.replace("X", fill), 16))
    for code in codes:
        for service in SERVICES:
            out.update(judge.status_causes(code, service))
    return out


def test_every_cause_any_rule_can_return_exists_in_the_knowledge_base(kb: KnowledgeBase) -> None:
    from_rules = {c for rules in kb.rules.values() for r in rules for c in r.causes}
    answers = _every_answer()
    missing = sorted(c for c in from_rules | answers if not kb.has_cause(c))
    assert not missing, missing


def test_the_new_causes_have_english_chinese_and_fixes(kb: KnowledgeBase) -> None:
    for cid in ("accepts-one-connection-at-a-time", "server-restarting-or-flapping"):
        entry = kb.entry(cid)
        for text in (entry.title, entry.explanation, *entry.fixes):
            assert text["en"] and any("\u4e00" <= ch <= "\u9fff" for ch in text["zh"])
        fixes = " ".join(f["en"] for f in entry.fixes)
        assert "Orthanc" in fixes and "dcmtk" in fixes and "pynetdicom" in fixes


def test_every_rules_section_is_loaded_and_ends_with_a_catch_all(kb: KnowledgeBase) -> None:
    assert set(kb.rules) == set(RULE_FACTS)
    for section, rules in kb.rules.items():
        if section != "raw-syn":
            assert not rules[-1].when and not rules[-1].after, section
        for rule in rules:
            assert rule.after <= set(PRIOR_FLAGS) and ":" in rule.where


# ------------------------------------------------------------------------------- no second mapping

_RULE_FUNCTION = ("reject_causes", "abort_causes", "connect_causes", "tls_causes", "status_causes",
                  "timeout_causes", "wire_causes", "local_causes", "violation_causes")


def _python_files() -> list[Path]:
    skip = {PACKAGE / "engine" / "judge.py", PACKAGE / "engine" / "kb.py"}
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p not in skip]


def _cause_tuple(node: ast.AST, ids: set[str]) -> tuple[str, ...] | None:
    if isinstance(node, (ast.Tuple, ast.List)) and node.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value in ids for e in node.elts):
        return tuple(e.value for e in node.elts)  # type: ignore[attr-defined]
    return None


def test_no_module_but_judge_maps_facts_to_causes(kb: KnowledgeBase) -> None:
    """grep, structurally: a table of causes (a dict with two or more cause-list values), a function named like
    a judge rule, a copy of a rule's cause list, or the knowledge base's raw rule lookups outside judge.py."""
    ids = set(kb.all_cause_ids())
    rule_lists = {r.causes for rules in kb.rules.values() for r in rules if len(r.causes) > 1}
    problems: list[str] = []
    for path in _python_files():
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(PACKAGE.parent)
        for raw in ("causes_for_status(", "first_rule("):
            if raw in text:
                problems.append(f"{where}: calls kb.{raw[:-1]} (use engine.judge)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Dict):
                tables = [v for v in node.values if v is not None and _cause_tuple(v, ids)]
                if len(tables) >= 2:
                    problems.append(f"{where}:{node.lineno}: a table of cause lists")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.lstrip("_") in _RULE_FUNCTION:
                problems.append(f"{where}:{node.lineno}: defines {node.name}")
            else:
                found = _cause_tuple(node, ids)
                if found is not None and found in rule_lists:
                    problems.append(f"{where}:{getattr(node, 'lineno', '?')}: copies a rule's causes {found}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------ rules

def test_reject_3_x_is_ranked_by_its_reason() -> None:
    # PS3.8 Table 9-21: source 3 reason 1 is temporary congestion, reason 2 the local limit.
    assert judge.reject_causes(2, 3, 1)[0] == "temporary-congestion"
    assert judge.reject_causes(2, 3, 2)[0] == "too-many-associations"
    assert judge.reject_causes(1, 1, 7)[0] == "called-ae-not-recognized"
    assert judge.reject_causes(1, 1, 3)[0] == "calling-ae-not-recognized"
    assert judge.reject_causes(1, 1, 1)[0] == "reject-no-reason"
    assert judge.reject_causes(1, 1, 1, Prior(accepted_called_ae="PACS"))[0] == "called-ae-not-recognized"
    assert judge.reject_causes(1, 1, 7, Prior(accepted_called_ae="pacs", called_ae_variant=True))[0] == \
        "ae-title-invalid"


def test_statuses_keep_the_live_rankings() -> None:
    assert judge.status_causes(0xA801, "C-MOVE") == ("move-destination-unknown",)
    assert judge.status_causes(0x0122, "c-store")[0] == "store-missing-sop-class"
    assert judge.status_causes(0xA702, "C-MOVE")[:2] == ("move-connect-back-failed", "out-of-resources")
    assert judge.status_causes(0xA702, "C-STORE")[0] == "out-of-resources"  # A702 is no connect-back for a store
    assert judge.status_causes(0xA900, "C-FIND")[:2] == ("unique-key-required", "dataset-sop-mismatch")
    assert judge.status_causes(0xB000, "C-STORE") == ("store-coerced",)
    assert judge.status_causes(None) == ("malformed-pdu",)
    assert judge.status_causes(0x0000, "c-echo") == ("processing-failure",)  # no rule: the generic failure


def test_a_refusal_after_tcp_was_accepted_is_not_a_stopped_server() -> None:
    plain = judge.judge_connect("refused")
    assert plain.causes[0] == "server-not-running" and not plain.note
    later = judge.judge_connect("refused", Prior(tcp_open=True))
    assert later.causes[:2] == ("accepts-one-connection-at-a-time", "server-restarting-or-flapping")
    assert "server-not-running" not in later.causes and "earlier in this run" in str(later.note)
    assert judge.connect_causes("timeout", Prior(tcp_open=True))[0] == "accepts-one-connection-at-a-time"


def test_a_tls_timeout_after_a_good_handshake_is_not_a_tls_problem() -> None:
    assert judge.tls_causes("other")[0] == "tls-client-cert-required"
    verdict = judge.judge_transport("other", Prior(tcp_open=True, tls_ok=True), phase="tls")
    assert verdict.causes[0] == "accepts-one-connection-at-a-time" and "tls.handshake" in str(verdict.note)
    assert judge.tls_causes("unknown-ca", Prior(tls_ok=True)) == ("tls-unknown-ca",)


def test_the_raw_probe_supports_or_contradicts_but_never_replaces_the_connect() -> None:
    agree = judge.judge_connect("refused", raw_syn="closed")
    assert agree.causes[0] == "server-not-running" and agree.confidence == "high"
    refine = judge.judge_connect("refused", raw_syn="prohibited")
    assert refine.causes[0] == "firewall-reject" and refine.confidence == "high"
    contrary = judge.judge_connect("refused", raw_syn="filtered")
    assert contrary.causes[:4] == judge.connect_causes("refused")  # the connect's reading stays first
    assert "firewall-drop" in contrary.causes and contrary.confidence == "low"
    assert "disagrees" in str(contrary.note) and contrary.evidence["agrees"] is False
    assert judge.judge_connect("timeout", raw_syn="closed").causes[0] == "firewall-drop"


def test_an_abort_of_the_first_echo_by_a_dcmtk_peer_is_the_calling_ae() -> None:
    generic = judge.abort_causes(0, 0, "dimse", Prior(), service="C-ECHO", answered=False)
    assert generic[0] == "peer-aborted" and "calling-ae-not-recognized" in generic
    orthanc = judge.judge_abort(0, 0, "dimse", Prior(toolkit="DCMTK"), service="C-ECHO", answered=False)
    assert orthanc.causes[0] == "calling-ae-not-recognized"
    assert "DicomAlwaysAllowEcho" in str(orthanc.note) and "DicomModalities" in str(orthanc.note)
    # After a response the abort is something else.
    assert judge.abort_causes(0, 0, "dimse", Prior(toolkit="DCMTK"), service="c-echo", answered=True) == \
        ("peer-aborted",)
    assert judge.abort_causes(0, 0, "dimse", service="c-find", answered=False)[0] == "calling-ae-not-authorized"


def test_prior_from_earlier_results() -> None:
    from dicomdoctor.engine.context import failed, passed

    results = {
        "net.reachable": passed("ok", outcome="open", connect_ms=1.0),
        "tls.handshake": passed("ok", outcome="ok", handshake_ms=5.0),
        "assoc.ae-title": failed("x", called_ae="pacs", accepted_called_ae="PACS", calling_ae_checked=False),
        "peer.identity": passed("x", product={"product": "DCMTK (OFFIS) or a product built on it",
                                              "toolkit": "DCMTK"}),
    }
    prior = judge.prior_from(results)
    assert prior.tcp_open and prior.tls_ok and prior.accepted_called_ae == "PACS" and prior.called_ae_variant
    assert prior.any_calling_ae and prior.toolkit == "DCMTK"
    assert prior.flags() >= {"tcp-open", "tls-ok", "called-ae-found", "called-ae-variant", "any-calling-ae"}
    # Without peer.identity, the peer of an A-ASSOCIATE-AC names the toolkit.
    assert judge.prior_from({}, PeerInfo("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367")).toolkit == "DCMTK"
    assert judge.prior_from({}) == Prior()


# ------------------------------------------------------------------------------- strict rules file

def _kb_with_rules(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "checks"
    shutil.copytree(data_dir("checks"), folder)
    rules = folder / "_rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return folder


@pytest.mark.parametrize("extra, message", [
    ("\nlocal2: []\n", "unknown key 'local2'"),
    ("\nwire:\n  - {causes: [not-dicom]}\n", "duplicate key 'wire'"),
])
def test_rules_file_errors_name_the_file_and_line(tmp_path: Path, extra: str, message: str) -> None:
    folder = _kb_with_rules(tmp_path, extra)
    with pytest.raises(BadInput, match=message) as err:
        load_kb("en", folder)
    assert "_rules.yaml:" in str(err.value)
    clear_cache()


def test_a_section_in_two_rules_files_is_bad_input(tmp_path: Path) -> None:
    folder = _kb_with_rules(tmp_path, "")
    (folder / "_rules_site.yaml").write_text("rules: 1\nwire:\n  - {causes: [not-dicom]}\n", encoding="utf-8")
    with pytest.raises(BadInput, match="defined twice") as err:
        load_kb("en", folder)
    assert "_rules_site.yaml:2" in str(err.value)
    clear_cache()


@pytest.mark.parametrize("section, message", [
    ("  - {kind: tls, causes: [no-such-cause]}\n  - {causes: [not-dicom]}\n", "unknown cause 'no-such-cause'"),
    ("  - {kind: tls, colour: red, causes: [not-dicom]}\n  - {causes: [not-dicom]}\n", "unknown key 'colour'"),
    ("  - {kind: tls, after: [moon-full], causes: [not-dicom]}\n  - {causes: [not-dicom]}\n", "unknown prior flag"),
    ("  - {kind: tls, causes: [not-dicom]}\n", "must match anything"),
    ("  - {kind: tls, causes: []}\n  - {causes: [not-dicom]}\n", "must not be empty"),
])
def test_a_bad_rule_is_bad_input_with_file_and_line(tmp_path: Path, section: str, message: str) -> None:
    folder = tmp_path / "checks"
    shutil.copytree(data_dir("checks"), folder)
    rules = folder / "_rules.yaml"
    text = rules.read_text(encoding="utf-8")
    start = text.index("\nwire:\n") + len("\nwire:\n")
    end = text.index("\n\n", start)
    rules.write_text(text[:start] + section + text[end + 1:], encoding="utf-8")
    with pytest.raises(BadInput, match=message) as err:
        load_kb("en", folder)
    assert "_rules.yaml:" in str(err.value)
    clear_cache()


# ---------------------------------------------------------------- judged across checks, on a real socket

class OneConnectionListener:
    """A TCP server that accepts one connection and stops listening while it serves it (small embedded SCPs
    and routers do this): the next connect is refused although the port accepted TCP a moment ago."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        self.sock.close()
        self.closed.set()
        with conn:
            conn.settimeout(10.0)
            try:
                conn.recv(65536)  # the A-ASSOCIATE-RQ, or the end of a bare connect
            except OSError:
                pass


def test_a_port_that_accepted_then_refuses_is_judged_with_the_earlier_evidence() -> None:
    server = OneConnectionListener()

    def hold(event: RunEvent) -> None:
        # The next check must meet the closed listener: wait (on the server's event, not on time) until the
        # server has stopped listening after the first connection.
        if event.kind == "finding" and event.check == "net.reachable":
            assert server.closed.wait(10.0)

    options = RunOptions(timeouts=Timeouts(2.0, 2.0, 2.0, 2.0))
    report = run(make_playbook("t", ["net.reachable", "dimse.echo"]),
                 [parse_target(f"PACS@127.0.0.1:{server.port}")], options, on_event=hold)
    found: dict[str, Finding] = {f.check: f for f in report.findings}
    assert found["net.reachable"].status.value == "pass"
    echo = found["dimse.echo"]
    assert echo.status.value == "fail" and echo.evidence["outcome"] == "connect-failed", echo.summary
    ids = [c.id for c in echo.causes]
    assert ids[0] == "accepts-one-connection-at-a-time" and "server-not-running" not in ids, ids
    assert "earlier in this run" in echo.summary
    server.thread.join(10.0)


def test_a_contrary_raw_probe_lowers_confidence_in_the_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    from dicomdoctor.engine.checks import net

    def silent_probe(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"available": True, "syn": {"outcome": "filtered"}, "meaning": "no answer to a raw SYN"}

    monkeypatch.setattr(net, "raw_probe", silent_probe)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = run(make_playbook("t", ["net.reachable"]), [parse_target(f"X@127.0.0.1:{port}")],
                 RunOptions(timeouts=Timeouts(2.0, 2.0, 2.0, 2.0)))
    f = report.findings[0]
    ids = [c.id for c in f.causes]
    assert f.evidence["outcome"] == "refused" and ids[0] == "server-not-running", ids
    assert "firewall-drop" in ids and f.evidence["judgement"]["confidence"] == "low"
    assert "refused the connection" in f.summary and "disagrees" in f.summary


class TLSThenSilent:
    """A TLS server that completes handshakes until told to go silent, then accepts TCP and never answers (a
    TLS server busy with another client looks like this from outside)."""

    def __init__(self, cert: Path, key: Path) -> None:
        import ssl

        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.silent = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed: the test is over
                return
            if self.silent.is_set():
                self.held.append(conn)
            else:
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10.0)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                while tls.recv(65536):
                    pass
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_a_tls_handshake_that_hangs_after_one_that_worked_is_judged_with_it(session_certs: Any) -> None:
    from dicomdoctor.target import TLSOptions

    pair = session_certs.server()
    server = TLSThenSilent(pair.cert, pair.key)

    def go_silent(event: RunEvent) -> None:
        if event.kind == "finding" and event.check == "tls.handshake":
            server.silent.set()

    try:
        target = parse_target(f"PACS@127.0.0.1:{server.port}", tls=TLSOptions(ca=str(pair.ca_cert)))
        report = run(make_playbook("t", ["net.reachable", "tls.handshake", "dimse.echo"]), [target],
                     RunOptions(timeouts=Timeouts(2.0, 2.0, 2.0, 2.0)), on_event=go_silent)
    finally:
        server.close()
    found = {f.check: f for f in report.findings}
    assert found["tls.handshake"].status.value == "pass", found["tls.handshake"].summary
    echo = found["dimse.echo"]
    assert echo.status.value == "fail" and echo.evidence["outcome"] == "connect-failed", echo.summary
    ids = [c.id for c in echo.causes]
    assert ids[0] == "accepts-one-connection-at-a-time" and "server-not-running" not in ids, ids
    assert "tls.handshake completed a TLS handshake" in echo.summary

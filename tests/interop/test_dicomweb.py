"""DICOMweb checks (dicomweb.qido / .wado / .stow) against real servers on loopback: Orthanc 1.10 with the Debian
orthanc-dicomweb plugin, and small Python HTTP servers for what Orthanc cannot be made to do (a web page where
DICOMweb should be, a STOW-RS refused with a Failed SOP Sequence, bearer tokens, TLS)."""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import os
import ssl
import threading
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import peers
from dicomdoctor.cli import main
from dicomdoctor.dicomweb_target import dicomweb_options
from dicomdoctor.engine.checks.dicomweb import judge_stow
from dicomdoctor.engine.context import CheckContext, RunOptions
from dicomdoctor.engine.model import Finding, Report
from dicomdoctor.engine.playbook import make_playbook
from dicomdoctor.engine.runner import run
from dicomdoctor.net.timeouts import Timeouts
from dicomdoctor.probes.dicomweb import client_for, probe_stow
from dicomdoctor.report import render
from dicomdoctor.synthetic import make_instance, to_part10_bytes
from dicomdoctor.target import Target

pytestmark = pytest.mark.interop

PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
USER, PASSWORD = "doctor", "s3cret-Pa55"


def _need_plugin() -> None:
    if not os.path.exists(PLUGIN):
        pytest.skip(f"{PLUGIN} is not installed (Debian package orthanc-dicomweb)")


def _upload(peer: peers.OrthancPeer, data: bytes, auth: tuple[str, str] | None = None) -> None:
    req = urllib.request.Request(peer.url + "/instances", data=data, method="POST",
                                 headers={"Content-Type": "application/dicom"})
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


@pytest.fixture
def orthanc_dicomweb(orthanc: Callable[..., peers.OrthancPeer]) -> Callable[..., peers.OrthancPeer]:
    """`orthanc_dicomweb(auth=False, studies=1)`: Orthanc with the DICOMweb plugin at /dicom-web/, HTTP basic
    auth on or off, preloaded with synthetic studies through the REST API."""
    _need_plugin()

    def start(*, auth: bool = False, studies: int = 1, **overrides: Any) -> peers.OrthancPeer:
        cfg: dict[str, Any] = {"Plugins": [PLUGIN], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
                               **overrides}
        if auth:
            cfg.update(AuthenticationEnabled=True, RegisteredUsers={USER: PASSWORD})
        peer = orthanc(**cfg)
        for _ in range(studies):
            _upload(peer, to_part10_bytes(make_instance(rows=32, cols=32)), (USER, PASSWORD) if auth else None)
        return peer

    return start


def _target(url: str, **kwargs: Any) -> Target:
    return Target(host="127.0.0.1", port=104, dicomweb=dicomweb_options(url, **kwargs))


def _report(target: Target, checks: tuple[str, ...] = ("dicomweb.qido", "dicomweb.wado")) -> Report:
    playbook = make_playbook("dicomweb-test", list(checks))
    return run(playbook, [target], RunOptions(timeouts=Timeouts.uniform(5.0), deadline=60.0))


def _run(target: Target, checks: tuple[str, ...] = ("dicomweb.qido", "dicomweb.wado")) -> dict[str, Finding]:
    return {f.check: f for f in _report(target, checks).findings}


def _cause_ids(f: Finding) -> list[str]:
    return [c.id for c in f.causes]


# ------------------------------------------------------------------------------------------- Orthanc


def test_healthy_orthanc_passes_qido_wado_stow_from_the_command_line(
        orthanc_dicomweb: Callable[..., peers.OrthancPeer], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    peer = orthanc_dicomweb()
    before = len(peer.instances())
    out = tmp_path / "report.json"
    code = main(["diagnose", peer.target_text(), "--playbook", "store-dicomweb", "--timeout", "5",
                 "--dicomweb", peer.url + "/dicom-web/", "--format", "json", "-o", str(out)])
    doc = json.loads(out.read_text())
    by = {f["check"]: f for f in doc["findings"]}
    assert code == 0, json.dumps(doc, indent=1)[:3000]
    assert [by[c]["status"] for c in ("dicomweb.qido", "dicomweb.stow", "dicomweb.wado")] == ["pass"] * 3
    q = by["dicomweb.qido"]["evidence"]
    assert q["http_status"] == 200 and q["content_type"] == "application/dicom+json" and q["matches"] == 1
    assert q["first_study"]["StudyInstanceUID"].startswith("1.2.")
    assert q["first_study"]["PatientName"] == "[redacted]"  # reports redact patient data
    w = by["dicomweb.wado"]["evidence"]
    assert w["instances"] == 1 and w["retrieve"]["part"]["content_type"] == "application/dicom"
    assert w["retrieve"]["part"]["sop_instance_uid"] == w["first_instance"]["SOPInstanceUID"]
    s = by["dicomweb.stow"]["evidence"]
    assert s["stored"] is True and s["failed"] == []
    assert len(peer.instances()) == before + 1  # the synthetic instance really arrived
    text = json.dumps(doc)
    assert "Dataset(" not in text and "PersonName" not in text and "<pydicom" not in text
    # The text renderer shows the same findings.
    code = main(["diagnose", peer.target_text(), "--playbook", "dicomweb", "--timeout", "5",
                 "--dicomweb", peer.url + "/dicom-web", "--no-color"])
    printed = capsys.readouterr().out
    assert code == 0 and "PASS   dicomweb.qido" in printed and "dicomweb.wado" in printed


def test_diagnose_with_dicomweb_adds_the_read_only_checks(orthanc_dicomweb: Callable[..., peers.OrthancPeer],
                                                        tmp_path: Path) -> None:
    peer = orthanc_dicomweb()
    out = tmp_path / "r.json"
    main(["diagnose", peer.target_text(), "--playbook", "quick", "--timeout", "5",
          "--dicomweb", peer.url + "/dicom-web", "--format", "json", "-o", str(out)])
    checks = [f["check"] for f in json.loads(out.read_text())["findings"]]
    assert "dicomweb.qido" in checks and "dicomweb.wado" in checks and "dicomweb.stow" not in checks


def test_run_reads_the_dicomweb_field_of_playbook_targets(orthanc_dicomweb: Callable[..., peers.OrthancPeer],
                                                         tmp_path: Path) -> None:
    peer = orthanc_dicomweb(auth=True)
    (tmp_path / "pw.txt").write_text(PASSWORD)
    book = tmp_path / "fleet.yaml"
    book.write_text(f"""playbook: 1
name: web-fleet
description: DICOMweb of one Orthanc
targets:
  - host: 127.0.0.1
    port: {peer.port}
    called_ae: ORTHANC
    dicomweb: {{url: "{peer.url}/dicom-web", user: {USER}, secret: pw.txt}}
checks: [dicomweb.qido, dicomweb.wado]
""")
    out = tmp_path / "r.json"
    code = main(["run", str(book), "--timeout", "5", "--format", "json", "-o", str(out)])
    doc = json.loads(out.read_text())
    assert code == 0, doc
    assert [f["status"] for f in doc["findings"]] == ["pass", "pass"]
    assert PASSWORD not in out.read_text()


@pytest.mark.parametrize("path", ["", "/wrong-root"])
def test_wrong_base_path_is_not_found_and_names_dicom_web(orthanc_dicomweb: Callable[..., peers.OrthancPeer],
                                                         path: str) -> None:
    peer = orthanc_dicomweb()
    found = _run(_target(peer.url + path))
    q = found["dicomweb.qido"]
    assert q.status.value == "fail"
    assert _cause_ids(q)[0] == "dicomweb-not-found"
    assert q.evidence["answers_at"] == peer.url + "/dicom-web"
    assert f"use --dicomweb {peer.url}/dicom-web" in q.summary
    assert found["dicomweb.wado"].status.value == "skip"


def test_auth_required_without_credentials(orthanc_dicomweb: Callable[..., peers.OrthancPeer]) -> None:
    peer = orthanc_dicomweb(auth=True)
    q = _run(_target(peer.url + "/dicom-web"))["dicomweb.qido"]
    assert q.status.value == "fail" and _cause_ids(q)[0] == "dicomweb-auth-required"
    assert q.evidence["http_status"] == 401 and q.evidence["www_authenticate"].startswith("Basic")
    assert q.evidence["auth"] == "none" and "Basic authentication" in q.summary


def test_with_credentials_passes_and_never_shows_the_secret(orthanc_dicomweb: Callable[..., peers.OrthancPeer],
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    peer = orthanc_dicomweb(auth=True)
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    found = _run(_target(peer.url + "/dicom-web", user=USER, secret=str(secret)),
                 ("dicomweb.qido", "dicomweb.stow", "dicomweb.wado"))
    assert {c: f.status.value for c, f in found.items()} == {c: "pass" for c in found}, \
        {c: f.summary for c, f in found.items()}
    assert found["dicomweb.qido"].evidence["auth"] == "basic"
    monkeypatch.setenv("DD_TEST_DICOMWEB_PASSWORD", PASSWORD)
    target = _target(peer.url + "/dicom-web", user=USER, secret="env:DD_TEST_DICOMWEB_PASSWORD")
    report = run(make_playbook("t", ["dicomweb.qido"]), [target], RunOptions(timeouts=Timeouts.uniform(5.0)))
    assert report.findings[0].status.value == "pass"
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for fmt in ("json", "text", "markdown", "html"):
        shown = str(render(report, fmt, show_phi=True))
        assert PASSWORD not in shown and encoded not in shown, fmt
    assert PASSWORD not in repr(target) and PASSWORD not in repr(report)


def test_wrong_password_is_auth_rejected(orthanc_dicomweb: Callable[..., peers.OrthancPeer], tmp_path: Path) -> None:
    peer = orthanc_dicomweb(auth=True, studies=0)
    secret = tmp_path / "password"
    secret.write_text("not-the-password")
    q = _run(_target(peer.url + "/dicom-web", user=USER, secret=str(secret)))["dicomweb.qido"]
    assert _cause_ids(q)[0] == "dicomweb-auth-rejected" and q.evidence["auth"] == "basic"


def test_port_closed_is_unreachable(free_port: Callable[[], int]) -> None:
    q = _run(_target(f"http://127.0.0.1:{free_port()}/dicom-web"))["dicomweb.qido"]
    assert q.status.value == "fail" and _cause_ids(q) == ["dicomweb-unreachable"]
    assert q.evidence["outcome"] == "refused"


def test_the_dicom_port_given_as_the_dicomweb_url_is_not_http(orthanc_dicomweb: Callable[..., peers.OrthancPeer]
                                                              ) -> None:
    peer = orthanc_dicomweb(studies=0)
    q = _run(_target(f"http://127.0.0.1:{peer.port}/dicom-web"))["dicomweb.qido"]
    assert q.status.value == "fail"
    assert q.evidence["outcome"] in ("not-http", "closed", "reset")
    assert "dicomweb-unreachable" in _cause_ids(q)


# ------------------------------------------------------------------------------- small HTTP servers


class _Server:
    """A ThreadingHTTPServer on a free loopback port; `routes[(method, path_prefix)] -> (status, headers, body)`."""

    def __init__(self, handler: Callable[[http.server.BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]],
                 tls: ssl.SSLContext | None = None) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path, dict(self.headers), len(self.body)))
                status, headers, body = handler(self)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.requests: list[tuple[str, str, dict[str, str], int]] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/dicom-web"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def http_server() -> Iterator[Callable[..., _Server]]:
    started: list[_Server] = []

    def start(handler: Callable[..., tuple[int, dict[str, str], bytes]], tls: ssl.SSLContext | None = None) -> _Server:
        s = _Server(handler, tls)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/dicom+json"}
STUDY = [{"0020000D": {"vr": "UI", "Value": ["1.2.3.4"]}, "00080061": {"vr": "CS", "Value": ["CT"]}}]


def test_a_web_page_at_the_dicomweb_path_is_the_wrong_media_type(http_server: Callable[..., _Server]) -> None:
    server = http_server(lambda h: (200, HTML, b"<html><body><h1>Welcome to the hospital portal</h1></body></html>"))
    q = _run(_target(server.url()))["dicomweb.qido"]
    assert q.status.value == "fail" and _cause_ids(q)[0] == "dicomweb-wrong-media-type"
    assert q.evidence["content_type"].startswith("text/html")
    assert "Welcome to the hospital portal" in q.evidence["body_start"]
    assert q.evidence.get("answers_at") is None


FAILED = {"00081198": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
                                              "00081155": {"vr": "UI", "Value": ["9.9.9"]},
                                              "00081197": {"vr": "US", "Value": [0xA700]}}]}}


def test_stow_refused_with_a_failed_sop_sequence(http_server: Callable[..., _Server]) -> None:
    def handler(h: http.server.BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if h.command == "POST":
            return 409, JSON, json.dumps(FAILED).encode()
        return 200, JSON, json.dumps(STUDY).encode()

    server = http_server(handler)
    report = _report(_target(server.url()), ("dicomweb.qido", "dicomweb.stow"))
    s = {f.check: f for f in report.findings}["dicomweb.stow"]
    assert s.status.value == "fail", s.summary
    assert _cause_ids(s)[0] == "dicomweb-store-refused" and "out-of-resources" in _cause_ids(s)
    assert s.evidence["http_status"] == 409 and s.evidence["failed"][0]["failure_reason_hex"] == "0xA700"
    assert "0xA700" in s.summary
    post = [r for r in server.requests if r[0] == "POST"]
    assert post and post[0][2]["Content-Type"].startswith('multipart/related; type="application/dicom"; boundary=')
    # the rendered reports: plain values, no Python reprs, the cause and the decoded Failure Reason
    for fmt in ("text", "json", "markdown", "html"):
        shown = str(render(report, fmt, color=False))
        assert "Dataset(" not in shown and "<pydicom" not in shown and "{'" not in shown, fmt
        assert "0xA700" in shown, fmt
    doc = json.loads(str(render(report, "json")))
    stow = next(f for f in doc["findings"] if f["check"] == "dicomweb.stow")
    assert stow["causes"][0]["id"] == "dicomweb-store-refused" and stow["causes"][0]["fixes"]


def test_orthanc_refuses_an_instance_posted_into_another_study(orthanc_dicomweb: Callable[..., peers.OrthancPeer]
                                                               ) -> None:
    """A real refusal: Orthanc's DICOMweb plugin answers POST BASE/studies/UID with an instance of another study
    by 409 and a Failed SOP Sequence (Failure Reason 0x0110), sent as DICOM JSON without a Content-Type."""
    peer = orthanc_dicomweb(studies=0)
    target = _target(peer.url + "/dicom-web")
    ds = make_instance(rows=32, cols=32)
    ctx = CheckContext(target, options=RunOptions(timeouts=Timeouts.uniform(5.0)))

    async def go() -> Any:
        client = client_for(target.dicomweb, timeout=5.0, budget=10.0)  # type: ignore[arg-type]
        try:
            return await probe_stow(client, peer.url + "/dicom-web", to_part10_bytes(ds),
                                    sop_instance_uid=str(ds.SOPInstanceUID), sop_class_uid=str(ds.SOPClassUID),
                                    study_uid="1.2.3.4.5")
        finally:
            client.close()

    facts = asyncio.run(go())
    result = judge_stow(ctx, facts)
    assert result.status.value == "fail", result.summary
    assert result.causes[0] == "dicomweb-store-refused" and "processing-failure" in result.causes
    assert result.evidence["http_status"] == 409
    assert result.evidence["failed"][0]["failure_reason_hex"] == "0x0110"
    assert result.evidence["failed"][0]["sop_instance_uid"] == str(ds.SOPInstanceUID)
    assert peer.instances() == []


def test_bearer_token_from_an_environment_variable(http_server: Callable[..., _Server],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    token = "tok-123.abc"

    def handler(h: http.server.BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if h.headers.get("Authorization") != f"Bearer {token}":
            return 401, {"WWW-Authenticate": 'Bearer realm="dicomweb"'}, b""
        return 200, JSON, json.dumps(STUDY).encode()

    server = http_server(handler)
    q = _run(_target(server.url()), ("dicomweb.qido",))["dicomweb.qido"]
    assert _cause_ids(q)[0] == "dicomweb-auth-required" and "Bearer" in q.summary
    monkeypatch.setenv("DD_TEST_DICOMWEB_TOKEN", token)
    q = _run(_target(server.url(), secret="env:DD_TEST_DICOMWEB_TOKEN"), ("dicomweb.qido",))["dicomweb.qido"]
    assert q.status.value == "pass" and q.evidence["auth"] == "bearer" and q.evidence["matches"] == 1
    assert token not in json.dumps(q.evidence)


def test_https_is_verified_by_default_and_trusts_the_given_ca(http_server: Callable[..., _Server],
                                                              certs: peers.CertFactory) -> None:
    pair = certs.server()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pair.cert), str(pair.key))
    server = http_server(lambda h: (200, JSON, json.dumps(STUDY).encode()), tls=ctx)
    q = _run(_target(server.url("https")), ("dicomweb.qido",))["dicomweb.qido"]
    assert q.status.value == "fail" and _cause_ids(q)[0].startswith("tls-"), q.summary
    q = _run(_target(server.url("https"), ca=str(pair.ca_cert or pair.cert)), ("dicomweb.qido",))["dicomweb.qido"]
    assert q.status.value == "pass", q.summary
    assert q.evidence["tls"]["protocol"] in ("TLSv1.2", "TLSv1.3")
    q = _run(_target(server.url("https"), insecure=True), ("dicomweb.qido",))["dicomweb.qido"]
    assert q.status.value == "pass", q.summary


def test_https_to_a_plain_http_server_is_a_scheme_mismatch(http_server: Callable[..., _Server]) -> None:
    server = http_server(lambda h: (200, JSON, json.dumps(STUDY).encode()))
    q = _run(_target(server.url("https")), ("dicomweb.qido",))["dicomweb.qido"]
    assert q.status.value == "fail" and _cause_ids(q)[0] == "dicomweb-scheme-mismatch", (q.summary, q.evidence)


def test_a_hostile_server_is_bounded_in_bytes_and_redirects(http_server: Callable[..., _Server]) -> None:
    big = b"[" + b" " * (9 << 20) + b"]"
    server = http_server(lambda h: (200, JSON, big))
    q = _run(_target(server.url()), ("dicomweb.qido",))["dicomweb.qido"]
    assert q.status.value == "fail" and _cause_ids(q) == ["dicomweb-bad-response"]
    assert q.evidence["body_truncated"] is True and "longer than" in q.evidence["json_error"]
    loop = http_server(lambda h: (302, {"Location": h.path + "x"}, b""))
    q = _run(_target(loop.url()), ("dicomweb.qido",))["dicomweb.qido"]
    assert q.status.value == "fail" and _cause_ids(q)[0] == "dicomweb-not-found"
    assert len(q.evidence["redirects"]) == 5 and q.evidence["http_status"] == 302

"""tls.handshake and the TLS/plain mismatches, through `dicomdoctor diagnose`/`echo` against a TLS DICOM SCP
on loopback (our net.SCPServer with an ssl context, on its own thread) and plain dcmtk storescp."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Iterator

import pytest

from dicomdoctor.cli import main
from dicomdoctor.net.scp import SCPServer
from dicomdoctor.net.tls import server_context

pytestmark = pytest.mark.interop


class ThreadedSCP:
    """net.SCPServer (C-ECHO) serving on a thread with its own event loop, so the CLI can run its own."""

    def __init__(self, ssl_context: Any, ae_title: str = "TLSSCP") -> None:
        self.ae_title = ae_title
        self.loop = asyncio.new_event_loop()
        self.server = SCPServer(ae_title, ssl_context=ssl_context)
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.port = self.loop.run_until_complete(self.server.start("127.0.0.1", 0))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert ready.wait(5)

    def target(self, host: str = "127.0.0.1") -> str:
        return f"{self.ae_title}@{host}:{self.port}"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def tls_scp() -> Iterator[Any]:
    started: list[ThreadedSCP] = []

    def start(cert: Any, *, require_client: bool = False) -> ThreadedSCP:
        ctx = server_context(str(cert.cert), str(cert.key), ca=str(cert.ca_cert) if cert.ca_cert else None,
                             require_client_cert=require_client)
        scp = ThreadedSCP(ctx)
        started.append(scp)
        return scp

    yield start
    for scp in started:
        scp.close()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    rc = main([*argv, "--format", "json", "--timeout", "5"])
    report = json.loads(capsys.readouterr().out)
    return rc, {f["check"]: f for f in report["findings"]}


def causes(f: dict[str, Any]) -> list[str]:
    return [c["id"] for c in f["causes"]]


def test_good_certificate(tls_scp: Any, session_certs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    scp = tls_scp(session_certs.server())
    rc, found = run_cli(capsys, "diagnose", scp.target(), "--tls", "--ca", str(session_certs.ca_cert))
    f = found["tls.handshake"]
    assert f["status"] == "pass", f["summary"]
    ev = f["evidence"]
    assert ev["outcome"] == "ok" and ev["protocol"] in ("TLSv1.2", "TLSv1.3") and ev["cipher"]
    assert ev["certificate"]["san"]["ip"] == ["127.0.0.1", "::1"] and ev["days_left"] > 300
    assert found["dimse.echo"]["status"] == "pass"


@pytest.mark.parametrize("kind, outcome, cause", [
    ("expired", "expired", "tls-expired"),
    ("wrong_name", "hostname-mismatch", "tls-hostname-mismatch"),
    ("not_yet_valid", "not-yet-valid", "tls-not-yet-valid"),
])
def test_bad_certificates(tls_scp: Any, session_certs: Any, capsys: pytest.CaptureFixture[str], kind: str,
                          outcome: str, cause: str) -> None:
    scp = tls_scp(getattr(session_certs, kind)())
    rc, found = run_cli(capsys, "diagnose", scp.target(), "--tls", "--ca", str(session_certs.ca_cert))
    f = found["tls.handshake"]
    assert rc == 2 and f["status"] == "fail"
    assert f["evidence"]["outcome"] == outcome and causes(f)[0] == cause
    assert f["evidence"]["certificate"]["subject"]  # the certificate that failed is shown
    assert found["assoc.ae-title"]["status"] == "skip"


def test_unknown_ca(tls_scp: Any, session_certs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    scp = tls_scp(session_certs.server())
    rc, found = run_cli(capsys, "echo", scp.target(), "--tls")  # the test CA is not in the system store
    f = found["tls.handshake"]
    assert f["evidence"]["outcome"] == "unknown-ca" and causes(f)[0] == "tls-unknown-ca"
    assert found["dimse.echo"]["status"] == "skip" and rc == 2


def test_client_certificate_required(tls_scp: Any, session_certs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    scp = tls_scp(session_certs.server(), require_client=True)
    rc, found = run_cli(capsys, "diagnose", scp.target(), "--tls", "--ca", str(session_certs.ca_cert))
    f = found["tls.handshake"]
    assert f["evidence"]["outcome"] == "client-cert-required", f["summary"]
    assert causes(f)[0] == "tls-client-cert-required"
    client = session_certs.client()
    rc, found = run_cli(capsys, "echo", scp.target(), "--tls", "--ca", str(session_certs.ca_cert),
                        "--cert", str(client.cert), "--key", str(client.key))
    assert found["tls.handshake"]["status"] == "pass" and found["dimse.echo"]["status"] == "pass" and rc == 0


def test_tls_to_a_plain_port(storescp: Any, capsys: pytest.CaptureFixture[str]) -> None:
    peer = storescp("--ignore")
    rc, found = run_cli(capsys, "diagnose", peer.target_text(), "--tls", "--insecure")
    f = found["tls.handshake"]
    assert f["evidence"]["outcome"] == "no-tls" and causes(f)[0] == "peer-not-tls"
    assert rc == 2


def test_plain_dicom_to_a_tls_port(tls_scp: Any, session_certs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    scp = tls_scp(session_certs.server())
    rc, found = run_cli(capsys, "diagnose", scp.target())
    f = found["assoc.ae-title"]
    assert f["status"] == "fail" and causes(f)[0] == "peer-expects-tls", f["summary"]
    assert "--tls" in f["summary"]


def test_orthanc_tls_by_hostname_with_our_ca(orthanc: Any, session_certs: Any,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Orthanc 1.10 with DicomTlsEnabled, no client certificate required, our CA, reached as `localhost` with
    --ca only (what a new user types). Orthanc accepts associations on one thread: a probe connection that is
    closed with close_notify but left open at the TCP level (asyncio waits for the peer's close_notify) held
    that thread, and every later handshake timed out ("SSL handshake is taking longer than ..."). Each command
    runs twice, so a connection left behind by the first run would fail the second."""
    pacs = orthanc(tls=session_certs.server("orthanc-localhost"), tls_client_required=False)
    target = f"ORTHANC@localhost:{pacs.port}"
    ca = str(session_certs.ca_cert)
    for command in ("echo", "diagnose", "echo", "diagnose"):
        rc, found = run_cli(capsys, command, target, "--tls", "--ca", ca)
        f = found["tls.handshake"]
        assert f["status"] == "pass" and f["evidence"]["outcome"] == "ok", f["summary"]
        assert found["dimse.echo"]["status"] == "pass", found["dimse.echo"]["summary"]
        assert all(x["status"] == "pass" for x in found.values()), [(k, x["summary"]) for k, x in found.items()
                                                                    if x["status"] != "pass"]
        assert rc == 0

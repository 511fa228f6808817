"""net.tls: outcomes of TLS handshakes against local TLS servers built with the test PKI."""

from __future__ import annotations

import ssl
import warnings

import pytest

from dicomdoctor.errors import BadInput
from dicomdoctor.net import (SCPServer, StorageSCP, TLSHandshakeFailed, associate, client_context, connect,
                             server_context)
from dicomdoctor.net.tls import certificate_info, name_matches
from dicomdoctor.target import Target, TLSOptions
from peers import CertFactory, CertPair, ThreadedTLSServer, arun


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertFactory:
    return CertFactory(tmp_path_factory.mktemp("pki"))


def _server_ctx(pair: CertPair, ciphers: str | None = None, **kw: object) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pair.cert, pair.key)
    if ciphers:
        ctx.set_ciphers(ciphers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose
        for k, v in kw.items():
            setattr(ctx, k, v)
    return ctx


def _handshake(pair: CertPair, options: TLSOptions, host: str = "127.0.0.1", **server_kw: object):
    with ThreadedTLSServer(_server_ctx(pair, **server_kw)) as srv:
        async def go():
            c = await connect(host, srv.port, 3.0, client_context(options), options.server_name)
            c.abort()
            return c
        return arun(go())


def _failure(pair: CertPair, options: TLSOptions, host: str = "127.0.0.1", **server_kw: object) -> TLSHandshakeFailed:
    with pytest.raises(TLSHandshakeFailed) as err:
        _handshake(pair, options, host, **server_kw)
    assert err.value.phase == "tls"
    return err.value


def test_ok_with_evidence(pki: CertFactory) -> None:
    pair = pki.server()
    c = _handshake(pair, TLSOptions(ca=str(pki.ca_cert)))
    info = c.tls_info
    assert info["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert info["cipher"]
    cert = info["certificate"]
    assert "CN=localhost" in cert["subject"]
    assert "dicomdoctor test CA" in cert["issuer"]
    assert "127.0.0.1" in cert["san"]["ip"] and "localhost" in cert["san"]["dns"]
    assert 360 <= info["days_left"] <= 366
    assert cert["not_after"] > cert["not_before"]


def test_unknown_ca_still_shows_the_certificate(pki: CertFactory) -> None:
    other = pki.other_ca()
    err = _failure(other.server(), TLSOptions(ca=str(pki.ca_cert)))
    assert err.outcome == "unknown-ca"
    assert err.certificate is not None and "CN=localhost" in err.certificate["certificate"]["subject"]


def test_self_signed(pki: CertFactory) -> None:
    assert _failure(pki.self_signed(), TLSOptions(ca=str(pki.ca_cert))).outcome == "self-signed"


def test_expired(pki: CertFactory) -> None:
    err = _failure(pki.expired(), TLSOptions(ca=str(pki.ca_cert)))
    assert err.outcome == "expired"
    assert err.certificate["days_left"] < 0


def test_not_yet_valid(pki: CertFactory) -> None:
    assert _failure(pki.not_yet_valid(), TLSOptions(ca=str(pki.ca_cert))).outcome == "not-yet-valid"


def test_hostname_mismatch(pki: CertFactory) -> None:
    err = _failure(pki.wrong_name(), TLSOptions(ca=str(pki.ca_cert)))
    assert err.outcome == "hostname-mismatch"
    assert not name_matches(err.certificate["certificate"], "127.0.0.1")


def test_insecure_accepts_anything(pki: CertFactory) -> None:
    c = _handshake(pki.expired(), TLSOptions(insecure=True))
    assert c.tls_info["certificate"]["days_left"] < 0


def test_protocol_mismatch(pki: CertFactory) -> None:
    # A server stuck below TLS 1.2 (retired by BCP 195): our client refuses to go down.
    err = _failure(pki.server(), TLSOptions(ca=str(pki.ca_cert)), ciphers="DEFAULT:@SECLEVEL=0",
                   maximum_version=ssl.TLSVersion.TLSv1_1, minimum_version=ssl.TLSVersion.TLSv1)
    assert err.outcome == "protocol-mismatch"


def test_no_tls_against_a_plain_dicom_scp(pki: CertFactory) -> None:
    async def go() -> None:
        async with SCPServer("PLAIN", StorageSCP()) as srv:
            await connect("127.0.0.1", srv.port, 3.0, client_context(TLSOptions(ca=str(pki.ca_cert))))
    with pytest.raises(TLSHandshakeFailed) as err:
        arun(go())
    assert err.value.outcome == "no-tls"


def test_client_cert_required_and_mutual_tls_with_our_scp(pki: CertFactory) -> None:
    server = pki.server("scp")
    client = pki.client()
    sctx = server_context(str(server.cert), str(server.key), ca=str(pki.ca_cert), require_client_cert=True)

    async def go(opts: TLSOptions) -> int:
        async with SCPServer("TLSSCP", StorageSCP(), ssl_context=sctx) as srv:
            t = Target("127.0.0.1", srv.port, "TLSSCP", tls=opts)
            async with await associate(t, ["1.2.840.10008.1.1"]) as a:
                return (await a.echo()).status
    assert arun(go(TLSOptions(ca=str(pki.ca_cert), cert=str(client.cert), key=str(client.key)))) == 0
    with pytest.raises(TLSHandshakeFailed) as err:
        arun(go(TLSOptions(ca=str(pki.ca_cert))))
    assert err.value.outcome == "client-cert-required"


def test_bad_files_are_bad_input(tmp_path) -> None:
    with pytest.raises(BadInput):
        client_context(TLSOptions(ca=str(tmp_path / "missing.pem")))
    with pytest.raises(BadInput):
        client_context(TLSOptions(key="k.pem"))


def test_certificate_info_from_der(pki: CertFactory) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    der = x509.load_pem_x509_certificate(pki.server().cert.read_bytes()).public_bytes(Encoding.DER)
    info = certificate_info(der)
    assert info["key"] == "RSA 2048" and info["signature_hash"] == "sha256"
    assert name_matches(info, "localhost") and name_matches(info, "::1")

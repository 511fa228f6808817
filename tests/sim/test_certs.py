"""Generated TLS material: each variant is spoiled for exactly one reason."""

from __future__ import annotations

import datetime as dt
import shutil
import ssl

import pytest
from cryptography import x509

from dicomdoctor.sim.certs import generate, server_context


@pytest.fixture()
def make():
    made = []

    def _make(variant: str):
        files = generate(variant)
        made.append(files)
        return files

    yield _make
    for f in made:
        shutil.rmtree(f.directory, ignore_errors=True)


def _cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_ca_variant_verifies_for_localhost(make) -> None:
    files = make("ca")
    leaf, ca = _cert(files.cert), _cert(files.ca)
    assert leaf.issuer == ca.subject and leaf.issuer != leaf.subject
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert (files.key.stat().st_mode & 0o077) == 0  # private key readable by the owner only
    assert isinstance(server_context(files), ssl.SSLContext)


def test_variants(make) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    assert _cert(make("expired").cert).not_valid_after_utc < now
    assert _cert(make("not-yet-valid").cert).not_valid_before_utc > now
    ss = _cert(make("self-signed").cert)
    assert ss.issuer == ss.subject
    wrong = _cert(make("wrong-host").cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert wrong.value.get_values_for_type(x509.DNSName) == ["dicom.invalid"]
    assert server_context(make("client-cert")).verify_mode == ssl.CERT_REQUIRED


def test_unknown_variant() -> None:
    with pytest.raises(ValueError):
        generate("nope")

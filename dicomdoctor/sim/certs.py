"""Certificates for the `tls` fault: a throw-away CA and server certificate, spoiled on purpose per variant.

Keys are ECDSA P-256: generated in milliseconds (the demo starts several simulators at once) and within the
BCP 195 profile that current dcmtk and Orthanc expect, so a well-configured client can verify against the
generated CA (`--ca`), and the spoiled variants fail for exactly one reason each.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .faults import TLS_VARIANTS

if TYPE_CHECKING:  # cryptography is imported only when a TLS fault is used
    from cryptography import x509

# A year: well past the "expires soon" warning of tls.handshake, so only the spoiled variants are findings.
VALID_DAYS = 365


@dataclass(frozen=True, slots=True)
class CertFiles:
    """PEM files of one simulator. `ca` is what a client passes as --ca; `client_cert`/`client_key` are a
    client identity signed by the same CA (for the `client-cert` variant and for tests)."""

    directory: Path
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path
    variant: str


def _name(cn: str) -> "x509.Name":
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dicomdoctor simulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _san(hosts: tuple[str, ...]) -> "x509.SubjectAlternativeName":
    from cryptography import x509

    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def generate(variant: str = "ca", hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1"),
             directory: str | Path | None = None) -> CertFiles:
    """Write a CA, a server certificate (and key) and a client certificate for `variant` into `directory`
    (a new temporary directory by default; the caller removes it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    if variant not in TLS_VARIANTS:
        raise ValueError(f"unknown TLS variant {variant!r}")
    out = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="dicomdoctor-sim-tls-"))
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    day = dt.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("dicomdoctor simulator CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - day).not_valid_after(now + VALID_DAYS * day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, sans: tuple[str, ...], eku: "object", self_signed: bool = False,
             not_before: dt.datetime = now - day, not_after: dt.datetime = now + VALID_DAYS * day) -> tuple[object, object]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(cn)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if self_signed else ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(_san(sans), critical=False)  # type: ignore[arg-type]
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)  # type: ignore[list-item]
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        return builder.sign(key if self_signed else ca_key, hashes.SHA256()), key

    hosts_for_cert = ("dicom.invalid",) if variant == "wrong-host" else hosts
    not_before, not_after = now - day, now + VALID_DAYS * day
    if variant == "expired":
        not_before, not_after = now - 30 * day, now - day
    elif variant == "not-yet-valid":
        not_before, not_after = now + day, now + VALID_DAYS * day
    server_cert, server_key = leaf(hosts_for_cert[0], hosts_for_cert, ExtendedKeyUsageOID.SERVER_AUTH,
                                   self_signed=variant == "self-signed", not_before=not_before, not_after=not_after)
    client_cert, client_key = leaf("dicomdoctor client", ("localhost",), ExtendedKeyUsageOID.CLIENT_AUTH)

    def pem_cert(c: object) -> bytes:
        return c.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined, no-any-return]

    def pem_key(k: object) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined, no-any-return]
                               serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    files = CertFiles(directory=out, ca=out / "ca.pem", cert=out / "server.pem", key=out / "server-key.pem",
                      client_cert=out / "client.pem", client_key=out / "client-key.pem", variant=variant)
    # For self-signed, the "CA" a user would trust is the certificate itself (that is how such peers are
    # usually made to work); write it as ca.pem so --ca still has something meaningful to point at.
    files.ca.write_bytes(pem_cert(server_cert if variant == "self-signed" else ca_cert))
    files.cert.write_bytes(pem_cert(server_cert))
    files.client_cert.write_bytes(pem_cert(client_cert))
    for path, key in ((files.key, server_key), (files.client_key, client_key)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private keys: owner only
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem_key(key))
    return files


def server_context(files: CertFiles) -> ssl.SSLContext:
    """The simulator's server-side SSLContext (TLS 1.2+, from net/tls.py). Python's ssl module does not
    check the validity dates of its own certificate, which is what lets the `expired` variant be served."""
    from ..net.tls import server_context as make

    client_cert = files.variant == "client-cert"
    ctx = make(str(files.cert), str(files.key), ca=str(files.ca) if client_cert else None,
               require_client_cert=client_cert)
    return ctx

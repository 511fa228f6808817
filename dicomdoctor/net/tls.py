"""TLS for DICOM (PS3.15 Annex B.9 / BCP 195): contexts, peer-certificate evidence, failure classification.

Verification is on by default and TLS 1.2 is the floor (BCP 195 / RFC 9325 retired TLS 1.0 and 1.1). When
verification fails the handshake is aborted before we can see the certificate, so `fetch_certificate` does a
second, non-verifying handshake: a doctor must show *which* certificate was wrong, not only that one was.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import ipaddress
import ssl
from typing import Any

from ..errors import BadInput
from ..target import TLSOptions

# tls.handshake outcomes (DESIGN.md, check evidence). "timeout": TCP was accepted but the ClientHello got no
# answer within the timeout (a hung TLS server, or one whose only thread another client holds).
TLS_OUTCOMES = ("ok", "unknown-ca", "self-signed", "expired", "not-yet-valid", "hostname-mismatch",
                "client-cert-required", "no-tls", "protocol-mismatch", "timeout", "other")
# How long asyncio may wait for the peer's close_notify after ours, when something closes a TLS stream with
# a bare transport.close() instead of close_transport(): a bound, not a wait we want (see close_transport).
SHUTDOWN_TIMEOUT = 1.0
# How long a closing TLS connection keeps its TCP connection open when bytes are still queued for the socket.
_FLUSH_GRACE = 0.5

# OpenSSL X509_V_ERR_* codes (x509_vfy.h) -> outcome.
_VERIFY_CODES = {
    2: "unknown-ca",   # unable to get issuer certificate
    9: "not-yet-valid",
    10: "expired",
    18: "self-signed",  # depth zero self signed
    19: "self-signed",  # self signed certificate in chain
    20: "unknown-ca",   # unable to get local issuer certificate
    21: "unknown-ca",   # unable to verify the first certificate
    62: "hostname-mismatch",
    64: "hostname-mismatch",  # IP address mismatch
}

# Substrings of OpenSSL reason strings / messages -> outcome (checked in order, upper-cased).
_REASONS = (
    ("CERTIFICATE_REQUIRED", "client-cert-required"),          # TLS 1.3 alert 116
    ("PEER DID NOT RETURN A CERTIFICATE", "client-cert-required"),
    ("ALERT_BAD_CERTIFICATE", "client-cert-required"),          # server refused the client certificate we sent
    ("ALERT_UNKNOWN_CA", "client-cert-required"),               # server does not trust our client certificate
    ("ALERT_CERTIFICATE_UNKNOWN", "client-cert-required"),
    ("ALERT_PROTOCOL_VERSION", "protocol-mismatch"),
    ("UNSUPPORTED_PROTOCOL", "protocol-mismatch"),
    ("NO_PROTOCOLS_AVAILABLE", "protocol-mismatch"),
    ("VERSION_TOO_LOW", "protocol-mismatch"),
    ("VERSION_TOO_HIGH", "protocol-mismatch"),
    ("NO_SHARED_CIPHER", "protocol-mismatch"),
    ("NO_CIPHERS_AVAILABLE", "protocol-mismatch"),
    ("ALERT_INSUFFICIENT_SECURITY", "protocol-mismatch"),
    ("WRONG_VERSION_NUMBER", "no-tls"),                         # the peer answered in plain DICOM (an A-ABORT)
    ("UNKNOWN_PROTOCOL", "no-tls"),
    ("PACKET_LENGTH_TOO_LONG", "no-tls"),
    ("RECORD_LAYER_FAILURE", "no-tls"),
    ("HTTP_REQUEST", "no-tls"),
    ("UNEXPECTED_EOF", "no-tls"),                               # a plain server dropped our ClientHello
    ("EOF OCCURRED IN VIOLATION OF PROTOCOL", "no-tls"),
)


def client_context(options: TLSOptions | None = None) -> ssl.SSLContext:
    """An SSLContext for connecting to a DICOM TLS peer: verify (system CAs or `ca`) unless `insecure`,
    TLS >= 1.2, client certificate from `cert`/`key`. Unreadable files are bad input (one clear message)."""
    options = options or TLSOptions()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        if options.ca:
            try:
                import os
                if os.path.isdir(options.ca):
                    ctx.load_verify_locations(capath=options.ca)
                else:
                    ctx.load_verify_locations(cafile=options.ca)
            except (OSError, ssl.SSLError) as exc:
                raise BadInput(f"cannot load CA certificates from {options.ca!r}: {exc}") from None
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    # Remembered so a TLS 1.3 peer that hangs up right after the handshake can be diagnosed (association.py).
    ctx.dicomdoctor_client_cert = bool(options.cert)  # type: ignore[attr-defined]
    ctx.dicomdoctor_options = options  # type: ignore[attr-defined]  # lets fetch_certificate reuse the client cert
    if options.cert or options.key:
        if not options.cert:
            raise BadInput("--key was given without --cert: a client certificate needs both")
        try:
            ctx.load_cert_chain(options.cert, options.key)
        except (OSError, ssl.SSLError) as exc:
            raise BadInput(f"cannot load client certificate {options.cert!r} / key {options.key!r}: {exc}") from None
    return ctx


def insecure_context(options: TLSOptions | None = None) -> ssl.SSLContext:
    """No verification: used only to *look* at a peer's certificate. Presents the client certificate of
    `options` when there is one (a server that requires one may otherwise drop us before we see anything)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if options is not None and options.cert:
        try:
            ctx.load_cert_chain(options.cert, options.key)
        except (OSError, ssl.SSLError):
            pass
    return ctx


def server_context(cert: str, key: str | None = None, *, ca: str | None = None,
                   require_client_cert: bool = False) -> ssl.SSLContext:
    """SSLContext for our SCP (move destination, simulator). `ca` + `require_client_cert` -> mutual TLS."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
        if ca:
            ctx.load_verify_locations(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise BadInput(f"cannot load server certificate {cert!r}: {exc}") from None
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else (ssl.CERT_OPTIONAL if ca else ssl.CERT_NONE)
    return ctx


# ------------------------------------------------------------------------------------------------ closing


def close_transport(transport: asyncio.WriteTransport) -> None:
    """Close a connection at once and completely; never waits for the peer.

    Plain TCP: `close()` (a FIN once the buffered bytes are gone). TLS: `close()` hands our close_notify to the
    socket, and asyncio would then keep the TCP connection open until the peer's close_notify comes back (30 s
    by default). A DICOM acceptor that is reading our A-ASSOCIATE-RQ never sends one: dcmtk (Orthanc 1.10,
    which accepts associations on one thread) takes the close_notify for an empty association request,
    rejects it and then waits for *us* to close the TCP connection (PS3.8 Sta13), serving nobody else
    meanwhile: every later connection, ours included, meets a TLS handshake that never completes. RFC 8446
    §6.1 lets the closing side stop after sending close_notify, so the TCP connection is closed right after
    it (or after a short grace when bytes are still queued for the socket)."""
    tls = transport.get_extra_info("ssl_object") is not None
    if not tls:
        if not transport.is_closing():
            transport.close()
        return
    if not transport.is_closing():
        transport.close()  # writes close_notify
    inner = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)  # asyncio's socket transport
    queued = inner.get_write_buffer_size() if isinstance(inner, asyncio.WriteTransport) else 0
    if queued:
        asyncio.get_running_loop().call_later(_FLUSH_GRACE, transport.abort)
    else:
        transport.abort()  # close_notify is with the kernel; this closes the TCP connection (a FIN)


# ------------------------------------------------------------------------------------------ classification


def classify_ssl_error(exc: BaseException) -> str:
    """One of TLS_OUTCOMES for an exception raised during (or right after) a TLS handshake."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        outcome = _VERIFY_CODES.get(getattr(exc, "verify_code", -1))
        if outcome:
            return outcome
        msg = (getattr(exc, "verify_message", "") or str(exc)).lower()
        if "mismatch" in msg:
            return "hostname-mismatch"
        if "expired" in msg:
            return "expired"
        if "not yet valid" in msg:
            return "not-yet-valid"
        if "self-signed" in msg or "self signed" in msg:
            return "self-signed"
        if "issuer" in msg:
            return "unknown-ca"
        return "other"
    text = f"{getattr(exc, 'reason', '') or ''} {exc}".upper()
    for needle, outcome in _REASONS:
        if needle in text:
            return outcome
    if isinstance(exc, (ssl.SSLEOFError, ConnectionResetError, asyncio.IncompleteReadError, EOFError)):
        return "no-tls"
    if isinstance(exc, ssl.SSLError) and "HANDSHAKE_FAILURE" in text:
        # TLS 1.2 servers answer a missing client certificate with a generic handshake_failure alert.
        return "other"
    return "other"


def describe_ssl_error(exc: BaseException) -> str:
    """A one-line, human text for the evidence (OpenSSL's reason plus the verify message when there is one)."""
    if isinstance(exc, ssl.SSLCertVerificationError) and getattr(exc, "verify_message", None):
        return f"certificate verify failed: {exc.verify_message} (X509 error {exc.verify_code})"
    reason = getattr(exc, "reason", None)
    return f"{reason}: {exc}" if reason and reason not in str(exc) else (str(exc) or type(exc).__name__)


# ------------------------------------------------------------------------------------ certificate evidence


def certificate_info(der: bytes, now: _dt.datetime | None = None) -> dict[str, Any]:
    """Evidence about a DER certificate: subject, issuer, validity (ISO 8601 UTC), SAN (DNS + IP), days_left,
    self_signed, serial, key (type + bits) and signature hash."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    cert = x509.load_der_x509_certificate(der)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    dns: list[str] = []
    ips: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [str(v) for v in san.get_values_for_type(x509.DNSName)]
        ips = [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_desc = f"RSA {key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_desc = f"EC {key.curve.name}"
    else:
        key_desc = type(key).__name__
    hash_alg = cert.signature_hash_algorithm
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "san": {"dns": dns, "ip": ips},
        "days_left": (not_after - now).days,
        "self_signed": cert.subject == cert.issuer,
        "serial": format(cert.serial_number, "x"),
        "key": key_desc,
        "signature_hash": hash_alg.name if hash_alg is not None else None,
    }


def peer_certificate_info(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any]:
    """Evidence of an established TLS session: protocol, cipher (name, bits) and the peer's certificate."""
    if ssl_object is None:
        return {}
    try:
        info: dict[str, Any] = {"protocol": ssl_object.version()}
        cipher = ssl_object.cipher()
        der = ssl_object.getpeercert(binary_form=True)
    except ValueError:  # the peer dropped the session as it completed: nothing reliable to report
        return {}
    if cipher:
        info["cipher"] = cipher[0]
        info["cipher_bits"] = cipher[2]
    if der:
        cert = certificate_info(der)
        info["certificate"] = cert
        info["days_left"] = cert["days_left"]
    return info


def name_matches(cert: dict[str, Any], host: str) -> bool:
    """Whether a certificate (as `certificate_info` describes it) names `host` (IP SAN or DNS SAN/wildcard)."""
    san = cert.get("san") or {}
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        return any(ipaddress.ip_address(v) == ip for v in san.get("ip", []))
    except ValueError:
        pass
    host = host.lower().rstrip(".")
    for pat in san.get("dns", []):
        pat = pat.lower().rstrip(".")
        if pat == host or (pat.startswith("*.") and host.count(".") >= 1 and host.split(".", 1)[1] == pat[2:]):
            return True
    return False


async def fetch_certificate(host: str, port: int, *, server_hostname: str | None = None,
                            timeout: float = 5.0, options: TLSOptions | None = None) -> dict[str, Any] | None:
    """Handshake once more without verification to read the certificate a failed verification rejected.
    Returns `peer_certificate_info` (protocol, cipher, certificate, days_left) or None when even that fails."""
    writer = None
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=insecure_context(options), server_hostname=server_hostname or host,
            ssl_shutdown_timeout=SHUTDOWN_TIMEOUT), timeout)
        return peer_certificate_info(writer.get_extra_info("ssl_object")) or None
    except (OSError, ssl.SSLError, TimeoutError, asyncio.TimeoutError, EOFError, ValueError):
        return None
    finally:
        if writer is not None:
            close_transport(writer.transport)  # close_notify + FIN at once: this was only a look

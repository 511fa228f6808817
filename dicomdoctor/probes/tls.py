"""Facts about TLS on the port (FM-07/08/09): the handshake outcome, the session, the certificate.

The handshake itself and the classification of OpenSSL's errors are net.connect / net.tls; this probe adds
what a doctor needs around them: a short read after a "successful" handshake (a TLS 1.3 server that wants a
client certificate only says so after the client has finished: alert 116 arrives on the first read), and,
when the peer does not seem to speak TLS, a plain A-ASSOCIATE-RQ to confirm it answers DICOM instead.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass, field, replace
from typing import Any

from ..net import ConnectFailed, TLSHandshakeFailed, classify_ssl_error, connect, fetch_certificate
from ..net.tls import describe_ssl_error
from .association import AssociationFacts, probe_association
from .firstbytes import FirstBytes
from .tcp import close_quietly

# How long we listen after the handshake for a post-handshake alert. A DICOM acceptor never speaks first,
# so silence here is the normal, good case.
POST_HANDSHAKE_READ = 0.5
# How often we look for the session ticket meanwhile: a TLS 1.3 server sends its tickets once it has accepted
# our Finished (certificate included), where a refusal would send the alert instead, so a ticket ends the
# wait at once (about one round trip; Orthanc 1.10: 10 ms instead of the whole POST_HANDSHAKE_READ).
_TICKET_POLL = 0.01


@dataclass(frozen=True, slots=True)
class TLSFacts:
    outcome: str                          # net.tls.TLS_OUTCOMES, or "connect-failed"
    detail: str = ""
    protocol: str | None = None
    cipher: str | None = None
    certificate: dict[str, Any] | None = None
    days_left: int | None = None
    connect_ms: float | None = None
    handshake_ms: float | None = None
    address: str | None = None
    plain_answer: FirstBytes | None = None  # what a plain A-ASSOCIATE-RQ got, when we checked for no-tls
    extra: dict[str, Any] = field(default_factory=dict)


async def probe_tls(host: str, port: int, context: ssl.SSLContext, *, server_hostname: str | None = None,
                    timeout: float = 10.0, called_ae: str = "ANY-SCP", calling_ae: str = "DICOMDOCTOR"
                    ) -> TLSFacts:
    try:
        conn = await connect(host, port, timeout=timeout, tls=context, server_hostname=server_hostname)
    except TLSHandshakeFailed as exc:
        cert = exc.certificate or {}
        facts = TLSFacts(exc.outcome, exc.detail, cert.get("protocol"), cert.get("cipher"),
                         cert.get("certificate"), cert.get("days_left"), exc.connect_ms, None,
                         _addr(exc.address))
        if exc.outcome in ("no-tls", "other") and not cert:
            return await _confirm_plain(facts, host, port, timeout, called_ae, calling_ae)
        return facts
    except ConnectFailed as exc:
        return TLSFacts("connect-failed", exc.detail, address=_addr(exc.address))
    info = conn.tls_info or {}
    base = TLSFacts("ok", "", info.get("protocol"), info.get("cipher"), info.get("certificate"),
                    info.get("days_left"), conn.connect_ms, conn.handshake_ms, _addr(conn.address))
    try:
        late = await _post_handshake(conn.reader, conn.writer.get_extra_info("ssl_object"))
    finally:
        await close_quietly(conn.writer)
    if late == "eof":
        # asyncio reports a TLS alert after the handshake as a bare EOF; a blocking socket shows the alert.
        alert = await asyncio.to_thread(_blocking_alert, host, port, context, server_hostname or host, timeout)
        if alert is not None:
            return replace(base, outcome=classify_ssl_error(alert), detail=describe_ssl_error(alert))
        if base.protocol == "TLSv1.3":
            return replace(base, outcome="client-cert-required", detail="the peer closed the connection right "
                           "after the TLS 1.3 handshake, before any DICOM: what a server does when it refuses "
                           "the client certificate (or its absence)")
        return replace(base, outcome="other", detail="the peer closed the connection right after the TLS handshake")
    if isinstance(late, BaseException):
        return replace(base, outcome=classify_ssl_error(late), detail=describe_ssl_error(late))
    return base


async def _post_handshake(reader: asyncio.StreamReader,
                          ssl_object: ssl.SSLObject | None) -> BaseException | str | None:
    """None (silence or a session ticket: good), "eof", or the exception a read raised."""
    loop = asyncio.get_running_loop()
    end = loop.time() + POST_HANDSHAKE_READ
    read = asyncio.ensure_future(reader.read(1024))
    try:
        while not read.done():
            session = ssl_object.session if ssl_object is not None else None
            left = end - loop.time()
            if (session is not None and session.has_ticket) or left <= 0:
                return None
            await asyncio.wait({read}, timeout=min(_TICKET_POLL, left))
    finally:
        if not read.done():
            read.cancel()
            await asyncio.gather(read, return_exceptions=True)
    exc = read.exception()
    if isinstance(exc, (ssl.SSLError, ConnectionError, OSError)):
        return exc
    if exc is not None:
        raise exc
    return "eof" if not read.result() else None


def _blocking_alert(host: str, port: int, context: ssl.SSLContext, server_hostname: str,
                    timeout: float) -> BaseException | None:
    """One more handshake on a blocking socket, whose read raises the TLS alert asyncio hides (TLS 1.3
    certificate_required arrives only after the client finished its side of the handshake)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
                tls.settimeout(POST_HANDSHAKE_READ)
                tls.recv(1)
    except (ssl.SSLError, ConnectionError) as exc:
        return exc
    except OSError:  # a timeout (silence) or a failure that says nothing more
        return None
    return None


async def _confirm_plain(facts: TLSFacts, host: str, port: int, timeout: float, called_ae: str,
                         calling_ae: str) -> TLSFacts:
    """The handshake failed as if the peer were not TLS: ask it in plain DICOM. An A-ASSOCIATE-AC/RJ (or a
    DICOM A-ABORT) settles it: the port speaks plain DICOM."""
    plain = await probe_association(host, port, called_ae=called_ae, calling_ae=calling_ae,
                                    connect_timeout=timeout, timeout=min(timeout, 5.0))
    outcome = "no-tls" if plain.first is not None and plain.first.kind.value == "dicom" else facts.outcome
    return replace(facts, outcome=outcome, plain_answer=plain.first)


def silent_handshake(attempt: object) -> TLSFacts | None:
    """The TLS facts of an earlier association attempt (probes.association.AssociationFacts) whose TLS
    handshake met silence: TCP accepted, the ClientHello unanswered within the timeout. A second handshake
    would only wait as long again (one wait per silent peer: --timeout bounds the command)."""
    if not isinstance(attempt, AssociationFacts) or attempt.outcome != "connect-failed":
        return None
    tcp = attempt.connect
    if tcp is None or tcp.outcome != "open" or attempt.connect_outcome != "timeout":
        return None
    return TLSFacts("timeout", attempt.error, connect_ms=tcp.connect_ms, address=attempt.address or tcp.address)


async def speaks_tls(host: str, port: int, timeout: float = 5.0) -> dict[str, Any] | None:
    """Does the port complete a TLS handshake (no verification)? The session facts if so, else None. Used
    when plain DICOM got TLS bytes, an immediate close or silence back (FM-07)."""
    return await fetch_certificate(host, port, timeout=timeout)


def _addr(address: Any) -> str | None:
    if isinstance(address, tuple):
        return str(address[0])
    return None if address is None else str(address)

"""TCP (+ TLS) connect with a classified outcome: the first facts of any diagnosis.

`connect` resolves, connects to each address in turn (IPv4 and IPv6) within one time budget, times the TCP
handshake (connect_ms), then runs the TLS handshake when asked. Failures raise `ConnectFailed` with an
outcome a check can judge (refused / timeout / unreachable / reset / dns), or `TLSHandshakeFailed` with a
`tls.classify_ssl_error` outcome. On every failure the socket is closed before raising.
"""

from __future__ import annotations

import asyncio
import errno as _errno
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import DicomDoctorError
from . import tls as _tls
from .timeouts import within

CONNECT_OUTCOMES = ("open", "refused", "timeout", "unreachable", "reset", "dns")
# Reads are bounded by the PDU reader's cap; this is only asyncio's line/buffer limit for the stream.
STREAM_LIMIT = 1 << 20

_UNREACHABLE = {_errno.EHOSTUNREACH, _errno.ENETUNREACH, _errno.EHOSTDOWN, _errno.ENETDOWN,
                _errno.EADDRNOTAVAIL, _errno.EAFNOSUPPORT}
_RESET = {_errno.ECONNRESET, _errno.ECONNABORTED, _errno.EPIPE}


class ConnectFailed(DicomDoctorError):
    """The transport could not be set up. `outcome` in CONNECT_OUTCOMES (or a TLS outcome for the subclass),
    `phase` "dns" | "tcp" | "tls", `errno` when the OS gave one, `attempts` = [(address, outcome, detail)]."""

    def __init__(self, outcome: str, detail: str, errno: int | None = None, *, phase: str = "tcp",
                 address: tuple[str, int] | None = None, attempts: list[tuple[Any, str, str]] | None = None,
                 elapsed_ms: float | None = None) -> None:
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome
        self.detail = detail
        self.errno = errno
        self.phase = phase
        self.address = address
        self.attempts = attempts or []
        self.elapsed_ms = elapsed_ms


class TLSHandshakeFailed(ConnectFailed):
    """TCP connected but TLS did not. `outcome` is a TLS outcome (tls.TLS_OUTCOMES); `certificate` is what a
    second, non-verifying handshake saw (None if it failed too); `connect_ms` the TCP part that worked."""

    def __init__(self, outcome: str, detail: str, *, address: tuple[str, int] | None, connect_ms: float,
                 certificate: dict[str, Any] | None = None) -> None:
        super().__init__(outcome, detail, None, phase="tls", address=address)
        self.connect_ms = connect_ms
        self.certificate = certificate


@dataclass
class Connected:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    address: tuple[str, int]          # the address that answered (IPv6 addresses without brackets)
    connect_ms: float                 # TCP handshake only
    tls_info: dict[str, Any] = field(default_factory=dict)  # tls.peer_certificate_info(); {} without TLS
    handshake_ms: float | None = None

    def abort(self) -> None:
        self.writer.transport.abort()

    def close(self) -> None:
        """Close at once and completely (TLS: close_notify, then the TCP connection; tls.close_transport)."""
        _tls.close_transport(self.writer.transport)


def classify_os_error(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "reset"
    if isinstance(exc, socket.gaierror):
        return "dns"
    code = getattr(exc, "errno", None)
    if code == _errno.ECONNREFUSED:
        return "refused"
    if code == _errno.ETIMEDOUT:
        return "timeout"
    if code in _UNREACHABLE:
        return "unreachable"
    if code in _RESET:
        return "reset"
    return "unreachable"


async def resolve(host: str, port: int, timeout: float | None = None,
                  family: int = socket.AF_UNSPEC) -> list[tuple[int, tuple[Any, ...]]]:
    """[(family, sockaddr)] for host:port, without duplicates, in the resolver's order. Raises ConnectFailed
    with outcome "dns"."""
    loop = asyncio.get_running_loop()
    try:
        infos = await within(timeout, loop.getaddrinfo(host.strip("[]"), port, family=family,
                                                       type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP))
    except socket.gaierror as exc:
        raise ConnectFailed("dns", f"cannot resolve {host!r}: {exc.strerror or exc}", exc.errno,
                            phase="dns") from None
    except TimeoutError:
        raise ConnectFailed("dns", f"resolving {host!r} took longer than {timeout} s", None, phase="dns") from None
    seen: list[tuple[int, tuple[Any, ...]]] = []
    for fam, _, _, _, addr in infos:
        if (fam, addr) not in seen:
            seen.append((fam, addr))
    if not seen:
        raise ConnectFailed("dns", f"{host!r} has no address", None, phase="dns")
    return seen


async def connect(host: str, port: int, timeout: float | None = 5.0, tls: ssl.SSLContext | None = None,
                  server_hostname: str | None = None, *, family: int = socket.AF_UNSPEC) -> Connected:
    """Open a TCP (and TLS) connection within `timeout` seconds in total for resolution + TCP, and again
    `timeout` for the TLS handshake. Raises ConnectFailed / TLSHandshakeFailed; never leaks the socket."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    addresses = await resolve(host, port, timeout, family)
    attempts: list[tuple[Any, str, str]] = []
    sock: socket.socket | None = None
    connect_ms = 0.0
    used: tuple[Any, ...] = ()
    for fam, addr in addresses:
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        t0 = time.monotonic()
        try:
            await within(remaining, loop.sock_connect(s, addr))
        except (OSError, TimeoutError) as exc:
            s.close()
            outcome = classify_os_error(exc)
            detail = (f"no answer within {timeout} s" if outcome == "timeout"
                      else (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__))
            attempts.append((addr[:2], outcome, detail))
            if deadline is not None and time.monotonic() >= deadline:
                break
            continue
        connect_ms = (time.monotonic() - t0) * 1000.0
        sock, used = s, addr
        break
    if sock is None:
        # Report the most telling attempt: a refusal or a reset says more than a timeout on another family.
        rank = {"refused": 0, "reset": 1, "unreachable": 2, "timeout": 3}
        addr, outcome, detail = sorted(attempts, key=lambda a: rank.get(a[1], 9))[0] if attempts else \
            ((host, port), "timeout", f"no answer within {timeout} s")
        err = _errno.ECONNREFUSED if outcome == "refused" else None
        raise ConnectFailed(outcome, f"{_fmt(addr)}: {detail}", err, phase="tcp", address=tuple(addr[:2]),
                            attempts=attempts, elapsed_ms=(time.monotonic() - start) * 1000.0)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    address = (str(used[0]), int(used[1]))
    if tls is None:
        try:
            reader, writer = await asyncio.open_connection(sock=sock, limit=STREAM_LIMIT)
        except BaseException:
            sock.close()
            raise
        return Connected(reader, writer, address, connect_ms)
    sni = server_hostname or host.strip("[]")
    t1 = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(sock=sock, limit=STREAM_LIMIT, ssl=tls,
                                                       server_hostname=sni, ssl_handshake_timeout=timeout,
                                                       ssl_shutdown_timeout=_tls.SHUTDOWN_TIMEOUT)
    except (ssl.SSLError, OSError, EOFError, TimeoutError) as exc:
        sock.close()
        # asyncio ends a handshake past ssl_handshake_timeout with ConnectionAbortedError("SSL handshake is
        # taking longer than ..."): that is silence, not a TLS error.
        silent = isinstance(exc, TimeoutError) or (
            isinstance(exc, ConnectionAbortedError) and timeout is not None
            and time.monotonic() - t1 >= timeout * 0.95)
        if silent:
            outcome, detail = "timeout", (f"the peer accepted TCP but did not answer our TLS ClientHello within "
                                          f"{timeout:g} s")
        else:
            outcome, detail = _tls.classify_ssl_error(exc), _tls.describe_ssl_error(exc)
        cert = None
        # A second handshake would meet the same silence (and wait as long): only look when the peer answered.
        if outcome not in ("no-tls", "timeout"):
            cert = await _tls.fetch_certificate(address[0], address[1], server_hostname=sni,
                                                timeout=timeout or 5.0,
                                                options=getattr(tls, "dicomdoctor_options", None))
        raise TLSHandshakeFailed(outcome, detail, address=address, connect_ms=connect_ms,
                                 certificate=cert) from None
    except BaseException:
        sock.close()
        raise
    info = _tls.peer_certificate_info(writer.get_extra_info("ssl_object"))
    return Connected(reader, writer, address, connect_ms, info, (time.monotonic() - t1) * 1000.0)


def _fmt(addr: Any) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


async def probe_tcp(host: str, port: int, timeout: float | None = 5.0) -> dict[str, Any]:
    """net.reachable facts: connect and close at once (a silent open connection can block a one-thread PACS).
    Returns {outcome, connect_ms, address, detail, attempts}; never raises for network failures."""
    try:
        c = await connect(host, port, timeout)
    except ConnectFailed as exc:
        return {"outcome": exc.outcome, "connect_ms": None, "address": _fmt(exc.address) if exc.address else None,
                "detail": exc.detail, "errno": exc.errno,
                "attempts": [{"address": _fmt(a), "outcome": o, "detail": d} for a, o, d in exc.attempts]}
    c.abort()
    return {"outcome": "open", "connect_ms": round(c.connect_ms, 3), "address": _fmt(c.address), "detail": "",
            "errno": None, "attempts": []}

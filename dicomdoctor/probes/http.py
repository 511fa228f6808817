"""One HTTP exchange as facts (for the DICOMweb probes): status, media type, bounded body, how a failure
happened. No judgement here: engine/judge.py turns these facts into causes.

urllib3 (imported when a request is made) does the HTTP; it is synchronous, so `fetch` runs it in a worker
thread. Every wait is bounded: connect and read timeouts per socket operation, plus a whole-exchange budget
checked while the body streams in (a server trickling bytes cannot hold a check), and at most `max_bytes` of
body kept. Redirects are followed by hand (at most MAX_REDIRECTS) so that each hop is evidence and the
credentials never follow a redirect to another origin.
"""

from __future__ import annotations

import asyncio
import base64
import errno as _errno
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from ..net.tls import classify_ssl_error, describe_ssl_error

if TYPE_CHECKING:
    import urllib3

MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 4 << 20
CHUNK = 64 * 1024
# Response headers worth keeping as evidence (never Set-Cookie, never anything carrying a credential).
KEPT_HEADERS = ("content-type", "content-length", "www-authenticate", "location", "server", "allow", "warning",
                "x-powered-by")
# Outcomes of an exchange: "answered" (an HTTP response came back; see status), the TCP connect outcomes of
# net.connect (refused, timeout, unreachable, reset, dns), "tls" (the handshake failed: tls_outcome says how),
# "no-response" (connected, then no answer within the read timeout), "closed" (connection closed without an
# answer), "not-http" (the bytes back were not HTTP), "other".
OUTCOMES = ("answered", "refused", "timeout", "unreachable", "reset", "dns", "tls", "no-response", "closed",
            "not-http", "other")


@dataclass(frozen=True)
class Credentials:
    """HTTP authentication: basic (user + secret) or bearer (secret only). `__repr__` never shows the secret."""

    kind: str  # "basic" | "bearer"
    secret: str = field(repr=False)
    user: str | None = None

    def header(self) -> str:
        if self.kind == "basic":
            token = base64.b64encode(f"{self.user}:{self.secret}".encode("utf-8")).decode("ascii")
            return f"Basic {token}"
        return f"Bearer {self.secret}"


@dataclass(frozen=True)
class HttpExchange:
    """What happened to one request (after redirects)."""

    method: str
    url: str
    outcome: str
    status: int | None = None
    reason: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = field(default=b"", repr=False)
    body_bytes: int = 0          # bytes of body received (body holds at most max_bytes of them)
    truncated: bool = False      # we stopped reading (cap or budget) before the body ended
    elapsed_ms: float = 0.0
    detail: str = ""
    tls_outcome: str | None = None
    tls: Mapping[str, Any] | None = None   # protocol and cipher of an https exchange
    redirects: tuple[str, ...] = ()        # the Location of each hop followed
    auth: str = "none"                     # the kind of credentials sent: none | basic | bearer

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def media_type(self) -> str:
        """The content type without parameters, lower case ("" when absent)."""
        return (self.content_type or "").split(";", 1)[0].strip().lower()

    def evidence(self) -> dict[str, Any]:
        """Plain values for a finding (no body, no credentials)."""
        ev: dict[str, Any] = {"method": self.method, "url": self.url, "outcome": self.outcome,
                              "http_status": self.status, "content_type": self.content_type,
                              "elapsed_ms": round(self.elapsed_ms, 1), "auth": self.auth}
        if self.reason:
            ev["http_reason"] = self.reason
        if self.detail:
            ev["detail"] = self.detail
        if self.tls_outcome:
            ev["tls_outcome"] = self.tls_outcome
        if self.tls:
            ev["tls"] = dict(self.tls)
        if self.redirects:
            ev["redirects"] = list(self.redirects)
        if "www-authenticate" in self.headers:
            ev["www_authenticate"] = self.headers["www-authenticate"]
        if "allow" in self.headers:
            ev["allow"] = self.headers["allow"]
        if "server" in self.headers:
            ev["server"] = self.headers["server"]
        if self.status is not None:
            ev["body_bytes"] = self.body_bytes
            if self.truncated:
                ev["body_truncated"] = True
        return ev

    def body_text(self, limit: int = 240) -> str:
        """The start of the body as text for evidence (an HTML page, a JSON error), control characters shown
        escaped by the report sanitizer."""
        text = self.body[:limit * 4].decode("utf-8", "replace")
        text = " ".join(text.split())
        return text[:limit] + ("..." if len(text) > limit else "")


@dataclass
class HttpClient:
    """Requests against one base URL's origin with the same TLS, credentials and limits."""

    timeout: float = 10.0                 # connect, and each read
    budget: float = 30.0                  # one whole exchange, redirects included
    ssl_context: ssl.SSLContext | None = None
    credentials: Credentials | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    user_agent: str = "dicomdoctor"
    _pool: "urllib3.PoolManager | None" = field(default=None, repr=False)

    def _manager(self) -> "urllib3.PoolManager":
        if self._pool is None:
            import urllib3  # lazy: only DICOMweb checks need it

            kwargs: dict[str, Any] = {"num_pools": 4, "maxsize": 1, "block": False}
            if self.ssl_context is not None:
                kwargs["ssl_context"] = self.ssl_context
                if self.ssl_context.verify_mode == ssl.CERT_NONE:  # --insecure: urllib3 must not verify either
                    kwargs["cert_reqs"] = "CERT_NONE"
                    kwargs["assert_hostname"] = False
                    # The user asked for it and the finding says so; no warning on stderr for each request.
                    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            self._pool = urllib3.PoolManager(**kwargs)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.clear()
            self._pool = None

    async def fetch(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                    body: bytes | None = None, max_bytes: int | None = None) -> HttpExchange:
        return await asyncio.to_thread(self.request, method, url, headers=headers, body=body, max_bytes=max_bytes)

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                body: bytes | None = None, max_bytes: int | None = None) -> HttpExchange:
        """One request, redirects followed; never raises for network or HTTP failures."""
        start = time.monotonic()
        origin = _origin(url)
        redirects: list[str] = []
        cap = self.max_bytes if max_bytes is None else max_bytes
        while True:
            sent_auth = self.credentials is not None and _origin(url) == origin
            ex = self._once(method, url, headers or {}, body, cap, start, sent_auth)
            location = ex.headers.get("location")
            if ex.status in (301, 302, 303, 307, 308) and location and len(redirects) < MAX_REDIRECTS \
                    and (method == "GET" or ex.status in (307, 308)):
                url = urllib.parse.urljoin(url, location)
                redirects.append(url)
                continue
            return _replace(ex, redirects=tuple(redirects), elapsed_ms=(time.monotonic() - start) * 1000)

    def _once(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, cap: int,
              start: float, sent_auth: bool) -> HttpExchange:
        import urllib3

        h = {"User-Agent": self.user_agent, **headers}
        if sent_auth and self.credentials is not None:
            h["Authorization"] = self.credentials.header()
        auth = self.credentials.kind if sent_auth and self.credentials is not None else "none"
        left = max(0.05, self.budget - (time.monotonic() - start))
        timeout = urllib3.Timeout(connect=min(self.timeout, left), read=min(self.timeout, left))
        try:
            r = self._manager().urlopen(method, url, body=body, headers=h, redirect=False, retries=False,
                                        preload_content=False, timeout=timeout, decode_content=True)
        except Exception as exc:  # every network failure becomes facts
            outcome, tls_outcome, detail = classify_exception(exc)
            return HttpExchange(method, url, outcome, detail=detail, tls_outcome=tls_outcome, auth=auth)
        kept = {k: v for k, v in ((k.lower(), v) for k, v in r.headers.items()) if k in KEPT_HEADERS}
        tls = _tls_info(r)
        data = bytearray()
        total = 0
        truncated = False
        detail = ""
        try:
            while True:
                if time.monotonic() - start > self.budget:
                    truncated = True
                    detail = f"stopped reading after the {self.budget:g} s budget"
                    break
                chunk = r.read(CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                data += chunk[: max(0, cap - len(data))]
                if total >= cap:
                    truncated = bool(r.read(1))  # one byte more tells a body of exactly `cap` from a longer one
                    total += int(truncated)
                    break
        except Exception as exc:
            _, _, why = classify_exception(exc)
            truncated, detail = True, f"the body was cut: {why}"
        finally:
            try:
                if truncated:
                    r.close()  # do not drain a huge or trickling body
                else:
                    r.release_conn()
            except Exception:
                pass
        return HttpExchange(method, url, "answered", status=int(r.status), reason=str(r.reason or ""),
                            headers=kept, body=bytes(data), body_bytes=total, truncated=truncated, detail=detail,
                            tls=tls, auth=auth)


def _replace(ex: HttpExchange, **changes: Any) -> HttpExchange:
    import dataclasses

    return dataclasses.replace(ex, **changes)


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urllib.parse.urlsplit(url)
    return (p.scheme.lower(), (p.hostname or "").lower(), p.port or (443 if p.scheme == "https" else 80))


def _tls_info(r: Any) -> dict[str, Any] | None:
    sock = getattr(getattr(r, "connection", None), "sock", None)
    if sock is None or not hasattr(sock, "version"):
        return None
    try:
        cipher = sock.cipher()
        return {"protocol": sock.version(), "cipher": cipher[0] if cipher else None}
    except Exception:
        return None


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        todo += [getattr(e, "reason", None) if isinstance(getattr(e, "reason", None), BaseException) else None,
                 e.__cause__, e.__context__]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    return out


def classify_exception(exc: BaseException) -> tuple[str, str | None, str]:
    """(outcome, tls_outcome, detail) for an exception from urllib3 / the socket layer."""
    import http.client

    import urllib3.exceptions as ue

    chain = _chain(exc)
    detail = _describe(exc)
    for e in chain:
        if isinstance(e, ssl.SSLError) or isinstance(e, ue.SSLError) and not isinstance(e, ssl.SSLError):
            inner = next((x for x in chain if isinstance(x, ssl.SSLError)), None)
            if inner is not None:
                return "tls", classify_ssl_error(inner), describe_ssl_error(inner)
            return "tls", "other", detail
    for e in chain:
        if isinstance(e, ue.NameResolutionError):
            return "dns", None, detail
    for e in chain:
        if isinstance(e, ue.ReadTimeoutError):
            return "no-response", None, detail
    for e in chain:
        if isinstance(e, ue.NewConnectionError):
            return _errno_outcome(chain) or "other", None, detail
        if isinstance(e, ue.ConnectTimeoutError):
            return "timeout", None, detail
    for e in chain:
        if isinstance(e, (http.client.BadStatusLine, http.client.LineTooLong, http.client.HTTPException)) \
                and not isinstance(e, http.client.RemoteDisconnected):
            return "not-http", None, detail
    for e in chain:  # RemoteDisconnected is a ConnectionResetError: test it first
        if isinstance(e, (http.client.RemoteDisconnected, ConnectionAbortedError, BrokenPipeError)):
            return "closed", None, detail
        if isinstance(e, ConnectionResetError):
            return "reset", None, detail
    for e in chain:
        if isinstance(e, (TimeoutError, ue.TimeoutError)):
            return "no-response", None, detail
    return _errno_outcome(chain) or "other", None, detail


def _errno_outcome(chain: list[BaseException]) -> str | None:
    for e in chain:
        if isinstance(e, ConnectionRefusedError):
            return "refused"
        if isinstance(e, (TimeoutError,)):
            return "timeout"
        code = getattr(e, "errno", None)
        if code in (_errno.EHOSTUNREACH, _errno.ENETUNREACH):
            return "unreachable"
        if code == _errno.ECONNRESET:
            return "reset"
        if code == _errno.ECONNREFUSED:
            return "refused"
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    # urllib3 prefixes the connection object's repr ("HTTPConnection(host=..., port=...): "); keep the reason.
    if "): " in text and text.startswith(("HTTPConnection(", "HTTPSConnection(")):
        text = text.split("): ", 1)[1]
    return f"{type(exc).__name__}: {text}"[:300]

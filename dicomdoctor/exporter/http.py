"""A small HTTP/1.1 server on asyncio streams: GET and HEAD only, keep-alive (Prometheus keeps its scrape
connections open), bounded request heads and idle time. Enough for an exporter; no dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEAD_BYTES = 16384
MAX_BODY_BYTES = 65536  # a GET has no body; one this size is read and ignored, a larger one refused
IDLE_TIMEOUT = 120.0  # a keep-alive connection with no request for this long is closed
HEAD_TIMEOUT = 30.0  # a request head must arrive within this (slowloris)
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
           431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> "Response":
        return cls(status, text.encode("utf-8"), content_type)


Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_head(head: bytes) -> tuple[Request, bool, int]:
    """(request, keep-alive, body length) from the bytes up to and including the blank line."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # latin-1 decodes every byte; kept for clarity
        raise _BadRequest(400, "undecodable request") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, "malformed header line")
        headers[name.lower()] = value.strip()
    url = urlsplit(target)
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    try:
        length = int(headers.get("content-length", "0") or 0)
    except ValueError:
        raise _BadRequest(400, "bad Content-Length") from None
    if length < 0:
        raise _BadRequest(400, "bad Content-Length")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadRequest(400, "request bodies are not accepted")
    return (Request(method.upper(), unquote(url.path) or "/", parse_qs(url.query, keep_blank_values=True),
                    headers), keep_alive, length)


def _encode(response: Response, *, keep_alive: bool, head_only: bool) -> bytes:
    lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}",
             f"Content-Type: {response.content_type}", f"Content-Length: {len(response.body)}",
             f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    lines += [f"{k}: {v}" for k, v in response.headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


class HTTPServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._client, host, port, limit=MAX_HEAD_BYTES)
        sock = self._server.sockets[0].getsockname()
        self.address = (str(sock[0]), int(sock[1]))
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.wait(list(self._clients), timeout=5.0)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            pass  # the client went away or stalled: nothing to answer
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        while True:
            try:
                # The first request gets HEAD_TIMEOUT; a kept-alive connection may idle for IDLE_TIMEOUT.
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT if first else IDLE_TIMEOUT)
            except asyncio.LimitOverrunError:
                writer.write(_encode(Response.text(431, "request head too large\n"), keep_alive=False,
                                     head_only=False))
                await writer.drain()
                return
            except asyncio.IncompleteReadError:
                return  # closed between requests
            first = False
            try:
                request, keep_alive, length = parse_head(head)
                if length > MAX_BODY_BYTES:
                    raise _BadRequest(413, "request body too large")
                if length:
                    await asyncio.wait_for(reader.readexactly(length), HEAD_TIMEOUT)
            except _BadRequest as exc:
                writer.write(_encode(Response.text(exc.status, f"{exc}\n"), keep_alive=False, head_only=False))
                await writer.drain()
                return
            if request.method not in ("GET", "HEAD"):
                response = Response.text(405, "only GET and HEAD are served\n")
                response.headers["Allow"] = "GET, HEAD"
            else:
                try:
                    response = await self.handler(request)
                except Exception as exc:  # a bug of ours: say so, keep serving
                    response = Response.text(500, f"internal error: {type(exc).__name__}: {exc}\n")
            writer.write(_encode(response, keep_alive=keep_alive, head_only=request.method == "HEAD"))
            await writer.drain()
            if not keep_alive:
                return

"""Listeners that are not DICOM at all: the connection faults (close-on-connect, garbage, silent, http).

These replace the SCP altogether, so they are plain asyncio servers rather than hooks in the DICOM one:
what they do happens before (or instead of) any PDU. Each is bounded: reads are capped, and a silent
connection is held for at most `SILENT_HOLD` seconds, so a forgotten client cannot pin the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from .faults import HTTP, CloseOnConnect, Fault, Garbage, Silent

READ_CAP = 1 << 16
SILENT_HOLD = 600.0
HANDSHAKE_TIMEOUT = 10.0
# Not a PDU: 0xFF is no PDU type (PS3.8 §9.3.1 defines 0x01..0x07), and the "length" that follows is absurd.
GARBAGE = b"\xff\xfe\xfd\xfc" + b"this is not DICOM \x00\x01\x02\x03" * 4
HTTP_BODY = b"This port speaks HTTP, not DICOM (DIMSE). Use the DICOM port of this server.\n"
HTTP_RESPONSE = (b"HTTP/1.1 400 Bad Request\r\nServer: dicomdoctor-simulator\r\nContent-Type: text/plain\r\n"
                 b"Content-Length: " + str(len(HTTP_BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + HTTP_BODY)


async def _close(server: asyncio.base_events.Server | None, tasks: set[asyncio.Task[None]]) -> None:
    if server is not None:
        server.close()
    for task in list(tasks):
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    if server is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


class RawServer:
    """A TCP (or TLS) listener that misbehaves as `fault` says."""

    def __init__(self, fault: Fault, ssl_context: ssl.SSLContext | None = None) -> None:
        if not isinstance(fault, (CloseOnConnect, Garbage, Silent, HTTP)):
            raise TypeError(f"{fault!r} is not a connection fault")
        self.fault = fault
        self.ssl_context = ssl_context
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, ssl=self.ssl_context,
                                                  ssl_handshake_timeout=10 if self.ssl_context else None)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        await _close(self._server, self._tasks)
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._behave(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, OSError, TimeoutError):
            pass  # the client went away (or the silent hold ended): that is its right
        except asyncio.CancelledError:
            pass  # close() cancels us; ending normally keeps asyncio's stream callback from logging it
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _behave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        f = self.fault
        if isinstance(f, CloseOnConnect):
            return
        if isinstance(f, Silent):
            # Read and drop whatever comes (so TCP windows never fill), never answer.
            async def drain() -> None:
                while await reader.read(READ_CAP):
                    pass

            await asyncio.wait_for(drain(), SILENT_HOLD)
            return
        # garbage / http answer whatever the client sends first, the way such a port does
        data = await reader.read(READ_CAP)
        if not data:
            return
        if isinstance(f, HTTP):
            writer.write(HTTP_RESPONSE)
            await writer.drain()
            return
        while data:  # garbage: every chunk gets garbage back, until the client gives up
            writer.write(GARBAGE)
            await writer.drain()
            data = await reader.read(READ_CAP)


class TLSFront:
    """TLS terminated with memory BIOs in front of a plain listener on an internal loopback port.

    Only for the `tls=client-cert` fault: asyncio's own TLS server drops the connection on a failed handshake
    without flushing OpenSSL's alert, so a client would see a bare EOF instead of the "certificate required"
    alert that dcmtk, Orthanc or any OpenSSL server sends. Here the alert bytes are written before closing.
    """

    def __init__(self, ssl_context: ssl.SSLContext, inner_port: int, inner_host: str = "127.0.0.1") -> None:
        self.ssl_context = ssl_context
        self.inner = (inner_host, inner_port)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        await _close(self._server, self._tasks)
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.ssl_context.wrap_bio(incoming, outgoing, server_side=True)

        async def flush() -> None:
            data = outgoing.read()
            if data:
                writer.write(data)
                await writer.drain()

        async def handshake() -> bool:
            while True:
                try:
                    tls.do_handshake()
                    return True
                except ssl.SSLWantReadError:
                    await flush()
                    data = await reader.read(READ_CAP)
                    if not data:
                        return False
                    incoming.write(data)

        inner_writer: asyncio.StreamWriter | None = None
        try:
            if not await asyncio.wait_for(handshake(), HANDSHAKE_TIMEOUT):
                return
            await flush()
            inner_reader, inner_writer = await asyncio.open_connection(*self.inner)

            async def upstream() -> None:  # client (TLS) -> inner (plain)
                assert inner_writer is not None
                while True:
                    # Drain what is already decrypted first: a TLS 1.3 client sends its first PDU right
                    # behind its Finished message, so it may be in the BIO before we read the socket again.
                    while True:
                        try:
                            plain = tls.read(READ_CAP)
                        except ssl.SSLWantReadError:
                            break
                        except ssl.SSLError:
                            await flush()  # TLS 1.3: the client-certificate check fails here; send its alert
                            return
                        if not plain:
                            return
                        inner_writer.write(plain)
                    await flush()
                    await inner_writer.drain()
                    data = await reader.read(READ_CAP)
                    if not data:
                        return
                    incoming.write(data)

            async def downstream() -> None:  # inner (plain) -> client (TLS)
                while True:
                    data = await inner_reader.read(READ_CAP)
                    if not data:
                        break
                    tls.write(data)
                    await flush()

            up = asyncio.ensure_future(upstream())
            down = asyncio.ensure_future(downstream())
            try:
                await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                up.cancel()
                down.cancel()
                await asyncio.gather(up, down, return_exceptions=True)
        except ssl.SSLError:
            with contextlib.suppress(Exception):
                await flush()  # the alert OpenSSL queued: the whole point of this class
        except (ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # close() cancels us; ending normally keeps asyncio's stream callback from logging it
        finally:
            self._tasks.discard(task)
            for w in (inner_writer, writer):
                if w is not None:
                    w.close()

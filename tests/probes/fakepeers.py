"""Misbehaving peers for the probe and check tests: small asyncio servers on a thread, on free loopback ports.

Each behaviour is a coroutine `(reader, writer) -> None` run per connection. The server runs its own event
loop on a daemon thread, so it serves both tests that drive probes with `asyncio.run` and tests that go
through the (synchronous) engine runner or the CLI.

    with FakePeer(silence) as peer:          # peer.host, peer.port, peer.connections
        ...
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Awaitable, Callable

from dicomdoctor.ul.codec import encode_pdu
from dicomdoctor.ul.items import PresentationContextAC, UserInformation
from dicomdoctor.ul.pdu import AAbort, AAssociateAC, AAssociateRJ, AReleaseRP

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class FakePeer:
    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None,
                 host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.port = 0
        self.connections = 0
        self.received: list[bytes] = []
        self._ssl = ssl_context
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("fake peer did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError,
                    asyncio.CancelledError):  # the client went away, or we are shutting the fake down
                pass
            finally:
                writer.transport.abort() if writer.transport is not None else None

        async def start() -> None:
            self._server = await asyncio.start_server(on_conn, self.host, 0, ssl=self._ssl)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def target(self, ae: str = "FAKE") -> str:
        return f"{ae}@{self.host}:{self.port}"

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        fut = asyncio.run_coroutine_threadsafe(stop(), self._loop)
        try:
            fut.result(5)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> "FakePeer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------------- behaviours

async def read_rq(reader: asyncio.StreamReader) -> bytes:
    """Read one whole PDU (the A-ASSOCIATE-RQ) from the client."""
    head = await reader.readexactly(6)
    body = await reader.readexactly(int.from_bytes(head[2:6], "big"))
    return head + body


async def until_closed(reader: asyncio.StreamReader) -> None:
    """Keep the connection until the client closes it (its own timeouts decide, not a peer-side clock)."""
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, OSError):
        pass


async def silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_rq(reader)
    await until_closed(reader)


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_rq(reader)
    writer.close()


def send_after_rq(data: bytes, linger: float = 2.0) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_rq(reader)
        writer.write(data)
        await writer.drain()
        # Stay until the client closes; `linger` bounds it for clients that wait for us to close first.
        try:
            await asyncio.wait_for(until_closed(reader), linger)
        except asyncio.TimeoutError:
            pass
    return handler


def accept_ac(*, max_length: int | None = 16384, uid: str | None = "1.2.3.4",
              version: str | None = "FAKE_1", result_for: Callable[[int, str, tuple[str, ...]], int] | None = None,
              after_ac: bytes = b"") -> Handler:
    """A DICOM acceptor built on our own codec: answers each context with
    `result_for(context_id, abstract, transfer_syntaxes)` (default: accept), releases on request."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer_ac(await read_rq(reader), reader, writer, max_length=max_length, uid=uid, version=version,
                        result_for=result_for, after_ac=after_ac)
    return handler


async def answer_ac(rq_raw: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                    max_length: int | None = 16384, uid: str | None = "1.2.3.4", version: str | None = "FAKE_1",
                    result_for: Callable[[int, str, tuple[str, ...]], int] | None = None,
                    after_ac: bytes = b"") -> None:
    from dicomdoctor.ul.codec import decode_pdu

    rq = decode_pdu(rq_raw)
    pcs = []
    for pc in rq.presentation_contexts:
        r = result_for(pc.context_id, pc.abstract_syntax, pc.transfer_syntaxes) if result_for else 0
        pcs.append(PresentationContextAC(pc.context_id, r, pc.transfer_syntaxes[0] if r == 0 else ""))
    ac = AAssociateAC(called_ae=rq.called_ae, calling_ae=rq.calling_ae, presentation_contexts=pcs,
                      user_information=UserInformation(max_length=max_length, implementation_class_uid=uid,
                                                       implementation_version_name=version))
    writer.write(encode_pdu(ac) + after_ac)
    await writer.drain()
    head = await reader.readexactly(6)
    await reader.readexactly(int.from_bytes(head[2:6], "big"))
    if head[0] == 0x05:
        writer.write(encode_pdu(AReleaseRP()))
        await writer.drain()
    await until_closed(reader)


def accept_then(behaviour: str) -> Handler:
    """Accept the association, then on the first P-DATA: "silence" (never answer), "abort" (A-ABORT 0/0),
    "close" (drop the connection)."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from dicomdoctor.ul.codec import decode_pdu

        rq = decode_pdu(await read_rq(reader))
        pcs = [PresentationContextAC(pc.context_id, 0, pc.transfer_syntaxes[0]) for pc in rq.presentation_contexts]
        writer.write(encode_pdu(AAssociateAC(called_ae=rq.called_ae, calling_ae=rq.calling_ae,
                                             presentation_contexts=pcs,
                                             user_information=UserInformation(max_length=16384))))
        await writer.drain()
        await read_rq(reader)  # the first P-DATA-TF
        if behaviour == "silence":
            await until_closed(reader)
        elif behaviour == "abort":
            writer.write(encode_pdu(AAbort(0, 0)))
            await writer.drain()
            await until_closed(reader)
        else:
            writer.close()
    return handler


def reject(result: int = 1, source: int = 1, reason: int = 7) -> Handler:
    return send_after_rq(encode_pdu(AAssociateRJ(result, source, reason)))


def abort(source: int = 0, reason: int = 0) -> Handler:
    return send_after_rq(encode_pdu(AAbort(source, reason)))


def ae_policy(called_ok: set[str], calling_ok: set[str] | None = None) -> Handler:
    """Rejects unknown called AEs with 1/1/7 and (if given) unknown calling AEs with 1/1/3, else accepts."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = await read_rq(reader)
        called, calling = raw[10:26].decode().strip(), raw[26:42].decode().strip()
        if called not in called_ok:
            writer.write(encode_pdu(AAssociateRJ(1, 1, 7)))
        elif calling_ok is not None and calling not in calling_ok:
            writer.write(encode_pdu(AAssociateRJ(1, 1, 3)))
        else:
            await answer_ac(raw, reader, writer)
            return
        await writer.drain()
        await until_closed(reader)
    return handler


# A well-formed A-ASSOCIATE-AC header that claims 4 GB.
HUGE_AC = bytes([0x02, 0x00]) + (0xFFFFFFF0).to_bytes(4, "big") + b"\x00\x01\x00\x00" + b"A" * 32
HTTP_ANSWER = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
GARBAGE = bytes(range(0x80, 0xC0))
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"


def malformed_ac() -> bytes:
    """An A-ASSOCIATE-AC whose presentation context item claims more bytes than the PDU holds."""
    good = encode_pdu(AAssociateAC(called_ae="X", calling_ae="Y", presentation_contexts=[
        PresentationContextAC(1, 0, "1.2.840.10008.1.2")], user_information=UserInformation(max_length=16384)))
    raw = bytearray(good)
    pos = 6 + 68  # fixed fields (4 + 32 + 32), then the first item: the application context
    while raw[pos] != 0x21:
        pos += 4 + int.from_bytes(raw[pos + 2:pos + 4], "big")
    raw[pos + 2:pos + 4] = (400).to_bytes(2, "big")
    return bytes(raw)

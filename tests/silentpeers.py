"""Two silent DICOM peers on loopback, for the whole-run deadline (`--timeout T` ends within T + 1 s).

* `SilentPeer("accept")`: accepts TCP and never sends a byte (a hung SCP, or one whose only thread is held by
  another client: Orthanc 1.10 serves associations one at a time).
* `SilentPeer("after-ac")`: answers each A-ASSOCIATE-RQ with a valid A-ASSOCIATE-AC (every context accepted
  with its first transfer syntax, built with our ul codec), then never answers anything again.

Plain sockets and one selector thread, no asyncio: the CLI under test runs its own event loop in the test's
thread, and a benchmark can use the same peers. Connections stay open (as a hung peer keeps them) until
`close()`; what each connection sent is counted, so a test can tell how often the doctor came back.

    with SilentPeer("after-ac") as peer:
        main(["echo", peer.target(), "--timeout", "2"])
        peer.connections, peer.associations
"""

from __future__ import annotations

import selectors
import socket
import threading
from typing import Any

from dicomdoctor.ul.codec import decode_pdu, encode_pdu
from dicomdoctor.ul.items import PresentationContextAC, UserInformation
from dicomdoctor.ul.pdu import AAssociateAC

MODES = ("accept", "after-ac")
_READ_CAP = 1 << 20  # bytes buffered per connection at most: an A-ASSOCIATE-RQ is far smaller


class SilentPeer:
    def __init__(self, mode: str, *, ae_title: str = "SILENT", host: str = "127.0.0.1") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.ae_title = ae_title
        self.host = host
        self.connections = 0
        self.associations = 0        # A-ASSOCIATE-RQs received
        self.answered = 0            # A-ASSOCIATE-ACs sent
        self._listener = socket.create_server((host, 0), backlog=64)
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._buffers: dict[socket.socket, bytearray] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stop = False
        self._thread = threading.Thread(target=self._serve, name=f"silent-{mode}", daemon=True)
        self._thread.start()

    def target(self, ae_title: str | None = None) -> str:
        return f"{ae_title or self.ae_title}@{self.host}:{self.port}"

    # ------------------------------------------------------------------------------------------ serving
    def _serve(self) -> None:
        while not self._stop:
            for key, _ in self._selector.select(timeout=1.0):
                if key.data == "wake":
                    return
                if key.fileobj is self._listener:
                    self._accept()
                else:
                    self._read(key.fileobj)  # type: ignore[arg-type]

    def _accept(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        conn.setblocking(False)
        self.connections += 1
        self._buffers[conn] = bytearray()
        self._selector.register(conn, selectors.EVENT_READ, "conn")

    def _read(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the doctor closed (or reset) its side: forget the connection
            self._drop(conn)
            return
        buf = self._buffers[conn]
        if len(buf) < _READ_CAP:
            buf += data
        self._pdus(conn, buf)

    def _pdus(self, conn: socket.socket, buf: bytearray) -> None:
        """Count whole PDUs; in after-ac mode answer each A-ASSOCIATE-RQ. Everything else meets silence."""
        while len(buf) >= 6:
            length = int.from_bytes(buf[2:6], "big")
            if len(buf) < 6 + length:
                return
            raw, rest = bytes(buf[:6 + length]), buf[6 + length:]
            buf[:] = rest
            if raw[0] != 0x01:
                continue
            self.associations += 1
            if self.mode == "after-ac":
                try:
                    conn.sendall(self._ac(raw))
                    self.answered += 1
                except OSError:
                    pass

    def _ac(self, raw: bytes) -> bytes:
        rq: Any = decode_pdu(raw)
        pcs = [PresentationContextAC(pc.context_id, 0, pc.transfer_syntaxes[0]) for pc in rq.presentation_contexts]
        return encode_pdu(AAssociateAC(
            called_ae=rq.called_ae, calling_ae=rq.calling_ae, presentation_contexts=pcs,
            user_information=UserInformation(max_length=16384, implementation_class_uid="1.2.826.0.1.3680043.9.7.1",
                                             implementation_version_name="SILENT_AFTER_AC")))

    def _drop(self, conn: socket.socket) -> None:
        try:
            self._selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        self._buffers.pop(conn, None)
        conn.close()

    # ------------------------------------------------------------------------------------------ lifetime
    def close(self) -> None:
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(5)
        for conn in list(self._buffers):
            self._drop(conn)
        self._selector.close()
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> "SilentPeer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

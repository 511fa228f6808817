"""Hostile DICOM peers on loopback: raw-socket servers that each break one bound a doctor must keep.

Each peer accepts the association (every proposed context, Implicit VR Little Endian when proposed) and then
misbehaves in one way, chosen by `CASES`. They are plain sockets and threads, not our SCP stack, so a bug in
``dicomdoctor.net`` cannot hide a bug in the peer. Tests import this file (``load_hostile_peers()`` in
tests/hostile.py); `benchmarks/hostile.py` runs every SCU command and `diagnose` against each one.

    python benchmarks/hostile_peers.py CASE [--port N]     # serve one case until Ctrl-C

Only 127.0.0.1. Every peer thread gives up after `PEER_LIFETIME` seconds, so nothing outlives its test.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dicomdoctor.dimse.commands import decode_command, encode_command  # noqa: E402
from dicomdoctor.ul.codec import decode_pdu, encode_pdu  # noqa: E402
from dicomdoctor.ul.items import PresentationContextAC, UserInformation  # noqa: E402
from dicomdoctor.ul.pdu import AAssociateAC, AReleaseRP  # noqa: E402

LOOPBACK = "127.0.0.1"
PEER_LIFETIME = 120.0     # seconds any one connection may live (a safety net for tests)
IMPLICIT_LE = "1.2.840.10008.1.2"
PATIENT_TEXT = "DOE^JANE born 19700101"  # a made-up name in a peer's free text (PHI redaction cases)

CASES: dict[str, str] = {
    "frag-command": "command fragments that never end (no last-fragment bit), 16 KiB each",
    "frag-dataset": "a response whose data set never ends, 16 KiB fragments",
    "frag-tiny": "a response whose data set never ends, in 1-byte PDVs (thousands per PDU)",
    "pending-forever": "pending responses forever (C-FIND matches, C-MOVE/C-GET counts); ignores C-CANCEL",
    "release-flood": "answers correctly, then floods P-DATA instead of A-RELEASE-RP",
    "missing-fields": "responses without Status and Message ID Being Responded To",
    "bad-group-length": "responses whose Command Group Length is wrong",
    "phi-comment": "failure status whose Error Comment holds a patient name, terminal escapes and RTL marks",
    "bad-uids": "C-MOVE/C-GET sub-operations with empty, colliding and dots-only SOP Instance UIDs",
}

ECHO, STORE, FIND, GET, MOVE, CANCEL = 0x0030, 0x0001, 0x0020, 0x0010, 0x0021, 0x0FFF
NO_DATASET, DATASET = 0x0101, 0x0001


def _element(tag: int, value: bytes) -> bytes:
    """One Implicit VR Little Endian element (value padded to even length)."""
    if len(value) % 2:
        value += b"\0" if tag in (0x00080016, 0x00080018, 0x0020000D) else b" "
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def identifier(uid: str = "1.2.826.0.1.3680043.10.543.1") -> bytes:
    """A small C-FIND match: QueryRetrieveLevel, PatientID, StudyInstanceUID."""
    return (_element(0x00080052, b"STUDY") + _element(0x00100020, b"DD-HOSTILE")
            + _element(0x0020000D, uid.encode()))


def instance(sop_class: str, sop_instance: str) -> bytes:
    """A tiny data set for a C-STORE sub-operation."""
    return (_element(0x00080016, sop_class.encode()) + _element(0x00080018, sop_instance.encode())
            + _element(0x00100020, b"DD-HOSTILE"))


def pdata(context_id: int, control: int, data: bytes) -> bytes:
    """One P-DATA-TF PDU with one PDV (control: bit 0 command, bit 1 last)."""
    return struct.pack(">BBIIBB", 4, 0, len(data) + 6, len(data) + 2, context_id, control) + data


def message(context_id: int, command: dict[str, Any], dataset: bytes | None = None) -> bytes:
    out = pdata(context_id, 3, encode_command(command))
    if dataset is not None:
        out += pdata(context_id, 2, dataset)
    return out


@dataclass
class Request:
    context_id: int
    command: dict[int, Any]
    dataset: bytes | None

    @property
    def field(self) -> int:
        return int(self.command.get(0x00000100) or 0)

    @property
    def message_id(self) -> int:
        return int(self.command.get(0x00000110) or 0)

    @property
    def sop_class(self) -> str:
        return str(self.command.get(0x00000002) or "")


@dataclass
class PeerConnection:
    """One association with a hostile peer; `case` decides what it does with each request."""

    sock: socket.socket
    case: str
    move_port: int | None
    contexts: dict[int, str] = field(default_factory=dict)  # accepted context id -> abstract syntax
    buf: bytearray = field(default_factory=bytearray)

    # ------------------------------------------------------------------------------------------- wire
    def frame(self) -> tuple[int, bytes] | None:
        while len(self.buf) < 6 or len(self.buf) < 6 + struct.unpack(">I", self.buf[2:6])[0]:
            data = self.sock.recv(1 << 16)
            if not data:
                return None
            self.buf += data
        length = struct.unpack(">I", self.buf[2:6])[0]
        raw = bytes(self.buf[:6 + length])
        del self.buf[:6 + length]
        return raw[0], raw

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def flood(self, make: Callable[[], bytes]) -> None:
        """Send `make()` until the doctor hangs up (or the lifetime ends)."""
        deadline = time.monotonic() + PEER_LIFETIME
        while time.monotonic() < deadline:
            self.send(make())

    # ----------------------------------------------------------------------------------- association
    def accept(self, raw: bytes) -> None:
        rq: Any = decode_pdu(raw)
        pcs = []
        for pc in rq.presentation_contexts:
            ts = IMPLICIT_LE if IMPLICIT_LE in pc.transfer_syntaxes else pc.transfer_syntaxes[0]
            pcs.append(PresentationContextAC(pc.context_id, 0, ts))
            self.contexts[pc.context_id] = pc.abstract_syntax
        roles = rq.user_information.role_selections if rq.user_information else ()
        ui = UserInformation(max_length=16384, implementation_class_uid="1.2.826.0.1.3680043.10.543.66",
                             implementation_version_name="HOSTILE", role_selections=roles)
        self.send(encode_pdu(AAssociateAC(called_ae=rq.called_ae, calling_ae=rq.calling_ae,
                                          presentation_contexts=tuple(pcs), user_information=ui)))

    def serve(self) -> None:
        self.sock.settimeout(PEER_LIFETIME)
        first = self.frame()
        if first is None or first[0] != 1:
            return
        self.accept(first[1])
        command, dataset, ctx = bytearray(), bytearray(), 0
        want_dataset = False
        while True:
            got = self.frame()
            if got is None:
                return
            kind, raw = got
            if kind == 5:
                self.on_release()
                return
            if kind == 7:
                return
            if kind != 4:
                continue
            pos = 6
            while pos < len(raw):
                length, ctx, control = struct.unpack(">IBB", raw[pos:pos + 6])
                data = raw[pos + 6:pos + 4 + length]
                pos += 4 + length
                if control & 1:
                    command += data
                    if control & 2:
                        cmd = decode_command(bytes(command))
                        want_dataset = cmd.get(0x00000800) != NO_DATASET
                        if not want_dataset:
                            self.on_request(Request(ctx, cmd, None))
                            command = bytearray()
                else:
                    dataset += data
                    if control & 2 and want_dataset:
                        self.on_request(Request(ctx, decode_command(bytes(command)), bytes(dataset)))
                        command, dataset, want_dataset = bytearray(), bytearray(), False

    def on_release(self) -> None:
        if self.case != "release-flood":
            self.send(encode_pdu(AReleaseRP()))
            return
        ctx = next(iter(self.contexts), 1)
        rsp = message(ctx, {"CommandField": 0x8030, "MessageIDBeingRespondedTo": 1, "CommandDataSetType": NO_DATASET,
                            "Status": 0, "AffectedSOPClassUID": "1.2.840.10008.1.1",
                            "ErrorComment": "x" * 3000})
        self.flood(lambda: rsp * 8)

    # --------------------------------------------------------------------------------------- requests
    def response(self, rq: Request, status: int, *, dataset: bytes | None = None, **extra: Any) -> dict[str, Any]:
        cmd: dict[str, Any] = {"CommandField": rq.field | 0x8000, "MessageIDBeingRespondedTo": rq.message_id,
                               "AffectedSOPClassUID": rq.sop_class,
                               "CommandDataSetType": DATASET if dataset is not None else NO_DATASET,
                               "Status": status}
        if rq.field == STORE:
            cmd["AffectedSOPInstanceUID"] = rq.command.get(0x00001000) or ""
        cmd.update(extra)
        return cmd

    def on_request(self, rq: Request) -> None:
        if rq.field == CANCEL:
            return  # every case here ignores C-CANCEL
        case, ctx = self.case, rq.context_id
        if case == "frag-command":
            self.flood(lambda: pdata(ctx, 1, b"\0" * 16384))
        elif case in ("frag-dataset", "frag-tiny"):
            self.send(pdata(ctx, 3, encode_command(self.response(rq, 0xFF00 if rq.field in (FIND, GET, MOVE)
                                                                 else 0, dataset=b""))))
            if case == "frag-dataset":
                self.flood(lambda: pdata(ctx, 0, b"\0" * 16384))
            else:
                one = struct.pack(">IBB", 3, ctx, 0) + b"\0"
                body = one * 2340
                pdu = struct.pack(">BBI", 4, 0, len(body)) + body
                self.flood(lambda: pdu)
        elif case == "pending-forever":
            if rq.field == FIND:
                pend = message(ctx, self.response(rq, 0xFF00, dataset=b""), identifier())
            elif rq.field in (GET, MOVE):
                pend = message(ctx, self.response(rq, 0xFF00, NumberOfRemainingSuboperations=65000,
                                                  NumberOfCompletedSuboperations=0, NumberOfFailedSuboperations=0,
                                                  NumberOfWarningSuboperations=0))
            else:
                pend = message(ctx, self.response(rq, 0xFF00))
            self.flood(lambda: pend * 16)
        elif case == "missing-fields":
            cmd = self.response(rq, 0)
            del cmd["Status"], cmd["MessageIDBeingRespondedTo"]
            self.send(message(ctx, cmd))
        elif case == "bad-group-length":
            raw = bytearray(encode_command(self.response(rq, 0)))
            raw[8:12] = struct.pack("<I", struct.unpack("<I", raw[8:12])[0] + 40)
            self.send(pdata(ctx, 3, bytes(raw)))
        elif case == "phi-comment":
            comment = f"Patient {PATIENT_TEXT} \x1b[2J\x1b]0;owned\x07 \u202eevil\u202c"
            self.send(message(ctx, self.response(rq, 0xC000, ErrorComment=comment[:64])))
        elif case == "bad-uids":
            self.bad_uids(rq)
        else:  # well-behaved
            self.send(message(ctx, self.response(rq, 0)))

    def bad_uids(self, rq: Request) -> None:
        ctx = rq.context_id
        uids = ["", "1.2.3.4", "1.2.3.4\\", "..", "...", "1.2.3.4/../5", "1.2.3.4"]
        if rq.field == MOVE:
            self.move_subops(rq, uids)
        elif rq.field == GET:
            storage = next((c for c, a in self.contexts.items() if a == "1.2.840.10008.5.1.4.1.1.7"), None)
            done = failed = 0
            for i, uid in enumerate(uids):
                if storage is None:
                    failed += 1
                    continue
                self.send(message(storage, {"CommandField": STORE, "MessageID": 100 + i,
                                            "AffectedSOPClassUID": "1.2.840.10008.5.1.4.1.1.7",
                                            "AffectedSOPInstanceUID": uid, "Priority": 0,
                                            "CommandDataSetType": DATASET},
                                  instance("1.2.840.10008.5.1.4.1.1.7", uid)))
                status = self.store_status()
                done += status == 0
                failed += status != 0
            self.send(message(ctx, self.response(rq, 0 if not failed else 0xB000,
                                                 NumberOfRemainingSuboperations=0,
                                                 NumberOfCompletedSuboperations=done,
                                                 NumberOfFailedSuboperations=failed,
                                                 NumberOfWarningSuboperations=0)))
        else:
            self.send(message(ctx, self.response(rq, 0)))

    def store_status(self) -> int:
        got = self.frame()
        while got is not None and got[0] == 4:
            raw = got[1]
            if raw[11] & 2 and raw[11] & 1:
                return int(decode_command(raw[12:]).get(0x00000900, 0xFFFF) or 0)
            got = self.frame()
        return 0xFFFF

    def move_subops(self, rq: Request, uids: list[str]) -> None:
        ctx = rq.context_id
        done = failed = 0
        if self.move_port is not None:
            sub = socket.create_connection((LOOPBACK, self.move_port), timeout=10)
            dest = str(rq.command.get(0x00000600) or "DICOMDOCTOR")
            from dicomdoctor.ul.items import PresentationContextRQ
            from dicomdoctor.ul.pdu import AAssociateRQ
            sub.sendall(encode_pdu(AAssociateRQ(
                called_ae=dest, calling_ae="HOSTILE",
                presentation_contexts=(PresentationContextRQ(1, "1.2.840.10008.5.1.4.1.1.7", (IMPLICIT_LE,)),),
                user_information=UserInformation(max_length=16384,
                                                 implementation_class_uid="1.2.826.0.1.3680043.10.543.66"))))
            peer = PeerConnection(sub, "client", None)
            got = peer.frame()
            if got is not None and got[0] == 2:
                for i, uid in enumerate(uids):
                    peer.send(message(1, {"CommandField": STORE, "MessageID": 100 + i,
                                          "AffectedSOPClassUID": "1.2.840.10008.5.1.4.1.1.7",
                                          "AffectedSOPInstanceUID": uid, "Priority": 0,
                                          "CommandDataSetType": DATASET},
                                      instance("1.2.840.10008.5.1.4.1.1.7", uid)))
                    status = peer.store_status()
                    done += status == 0
                    failed += status != 0
                peer.send(b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00")
                peer.frame()
            sub.close()
        else:
            failed = len(uids)
        self.send(message(ctx, self.response(rq, 0 if not failed else 0xB000, NumberOfRemainingSuboperations=0,
                                             NumberOfCompletedSuboperations=done, NumberOfFailedSuboperations=failed,
                                             NumberOfWarningSuboperations=0)))


class HostilePeer:
    """A listening hostile peer in daemon threads: ``with HostilePeer("frag-tiny") as peer: peer.port``.
    `move_port`: where the bad-uids case connects back for C-MOVE sub-operations."""

    def __init__(self, case: str, port: int = 0, *, move_port: int | None = None) -> None:
        if case not in CASES:
            raise ValueError(f"unknown case {case!r}; one of {', '.join(CASES)}")
        self.case, self.move_port = case, move_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, port))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True, name=f"hostile {case}")

    def start(self) -> "HostilePeer":
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            PeerConnection(conn, self.case, self.move_port).serve()
        except (OSError, ValueError, struct.error):
            pass  # the doctor hung up on us: that is the point
        finally:
            conn.close()

    def close(self) -> None:
        self._closed.set()
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "HostilePeer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _vm_hwm_kb(pid: int, argv: list[str] | None = None) -> int | None:
    """The peak resident set of process `pid` so far (VmHWM, KiB), or None once it is gone (or, with `argv`,
    while it has not yet exec'd `argv`: between fork and exec the child still is a copy of the parent, and
    its VmHWM would be the test runner's)."""
    try:
        if argv is not None:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().split(b"\0")[:len(argv)] != [a.encode() for a in argv]:
                    return None
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def run_measured(argv: list[str], timeout: float) -> tuple[int, bytes, bytes, float, int]:
    """Run `argv`; (exit code, stdout, stderr, wall seconds, peak RSS KiB of that process).

    The peak is the process's own VmHWM, polled every 20 ms: getrusage / wait4's ru_maxrss would include the
    RSS of the parent it was forked from (Linux carries it over the fork and exec), and a large test runner
    would then be measured instead. VmHWM is a high-water mark, so polling misses at most the last 20 ms."""
    import subprocess
    import tempfile

    t0 = time.monotonic()
    peak = 0
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen(argv, stdout=out_f, stderr=err_f)
        deadline = t0 + timeout
        while proc.poll() is None:
            hwm = _vm_hwm_kb(proc.pid, argv)
            if hwm is not None:
                peak = max(peak, hwm)
            if time.monotonic() > deadline:  # a safety net: the run is late, not the measurement
                proc.kill()
            time.sleep(0.02)
        wall = time.monotonic() - t0
        out_f.seek(0)
        err_f.seek(0)
        return proc.returncode, out_f.read(), err_f.read(), wall, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--port", type=int, default=11119)
    ap.add_argument("--move-port", type=int, default=None)
    a = ap.parse_args()
    with HostilePeer(a.case, a.port, move_port=a.move_port) as peer:
        print(f"{a.case} on {LOOPBACK}:{peer.port}: {CASES[a.case]}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

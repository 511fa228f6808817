"""TCP stream reassembly for offline analysis: segments in, ordered bytes and gaps out, per direction.

What a capture throws at us, and what we do:
- out-of-order segments are held (bounded per direction, ``max_pending``) until the hole before them fills;
- retransmissions and overlaps are trimmed to the bytes not yet delivered (first copy wins, as in most
  stacks; a retransmission with *different* content is rare enough not to be judged here);
- a hole that never fills (the capture dropped packets, or the snap length cut a frame) is reported as a gap
  of exactly N bytes at relative sequence X: at FIN/RST, at the end of the capture, when the pending buffer
  is full, or when the next frame was snapped short. The bytes are never guessed: the consumer decides
  whether it can skip them (inside a data set it can) or must stop;
- sequence numbers are unwrapped to 64-bit stream offsets, so streams over 4 GiB work;
- a connection whose SYN we missed starts at its first seen segment (offset 0 = the first byte seen).

Connections are keyed by their 4-tuple; a new SYN on a finished 4-tuple starts a new connection (port reuse).
A connection is closed (and forgotten, releasing its memory) after both FINs or an RST, so a capture of
thousands of associations never holds more than the open ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .reader import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, Segment

__all__ = ["FlowHandler", "HalfStream", "TcpTracker", "Connection", "DEFAULT_MAX_PENDING"]

DEFAULT_MAX_PENDING = 8 << 20  # out-of-order bytes held per direction before a hole is declared lost
IDLE_WITHOUT_DATA = 120.0      # capture seconds after which a connection that never carried data is dropped
_SWEEP_EVERY = 4096            # segments between sweeps
_MOD = 1 << 32
_HALF = 1 << 31


class FlowHandler(Protocol):
    """What a connection's consumer implements. ``direction`` is 0 (the side that opened the connection,
    or the first sender seen) or 1."""

    def data(self, direction: int, ts: float, data: memoryview | bytes) -> None: ...

    def gap(self, direction: int, ts: float, offset: int, length: int, seq: int) -> None:
        """``length`` bytes never seen at stream ``offset`` (0 = the first byte after the SYN); ``seq`` is the
        raw TCP sequence number of the first missing byte."""

    def closed(self, ts: float, how: str) -> None: ...


class HalfStream:
    """One direction of a TCP connection."""

    __slots__ = ("direction", "handler", "isn", "next", "pending", "pending_bytes", "max_pending", "fin",
                 "retransmitted", "delivered", "missing")

    def __init__(self, direction: int, handler: FlowHandler, max_pending: int) -> None:
        self.direction = direction
        self.handler = handler
        self.isn: int | None = None   # sequence number of stream offset 0
        self.next = 0                 # next stream offset expected
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.max_pending = max_pending
        self.fin: int | None = None   # stream offset of the FIN, once seen
        self.retransmitted = 0
        self.delivered = 0
        self.missing = 0

    def syn(self, seq: int) -> None:
        self.isn = (seq + 1) % _MOD  # the SYN consumes one sequence number
        self.next = 0

    def _offset(self, seq: int) -> int:
        """The stream offset of ``seq`` nearest to ``next`` (handles 32-bit wrap-around)."""
        assert self.isn is not None
        rel = (seq - self.isn - self.next) % _MOD
        if rel >= _HALF:
            rel -= _MOD
        return self.next + rel

    def segment(self, ts: float, seq: int, payload: memoryview, wire_len: int) -> None:
        n = len(payload)
        if self.isn is None:
            self.isn = seq
        if not n:
            if wire_len and self._offset(seq) == self.next:  # snapped to the headers: all of it is missing
                self._skip_to(ts, self.next + wire_len)
            return
        off = self._offset(seq)
        end = off + n
        if end <= self.next:
            if n:
                self.retransmitted += n
            return
        if off < self.next:
            self.retransmitted += self.next - off
            payload = payload[self.next - off:]
            off = self.next
        if off == self.next:
            self._deliver(ts, payload)
            if self.pending:
                self._drain(ts)
        else:
            held = self.pending.get(off)
            if held is None or len(held) < len(payload):
                self.pending_bytes += len(payload) - (len(held) if held is not None else 0)
                self.pending[off] = bytes(payload)  # own it: the capture record is gone after this call
            if self.pending_bytes > self.max_pending:
                self._skip_to(ts, min(self.pending))
                self._drain(ts)
        if wire_len > n and self.next == end:
            # The frame was snapped short: the rest of this segment was on the wire but not in the file.
            self._skip_to(ts, off + wire_len if off + wire_len > self.next else self.next)
            if self.pending:
                self._drain(ts)

    def _deliver(self, ts: float, data: memoryview | bytes) -> None:
        if data:
            self.next += len(data)
            self.delivered += len(data)
            self.handler.data(self.direction, ts, data)

    def _skip_to(self, ts: float, offset: int) -> None:
        if offset > self.next:
            missing = offset - self.next
            self.missing += missing
            at = self.next
            self.next = offset
            self.handler.gap(self.direction, ts, at, missing, ((self.isn or 0) + at) % _MOD)

    def _drain(self, ts: float) -> None:
        pending = self.pending
        while pending:
            first = min(pending)
            if first > self.next:
                return
            data = pending.pop(first)
            self.pending_bytes -= len(data)
            if first + len(data) <= self.next:
                self.retransmitted += len(data)
                continue
            if first < self.next:
                self.retransmitted += self.next - first
                data = data[self.next - first:]
            self._deliver(ts, data)

    def acked(self, ts: float, ack: int) -> None:
        """The receiver acknowledged up to ``ack``: every byte before it was sent and received, so a hole
        before it will never be filled in this capture. Report it now, not at the FIN, so the two directions
        stay in step (a response must not be analysed before the request the capture half-lost)."""
        if self.isn is None:
            return
        target = self._offset(ack)
        if self.fin is not None and target > self.fin:
            target = self.fin  # the FIN itself takes one sequence number
        while self.next < target:
            first = min(self.pending) if self.pending else None
            if first is None or first >= target:
                self._skip_to(ts, target)
                break
            self._skip_to(ts, first)
            self._drain(ts)

    def set_fin(self, seq: int, payload_len: int) -> None:
        if self.isn is None:
            self.isn = seq
        self.fin = self._offset(seq) + payload_len

    def flush(self, ts: float) -> None:
        """End of stream: whatever is still held is delivered after reporting the holes before it, and a
        FIN beyond what arrived means the last bytes were lost."""
        while self.pending:
            self._skip_to(ts, min(self.pending))
            self._drain(ts)
        if self.fin is not None and self.fin > self.next:
            self._skip_to(ts, self.fin)


class Connection:
    __slots__ = ("key", "addrs", "streams", "handler", "fins", "closed", "first_ts", "last_ts", "syn_seen")

    def __init__(self, key: tuple, addrs: tuple[tuple[bytes, int], tuple[bytes, int]], handler: FlowHandler,
                 max_pending: int, ts: float) -> None:
        self.key = key
        self.addrs = addrs  # addrs[0] = direction 0's source
        self.handler = handler
        self.streams = (HalfStream(0, handler, max_pending), HalfStream(1, handler, max_pending))
        self.fins = 0
        self.closed = False
        self.first_ts = ts
        self.last_ts = ts
        self.syn_seen = False


# A factory gets (ts, (src, sport), (dst, dport)) of the first segment with direction 0 = that segment's
# source, and returns the handler (or None to ignore the connection cheaply).
HandlerFactory = Callable[[float, tuple[bytes, int], tuple[bytes, int]], "FlowHandler | None"]


class _Ignored:
    def data(self, direction: int, ts: float, data: memoryview | bytes) -> None:
        pass

    def gap(self, direction: int, ts: float, offset: int, length: int, seq: int) -> None:
        pass

    def closed(self, ts: float, how: str) -> None:
        pass


_IGNORED = _Ignored()


class TcpTracker:
    """Feed ``Segment``s in capture order; handlers get ordered bytes, gaps and the close."""

    def __init__(self, factory: HandlerFactory, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.factory = factory
        self.max_pending = max_pending
        self.connections: dict[tuple, Connection] = {}
        self.opened = 0
        self.last_ts = 0.0
        self._until_sweep = _SWEEP_EVERY

    def feed(self, seg: Segment) -> None:
        a = (seg.src, seg.sport)
        b = (seg.dst, seg.dport)
        key = (a, b) if a <= b else (b, a)
        conn = self.connections.get(key)
        flags = seg.flags
        is_syn = flags & TCP_SYN
        self.last_ts = seg.ts
        self._until_sweep -= 1
        if not self._until_sweep:
            self._sweep(seg.ts)
        if conn is not None and is_syn and not flags & TCP_ACK and (conn.closed or conn.fins or
                                                                     conn.streams[0].delivered or
                                                                     conn.streams[1].delivered):
            # A fresh SYN on a 4-tuple already used: port reuse after the previous connection ended.
            self._close(conn, seg.ts, "reused")
            conn = None
        if conn is None:
            if not is_syn and not seg.payload:
                # A pure ACK/FIN/RST of a connection already closed (or a refused attempt): nothing to follow.
                return
            src, dst = a, b
            if is_syn and flags & TCP_ACK:  # we missed the SYN: the opener is the other side
                src, dst = b, a
            handler = self.factory(seg.ts, src, dst)
            conn = Connection(key, (src, dst), handler if handler is not None else _IGNORED, self.max_pending,
                              seg.ts)
            self.connections[key] = conn
            self.opened += 1
        conn.last_ts = seg.ts
        if conn.handler is _IGNORED:
            if flags & (TCP_RST | TCP_FIN):
                self._maybe_forget(conn, flags)
            return
        direction = 0 if a == conn.addrs[0] else 1
        stream = conn.streams[direction]
        if flags & TCP_ACK:
            conn.streams[1 - direction].acked(seg.ts, seg.ack)
        if is_syn:
            conn.syn_seen = True
            if stream.isn is None or not stream.delivered:
                stream.syn(seg.seq)
            return
        stream.segment(seg.ts, seg.seq, seg.payload, seg.wire_payload)
        if flags & TCP_FIN:
            stream.set_fin(seg.seq, seg.wire_payload)
            conn.fins |= 1 << direction
            if conn.fins == 3:
                self._close(conn, seg.ts, "fin")
        elif flags & TCP_RST:
            self._close(conn, seg.ts, "rst")

    def _sweep(self, now: float) -> None:
        """Forget connections that never carried a byte and have been silent for a while (SYN scans, half-open
        attempts): without this a port scan in the capture would grow the table without bound."""
        self._until_sweep = _SWEEP_EVERY
        for conn in list(self.connections.values()):
            if conn.last_ts < now - IDLE_WITHOUT_DATA and not (conn.streams[0].delivered or conn.streams[1].delivered
                                                               or conn.streams[0].pending or conn.streams[1].pending):
                self._close(conn, now, "idle")

    def _maybe_forget(self, conn: Connection, flags: int) -> None:
        if flags & TCP_RST:
            self.connections.pop(conn.key, None)
        else:
            conn.fins += 1
            if conn.fins >= 2:
                self.connections.pop(conn.key, None)

    def _close(self, conn: Connection, ts: float, how: str) -> None:
        if conn.closed:
            return
        conn.closed = True
        for s in conn.streams:
            s.flush(ts)
        self.connections.pop(conn.key, None)
        conn.handler.closed(ts, how)

    def finish(self) -> None:
        """End of the capture: flush and close every connection still open."""
        for conn in list(self.connections.values()):
            self._close(conn, self.last_ts, "capture-end")

"""C-STORE throughput as facts: synthetic instances sent at several PDU lengths, and a raw-TCP baseline.

The PDU length that matters for a C-STORE is the one *we send*, and PS3.8 bounds it by the receiver's
advertised maximum, not by ours. So for each length tried we open one association and cap our outgoing
P-DATA-TF PDUs at `min(length, peer's maximum)` (always legal: a sender may use shorter PDUs than the peer
allows); 0 means "as large as the peer allows" (unlimited peers get 1 MiB PDUs from dimse.fragment).

The instances are built and encoded *before* the clock starts (pydicom encoding is not the network), one
run's worth at a time so memory stays bounded by `count * size`. Nothing here judges.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..net import Association, NoAcceptedContext, StoreSource, load_source
from ..target import Target
from . import dimse as pd

SOP_CLASS = "SC"  # Secondary Capture: 8-bit pixels, so `size` bytes of pixel data = size pixels
MB = 1_000_000  # MB/s in SI megabytes, as iperf3 and network people count


@dataclass
class ThroughputRun:
    """One association at one PDU length."""

    max_pdu: int                     # the length asked for (0 = the peer's maximum)
    sent_pdu: int | None = None      # what we actually sent with: min(asked, peer's maximum); 0 = unlimited
    peer_max_pdu: int | None = None
    instances: int = 0               # C-STOREs answered with success or warning
    bytes: int = 0                   # data-set bytes of those instances (command sets not counted)
    seconds: float = 0.0             # first C-STORE-RQ to the last C-STORE-RSP
    failed: int = 0
    facts: pd.DimseFacts | None = None

    @property
    def mb_per_s(self) -> float | None:
        if not self.instances or self.seconds <= 0:
            return None
        return self.bytes / MB / self.seconds

    def evidence(self) -> dict[str, Any]:
        f = self.facts
        ev: dict[str, Any] = {"max_pdu": self.max_pdu, "sent_pdu": self.sent_pdu, "peer_max_pdu": self.peer_max_pdu,
                              "instances": self.instances, "failed": self.failed, "bytes": self.bytes,
                              "seconds": round(self.seconds, 4),
                              "mb_per_s": round(self.mb_per_s, 2) if self.mb_per_s is not None else None,
                              "outcome": f.outcome if f else None}
        if f is not None and f.outcome != "ok":
            ev["detail"] = f.detail
        if f is not None and f.stores:
            bad = [s for s in f.stores if s.get("category") not in ("success", "warning")]
            if bad:
                ev["first_failure"] = {k: bad[0].get(k) for k in ("status", "status_hex", "status_name",
                                                                   "error_comment") if k in bad[0]}
        return ev


@dataclass
class ThroughputFacts:
    runs: list[ThroughputRun] = field(default_factory=list)
    baseline_mb_per_s: float | None = None   # raw TCP over loopback, measured only for a loopback target
    instance_bytes: int = 0                  # data-set size of one instance


def instance_shape(size: int) -> tuple[int, int]:
    """Rows and columns of an 8-bit image whose pixel data is about `size` bytes (square, even columns)."""
    side = max(8, int(math.ceil(math.sqrt(max(1, size)))))
    side += side % 2
    return side, side


def build_sources(count: int, size: int, study_uid: str, series_uid: str, first: int) -> list[StoreSource]:
    """`count` synthetic instances (clearly marked, no patient data) as ready-to-send Part-10 sources."""
    from ..synthetic import make_instance, to_part10_bytes
    rows, cols = instance_shape(size)
    out = []
    for i in range(count):
        ds = make_instance(SOP_CLASS, rows, cols, patient_id="DD-TEST-PERF", study_uid=study_uid,
                           series_uid=series_uid, instance_number=first + i, accession_number="DDPERF")
        out.append(load_source(to_part10_bytes(ds)))
    return out


async def measure_run(target: Target, pdu: int, sources: Sequence[StoreSource], **kw: Any) -> ThroughputRun:
    """One association sending `sources` in PDUs of at most `pdu` bytes (`kw`: run_service's, incl. our
    receiving max_pdu, which bounds only what the peer sends us)."""
    run = ThroughputRun(pdu)

    async def action(assoc: Association, facts: pd.DimseFacts) -> None:
        peer = assoc.peer_max_pdu
        run.peer_max_pdu = peer
        # 0 on either side means "no limit"; the smaller non-zero limit wins.
        limits = [x for x in (pdu, peer) if x]
        run.sent_pdu = min(limits) if limits else 0
        assoc.channel.peer_max_pdu = run.sent_pdu
        t0 = time.perf_counter()
        for src in sources:
            try:
                rsp = await assoc.store(src)
            except NoAcceptedContext as exc:
                facts.stores.append({"sop_instance_uid": src.sop_instance_uid, "status": None,
                                     "category": "failure", "status_name": "no accepted presentation context",
                                     "detail": str(exc)})
                facts.outcome, facts.detail = "no-context", str(exc)
                break
            entry = {"sop_instance_uid": src.sop_instance_uid, **rsp.evidence()}
            facts.stores.append(entry)
            pd._take(rsp, facts)
            if rsp.category in ("success", "warning"):
                run.instances += 1
                run.bytes += src.size - src.dataset_offset
            else:
                run.failed += 1
                break  # a refusing peer: do not hammer it with the rest
            run.seconds = time.perf_counter() - t0

    run.facts = await pd.run_service("C-STORE", target, pd.store_contexts(sources), action, **kw)
    return run


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def loopback_baseline(total: int = 64 << 20, chunk: int = 1 << 20, timeout: float = 10.0) -> float | None:
    """Raw TCP MB/s through 127.0.0.1 with asyncio streams: what this host's stack carries with no DICOM on
    top. Meaningful as "the link" only when the target is on this host too. None if it cannot be measured."""
    received = 0
    done = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        try:
            while True:
                data = await reader.read(1 << 18)
                if not data:
                    break
                received += len(data)
        finally:
            done.set()
            writer.close()

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            block = bytes(chunk)
            t0 = time.perf_counter()
            sent = 0
            while sent < total:
                writer.write(block)
                sent += chunk
                await writer.drain()
            writer.write_eof()
            await done.wait()
            seconds = time.perf_counter() - t0
        return received / MB / seconds if seconds > 0 and received else None
    except (OSError, TimeoutError):
        return None
    finally:
        if writer is not None:
            writer.close()
        server.close()
        await server.wait_closed()


async def measure(target: Target, pdu_sizes: Sequence[int], count: int, size: int, *,
                  baseline: bool = True, **kw: Any) -> ThroughputFacts:
    """One run per PDU length, each on its own association with its own fresh instances (a PACS may treat a
    re-sent SOP Instance UID differently: Orthanc keeps the first and answers success without storing)."""
    from pydicom.uid import generate_uid

    facts = ThroughputFacts()
    if baseline and is_loopback(target.host):
        facts.baseline_mb_per_s = await loopback_baseline()
    study, series = generate_uid(), generate_uid()
    for n, pdu in enumerate(pdu_sizes):
        sources = build_sources(count, size, study, series, first=1 + n * count)
        if not facts.instance_bytes and sources:
            facts.instance_bytes = sources[0].size - sources[0].dataset_offset
        run = await measure_run(target, pdu, sources, **kw)
        facts.runs.append(run)
        assert run.facts is not None
        if run.failed or run.facts.outcome in ("connect-failed", "rejected", "no-context") or \
                (run.facts.outcome != "ok" and not run.instances):
            break  # the peer is refusing stores: the next sizes would fail the same way, and it has spoken
    return facts

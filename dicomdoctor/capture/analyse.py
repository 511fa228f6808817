"""Offline analysis of a capture: pcap/pcapng -> TCP reassembly -> the ul/dimse cores -> one Report.

    report = analyse_file("ticket-4711.pcapng", lang="en")

Pipeline, streaming from end to end (memory does not grow with the file): reader.py yields TCP segments
(one record in memory at a time), tcp.py puts each direction in order, association.py decides by content
whether a connection is DICOM (any port) and frames its PDUs without buffering data sets, and judge.py
turns each finished association into findings as soon as its connection closes, so only the open
associations and the (capped) findings are held.

The Report has playbook "pcap", one target per association (id "CALLED@acceptor <- CALLING@requestor") and
three findings per association: capture.association, capture.dimse (when accepted), capture.violations.
A capture without DICOM gives one `capture.file` finding that says what was found instead.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, BinaryIO

from .. import __version__
from ..engine.model import Finding, Report, Status, TargetResult, worst
from ..messages import Text, join, msg
from .association import CapturedAssociation, Endpoint, endpoint
from .reader import LINKTYPES, CaptureFormatError, CaptureReader
from .tcp import DEFAULT_MAX_PENDING, TcpTracker
from .workflow import WorkflowRecord

__all__ = ["analyse_file", "CaptureAnalysis", "CaptureFormatError"]

NOISE_WARN = 10  # connections without DICOM to a DICOM port before it is worth a warning
MAX_WORKFLOW_ASSOCIATIONS = 10000  # associations whose workflow facts are held until the end of the file


class _Flow(CapturedAssociation):
    """A connection under watch; reports itself to the analysis when it closes."""

    analysis: "CaptureAnalysis | None" = None

    def closed(self, ts: float, how: str) -> None:
        super().closed(ts, how)
        if self.analysis is not None:
            self.analysis.done(self)


@dataclass
class CaptureAnalysis:
    """Feed segments (``feed``) or a whole file (``run``); ``report()`` builds the Report."""

    lang: str = "en"
    source: str = "capture"
    max_pending: int = DEFAULT_MAX_PENDING
    kb: Any = None
    targets: list[TargetResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    connections: int = 0
    not_dicom: int = 0
    tls_connections: int = 0
    no_data: int = 0
    other_first_bytes: Counter[str] = field(default_factory=Counter)
    dicom_ends: set[Endpoint] = field(default_factory=set)
    noise_by_end: Counter[Endpoint] = field(default_factory=Counter)
    _ids: Counter[str] = field(default_factory=Counter)
    _done: list[tuple[float, TargetResult, list[Finding]]] = field(default_factory=list)
    # Workflow facts of the associations that used a workflow service, judged at the end (workflow.py):
    # a commitment report or an MPPS N-SET comes on another association than its request.
    _workflow: list[WorkflowRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kb is None:
            from ..engine.kb import load_kb

            self.kb = load_kb(self.lang)
        self.tracker = TcpTracker(self._factory, max_pending=self.max_pending)

    def _factory(self, ts: float, src: tuple[bytes, int], dst: tuple[bytes, int]) -> _Flow:
        self.connections += 1
        flow = _Flow((src, dst), ts)
        flow.analysis = self
        return flow

    def done(self, flow: _Flow) -> None:
        """A connection closed: judge it now and keep only the findings (bounded memory)."""
        from .judge import judge_association, target_id

        if not flow.dicom:
            if flow.dicom is None:
                self.no_data += 1
            else:
                self.not_dicom += 1
                head = flow.first_bytes
                if head[:2] == b"\x16\x03":
                    self.tls_connections += 1
                self.other_first_bytes[head[:4].hex(" ")] += 1
            # Remember where it went: a connection to a DICOM port that says nothing DICOM is probe noise.
            self.noise_by_end[endpoint(flow.addrs[1])] += 1
            return
        self.dicom_ends.add(flow.acceptor_end)
        tid = target_id(flow)
        self._ids[tid] += 1
        if self._ids[tid] > 1:
            tid = f"{tid} #{self._ids[tid]}"
        target, findings = judge_association(flow, self.kb, self.lang, tid)
        self._done.append((flow.first_ts, target, findings))
        record = flow.workflow
        record.seal(flow, tid)
        if not record.empty and len(self._workflow) < MAX_WORKFLOW_ASSOCIATIONS:
            self._workflow.append(record)

    def run(self, path: "str | BinaryIO") -> "CaptureAnalysis":
        reader = CaptureReader(path)
        feed = self.tracker.feed
        for seg in reader:
            feed(seg)
        self.tracker.finish()
        self.reader_stats = reader.stats
        return self

    def report(self, duration_ms: float = 0.0, started_at: str = "") -> Report:
        self._done.sort(key=lambda t: t[0])
        self._add_workflow()
        targets = [t for _, t, _ in self._done]
        findings = [f for _, _, fs in self._done for f in fs]
        file_finding = self._file_finding()
        if file_finding is not None:
            finding, target = file_finding
            targets.insert(0, target)
            findings.insert(0, finding)
        verdict = worst([f.status for f in findings]) if findings else "pass"
        return Report(playbook="pcap", verdict=verdict, duration_ms=duration_ms, targets=tuple(targets),
                      findings=tuple(findings), tool_version=__version__, started_at=started_at)

    def _add_workflow(self) -> None:
        """Each association's capture.workflow finding goes before its capture.violations."""
        if not self._workflow:
            return
        from .workflow import workflow_findings

        found = workflow_findings(self._workflow, self.kb, self.lang)
        self._workflow = []
        for i, (ts, target, findings) in enumerate(self._done):
            f = found.get(target.id)
            if f is None:
                continue
            at = next((j for j, g in enumerate(findings) if g.check == "capture.violations"), len(findings))
            findings.insert(at, f)
            self._done[i] = (ts, replace(target, verdict=worst([g.status for g in findings])), findings)

    def _file_finding(self) -> tuple[Finding, TargetResult] | None:
        st = getattr(self, "reader_stats", None)
        ev: dict[str, Any] = {"file": self.source, "associations": len(self._done),
                              "tcp_connections": self.connections}
        if st is not None:
            ev.update(format=st.format, packets=st.packets, tcp_segments=st.tcp_segments, not_tcp=st.not_tcp,
                      ip_fragments_skipped=st.ip_fragments,
                      link_types=[LINKTYPES.get(lt, f"link type {lt}") for lt in sorted(st.linktypes or ())])
            if st.unsupported_link:
                ev["unsupported_link_packets"] = st.unsupported_link
        if self.not_dicom:
            ev["not_dicom_connections"] = self.not_dicom
            ev["first_bytes_seen"] = dict(self.other_first_bytes.most_common(5))
        if self.tls_connections:
            ev["tls_connections"] = self.tls_connections
        noise = {str(e): n for e, n in self.noise_by_end.items() if e in self.dicom_ends}
        if noise:
            ev["non_dicom_connections_to_dicom_ports"] = noise
        problems: list[Text] = []
        causes: list[str] = []
        status = Status.PASS
        if st is not None and st.truncated:
            problems.append(msg("the file ends in the middle of a record (the capture was cut short)"))
            status = Status.WARN
        if st is not None and st.damage:
            # A damaged file is analysed up to (or around) the damage; the finding says where and how much
            # was read before it, so the associations reported are known to be partial.
            ev.update(damage=st.damage, damage_offset=st.damage_offset, damaged_blocks=st.damaged_blocks,
                      packets_before_damage=st.packets_before_damage, stopped_at=st.stopped_at)
            if st.stopped_at == st.damage_offset:
                rest = msg("nothing after it could be read")
            elif st.stopped_at is not None:
                rest = msg("{n} damaged block(s) in all; reading stopped at byte {at}", n=st.damaged_blocks,
                           at=st.stopped_at)
            else:
                rest = msg("{n} damaged block(s) skipped, the rest was read", n=st.damaged_blocks)
            # The damage itself is the reader's description of the bytes (data, like an OS error string).
            problems.append(msg("the file is damaged at byte {offset}: {damage}; {packets} packet(s) were read "
                                "before it, {rest}", offset=st.damage_offset, damage=st.damage,
                                packets=st.packets_before_damage, rest=rest))
            causes.append("capture-damaged")
            status = Status.WARN
        if not self._done:
            status = Status.WARN
            what: Text = msg("no DICOM association found in {n} TCP connection(s)", n=self.connections)
            if st is not None:
                what += msg(" ({packets} packets, {segments} TCP segments)", packets=st.packets,
                            segments=st.tcp_segments)
            if st is not None and st.unsupported_link and not st.tcp_segments:
                what += msg("; the link type is not one we read")
            if self.tls_connections:
                what += msg("; {n} connection(s) carry TLS, which cannot be analysed without the session keys",
                            n=self.tls_connections)
                causes.append("peer-expects-tls")
            problems.insert(0, what)
        if noise:
            n = sum(noise.values())
            problems.append(msg("{n} connection(s) to a DICOM port carried no DICOM (TCP checks, health checks, "
                                "scanners)", n=n))
            # A few bare connects are normal (a doctor's own reachability probe is one); many are a finding.
            if n >= NOISE_WARN:
                causes.append("probe-noise")
                status = Status.WARN
        if not problems:
            return None
        from .judge import _causes, _title

        tid = f"capture {os.path.basename(self.source)}"
        finding = Finding(tid, "capture.file", _title(self.kb, "capture.file", self.lang), status,
                          join(problems, sep=msg("; ")).render(self.lang), ev,
                          _causes(self.kb, causes, self.lang), 0.0)
        target = TargetResult(id=tid, host="", port=0, called_ae="", calling_ae="", tls=False,
                              verdict=worst([status]))
        return finding, target


def analyse_file(path: str, *, lang: str = "en", kb: Any = None, max_pending: int = DEFAULT_MAX_PENDING) -> Report:
    """Analyse a pcap/pcapng file. Raises ``CaptureFormatError`` (a ValueError) for a file that is not a
    capture or cannot be read."""
    t0 = time.monotonic()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    analysis = CaptureAnalysis(lang=lang, source=path, kb=kb, max_pending=max_pending).run(path)
    return analysis.report((time.monotonic() - t0) * 1000, started)

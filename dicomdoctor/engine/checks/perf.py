"""perf.throughput: C-STORE speed by PDU length (opt-in: it writes synthetic test instances to the peer).

How "slow" is judged. MB/s alone means nothing without what the path could carry, so the check compares the
best MB/s with a threshold that is the larger of
  * `min_mb_per_s` (default 5 MB/s = 40 Mbit/s: below any working LAN, so a miss is never a false alarm), and
  * `min_fraction` of the link: `link_mb_per_s` when the playbook states it (117 for 1 GbE), or, for a
    target on this host, a raw-TCP loopback transfer measured just before (the "link" there is the kernel).
Loopback raw TCP runs at GB/s while any archive writes to disk, so the default fraction is small (2 %): it
flags a peer that is an order of magnitude slower than it should be (a per-message delay, a tiny PDU, a
congested or throttled link), not a normal database-backed PACS.
"""

from __future__ import annotations

from typing import Any

from ...errors import BadInput
from ...messages import Text, join, msg
from ...probes import throughput as pt
from .. import judge
from ..context import CheckContext, CheckResult, failed, passed, warned
from ..registry import check
from .dimse import not_completed, service_kwargs

MAX_PDU_FIELD = 0xFFFFFFFF
MAX_COUNT = 500
MAX_SIZE = 256 << 20
MAX_RUN_BYTES = 512 << 20  # one run's instances are held in memory at once


def _sizes(value: Any) -> list[int]:
    sizes = []
    for v in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(v, bool) or not isinstance(v, (int, str)) or not str(v).strip().isdigit():
            raise BadInput(msg("perf.throughput pdu_sizes: {value!r} is not a PDU length in bytes (0 = the peer's "
                               "maximum)", value=v))
        n = int(v)
        if n and not 1024 <= n <= MAX_PDU_FIELD:
            raise BadInput(msg("perf.throughput pdu_sizes: {n} is out of range (0, or 1024..{top})", n=n,
                               top=MAX_PDU_FIELD))
        if n not in sizes:
            sizes.append(n)
    if not sizes:
        raise BadInput(msg("perf.throughput pdu_sizes: give at least one PDU length, e.g. [16384, 65536, 0]"))
    return sizes


def _fmt(x: float | None) -> str:
    return "-" if x is None else (f"{x:.1f}" if x >= 10 else f"{x:.2f}")


def _pdu_name(n: int) -> Text:
    return msg("the peer's maximum") if n == 0 else f"{n}"


@check("perf.throughput", depends=("assoc.ae-title",), title="C-STORE throughput", timeout=600.0, writes=True,
       params={"pdu_sizes": [16384, 65536, 0], "count": 5, "size": 1048576, "min_mb_per_s": 5.0,
               "link_mb_per_s": 0.0, "min_fraction": 0.02, "baseline": True})
async def throughput(ctx: CheckContext) -> CheckResult:
    sizes = _sizes(ctx.params.get("pdu_sizes"))
    count, size = int(ctx.params.get("count") or 0), int(ctx.params.get("size") or 0)
    if not 1 <= count <= MAX_COUNT:
        raise BadInput(msg("perf.throughput count: {count} is out of range (1..{top})", count=count, top=MAX_COUNT))
    if not 1024 <= size <= MAX_SIZE:
        raise BadInput(msg("perf.throughput size: {size} bytes is out of range (1024..{top})", size=size,
                           top=MAX_SIZE))
    if count * size > MAX_RUN_BYTES:
        raise BadInput(msg("perf.throughput: count x size = {total} bytes per PDU length; keep it under {top} "
                           "(fewer or smaller instances)", total=count * size, top=MAX_RUN_BYTES))
    facts = await pt.measure(ctx.target, sizes, count, size, baseline=bool(ctx.params.get("baseline", True)),
                             **service_kwargs(ctx))
    runs = facts.runs
    rates = {str(r.max_pdu): round(r.mb_per_s, 2) if r.mb_per_s is not None else None for r in runs}
    ev: dict[str, Any] = {
        "mb_per_s": rates,
        "bytes": sum(r.bytes for r in runs), "instances": sum(r.instances for r in runs),
        "seconds": round(sum(r.seconds for r in runs), 4), "instance_bytes": facts.instance_bytes,
        "count": count, "pdu_sizes": sizes, "runs": [r.evidence() for r in runs],
        "peer_max_pdu": next((r.peer_max_pdu for r in runs if r.peer_max_pdu is not None), None),
        "baseline_mb_per_s": round(facts.baseline_mb_per_s, 1) if facts.baseline_mb_per_s else None,
        "synthetic": True,
    }
    done = [r for r in runs if r.mb_per_s is not None]
    broken = next((r for r in runs if r.failed or (r.facts is not None and r.facts.outcome != "ok")), None)
    if broken is not None:
        f = broken.facts
        assert f is not None
        pdu = _pdu_name(broken.max_pdu)
        if broken.failed:
            bad = next(s for s in f.stores if s.get("category") not in ("success", "warning"))
            status = f"{bad.get('status_hex', '')} {bad.get('status_name', '')}".strip()  # the standard's words
            comment = msg(" (Error Comment: {comment})", comment=bad["error_comment"]) \
                if bad.get("error_comment") else ""
            ev.update(status=bad.get("status"), status_name=bad.get("status_name"), category=bad.get("category"))
            causes = (judge.status_causes(bad.get("status"), "C-STORE") if bad.get("status") is not None
                      else ("store-missing-sop-class", "transfer-syntax-not-supported"))
            return failed(msg("C-STORE at PDU length {pdu} refused: {status}{comment}; throughput not measured",
                              pdu=pdu, status=status, comment=comment), causes, **ev)
        ev.update(outcome=f.outcome, phase=f.phase or None, abort=f.abort, reject=f.reject, detail=f.detail)
        return not_completed(f, msg("C-STORE at PDU length {pdu} did not complete", pdu=pdu), ev, prior=ctx.prior(),
                             no_context_causes=("store-missing-sop-class", "transfer-syntax-not-supported"))
    if not done:
        return failed(msg("no C-STORE completed, so no throughput could be measured"), ("peer-aborted",), **ev)

    best = max(done, key=lambda r: r.mb_per_s or 0.0)
    worst = min(done, key=lambda r: r.mb_per_s or 0.0)
    assert best.mb_per_s is not None and worst.mb_per_s is not None
    link = float(ctx.params.get("link_mb_per_s") or 0.0) or (facts.baseline_mb_per_s or 0.0)
    link_source: Text = (msg("the link speed given (link_mb_per_s)") if ctx.params.get("link_mb_per_s")
                         else msg("raw TCP over loopback measured just before") if facts.baseline_mb_per_s else "")
    threshold = max(float(ctx.params.get("min_mb_per_s") or 0.0), float(ctx.params.get("min_fraction") or 0.0) * link)
    ev.update(best_pdu=best.max_pdu, best_mb_per_s=round(best.mb_per_s, 2), link_mb_per_s=round(link, 1) or None,
              threshold_mb_per_s=round(threshold, 2))
    table = join([msg("{rate} MB/s at PDU {pdu}{sent}", rate=_fmt(r.mb_per_s), pdu=_pdu_name(r.max_pdu),
                      sent=msg(" (sent {sent})", sent=r.sent_pdu or msg("unlimited"))
                      if r.sent_pdu is not None and r.sent_pdu != r.max_pdu else "") for r in runs], sep=msg(", "))
    # A larger PDU asked for but capped by the peer's maximum is a limit worth naming when speed suffers.
    capped = any(r.sent_pdu is not None and r.max_pdu and r.sent_pdu < r.max_pdu for r in runs) or \
        bool(ev["peer_max_pdu"] and ev["peer_max_pdu"] <= 16384)
    if best.mb_per_s < threshold:
        against = (msg("{threshold:.1f} MB/s ({percent:g} % of {link:.0f} MB/s, {source})", threshold=threshold,
                       percent=float(ctx.params.get("min_fraction") or 0) * 100, link=link, source=link_source)
                   if link and threshold > float(ctx.params.get("min_mb_per_s") or 0)
                   else msg("the {threshold:g} MB/s minimum (min_mb_per_s)", threshold=threshold))
        causes = ("slow-transfer", "pdu-too-small") if capped else ("slow-transfer",)
        return warned(msg("C-STORE is slow: {table}; the best is below {against}", table=table, against=against),
                      causes, **ev)
    gain = best.mb_per_s / worst.mb_per_s if worst.mb_per_s else 1.0
    ev["pdu_gain"] = round(gain, 2)
    note: Text = ""
    if len(done) > 1 and gain >= 1.5 and best.max_pdu != worst.max_pdu:
        note = msg("; the PDU length matters here ({gain:.1f}x between {worst} and {best})", gain=gain,
                   worst=_pdu_name(worst.max_pdu), best=_pdu_name(best.max_pdu))
    return passed(msg("C-STORE throughput: {table}{note}", table=table, note=note), **ev)

"""Judgement of the TLS handshake (tls.handshake): PS3.15 Annex B.9 / BCP 195 as a DICOM peer expects it."""

from __future__ import annotations

from typing import Any

from ...probes.tls import TLSFacts, probe_tls, silent_handshake
from .. import judge
from ..context import CheckContext, CheckResult, failed, passed, skipped, warned
from ..registry import check

WARN_DAYS = 30
# BCP 195 (RFC 9325): TLS 1.2 or newer. Older versions are a warning: the peer works today but is weak.
_MODERN = ("TLSv1.2", "TLSv1.3")

_WHAT = {
    "unknown-ca": "the peer's certificate is not signed by a CA we trust",
    "self-signed": "the peer's certificate is self-signed and not in our trust store",
    "expired": "the peer's certificate has expired",
    "not-yet-valid": "the peer's certificate is not valid yet (check the clocks)",
    "hostname-mismatch": "the peer's certificate does not name the host we connected to",
    "client-cert-required": "the peer requires a client certificate, and did not accept ours (or we sent none)",
    "no-tls": "the peer does not speak TLS on this port",
    "protocol-mismatch": "we and the peer share no TLS version or cipher suite",
    "other": "the TLS handshake failed",
    "connect-failed": "the TCP connection for the TLS handshake failed",
}


async def tls_facts(ctx: CheckContext) -> TLSFacts:
    t = ctx.target
    timeout = float(ctx.timeouts.connect or 10.0)
    server_name = (t.tls.server_name if t.tls else None) or t.host
    context = ctx.ssl_context()
    assert context is not None, "tls_facts is only for TLS targets"
    for earlier in ("assoc.probe", "net.reachable.association"):  # net.reachable may have tried TLS already
        silent = silent_handshake(ctx.facts.get(earlier))
        if silent is not None:
            return silent
    return await ctx.fact("tls.handshake", lambda: probe_tls(
        t.host, t.port, context, server_hostname=server_name, timeout=timeout,
        called_ae=t.called_ae, calling_ae=t.calling_ae))


def _evidence(f: TLSFacts, server_name: str) -> dict[str, Any]:
    cert = f.certificate or {}
    return {
        "outcome": f.outcome, "protocol": f.protocol, "cipher": f.cipher,
        "certificate": {k: cert.get(k) for k in ("subject", "issuer", "not_before", "not_after", "san")}
        if cert else None,
        "days_left": f.days_left, "server_name": server_name, "detail": f.detail,
        "handshake_ms": round(f.handshake_ms, 1) if f.handshake_ms is not None else None,
        "plain_answer": f.plain_answer.to_json_dict() if f.plain_answer is not None else None,
    }


@check("tls.handshake", depends=("net.reachable",), title="TLS handshake", timeout=60.0)
async def handshake(ctx: CheckContext) -> CheckResult:
    t = ctx.target
    if t.tls is None:
        return skipped("not applicable: plain DICOM (no --tls)", not_applicable=True)
    server_name = t.tls.server_name or t.host
    f = await tls_facts(ctx)
    ev = _evidence(f, server_name)
    outcome = f.outcome
    if outcome == "self-signed" and (f.certificate or {}).get("self_signed") is False:
        # OpenSSL says "self-signed certificate in certificate chain" when the peer sends its CA along:
        # the leaf itself is CA-signed, and the real problem is that we do not trust that CA.
        outcome = ev["outcome"] = "unknown-ca"
    where = f"{t.host}:{t.port}"
    if outcome != "ok":
        summary = f"TLS to {where} failed: {_WHAT.get(outcome, outcome)}"
        cert = f.certificate or {}
        if outcome == "hostname-mismatch" and cert:
            san = cert.get("san") or {}
            names = [*san.get("dns", []), *san.get("ip", [])]
            summary += f" ({server_name} is not among {', '.join(names) or 'its names (no SAN)'})"
        elif outcome in ("expired", "not-yet-valid") and cert:
            summary += f" (valid {cert.get('not_before')} to {cert.get('not_after')})"
        elif outcome == "no-tls" and f.plain_answer is not None:
            summary += f": it answered a plain A-ASSOCIATE-RQ with {f.plain_answer.detail}"
        elif f.detail:
            summary += f" ({f.detail})"
        verdict = judge.judge_tls(outcome, ctx.prior())
        return failed(summary + verdict.summary_note(), verdict.causes, **ev)
    notes = []
    causes: list[str] = []
    if t.tls.insecure:
        notes.append("the certificate was not verified (--insecure)")
    if f.protocol and f.protocol not in _MODERN:
        notes.append(f"{f.protocol} is below the TLS 1.2 that BCP 195 requires")
        causes.append("tls-protocol-mismatch")
    if f.days_left is not None and f.days_left < WARN_DAYS:
        notes.append(f"the certificate expires in {f.days_left} days")
        causes.append("tls-expired")
    summary = f"TLS to {where} works: {f.protocol or 'TLS'} with {f.cipher or 'an unknown cipher'}"
    if causes:
        return warned(summary + "; but " + "; ".join(notes), causes, **ev)
    if notes:
        summary += "; " + "; ".join(notes)
    return passed(summary, **ev)

"""Judgement of the TLS handshake (tls.handshake): PS3.15 Annex B.9 / BCP 195 as a DICOM peer expects it."""

from __future__ import annotations

from typing import Any

from ...messages import Msg, Text, join, msg
from ...probes.tls import TLSFacts, probe_tls, silent_handshake
from .. import judge
from ..context import CheckContext, CheckResult, failed, passed, skipped, warned
from ..registry import check

WARN_DAYS = 30
# BCP 195 (RFC 9325): TLS 1.2 or newer. Older versions are a warning: the peer works today but is weak.
_MODERN = ("TLSv1.2", "TLSv1.3")

_WHAT: dict[str, Msg] = {
    "unknown-ca": msg("the peer's certificate is not signed by a CA we trust"),
    "self-signed": msg("the peer's certificate is self-signed and not in our trust store"),
    "expired": msg("the peer's certificate has expired"),
    "not-yet-valid": msg("the peer's certificate is not valid yet (check the clocks)"),
    "hostname-mismatch": msg("the peer's certificate does not name the host we connected to"),
    "client-cert-required": msg("the peer requires a client certificate, and did not accept ours (or we sent none)"),
    "no-tls": msg("the peer does not speak TLS on this port"),
    "protocol-mismatch": msg("we and the peer share no TLS version or cipher suite"),
    "other": msg("the TLS handshake failed"),
    "connect-failed": msg("the TCP connection for the TLS handshake failed"),
    "timeout": msg("timeout"),  # the outcome's own name in English (the detail says what timed out)
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
        return skipped(msg("not applicable: plain DICOM (no --tls)"), not_applicable=True)
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
        what: Text = _WHAT.get(outcome, outcome)
        detail: Text = ""
        cert = f.certificate or {}
        if outcome == "hostname-mismatch" and cert:
            san = cert.get("san") or {}
            names = [*san.get("dns", []), *san.get("ip", [])]
            detail = msg(" ({server_name} is not among {names})", server_name=server_name,
                         names=", ".join(names) or msg("its names (no SAN)"))
        elif outcome in ("expired", "not-yet-valid") and cert:
            detail = msg(" (valid {not_before} to {not_after})", not_before=cert.get("not_before"),
                         not_after=cert.get("not_after"))
        elif outcome == "no-tls" and f.plain_answer is not None:
            detail = msg(": it answered a plain A-ASSOCIATE-RQ with {answer}", answer=f.plain_answer.text)
        elif f.detail:
            detail = msg(" ({detail})", detail=f.detail)
        verdict = judge.judge_tls(outcome, ctx.prior())
        return failed(msg("TLS to {where} failed: {what}{detail}{note}", where=where, what=what, detail=detail,
                          note=verdict.summary_note()), verdict.causes, **ev)
    notes: list[Text] = []
    causes: list[str] = []
    if t.tls.insecure:
        notes.append(msg("the certificate was not verified (--insecure)"))
    if f.protocol and f.protocol not in _MODERN:
        notes.append(msg("{protocol} is below the TLS 1.2 that BCP 195 requires", protocol=f.protocol))
        causes.append("tls-protocol-mismatch")
    if f.days_left is not None and f.days_left < WARN_DAYS:
        notes.append(msg("the certificate expires in {days} days", days=f.days_left))
        causes.append("tls-expired")
    works = msg("TLS to {where} works: {protocol} with {cipher}", where=where, protocol=f.protocol or "TLS",
                cipher=f.cipher or msg("an unknown cipher"))
    if causes:
        return warned(msg("{works}; but {notes}", works=works, notes=join(notes, sep=msg("; "))), causes, **ev)
    if notes:
        return passed(msg("{works}; {notes}", works=works, notes=join(notes, sep=msg("; "))), **ev)
    return passed(works, **ev)

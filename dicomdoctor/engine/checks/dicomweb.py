"""DICOMweb checks (PS3.18): dicomweb.qido, dicomweb.wado, dicomweb.stow (writes) at the target's DICOMweb base
URL (`--dicomweb URL`, or `dicomweb:` on a playbook target). Facts come from probes/dicomweb.py; the causes
from engine/judge.py's judge_dicomweb. A target without a DICOMweb URL skips these checks as not applicable.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ...dimse.status import lookup
from ...errors import BadInput
from ...messages import Msg, Text, counted, msg
from ...probes.dicomweb import (JSON_TYPES, QidoFacts, StowFacts, WadoFacts, client_for, is_dicom_json_answer,
                                probe_qido, probe_stow, probe_wado)
from ...probes.http import HttpClient, HttpExchange
from .. import judge
from ..context import CheckContext, CheckResult, errored, failed, passed, skipped, warned
from ..registry import check

NO_URL = msg("not applicable: no DICOMweb URL (--dicomweb URL, or dicomweb: on the playbook target)")
# Bodies worth quoting as evidence: what a web page or an error says, never a DICOM JSON answer (patient data).
QUOTED_MEDIA = ("text/html", "text/plain", "application/xml", "text/xml", "")


def _client(ctx: CheckContext, *, max_bytes: int | None = None) -> HttpClient:
    options = ctx.target.dicomweb
    assert options is not None
    t = ctx.timeouts
    timeout = float(t.connect or 10.0)
    budget = timeout + float(t.dimse or timeout)
    kwargs: dict[str, Any] = {} if max_bytes is None else {"max_bytes": max_bytes}
    return client_for(options, timeout=timeout, budget=budget, fallback_tls=ctx.target.tls, **kwargs)


def _ae_titles(ctx: CheckContext) -> tuple[str, ...]:
    return (ctx.target.called_ae,) if ctx.target.called_ae_given else ()


async def qido_facts(ctx: CheckContext) -> QidoFacts:
    """QIDO-RS once per target (dicomweb.wado picks its study from it)."""
    params: dict[str, Any] = ctx.params if ctx.params.get("limit") is not None else {"limit": 10, "keys": {}}
    limit = int(params.get("limit", 10))
    keys = dict(params.get("keys") or {})

    async def run() -> QidoFacts:
        client = _client(ctx)
        try:
            assert ctx.target.dicomweb is not None
            return await probe_qido(client, ctx.target.dicomweb.url, limit=limit, keys=keys,
                                    ae_titles=_ae_titles(ctx))
        finally:
            client.close()

    return await ctx.fact("dicomweb.qido", run)


def _judge(ctx: CheckContext, service: str, ex: HttpExchange, **facts: Any) -> judge.Judgement:
    scheme = urllib.parse.urlsplit(ex.url).scheme
    # No prior: what earlier checks established is about the DICOM port, not this URL's server.
    return judge.judge_dicomweb(service, ex.outcome, http_status=ex.status, media_type=ex.media_type,
                                tls_outcome=ex.tls_outcome, auth_sent=ex.auth != "none",
                                redirected=bool(ex.redirects), scheme=scheme, **facts)


# The sentence for each transport outcome of an HTTP exchange that got no answer; {what} and {url} are filled
# in per exchange.
_FAILED_SENTENCES: dict[str, Msg] = {
    "refused": msg("{what} {url}: the connection was refused"),
    "timeout": msg("{what} {url}: the connection timed out"),
    "unreachable": msg("{what} {url}: the host is unreachable"),
    "reset": msg("{what} {url}: the connection was reset"),
    "dns": msg("{what} {url}: the host name does not resolve"),
    "no-response": msg("{what} {url}: no HTTP answer came in time"),
    "closed": msg("{what} {url}: the server closed the connection without an answer"),
    "not-http": msg("{what} {url}: the answer was not HTTP"),
}


def _what_happened(what: Text, ex: HttpExchange) -> Msg:
    """One clause: what the exchange got, in words."""
    if ex.outcome == "answered":
        reason = f" {ex.reason}" if ex.reason else ""  # the server's reason phrase: its own words
        if ex.media_type:
            return msg("{what} {url} answered HTTP {status}{reason}, {media_type}", what=what, url=ex.url,
                       status=ex.status, reason=reason, media_type=ex.media_type)
        return msg("{what} {url} answered HTTP {status}{reason}, no content type", what=what, url=ex.url,
                   status=ex.status, reason=reason)
    # Whole sentences (_FAILED_SENTENCES) rather than "{what} {url}: {why}" with a clause: a short clause such as
    # "the connection was refused" is a catalogue key other modules may translate in another way.
    o, w, u = ex.outcome, what, ex.url
    if o == "tls":
        return msg("{what} {url}: the TLS handshake failed ({outcome})", what=w, url=u,
                   outcome=ex.tls_outcome or "other")
    sentence = _FAILED_SENTENCES.get(o)
    if sentence is not None:
        return Msg(sentence.template, {"what": w, "url": u})
    return msg("{what} {url}: {outcome}", what=w, url=u, outcome=o)


def _exchange_evidence(ex: HttpExchange) -> dict[str, Any]:
    ev = ex.evidence()
    if ex.status is not None and ex.body and (ex.media_type in QUOTED_MEDIA or ex.status >= 400) \
            and ex.media_type not in ("application/dicom+json", "application/dicom", "multipart/related"):
        ev["body_start"] = ex.body_text()
    return ev


def _auth_clause(ex: HttpExchange) -> Text:
    challenge = ex.headers.get("www-authenticate")
    if ex.status == 401 and challenge:
        return msg(" (it asks for {scheme} authentication)", scheme=challenge.split(" ", 1)[0])
    return ""


def _not_json(error: Any) -> Msg:
    return msg(": not DICOM JSON ({error})", error=error)


# ------------------------------------------------------------------------------------------------ QIDO

@check("dicomweb.qido", params={"limit": 10, "keys": {}}, timeout=60.0, title="DICOMweb QIDO-RS")
async def qido(ctx: CheckContext) -> CheckResult:
    if ctx.target.dicomweb is None:
        return skipped(NO_URL, not_applicable=True)
    try:
        f = await qido_facts(ctx)
    except BadInput as exc:
        return errored(str(exc), kind="usage")
    return judge_qido(ctx, f)


def judge_qido(ctx: CheckContext, f: QidoFacts, *, prefix: Text = "QIDO-RS") -> CheckResult:
    ex = f.exchange
    answer = f.answer
    elsewhere = f.answers_at
    ev: dict[str, Any] = {"base_url": f.base, **_exchange_evidence(ex)}
    if answer is not None:
        ev["matches"] = answer.count if answer.ok else None
        if not answer.ok:
            ev["json_error"] = answer.error
    if f.studies:
        ev["first_study"] = f.studies[0]
        ev["keys_returned"] = list(f.returned_keys)
    if f.alternatives:
        ev["alternatives"] = [dict(a) for a in f.alternatives]
    if elsewhere:
        ev["answers_at"] = elsewhere
    body_ok = is_dicom_json_answer(ex, answer) or ex.status == 204
    verdict = _judge(ctx, "qido", ex, expected_media=JSON_TYPES, body_ok=body_ok,
                     answers_elsewhere=elsewhere is not None)
    if verdict.causes:
        summary = _what_happened(prefix, ex) + _auth_clause(ex)
        if answer is not None and not answer.ok and ex.media_type in JSON_TYPES:
            summary += _not_json(answer.error)
        if elsewhere:
            alt = next(a for a in f.alternatives if a["base"] == elsewhere)
            creds: Text = msg(" (with credentials)") if alt.get("http_status") == 401 else ""
            summary += msg("; the server answers QIDO-RS at {base}{creds}: use --dicomweb {base}", base=elsewhere,
                           creds=creds)
        return failed(summary + verdict.summary_note(), verdict.causes, **ev)
    n = 0 if ex.status == 204 or answer is None else answer.count
    summary = msg("{what} {url} answered HTTP {status} {media}with {studies} in {ms:.0f} ms", what=prefix,
                  url=ex.url, status=ex.status, media=f"{ex.media_type} " if ex.media_type else "",
                  studies=_studies(n), ms=ex.elapsed_ms)
    ev["matches"] = n
    if ex.media_type == "application/json":
        summary += msg(" (as application/json; PS3.18 names application/dicom+json)")
    options = ctx.target.dicomweb
    if ex.url.startswith("https:") and options is not None and (
            options.insecure or (options.ca is None and ctx.target.tls is not None and ctx.target.tls.insecure)):
        summary += msg("; the server's certificate was not verified (insecure)")
        ev["tls_verified"] = False
    return passed(summary, **ev)


def _studies(n: int) -> Msg:
    return counted(n, "{n} study", "{n} studies")


# ------------------------------------------------------------------------------------------------ WADO

@check("dicomweb.wado", depends=("dicomweb.qido",), params={"study": "", "instance": True, "max_bytes": 64 << 20},
       timeout=120.0, title="DICOMweb WADO-RS")
async def wado(ctx: CheckContext) -> CheckResult:
    if ctx.target.dicomweb is None:
        return skipped(NO_URL, not_applicable=True)
    study = str(ctx.params.get("study") or "")
    try:
        if not study:
            q = await qido_facts(ctx)
            if not is_dicom_json_answer(q.exchange, q.answer) or not q.studies:
                if q.exchange.status == 204 or (is_dicom_json_answer(q.exchange, q.answer) and not q.studies):
                    return skipped(msg("not applicable: QIDO-RS lists no study to retrieve"), matches=0)
                return judge_qido(ctx, q, prefix=msg("QIDO-RS (to pick a study)"))
            study = str(q.studies[0].get("StudyInstanceUID") or "")
            if not study:
                causes = judge.dicomweb_causes("qido", "answered", http_status=200, media_type=JSON_TYPES[0],
                                               expected_media=JSON_TYPES, body_ok=False)
                return failed(msg("QIDO-RS listed a study without a StudyInstanceUID: WADO-RS cannot name it"),
                              causes, first_study=q.studies[0])
        client = _client(ctx, max_bytes=int(ctx.params.get("max_bytes") or 64 << 20))
    except BadInput as exc:
        return errored(str(exc), kind="usage")
    try:
        assert ctx.target.dicomweb is not None
        f = await probe_wado(client, ctx.target.dicomweb.url, study, instance=bool(ctx.params.get("instance", True)),
                             max_bytes=int(ctx.params.get("max_bytes") or 64 << 20))
    finally:
        client.close()
    return judge_wado(ctx, f)


def judge_wado(ctx: CheckContext, f: WadoFacts) -> CheckResult:
    ex = f.metadata
    ev: dict[str, Any] = {"base_url": f.base, "study_uid": f.study_uid, **_exchange_evidence(ex)}
    if f.answer is not None:
        ev["instances"] = f.answer.count if f.answer.ok else None
        if not f.answer.ok:
            ev["json_error"] = f.answer.error
    if f.first_instance:
        ev["first_instance"] = f.first_instance
        ev["keys_returned"] = list(f.returned_keys)
    body_ok = is_dicom_json_answer(ex, f.answer) and f.answer is not None and f.answer.count > 0
    verdict = _judge(ctx, "wado", ex, expected_media=JSON_TYPES, body_ok=body_ok)
    if verdict.causes:
        summary = _what_happened(msg("WADO-RS metadata"), ex) + _auth_clause(ex)
        if f.answer is not None and f.answer.ok and f.answer.count == 0:
            summary += msg(": no instance in the metadata of a study QIDO-RS listed")
        elif f.answer is not None and not f.answer.ok:
            summary += _not_json(f.answer.error)
        return failed(summary + verdict.summary_note(), verdict.causes, **ev)
    cls = f.first_instance.get("SOPClassUID")
    n = f.instances
    if cls and n == 1:
        what = msg("metadata of {n} instance ({sop_class})", n=n, sop_class=_uid_name(cls))
    elif cls:
        what = msg("metadata of {n} instances ({sop_class})", n=n, sop_class=_uid_name(cls))
    else:
        what = counted(n, "metadata of {n} instance", "metadata of {n} instances")
    rx = f.retrieve
    if rx is None:
        return passed(msg("WADO-RS answered the {what} in {ms:.0f} ms", what=what, ms=ex.elapsed_ms), **ev)
    ev["retrieve"] = _exchange_evidence(rx)
    part = f.part
    if part is not None:
        ev["retrieve"]["part"] = part.evidence()
    asked = f.first_instance.get("SOPInstanceUID")
    problem: Text = ""
    if part is not None:
        if part.error:
            problem = part.error
        elif part.content_type and part.content_type.split(";")[0].strip().lower() != "application/dicom":
            problem = msg("its part is {content_type}, not application/dicom", content_type=part.content_type)
        elif part.sop_instance_uid and asked and part.sop_instance_uid != asked:
            problem = msg("its part holds another SOP instance than the one asked for")
    body_ok = part is not None and not problem
    verdict = _judge(ctx, "wado-instance", rx, expected_media=("multipart/related",), body_ok=body_ok)
    if verdict.causes:
        how = _what_happened("GET", rx) + _auth_clause(rx)
        summary = msg("WADO-RS answered the {what}, but the instance: {how}: {problem}", what=what, how=how,
                      problem=problem) if problem else \
            msg("WADO-RS answered the {what}, but the instance: {how}", what=what, how=how)
        return failed(summary + verdict.summary_note(), verdict.causes, **ev)
    assert part is not None
    ts = f", {_uid_name(part.transfer_syntax)}" if part.transfer_syntax else ""
    ms = ex.elapsed_ms + rx.elapsed_ms
    if rx.truncated:
        return passed(msg("WADO-RS answered the {what} and the first instance ({n:,} bytes (read in part), "
                          "multipart/related application/dicom{ts}) in {ms:.0f} ms", what=what, n=rx.body_bytes,
                          ts=ts, ms=ms), **ev)
    return passed(msg("WADO-RS answered the {what} and the first instance ({n:,} bytes, multipart/related "
                      "application/dicom{ts}) in {ms:.0f} ms", what=what, n=rx.body_bytes, ts=ts, ms=ms), **ev)


def _uid_name(uid: Any) -> str:
    try:
        from pydicom.uid import UID

        name = UID(str(uid)).name
        return str(name) if name and name != str(uid) else str(uid)
    except Exception:
        return str(uid)


# ------------------------------------------------------------------------------------------------ STOW

@check("dicomweb.stow", depends=("dicomweb.qido",), params={"sop_class": "CT", "study": ""}, writes=True,
       timeout=120.0,
       title="DICOMweb STOW-RS")
async def stow(ctx: CheckContext) -> CheckResult:
    if ctx.target.dicomweb is None:
        return skipped(NO_URL, not_applicable=True)
    from ...synthetic import make_instance, to_part10_bytes  # lazy: pydicom's writer

    try:
        # `study`: store into that existing study (POST BASE/studies/UID); the instance is made part of it.
        study = str(ctx.params.get("study") or "") or None
        ds = make_instance(sop_class=str(ctx.params.get("sop_class") or "CT"), rows=64, cols=64, study_uid=study)
    except ValueError as exc:
        return errored(msg("dicomweb.stow sop_class: {error}", error=str(exc)), kind="usage")
    data = to_part10_bytes(ds)
    try:
        client = _client(ctx)
    except BadInput as exc:
        return errored(str(exc), kind="usage")
    try:
        f = await probe_stow(client, ctx.target.dicomweb.url, data, sop_instance_uid=str(ds.SOPInstanceUID),
                             sop_class_uid=str(ds.SOPClassUID), study_uid=study)
    finally:
        client.close()
    return judge_stow(ctx, f)


def _failure(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    code = item.get("failure_reason")
    if isinstance(code, int):
        info = lookup(code, "c-store")
        out.update(failure_reason_hex=f"0x{code:04X}", failure_reason_name=info.name, meaning=info.meaning)
    return out


def judge_stow(ctx: CheckContext, f: StowFacts) -> CheckResult:
    ex = f.exchange
    ev: dict[str, Any] = {"base_url": f.base, **_exchange_evidence(ex), "sop_instance_uid": f.sent_sop_instance_uid,
                          "sop_class_uid": f.sent_sop_class_uid, "sent_bytes": f.sent_bytes}
    answered_json = f.answer is not None and f.answer.ok and bool(f.answer.datasets)
    if f.answer is not None and not f.answer.ok:
        ev["json_error"] = f.answer.error
    if answered_json:
        ev["stored"] = f.stored
        ev["referenced"] = [dict(r) for r in f.referenced]
        ev["failed"] = [_failure(x) for x in f.failed]
        if f.retrieve_url:
            ev["retrieve_url"] = f.retrieve_url
        if f.warning_reason is not None:
            ev["warning_reason"] = f"0x{f.warning_reason:04X}"
    reasons = [x["failure_reason"] for x in f.failed if isinstance(x.get("failure_reason"), int)]
    verdict = _judge(ctx, "stow", ex, expected_media=JSON_TYPES, body_ok=answered_json,
                     failure_reasons=reasons, stored=f.stored if answered_json else None)
    if verdict.causes:
        summary = _what_happened("STOW-RS", ex) + _auth_clause(ex)
        if reasons:
            summary += msg("; Failure Reason {reasons}", reasons=", ".join(
                f"0x{c:04X} ({lookup(c, 'c-store').name})" for c in dict.fromkeys(reasons)))
        elif answered_json and not f.stored and ex.status is not None and ex.status < 300:
            summary += msg(": the answer does not reference the instance we sent")
        return failed(summary + verdict.summary_note(), verdict.causes, **ev)
    summary = msg("STOW-RS stored one synthetic instance ({n:,} bytes) at {base}: HTTP {status} in {ms:.0f} ms",
                  n=f.sent_bytes, base=f.base, status=ex.status, ms=ex.elapsed_ms)
    if f.warning_reason is not None or ex.status == 202:
        why: Text = msg(" (Warning Reason 0x{code:04X})", code=f.warning_reason) if f.warning_reason is not None \
            else ""
        return warned(summary + msg(", with a warning{why}", why=why), **ev)
    return passed(summary, **ev)

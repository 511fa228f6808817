"""The report as a document a vendor reads, shared by the HTML, PDF and Markdown renderers.

Structure (the same in every format, so a ticket looks the same whichever file is attached):

1. title, meta and the verdict line;
2. a summary table of the targets (one row each: verdict, peer, what we found);
3. one section per target that needs attention (fail, error, then warn): its connection facts, each
   problem with the most likely cause, its explanation and fixes, the other possible causes by name, and one
   line for the checks that passed or were skipped;
4. the healthy targets, one line each;
   (a target that ran the IHE Scheduled Workflow chain, playbooks/workflow.yaml, also gets a Workflow timeline:
   the steps in order with their start offsets, durations and outcomes, and where the chain broke);
5. appendices with the evidence of the targets that need attention: association attempts (AE-title
   guesses), the presentation-context matrix, the evidence of each problem, the PDU trace (rows bounded).

Everything here is a plain string by the time a renderer sees it: evidence is flattened with the helpers of
`_common` (no Python reprs), UIDs are named, long values are cut with a note. Pure and cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..engine.model import Cause, Finding, Report, Status, TargetResult
from ._common import NEEDS_ATTENTION, STATUS_WORD, KeyValues, Table, evidence_blocks, finding, fmt_duration, \
    labels, scalar, target_findings, trace_rows, uid_name, verdict_line

# Bounds that keep a fleet report to a few pages however much a run recorded.
TRACE_ROWS = 40          # PDU trace rows per target in the appendix
ATTEMPT_ROWS = 20        # association attempts per target
MATRIX_ROWS = 40         # SOP classes in a presentation-context matrix
EVIDENCE_ROWS = 30       # key/value evidence rows per problem
VALUE_CHARS = 240        # one evidence value

# Evidence the appendix shows in its own tables (or that only repeats the summary/facts).
_SPECIAL_KEYS = frozenset({"attempts", "contexts", "sop_classes", "first_bytes", "product", "blocked_by",
                           "not_applicable"})
_VERDICT_ORDER = {"fail": 0, "error": 1, "warn": 2}

# Short names for the transfer syntaxes every matrix shows (column headers must fit an A4 page).
TS_SHORT = {
    "1.2.840.10008.1.2": "Implicit LE",
    "1.2.840.10008.1.2.1": "Explicit LE",
    "1.2.840.10008.1.2.1.99": "Deflate",
    "1.2.840.10008.1.2.2": "Explicit BE",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline",
    "1.2.840.10008.1.2.4.51": "JPEG Extended",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
    "1.2.840.10008.1.2.4.81": "JPEG-LS",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.4.201": "HTJ2K Lossless",
    "1.2.840.10008.1.2.4.203": "HTJ2K",
    "1.2.840.10008.1.2.5": "RLE",
}
# Presentation-context result codes (PS3.8 Table 9-18) as matrix cells.
PC_CELL = {0: "✓", 1: "✗ 1", 2: "✗ 2", 3: "✗ 3", 4: "✗ 4"}


@dataclass(frozen=True, slots=True)
class SummaryRow:
    target: str
    verdict: str          # pass/warn/fail/error (css class and word)
    peer: str
    check: str            # the check the headline is about ("" when all passed)
    headline: str
    anchor: str           # "" for healthy targets (no section)

    @property
    def found(self) -> str:
        return f"{self.check}: {self.headline}" if self.check else self.headline


@dataclass(frozen=True, slots=True)
class Problem:
    finding: Finding
    word: str
    css: str
    duration: str
    cause: Cause | None                  # the most likely one
    alternatives: tuple[Cause, ...]


@dataclass(frozen=True, slots=True)
class Section:
    target: TargetResult
    verdict: str
    anchor: str
    facts: tuple[tuple[str, str], ...]
    problems: tuple[Problem, ...]
    others: tuple[str, ...]              # "Passed: a, b" / "Skipped: c (why)"
    appendix: str                        # the appendix letter holding this target's evidence, "" if none
    timeline: "Timeline | None" = None   # the workflow chain, when this target ran it


@dataclass(frozen=True, slots=True)
class Block:
    """One piece of appendix evidence: a titled table (first row = header) or key/value rows."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    kind: str = "table"                  # table | kv | matrix | trace


@dataclass(frozen=True, slots=True)
class Appendix:
    letter: str
    target: str
    anchor: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Document:
    lang: str
    lb: Mapping[str, str]
    title: str
    verdict: str
    verdict_line: str
    meta: tuple[tuple[str, str], ...]
    summary: tuple[SummaryRow, ...]
    sections: tuple[Section, ...]
    healthy: tuple[tuple[str, str], ...]      # (target id, one line)
    appendices: tuple[Appendix, ...]
    legend: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    # target id -> its workflow timeline (every target that ran the chain, healthy ones included)
    timelines: Mapping[str, "Timeline"] = field(default_factory=dict)


def anchor(target_id: str) -> str:
    """An id/fragment safe in HTML and PDF links."""
    return "t-" + "".join(c if c.isalnum() else "-" for c in target_id).strip("-").lower()


def clip(text: str, limit: int = VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def product_text(product: Any, lb: Mapping[str, str]) -> str:
    """peer.identity's product guess (a mapping, or a plain string from older checks) as one phrase."""
    if not product:
        return ""
    if not isinstance(product, Mapping):
        return scalar(product)
    name = scalar(product.get("product") or product.get("toolkit") or "")
    bits = []
    if product.get("version"):
        bits.append(lb["version"].format(v=scalar(product["version"])))
    if product.get("confidence"):
        bits.append(lb["confidence"].format(c=scalar(product["confidence"])))
    return name + (f" ({', '.join(bits)})" if bits else "")


def _product(findings: Sequence[Finding]) -> Any:
    ident = finding(findings, "peer.identity")
    if ident is None:
        return None
    return ident.evidence.get("product") or ident.evidence.get("product_guess")


def peer_short(target: TargetResult, findings: Sequence[Finding], lb: Mapping[str, str]) -> str:
    product = _product(findings)
    if isinstance(product, Mapping) and product.get("toolkit"):
        name = scalar(product["toolkit"])
        if product.get("version"):
            name += f" {scalar(product['version'])}"
        return name
    if product and not isinstance(product, Mapping):
        return clip(scalar(product), 40)
    return target.peer.implementation_version_name or target.peer.implementation_class_uid or lb["unknown"]


def associations_opened(target: TargetResult) -> int:
    """How many A-ASSOCIATE-RQ the diagnosis of this target sent (the cost a PACS log shows)."""
    return sum(1 for r in trace_rows(target.trace) if r.pdu_type == "A-ASSOCIATE-RQ" and r.direction == "→")


def _facts(target: TargetResult, findings: Sequence[Finding], lb: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    p = target.peer
    rows: list[tuple[str, str]] = [
        (lb["address"], f"{target.host}:{target.port}" if target.host else "—"),
        (lb["ae_titles"], lb["ae_pair"].format(called=target.called_ae or "—", calling=target.calling_ae or "—")),
        ("TLS", lb["yes"] if target.tls else lb["no"]),
    ]
    tls = finding(findings, "tls.handshake")
    if tls is not None and tls.evidence.get("protocol"):
        rows.append((lb["tls_protocol"], " ".join(scalar(tls.evidence[k]) for k in ("protocol", "cipher")
                                                     if tls.evidence.get(k))))
    if p.implementation_version_name or p.implementation_class_uid:
        rows.append((lb["implementation"], " / ".join(x for x in (p.implementation_version_name,
                                                                   p.implementation_class_uid) if x)))
    product = product_text(_product(findings), lb)
    if product:
        rows.append((lb["product"], product))
    pdu = finding(findings, "assoc.pdu-length")
    ours = pdu.evidence.get("our_max_pdu") if pdu is not None else None
    if p.max_pdu is not None or ours is not None:
        rows.append((lb["max_pdu_pair"], lb["pdu_pair"].format(peer=scalar(p.max_pdu), ours=scalar(ours))))
    timing = []
    reach = finding(findings, "net.reachable")
    if reach is not None and isinstance(reach.evidence.get("connect_ms"), (int, float)):
        timing.append(f"TCP {fmt_duration(float(reach.evidence['connect_ms']))}")
    echo = finding(findings, "dimse.echo")
    if echo is not None and isinstance(echo.evidence.get("rtt_ms"), (int, float)):
        timing.append(f"C-ECHO {fmt_duration(float(echo.evidence['rtt_ms']))}")
    if timing:
        rows.append((lb["timing"], ", ".join(timing)))
    n = associations_opened(target)
    if n:
        rows.append((lb["associations"], str(n)))
    return tuple(rows)


def _others(findings: Sequence[Finding], lb: Mapping[str, str]) -> tuple[str, ...]:
    passed = [f.check for f in findings if f.status is Status.PASS]
    skipped: dict[str, list[str]] = {}
    for f in findings:
        if f.status is Status.SKIP:
            skipped.setdefault(f.summary.rstrip("."), []).append(f.check)
    out = []
    if passed:
        out.append(f"{lb['passed_list']}: {', '.join(passed)}")
    if skipped:
        out.append(f"{lb['skipped_list']}: " + "; ".join(f"{', '.join(ids)} ({why})" for why, ids in skipped.items()))
    return tuple(out)


def _headline(findings: Sequence[Finding], lb: Mapping[str, str]) -> tuple[str, str]:
    """(check id, what it found) of the worst finding; ("", "all N checks passed") when nothing is wrong."""
    bad = [f for f in findings if f.status in (Status.FAIL, Status.ERROR)] or \
          [f for f in findings if f.status is Status.WARN]
    if not bad:
        passes = sum(f.status is Status.PASS for f in findings)
        return "", lb["all_passed_one" if passes == 1 else "all_passed"].format(n=passes)
    first = bad[0]
    text = clip(first.summary, 180)
    if len(bad) > 1:
        text += " " + lb["and_more"].format(n=len(bad) - 1)
    return first.check, text


def _problem(f: Finding) -> Problem:
    return Problem(f, STATUS_WORD[f.status], f.status.value, fmt_duration(f.duration_ms),
                   f.causes[0] if f.causes else None, tuple(f.causes[1:]))


# --- appendix blocks ---------------------------------------------------------------------------------------

def _attempts_block(findings: Sequence[Finding], lb: Mapping[str, str]) -> Block | None:
    ae = finding(findings, "assoc.ae-title")
    attempts = ae.evidence.get("attempts") if ae is not None else None
    if not isinstance(attempts, (list, tuple)) or not attempts:
        return None
    rows = []
    for a in list(attempts)[:ATTEMPT_ROWS]:
        if not isinstance(a, Mapping):
            continue
        outcome = scalar(a.get("outcome") or "")
        rj = a.get("reject")
        if isinstance(rj, Mapping):
            outcome += f" {scalar(rj.get('result'))}/{scalar(rj.get('source'))}/{scalar(rj.get('reason'))}"
            if rj.get("reason_name"):
                outcome += f" {scalar(rj['reason_name'])}"
        rows.append((scalar(a.get("called_ae") or ""), scalar(a.get("calling_ae") or ""),
                     scalar(a.get("purpose") or ""), outcome))
    more = len(attempts) - ATTEMPT_ROWS
    note = lb["more_rows"].format(n=more) if more > 0 else ""
    return Block(lb["attempts_title"].format(n=len(attempts)),
                 (lb["called_ae"], lb["calling_ae_col"], lb["purpose"], lb["outcome"]), tuple(rows), note)


def ts_short(uid: str) -> str:
    return TS_SHORT.get(uid) or uid_name(uid) or uid


def _matrix_block(findings: Sequence[Finding], lb: Mapping[str, str]) -> Block | None:
    pcs = finding(findings, "assoc.presentation-contexts")
    contexts = pcs.evidence.get("contexts") if pcs is not None else None
    if not isinstance(contexts, (list, tuple)) or not contexts:
        return None
    sops: list[str] = []
    tss: list[str] = []
    cells: dict[tuple[str, str], str] = {}
    for c in contexts:
        if not isinstance(c, Mapping):
            continue
        a, t = str(c.get("abstract_syntax") or ""), str(c.get("transfer_syntax") or "")
        if a not in sops:
            sops.append(a)
        if t not in tss:
            tss.append(t)
        r = c.get("result")
        cells[(a, t)] = PC_CELL.get(r, f"✗ {scalar(r)}") if isinstance(r, int) else scalar(r)
    rows = []
    for a in sops[:MATRIX_ROWS]:
        rows.append((uid_name(a) or a,) + tuple(cells.get((a, t), "·") for t in tss))
    more = len(sops) - MATRIX_ROWS
    note = lb["more_rows"].format(n=more) if more > 0 else ""
    return Block(lb["matrix_title"], (lb["sop_class"],) + tuple(ts_short(t) for t in tss), tuple(rows),
                 note, kind="matrix")


def _evidence_block(f: Finding, lb: Mapping[str, str]) -> Block | None:
    rest = {k: v for k, v in f.evidence.items() if k not in _SPECIAL_KEYS and v not in (None, "", [], {})}
    rows: list[tuple[str, str]] = []
    for b in evidence_blocks(rest, max_rows=EVIDENCE_ROWS):
        if isinstance(b, KeyValues):
            rows += [(k, clip(v)) for k, v in b.rows if v not in ("—", "[]", "{}")]
        elif isinstance(b, Table):  # a list of records: one row each, "key=value" joined
            for r in b.rows[:EVIDENCE_ROWS]:
                rows.append((b.name, clip(", ".join(f"{c}={v}" for c, v in zip(b.columns, r) if v))))
    if not rows:
        return None
    more = len(rows) - EVIDENCE_ROWS
    return Block(lb["evidence_of"].format(check=f.check), (lb["key"], lb["value"]), tuple(rows[:EVIDENCE_ROWS]),
                 lb["more_rows"].format(n=more) if more > 0 else "", kind="kv")


def _trace_block(target: TargetResult, lb: Mapping[str, str]) -> Block | None:
    rows = trace_rows(target.trace)
    if not rows:
        return None
    # a note row (connected, timed out) has no direction; its PDU column already says NOTE
    shown = tuple((r.t, r.direction if r.direction in ("→", "←") else "", r.pdu_type, r.length,
                   clip(r.summary, 160)) for r in rows[:TRACE_ROWS])
    more = len(rows) - TRACE_ROWS
    return Block(lb["trace"], (lb["time"], lb["direction"], lb["pdu"], lb["length"], lb["detail"]), shown,
                 lb["more_rows"].format(n=more) if more > 0 else "", kind="trace")


def _needs_attention(findings: Sequence[Finding], check: str) -> bool:
    f = finding(findings, check)
    return f is not None and f.status in NEEDS_ATTENTION


def _appendix_blocks(target: TargetResult, findings: Sequence[Finding], lb: Mapping[str, str]) -> list[Block]:
    """The evidence behind this target's problems, and only that: the association attempts when the AE titles
    are the problem, the matrix when the contexts are, the PDU trace when something failed outright."""
    wanted = []
    if _needs_attention(findings, "assoc.ae-title"):
        wanted.append(_attempts_block(findings, lb))
    if _needs_attention(findings, "assoc.presentation-contexts"):
        wanted.append(_matrix_block(findings, lb))
    blocks = [b for b in wanted if b is not None]
    shown = {b.kind for b in blocks}
    for f in findings:
        if f.check == "assoc.presentation-contexts" and "matrix" in shown:
            continue  # its supported/unsupported lists only repeat the matrix
        if f.status in NEEDS_ATTENTION:
            b = _evidence_block(f, lb)
            if b is not None:
                blocks.append(b)
    ident = _product(findings)
    quirks = ident.get("quirks") if isinstance(ident, Mapping) else None
    if isinstance(quirks, (list, tuple)) and quirks:
        blocks.append(Block(lb["quirks"], (lb["quirks"],), tuple((clip(scalar(q), 600),) for q in quirks),
                            kind="list"))
    if (target.verdict or "error") in ("fail", "error"):
        trace = _trace_block(target, lb)
        if trace is not None:
            blocks.append(trace)
    return blocks


# --- the workflow timeline ---------------------------------------------------------------------------------
# The IHE Scheduled Workflow chain of playbooks/workflow.yaml, in the order a modality runs it. Each step
# depends on the one before, so the first that fails is where the chain broke and the rest are skipped naming it
# (evidence `blocked_by`). Outcomes are read from evidence keys, never from the summary sentences.

WORKFLOW_CHAIN = ("mwl.find", "workflow.mpps-start", "workflow.store", "workflow.commit",
                  "workflow.mpps-complete", "workflow.readback")
_STEP_LABEL = {"mwl.find": "wf_worklist", "workflow.mpps-start": "wf_mpps_start", "workflow.store": "wf_store",
               "workflow.commit": "wf_commit", "workflow.mpps-complete": "wf_mpps_complete",
               "workflow.readback": "wf_readback"}
_BROKEN = (Status.FAIL, Status.ERROR)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the chain as a row: every field a plain string."""

    check: str
    name: str                  # "Storage commitment" (in the report's language)
    css: str                   # pass/warn/fail/error/skip
    word: str                  # PASS/WARN/FAIL/ERROR/SKIP
    start: str                 # "+212 ms" since the target's run began (the PDU trace's clock); "" if not run
    duration: str              # "" if not run
    outcome: str               # one line: what the step found or did; "not run: ..." for a skipped step
    ran: bool = True
    broke: bool = False        # the step where the chain broke


@dataclass(frozen=True, slots=True)
class Timeline:
    target: str
    title: str                 # "Workflow"
    headline: str              # "all 6 steps passed in 220 ms" / "broke at step 4 of 6: workflow.commit"
    verdict: str               # pass/warn/fail/error: the chain's own verdict
    steps: tuple[Step, ...]
    broke_at: str = ""         # check id of the step where it broke, "" when it did not
    cause: str = ""            # that step's most likely cause (title), "" when none
    cause_id: str = ""
    blocked: str = ""          # "not started: assoc.ae-title failed" when the chain never began
    marker: str = ""           # "broke here: <cause title>", under the step where it broke


def _count(ev: Mapping[str, Any], key: str) -> int | None:
    v = ev.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _status_of(ev: Mapping[str, Any]) -> str:
    """The status of a response as "0xA700 Out of Resources" (data: the same in every language)."""
    return " ".join(scalar(ev[k]) for k in ("status_hex", "status_name") if ev.get(k)) or \
        (scalar(ev["status"]) if isinstance(ev.get("status"), int) else "")


def short_uid(uid: str) -> str:
    """A long UID with its middle elided: the root and the tail a log search needs, on one short line."""
    return uid if len(uid) <= 26 else f"{uid[:11]}…{uid[-12:]}"


def _not_done(ev: Mapping[str, Any], lb: Mapping[str, str]) -> str:
    """What happened when the exchange did not complete: "no answer in time (dimse)", "A-ASSOCIATE-RJ 1/1/7"."""
    rj = ev.get("reject")
    if isinstance(rj, Mapping):
        return f"A-ASSOCIATE-RJ {scalar(rj.get('result'))}/{scalar(rj.get('source'))}/{scalar(rj.get('reason'))}"
    ab = ev.get("abort")
    if isinstance(ab, Mapping) and (ab.get("source_name") or ab.get("source") is not None):
        return f"A-ABORT {scalar(ab.get('source_name') or ab.get('source'))}"
    outcome = scalar(ev.get("outcome"))
    outcome = lb.get(f"wf_o_{outcome}", outcome)
    return f"{outcome} ({scalar(ev['phase'])})" if ev.get("phase") else outcome


def _mpps_outcome(ev: Mapping[str, Any], lb: Mapping[str, str]) -> str:
    steps = [s for s in ev.get("steps") or [] if isinstance(s, Mapping)]
    last = steps[-1] if steps else {}
    state = scalar(ev.get("state")) if ev.get("state") not in (None, "", "none") else ""
    uid = str(ev.get("sop_instance_uid") or "")
    if state:
        where = lb["wf_mpps"].format(state=state, uid=short_uid(uid)) if uid else \
            lb["wf_mpps_no_uid"].format(state=state)
    else:
        where = lb["wf_mpps_none"]
    if last and last.get("category") not in ("success", "warning"):
        status = " ".join(scalar(last[k]) for k in ("status_hex", "status_name") if last.get(k))
        return f"{scalar(last.get('operation') or '')} {status}; {where}".strip()
    if ev.get("outcome") not in (None, "ok"):
        return f"{_not_done(ev, lb)}; {where}"
    if ev.get("from_worklist") is False:  # workflow.mpps-start performed a procedure of its own making
        return f"{where}; {lb['wf_synthetic']}"
    return where


def _step_outcome(f: Finding, lb: Mapping[str, str]) -> str:
    ev = f.evidence
    check = f.check
    if check in ("workflow.mpps-start", "workflow.mpps-complete"):
        return _mpps_outcome(ev, lb)
    if ev.get("outcome") not in (None, "ok") and check != "workflow.store":
        return _not_done(ev, lb)
    if check == "mwl.find":
        n = _count(ev, "matches")
        if n is not None:
            text = lb["wf_entries_none"] if n == 0 else lb["wf_entry" if n == 1 else "wf_entries"].format(n=n)
            return text if ev.get("category") in (None, "success", "cancel") else f"{text}; {_status_of(ev)}"
    elif check == "workflow.store":
        stores = [s for s in ev.get("stores") or [] if isinstance(s, Mapping)]
        good = sum(s.get("category") in ("success", "warning") for s in stores)
        bad = next((s for s in stores if s.get("category") not in ("success", "warning")), None)
        if stores:
            text = lb["wf_stored_one" if good == 1 else "wf_stored"].format(n=good)
            if bad is not None:
                text += "; " + lb["wf_store_refused"].format(status=_status_of(bad))
            return text
        if ev.get("outcome") not in (None, "ok"):
            return _not_done(ev, lb)
    elif check == "workflow.commit":
        action = ev.get("action")
        if isinstance(action, Mapping) and action.get("category") not in ("success", "warning"):
            return f"N-ACTION {_status_of(action)}"
        if ev.get("report_received"):
            text = lb["wf_committed"].format(ok=scalar(ev.get("success", 0)), failed=scalar(ev.get("failed", 0)))
            items = [i for i in ev.get("failed_items") or [] if isinstance(i, Mapping)]
            if items:
                first = items[0]
                text += " (" + " ".join(scalar(first[k]) for k in ("failure_reason_hex", "reason_name")
                                        if first.get(k)) + ")"
            return text
        if action is not None:
            return lb["wf_no_report"]
    elif check == "workflow.readback":
        n = _count(ev, "matches")
        if ev.get("category") not in (None, "success"):
            return _status_of(ev)
        if n is not None:
            return lb["wf_not_found"] if n == 0 else lb["wf_found_one" if n == 1 else "wf_found"].format(n=n)
    # A check that crashed, or evidence this code does not know: the summary, cut to one line.
    return clip(" ".join(f.summary.split()), 140)


def _not_run(f: Finding, by_id: Mapping[str, Finding], lb: Mapping[str, str]) -> str:
    root = str(f.evidence.get("blocked_by") or "")
    if root == "deadline":
        return lb["wf_not_run_deadline"]
    if f.evidence.get("peer_silent") and root:
        return lb["wf_not_run_silent"].format(step=root)
    blocker = by_id.get(root)
    if blocker is not None and blocker.status in _BROKEN:
        return lb["wf_not_run"].format(step=root)
    if root:
        return lb["wf_not_run_other"].format(step=root)
    return lb["wf_not_run_plain"] + ": " + clip(" ".join(f.summary.split()), 120)


def workflow_timeline(target_id: str, findings: Sequence[Finding], lb: Mapping[str, str]) -> Timeline | None:
    """The chain as a timeline, None unless these findings hold a workflow.* step (mwl.find alone, as in the
    standard playbook, is a worklist check, not a chain). Offsets sum the durations of the target's findings in
    run order: the runner runs one target's checks one after another, so that is when each step began."""
    if not any(f.check in WORKFLOW_CHAIN and f.check != "mwl.find" for f in findings):
        return None
    by_id = {f.check: f for f in findings}
    starts: dict[str, float] = {}
    offset = 0.0
    for f in findings:
        starts.setdefault(f.check, offset)
        offset += float(f.duration_ms or 0)
    chain = [f for f in findings if f.check in WORKFLOW_CHAIN]
    broke = next((f for f in chain if f.status in _BROKEN), None)
    steps = []
    for f in chain:
        ran = f.status is not Status.SKIP
        steps.append(Step(f.check, lb[_STEP_LABEL[f.check]], f.status.value, STATUS_WORD[f.status],
                          f"+{fmt_duration(starts[f.check])}" if ran else "",
                          fmt_duration(f.duration_ms) if ran else "",
                          _step_outcome(f, lb) if ran else _not_run(f, by_id, lb), ran, f is broke))
    n = len(steps)
    if broke is not None:
        i = chain.index(broke) + 1
        cause = broke.causes[0] if broke.causes else None
        title = cause.title if cause else lb["no_cause"]
        return Timeline(target_id, lb["wf_title"], lb["wf_broke_head"].format(i=i, n=n, step=broke.check),
                        broke.status.value, tuple(steps), broke.check, title, cause.id if cause else "",
                        marker=lb["wf_broke_here"].format(cause=title.rstrip(".。")))
    done = [f for f in chain if f.status is not Status.SKIP]
    warns = sum(f.status is Status.WARN for f in chain)
    if len(done) < n:
        first = next(f for f in chain if f.status is Status.SKIP)
        root = str(first.evidence.get("blocked_by") or "")
        blocker = by_id.get(root)
        if not done and blocker is not None and blocker.status in _BROKEN:
            # the chain never began: an earlier check (the connection, the association) failed
            blocked = lb["wf_blocked"].format(step=root)
            cause = blocker.causes[0] if blocker.causes else None
            return Timeline(target_id, lb["wf_title"], blocked, blocker.status.value, tuple(steps), "",
                            cause.title if cause else "", cause.id if cause else "", blocked)
        # stopped without a failure (the deadline, a silent peer): not a healthy chain either
        return Timeline(target_id, lb["wf_title"], lb["wf_partial"].format(ran=len(done), n=n), "warn",
                        tuple(steps))
    took = fmt_duration(sum(float(f.duration_ms or 0) for f in done))
    headline = lb["wf_done_warn" if warns else "wf_done"].format(n=n, took=took, warns=warns)
    return Timeline(target_id, lb["wf_title"], headline, "warn" if warns else "pass", tuple(steps))


# --- the document ------------------------------------------------------------------------------------------

def build(report: Report, lang: str = "en") -> Document:
    lb = labels(lang)
    groups = target_findings(report)
    attention = sorted((g for g in groups if (g[0].verdict or "error") != "pass"),
                       key=lambda g: _VERDICT_ORDER.get(g[0].verdict or "error", 3))
    letters = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    sections, appendices = [], []
    for target, findings in attention:
        blocks = _appendix_blocks(target, findings, lb)
        letter = next(letters, "Z") if blocks else ""
        a = anchor(target.id)
        sections.append(Section(target, target.verdict or "error", a, _facts(target, findings, lb),
                                tuple(_problem(f) for f in findings if f.status in NEEDS_ATTENTION),
                                _others(findings, lb), letter, workflow_timeline(target.id, findings, lb)))
        if blocks:
            appendices.append(Appendix(letter, target.id, "app-" + a, tuple(blocks)))
    section_ids = {s.target.id for s in sections}
    summary = tuple(SummaryRow(t.id, t.verdict or "error", peer_short(t, fs, lb), *_headline(fs, lb),
                               anchor=anchor(t.id) if t.id in section_ids else "") for t, fs in groups)
    healthy = []
    for t, fs in groups:
        if t.id in section_ids:
            continue
        bits = [_headline(fs, lb)[1], peer_short(t, fs, lb)]
        echo = finding(fs, "dimse.echo")
        if echo is not None and isinstance(echo.evidence.get("rtt_ms"), (int, float)):
            bits.append(f"C-ECHO {fmt_duration(float(echo.evidence['rtt_ms']))}")
        healthy.append((t.id, "; ".join(bits)))
    timelines = {t.id: tl for t, fs in groups if (tl := workflow_timeline(t.id, fs, lb)) is not None}
    meta = [(lb["playbook"], report.playbook)]
    if report.started_at:
        meta.append((lb["started"], report.started_at))
    meta.append((lb["duration"], fmt_duration(report.duration_ms)))
    meta.append((lb["targets"], str(len(report.targets))))
    if report.tool_version:
        meta.append(("dicomdoctor", report.tool_version))
    return Document(lang=(lang or "en").split("-")[0], lb=lb, title=lb["report_title"], verdict=report.verdict,
                    verdict_line=verdict_line(report, lang), meta=tuple(meta), summary=summary,
                    sections=tuple(sections), healthy=tuple(healthy), appendices=tuple(appendices),
                    legend=lb["matrix_legend"], timelines=timelines)


__all__ = ["Appendix", "Block", "Document", "Problem", "Section", "Step", "SummaryRow", "Timeline", "WORKFLOW_CHAIN",
           "associations_opened", "build", "product_text", "short_uid", "ts_short", "workflow_timeline"]

"""The one home of judgement: every rule that turns a fact into ranked cause ids.

Live checks (engine/checks/*), the capture analysis (capture/judge.py) and `explain` all call these functions;
no other module maps a reject, an abort, a connect outcome, a TLS outcome, a timeout or a DIMSE status to
causes. The rules are data, versioned with the knowledge base: `checks/_rules.yaml` (rejects, aborts, connect
and TLS outcomes, timeouts, the raw SYN probe's reading) and the `statuses` of each cause in `checks/*.yaml`.
Each function takes the fact plus what earlier checks of the run established (`Prior`), so a later failure is
judged with that evidence ("accepted TCP a moment ago, refused now" is not "the server is not running").

Pure: no I/O (the knowledge base is read once and cached). Returns cause ids, most likely first; the knowledge
base gives each id its title, explanation and fixes. tests/engine/test_judge.py asserts that every id any rule
can return exists there. The `*_causes` functions are the short form; the `judge_*` ones also return the note
a finding adds and how confident the reading is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from ..messages import Fixed, Text, msg, join

if TYPE_CHECKING:
    from .context import CheckResult
    from .kb import KnowledgeBase, Rule
    from .model import PeerInfo

__all__ = ["Prior", "Judgement", "reject_causes", "abort_causes", "connect_causes", "tls_causes",
           "timeout_causes", "status_causes", "judge_reject", "judge_abort", "judge_connect", "judge_tls",
           "judge_timeout", "judge_transport", "prior_from", "TCP_OUTCOMES", "STATUS_MARGIN", "ranked_status_causes",
           "wire_causes", "local_causes", "violation_causes"]

# net.connect's TCP outcomes; any other connect outcome is a TLS one (net.tls.classify_ssl_error).
TCP_OUTCOMES = ("open", "refused", "timeout", "unreachable", "reset", "dns")
# Status rules are scored by specificity (fixed hex digits, +1 for this service) plus the cause's prior; causes
# within this margin of the best stay as alternatives (a range two digits looser than the best falls off).
STATUS_MARGIN = 2.5


@dataclass(frozen=True, slots=True)
class Prior:
    """What earlier checks of the same run established about the peer (all optional)."""

    tcp_open: bool | None = None          # net.reachable saw the port accept TCP
    tcp_connect_ms: float | None = None
    tls_ok: bool | None = None            # tls.handshake completed a handshake
    tls_handshake_ms: float | None = None
    accepted_called_ae: str | None = None  # AE probing found the peer accepts this other called AE
    called_ae_variant: bool = False       # ... and it is ours written differently (case, spaces)
    calling_ae_checked: bool = False      # AE probing showed the peer checks the calling AE
    any_calling_ae: bool = False          # AE probing showed associations are accepted from any calling AE
    product: str | None = None            # the products table's guess ("DCMTK (OFFIS) or a product built on it")
    toolkit: str | None = None            # and its toolkit ("DCMTK", "pynetdicom"...)
    extra: Mapping[str, object] = field(default_factory=dict)

    def flags(self) -> frozenset[str]:
        """The `after` flags of checks/_rules.yaml that hold."""
        out = set()
        if self.tcp_open:
            out.add("tcp-open")
        if self.tls_ok:
            out.add("tls-ok")
        if self.accepted_called_ae is not None:
            out.add("called-ae-found")
        if self.called_ae_variant:
            out.add("called-ae-variant")
        if self.calling_ae_checked:
            out.add("calling-ae-checked")
        if self.any_calling_ae:
            out.add("any-calling-ae")
        return frozenset(out)


@dataclass(frozen=True, slots=True)
class Judgement:
    """Ranked cause ids, and what the finding should say about how they were reached."""

    causes: tuple[str, ...]
    note: Text = ""                # a clause for the summary, empty when the plain reading holds
    confidence: str = "medium"     # high: independent evidence agrees; low: it disagrees
    rule: str = ""                 # checks/_rules.yaml:line of the rule that decided
    evidence: Mapping[str, Any] = field(default_factory=dict)  # what the judgement used, for the finding

    def summary_note(self) -> "Text":
        """"; <note>" for a summary (in the finding's language), or ""."""
        return msg("; {note}", note=self.note) if self.note else ""


def _kb() -> "KnowledgeBase":
    from .kb import load_kb  # lazy: yaml is loaded only when something is judged

    return load_kb("en")


def _decide(section: str, facts: Mapping[str, object], prior: Prior | None, lang: str = "en") -> Judgement:
    prior = prior or Prior()
    rule = _kb().first_rule(section, facts, prior.flags())
    if rule is None:  # the loader makes every section but raw-syn end with a catch-all
        raise AssertionError(f"checks/_rules.yaml: no {section} rule matches {dict(facts)}")
    return _from_rule(rule, lang)


def _from_rule(rule: "Rule", lang: str = "en") -> Judgement:
    used = sorted(rule.after)
    return Judgement(rule.causes, note=Fixed(rule.note) if rule.note else "", rule=rule.where,
                     evidence={"earlier_evidence": used} if used else {})


# ------------------------------------------------------------------------------------------- rejects

def judge_reject(result: int, source: int, reason: int, prior: Prior | None = None) -> Judgement:
    """A-ASSOCIATE-RJ result/source/reason, with what AE probing learned (`prior`)."""
    return _decide("reject", {"result": result, "source": source, "reason": reason}, prior)


def reject_causes(result: int, source: int, reason: int, prior: Prior | None = None) -> tuple[str, ...]:
    """A-ASSOCIATE-RJ result/source/reason -> cause ids, most likely first."""
    return judge_reject(result, source, reason, prior).causes


# -------------------------------------------------------------------------------------------- aborts

def judge_abort(source: int | None, reason: int | None, phase: str | None = None, prior: Prior | None = None, *,
                kind: str | None = None, by: str = "acceptor", service: str | None = None,
                answered: bool | None = None) -> Judgement:
    """An A-ABORT (source/reason; None when the connection was closed or reset instead: `kind`) in `phase`
    ("association", "dimse", "release"), sent `by` the acceptor (the peer, for live checks), the requestor or
    an unknown side (captures), while a `service` request was outstanding that the peer had (not) `answered`.
    The peer's toolkit (prior.toolkit) selects product rules: Orthanc aborts a C-ECHO from an unknown AE."""
    prior = prior or Prior()
    if kind is None:
        kind = "abort" if source is not None else "closed"
    facts: dict[str, object] = {"phase": phase or "dimse", "kind": kind, "by": by}
    if service:
        facts["service"] = _service(service)
    if answered is not None:
        facts["answered"] = answered
    if prior.toolkit:
        facts["toolkit"] = prior.toolkit
    return _decide("abort", facts, prior)


def abort_causes(source: int | None, reason: int | None, phase: str | None = None,
                 prior: Prior | None = None, **facts: Any) -> tuple[str, ...]:
    """A-ABORT (or a closed connection when source is None) in `phase` ("association", "dimse", "release");
    keyword facts as for judge_abort."""
    return judge_abort(source, reason, phase, prior, **facts).causes


# ------------------------------------------------------------------------------------------ timeouts

def judge_timeout(phase: str | None, prior: Prior | None = None, *, service: str | None = None) -> Judgement:
    """No answer within our timeout in `phase` ("association", "dimse", "release")."""
    facts: dict[str, object] = {"phase": phase or "dimse"}
    if service:
        facts["service"] = _service(service)
    if prior is not None and prior.toolkit:
        facts["toolkit"] = prior.toolkit
    return _decide("timeout", facts, prior)


def timeout_causes(phase: str | None, prior: Prior | None = None, **facts: Any) -> tuple[str, ...]:
    return judge_timeout(phase, prior, **facts).causes


# ---------------------------------------------------------------------------------- connect and TLS

def judge_connect(outcome: str, prior: Prior | None = None, *, raw_syn: str | None = None) -> Judgement:
    """A TCP connect outcome (refused/timeout/unreachable/reset/dns), with earlier evidence (`prior`) and, when
    it ran, the raw SYN probe's reading (`raw_syn`: closed/prohibited/filtered/unreachable).

    The probe never replaces the connect's reading: when it agrees it tells which of the connect's causes
    answered (their order changes, confidence high); when it disagrees the connect's causes stay first, the
    probe's follow, and the judgement says so (confidence low)."""
    base = _decide("connect", {"outcome": outcome}, prior)
    if not raw_syn:
        return base
    rule = _kb().first_rule("raw-syn", {"connect": outcome, "syn": raw_syn}, (prior or Prior()).flags())
    if rule is None:
        return base
    reading = {"raw_syn": raw_syn, "agrees": rule.agrees, "raw_syn_causes": list(rule.causes)}
    if rule.agrees:
        first = [c for c in rule.causes if c in base.causes]
        causes = first + [c for c in base.causes if c not in first] + [c for c in rule.causes if c not in base.causes]
        return Judgement(tuple(causes), note=base.note, confidence="high", rule=rule.where,
                         evidence={**base.evidence, **reading})
    causes = list(base.causes) + [c for c in rule.causes if c not in base.causes]
    note = join([base.note, Fixed(rule.note) if rule.note else ""], sep="; ")
    return Judgement(tuple(causes), note=note, confidence="low", rule=rule.where,
                     evidence={**base.evidence, **reading})


def connect_causes(outcome: str, prior: Prior | None = None, *, raw_syn: str | None = None) -> tuple[str, ...]:
    """A TCP connect outcome (open/refused/timeout/unreachable/reset/dns) -> cause ids."""
    return judge_connect(outcome, prior, raw_syn=raw_syn).causes


def judge_tls(outcome: str, prior: Prior | None = None) -> Judgement:
    """A TLS handshake outcome (tls.handshake's outcome vocabulary, plus connect-failed and timeout)."""
    return _decide("tls", {"outcome": outcome}, prior)


def tls_causes(outcome: str, prior: Prior | None = None) -> tuple[str, ...]:
    """A TLS handshake outcome (tls.handshake's outcome vocabulary) -> cause ids."""
    return judge_tls(outcome, prior).causes


def judge_transport(outcome: str, prior: Prior | None = None, *, phase: str | None = None) -> Judgement:
    """A failed connect of an association: TCP (net.connect's outcomes) or TLS (phase "tls", or any other
    outcome, which is a TLS one)."""
    if phase != "tls" and outcome in TCP_OUTCOMES:
        return judge_connect(outcome, prior)
    return judge_tls(outcome, prior)


# -------------------------------------------------------------------------------------------- statuses

def _service(service: str) -> str:
    return service.strip().lower().replace("_", "-")


def status_causes(code: int | None, service: str | None = None) -> tuple[str, ...]:
    """A DIMSE status for a service ("c-store", "C-MOVE"...; None = unknown) -> cause ids, from the `statuses`
    rules of the knowledge base's causes: exact codes beat ranges, a rule for this service beats one for any
    service; close alternatives (STATUS_MARGIN) follow the best."""
    if code is None:
        return ("malformed-pdu",)
    ranked = ranked_status_causes(code, service)
    if not ranked:
        return ("processing-failure",)
    best = ranked[0][1]
    return tuple(cid for cid, score in ranked if score >= best - STATUS_MARGIN)


def ranked_status_causes(code: int, service: str | None = None) -> list[tuple[str, float]]:
    """Every cause whose `statuses` rules match, with its score (specificity + prior), best first; empty for
    a status no rule covers (success, pending...). `explain` shows the scores; checks use status_causes."""
    return _kb().causes_for_status(code, _service(service) if service else None)


# ------------------------------------------------------------------------------------- earlier evidence

def prior_from(results: "Mapping[str, CheckResult]", peer: "PeerInfo | None" = None) -> Prior:
    """The Prior of a check from the results of the checks that ran before it on the same target (their
    evidence, DESIGN.md's keys) and the peer named by an A-ASSOCIATE-AC."""
    tcp_open = tls_ok = None
    tcp_ms = tls_ms = None
    reach = results.get("net.reachable")
    if reach is not None and reach.evidence.get("outcome"):
        tcp_open = reach.evidence["outcome"] == "open"
        tcp_ms = reach.evidence.get("connect_ms")
    tls = results.get("tls.handshake")
    if tls is not None and tls.evidence.get("outcome"):
        tls_ok = tls.evidence["outcome"] == "ok"
        tls_ms = tls.evidence.get("handshake_ms")
    found: str | None = None
    variant = checked = anyone = False
    ae = results.get("assoc.ae-title")
    if ae is not None:
        ev = ae.evidence
        other = ev.get("accepted_called_ae")
        if other and other != ev.get("called_ae"):
            found = str(other)
            variant = same_title(found, str(ev.get("called_ae") or ""))
        checked = ev.get("calling_ae_checked") is True
        anyone = ev.get("calling_ae_checked") is False
    product = toolkit = None
    ident = results.get("peer.identity")
    guess = ident.evidence.get("product") if ident is not None else None
    if not guess and peer is not None and (peer.implementation_class_uid or peer.implementation_version_name):
        guess = _kb().identify_product(peer.implementation_class_uid, peer.implementation_version_name)
    if isinstance(guess, Mapping):
        product, toolkit = guess.get("product"), guess.get("toolkit")
    return Prior(tcp_open=tcp_open, tcp_connect_ms=tcp_ms, tls_ok=tls_ok, tls_handshake_ms=tls_ms,
                 accepted_called_ae=found, called_ae_variant=variant, calling_ae_checked=checked,
                 any_calling_ae=anyone, product=product, toolkit=toolkit)


def same_title(a: str, b: str) -> bool:
    """The same AE title written differently (case, spaces, '_' for '-'): AE titles are compared exactly."""
    def norm(x: str) -> str:
        return x.replace(" ", "").replace("_", "-").upper()
    return norm(a) == norm(b)


# ------------------------------------------------- what a line states that no other fact covers (explain)
# engine/explain.py reads these facts from the lines tools print; their rules live here with the others.

def wire_causes(kind: str, prior: Prior | None = None) -> tuple[str, ...]:
    """Bytes where a PDU was expected: "tls" (a TLS record: the peer expects TLS), "http" or "text" (the peer
    answered in text: a web server or another protocol on that port), "garbage" (no DICOM PDU type, or a
    length no DICOM peer sends), "malformed" (a DICOM PDU that breaks the rules)."""
    return _decide("wire", {"kind": kind}, prior).causes


def violation_causes(code: str | None) -> tuple[str, ...]:
    """The protocol violation that ended an association (its ul.Violation code) -> cause ids."""
    return _decide("violation", {"code": code}, None).causes


def local_causes(kind: str) -> tuple[str, ...]:
    """A local error the peer must not be blamed for: "missing-sop-class" (the data set to send has no SOP
    Class UID), "ae-title" (one of our AE titles is invalid), "file" (the file to send is missing, unreadable
    or not DICOM)."""
    return _decide("local", {"kind": kind}, None).causes


# =========================================================================== presentation contexts and store
# Negotiation is judged from every answer the peer gave for a SOP class, never from one result code: Orthanc
# 1.10 answers 3 ("abstract syntax not supported") for a class it accepts with another transfer syntax, and a
# result 4 ("transfer syntaxes not supported") says the class itself IS supported. assoc.presentation-contexts,
# dimse.store and the AE probe's findings call these.

from typing import Collection, Iterable, Sequence  # noqa: E402  (this section's own; kept apart from the top)

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"


@dataclass(frozen=True, slots=True)
class ClassAnswer:
    """The peer's answers for one SOP class: the transfer syntaxes it accepted, and the refused ones with the
    result it sent (1 user rejection, 2 no reason, 3 abstract syntax, 4 transfer syntaxes not supported)."""

    abstract_syntax: str
    accepted: tuple[str, ...] = ()
    refused: tuple[tuple[str, int], ...] = ()

    @property
    def supported(self) -> bool:
        return bool(self.accepted)

    @property
    def refused_syntaxes(self) -> tuple[str, ...]:
        return tuple(ts for ts, _ in self.refused)


def _field(c: Any, name: str) -> Any:
    return c.get(name) if isinstance(c, Mapping) else getattr(c, name)


def class_answers(contexts: "Iterable[Any]") -> list[ClassAnswer]:
    """A matrix's context results (objects or dicts with abstract_syntax, transfer_syntax, result; one transfer
    syntax per context) grouped by SOP class, in the order proposed."""
    accepted: dict[str, list[str]] = {}
    refused: dict[str, list[tuple[str, int]]] = {}
    for c in contexts:
        a, ts, result = str(_field(c, "abstract_syntax")), _field(c, "transfer_syntax"), _field(c, "result")
        ts = str(ts[0] if isinstance(ts, (list, tuple)) and ts else ts or "")
        accepted.setdefault(a, [])
        refused.setdefault(a, [])
        if result == 0:
            accepted[a].append(ts)
        else:
            refused[a].append((ts, int(result) if result is not None else -1))
    return [ClassAnswer(a, tuple(accepted[a]), tuple(refused[a])) for a in accepted]


def refusal_causes(answer: ClassAnswer) -> tuple[str, ...]:
    """Why these (refused) contexts of a SOP class were refused, from all its answers: accepted with another
    transfer syntax, or refused with result 4, is a transfer syntax problem whatever code the peer used."""
    if answer.accepted:
        return ("transfer-syntax-not-supported",)
    results = {r for _, r in answer.refused}
    if results and results <= {4}:
        return ("transfer-syntax-not-supported",)
    if 4 in results:
        # Mixed 3 and 4: Implicit VR Little Endian is the default every SCP of a class must take (PS3.5 10.1),
        # so the peer's answer to it says whether the class itself is the problem (PixelMed answers 3 to an
        # unknown class in Implicit VR LE and 4 to it in a compressed syntax).
        implicit = [r for ts, r in answer.refused if ts == IMPLICIT_VR_LE]
        if implicit and implicit[0] != 4:
            return ("abstract-syntax-not-supported", "transfer-syntax-not-supported")
        return ("transfer-syntax-not-supported", "abstract-syntax-not-supported")
    if results and results <= {3}:
        return ("abstract-syntax-not-supported",)
    return ("abstract-syntax-not-supported", "no-presentation-context")  # 1/2: refused without saying why


@dataclass(frozen=True, slots=True)
class MatrixJudgement:
    """assoc.presentation-contexts' verdict. `unsupported`: classes that count and got no context;
    `narrow`: supported classes refused a transfer syntax that counts; `roles_missing`: roles of the default
    matrix the peer does not play (or plays in part), which are information unless the playbook asked."""

    status: str                                   # pass | warn | fail
    causes: tuple[str, ...] = ()
    unsupported: tuple[ClassAnswer, ...] = ()
    narrow: tuple[ClassAnswer, ...] = ()
    required_missing: tuple[tuple[str, str], ...] = ()
    roles_missing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def judge_contexts(answers: "Sequence[ClassAnswer]", *, role_of: Mapping[str, str] | None = None,
                   asked_roles: "Collection[str]" = (), asked_syntaxes: "Collection[str]" = (),
                   required: "Sequence[tuple[str, str]]" = ()) -> MatrixJudgement:
    """Judge a matrix by the role the peer plays.

    `role_of` maps the default matrix's classes to their role ("verification", "storage", "query-retrieve");
    a class without a role was asked for by the playbook and always counts. A role the playbook did not ask
    for (`asked_roles`) counts only when the peer plays it: a Storage SCP that takes no Query/Retrieve class
    is healthy, one that takes MR but refuses CT is not; a partly served Query/Retrieve (no C-GET, no Patient
    Root) is information. A supported class counts as narrow when it refuses Explicit VR Little Endian or a
    transfer syntax the playbook named (`asked_syntaxes`); refused compressed syntaxes alone are information."""
    role_of = role_of or {}
    by_role: dict[str, list[ClassAnswer]] = {}
    for a in answers:
        if a.abstract_syntax in role_of:
            by_role.setdefault(role_of[a.abstract_syntax], []).append(a)
    played = {role for role, items in by_role.items() if any(x.supported for x in items)}

    def counts(a: ClassAnswer) -> bool:
        role = role_of.get(a.abstract_syntax)
        if role is None or role in asked_roles or role == "verification":
            return True
        return role == "storage" and role in played

    accepted = {a.abstract_syntax: set(a.accepted) for a in answers}
    missing = tuple((a, ts) for a, ts in required if ts not in accepted.get(a, set()))
    roles_missing = {role: tuple(x.abstract_syntax for x in items if not x.supported)
                     for role, items in by_role.items() if not all(x.supported for x in items)}
    roles_missing = {r: v for r, v in roles_missing.items() if r not in asked_roles and r != "verification"
                     and not (r == "storage" and r in played)}
    if not any(a.supported for a in answers):
        causes: list[str] = []
        for a in answers:
            causes += refusal_causes(a)
        if not answers or causes[0] != "transfer-syntax-not-supported":
            causes.insert(0, "no-presentation-context")
        else:
            causes.append("no-presentation-context")
        return MatrixJudgement("fail", tuple(dict.fromkeys(causes)), tuple(answers), (), missing)
    unsupported = tuple(a for a in answers if not a.supported and counts(a))
    narrow = tuple(a for a in answers if a.supported and counts(a) and any(
        ts == EXPLICIT_VR_LE or ts in asked_syntaxes for ts in a.refused_syntaxes))
    causes = []
    if narrow or any(accepted.get(a) for a, _ in missing):  # required pair refused, class accepted otherwise
        causes.append("transfer-syntax-not-supported")
    for a in unsupported:
        causes += refusal_causes(a)
    if any(not accepted.get(a) for a, _ in missing):
        causes.append("abstract-syntax-not-supported")
    if causes:
        return MatrixJudgement("warn", tuple(dict.fromkeys(causes)), unsupported, narrow, missing, roles_missing)
    return MatrixJudgement("pass", (), (), (), (), roles_missing)


def store_refusal_causes(context_result: int | None, learned: ClassAnswer | None = None
                         ) -> tuple[tuple[str, ...], str | None]:
    """A C-STORE that found no accepted context for its SOP class: (causes, the transfer syntax to convert to,
    or None). `context_result` is the peer's answer in the store association (3, 4; 0 = accepted but not in
    a syntax we can send the instance in); `learned` what a matrix for the class showed (the same run's
    assoc.presentation-contexts, or one small negotiation after the failure). The matrix wins over the code."""
    if learned is not None and learned.accepted:
        return ("transfer-syntax-not-supported",), learned.accepted[0]
    if learned is not None and learned.refused:
        causes = refusal_causes(learned)
        if causes[0] == "abstract-syntax-not-supported":
            return ("abstract-syntax-not-supported", "store-missing-sop-class"), None
        return causes, None
    if context_result in (4, 0):
        return ("transfer-syntax-not-supported",), None
    if context_result == 3:
        return ("abstract-syntax-not-supported", "store-missing-sop-class"), None
    return ("no-presentation-context", "store-missing-sop-class"), None


def sop_class_causes(dataset_uid: str | None, meta_uid: str | None) -> tuple[tuple[str, ...], str]:
    """A file's SOP Class UID in its data set (0008,0016) against its File Meta (0002,0002): (causes, which
    side is wrong: "dataset", "file-meta", "both", "disagree" or "" when they agree)."""
    ds, meta = (dataset_uid or "").strip(), (meta_uid or "").strip()
    if ds and meta and ds != meta:
        return ("store-missing-sop-class", "dataset-sop-mismatch"), "disagree"
    if ds and meta:
        return (), ""
    if ds:  # no File Meta SOP class: the data set is what a C-STORE sends, and it has one
        return (), ""
    return local_causes("missing-sop-class"), "both" if not meta else "dataset"


# -------------------------------------------------------------------------------- AE titles behind a reject

def judge_ae_reject(result: int, source: int, reason: int, prior: Prior | None = None, *,
                    called_ae_right: bool = False, refused_alike: bool = False,
                    identity_proposed: bool = True) -> Judgement:
    """A reject judged with what AE probing saw. Some archives answer 1/1/7 ("called AE not recognised") or
    1/1/1 when it is the calling AE, or the calling host, they refuse. `called_ae_right`: the same called AE
    was accepted from another (random) calling AE; `refused_alike`: every called title we probed, and a random
    calling AE, were refused the same way, so nothing shows that our called AE is the one at fault.
    `identity_proposed`: our requests carried a user identity; when they did not, a "no reason given" refusal
    of every title alike is also what an archive that requires one sends (it cannot say so in a reject)."""
    base = judge_reject(result, source, reason, prior)
    calling = ("calling-ae-not-recognized", "calling-host-mismatch")
    if source != 1 or reason not in (1, 7):
        return base
    if called_ae_right:
        rest = tuple(c for c in base.causes if c not in calling and c != "called-ae-not-recognized")
        return Judgement(calling + rest, confidence="high", rule="judge.judge_ae_reject", note=msg(
            "the same called AE title was accepted from a random calling AE title, so the peer refuses our "
            "calling AE title (or this host) although its reject says reason {reason}", reason=reason),
            evidence={**base.evidence, "called_ae_right": True})
    if refused_alike:
        first = base.causes[:1]
        if reason == 1 and not identity_proposed:
            first = first + ("user-identity-required",)
        causes = first + calling + tuple(c for c in base.causes[1:] if c not in calling)
        return Judgement(tuple(dict.fromkeys(causes)), confidence="low", rule="judge.judge_ae_reject", note=msg(
            "every called AE title we tried was refused the same way, from a random calling AE title too: either "
            "the peer answers to none of them, or it refuses this host or unknown calling AE titles with that "
            "reason"), evidence={**base.evidence, "refused_alike": True})
    return base


# ====================================================================================================
# Workflow services (mwl.find, mpps.cycle, commitment.request, assoc.user-identity). Rules over the facts of
# probes/workflow.py; N-CREATE / N-SET / N-ACTION statuses go through status_causes (the `statuses` of
# checks/mpps.cycle.yaml and checks/commitment.request.yaml).

# The return keys a modality cannot do without (PS3.4 K.6.1.2.2 return key type 1; IHE SWF makes Accession
# Number and Requested Procedure ID required too): a worklist entry that lacks one is not usable.
WORKLIST_REQUIRED_KEYS = ("PatientName", "PatientID", "StudyInstanceUID", "AccessionNumber", "RequestedProcedureID",
                          "ScheduledProcedureStepID", "ScheduledProcedureStepStartDate", "Modality")
# What each pinned key of an MWL query usually means when it empties the worklist, in the order to suspect.
WORKLIST_PINS = ("ScheduledStationAETitle", "ScheduledProcedureStepStartDate", "Modality")


def worklist_suspects(relaxed: "list[Mapping[str, Any]]") -> list[str]:
    """The pinned MWL keys to blame for an empty worklist, most likely first: a key whose removal alone brings
    entries back (more entries first, then station AE, date, modality); else, if dropping every pin brings
    entries back, all of them together ("A+B"). Empty when nothing helps (the worklist is simply empty)."""
    alone = [r for r in relaxed if "+" not in str(r.get("without")) and int(r.get("matches") or 0) > 0]
    order = {k: i for i, k in enumerate(WORKLIST_PINS)}
    alone.sort(key=lambda r: (-int(r.get("matches") or 0), order.get(str(r.get("without")), 9)))
    if alone:
        return [str(r["without"]) for r in alone]
    together = [r for r in relaxed if "+" in str(r.get("without")) and int(r.get("matches") or 0) > 0]
    return [str(together[0]["without"])] if together else []


def worklist_missing_keys(keys_returned: "list[str]", keys_asked: "list[str]") -> list[str]:
    """Required return keys we asked for that no worklist entry carried with a value."""
    got = set(keys_returned)
    return [k for k in WORKLIST_REQUIRED_KEYS if k in keys_asked and k not in got]


def worklist_issuer_suspect(station_ae: str, calling_ae: str, matches: int, suspects: "list[str]") -> bool:
    """An empty worklist that no pin explains, asked for a station AE title other than our calling AE title:
    an SCP that filters on the calling AE (Orthanc ModalityWorklists "FilterIssuerAet", brokers keyed on the
    modality's AE) answers nothing to us though entries exist. A modality calls as its own station AE."""
    station = station_ae.strip()
    return (matches == 0 and not suspects and station not in ("", "*") and "*" not in station
            and "?" not in station and station != calling_ae.strip())


def charset_problem(character_sets: "list[str]", non_ascii: "list[str]", undecodable: "list[str]") -> str:
    """What is wrong with the character set of C-FIND responses, or "": text that cannot be decoded in the
    declared set, or non-ASCII text with no Specific Character Set (the default repertoire is ASCII only)."""
    if undecodable:
        return "undecodable"
    if non_ascii and any(cs.strip() in ("", "ISO_IR 6") for cs in character_sets):
        return "undeclared"
    return ""


def worklist_causes(*, matches: int, suspects: "list[str]", missing: "list[str]", charset: str,
                    truncated: bool = False) -> tuple[str, ...]:
    """Causes of a completed MWL query that did not give a modality what it needs. `truncated`: it ended with
    Cancel (0xFE00) though we sent no C-CANCEL: the SCP capped its answers (Orthanc LimitAnswers)."""
    causes: list[str] = []
    if truncated:
        causes.append("worklist-truncated")
    if matches == 0:
        causes.append("worklist-empty")
    if charset:
        causes.append("character-set-mismatch")
    if missing:
        causes.append("worklist-missing-keys")
    return tuple(causes)


def workflow_status_causes(code: int | None, service: str, fallback: str) -> tuple[str, ...]:
    """An N-CREATE / N-SET / N-ACTION failure status -> causes (status_causes over the knowledge base's
    `statuses`), with the service's own refusal cause first unless a more specific one of its own matched."""
    causes = status_causes(code, service)
    own = fallback.split("-")[0] + "-"
    if any(c.startswith(own) for c in causes):
        return causes
    return (fallback,) + tuple(c for c in causes if c != fallback)


def commitment_causes(*, report_received: bool, failed: int, listener_connected: bool | None,
                      listening: bool) -> tuple[str, ...]:
    """A Storage Commitment request the SCP accepted (N-ACTION success): what the report (or its absence)
    says. `listener_connected`: the SCP opened an association to our listener (None when we did not listen)."""
    if report_received:
        return ("commitment-failed-items",) if failed else ()
    if listening and listener_connected is False:
        return ("commitment-connect-back-failed", "commitment-no-report")
    return ("commitment-no-report",)


def _refusal(attempt: "Mapping[str, Any] | None") -> Any:
    """What refused an association attempt (the reject triple, or the abort), to compare two attempts."""
    if not attempt:
        return None
    if attempt.get("outcome") == "rejected":
        rj = attempt.get("reject") or {}
        return ("rejected", rj.get("result"), rj.get("source"), rj.get("reason"))
    return (attempt.get("outcome"),)


def user_identity_causes(with_identity: "Mapping[str, Any] | None", without_identity: "Mapping[str, Any] | None",
                         *, positive_response: bool, dummy: bool = False,
                         decoy: "Mapping[str, Any] | None" = None) -> tuple[str, ...]:
    """User identity negotiation (probes.workflow.user_identity facts) -> causes; () when the identity did
    what it should, or when the refusal has nothing to do with it (the same answer with and without one:
    the association's own reject/abort rules then apply). `dummy`: no identity was configured and a bare
    user name was proposed only to see whether the peer asks for one. `decoy`: the attempt with a wrong
    passcode after an acceptance without a positive response."""
    w = with_identity or {}
    wo = without_identity or {}
    if dummy:
        if not w or wo.get("outcome") == "accepted":
            return ()
        return ("user-identity-required",) if _refusal(w) != _refusal(wo) else ()
    if w.get("outcome") == "accepted":
        if positive_response and not w.get("server_response"):
            # `decoy`: the same identity with a wrong passcode (or an unknown user name); refused = it verifies
            if decoy and decoy.get("outcome") in ("rejected", "aborted"):
                return ()
            return ("user-identity-ignored",)
        return ()
    if w.get("outcome") not in ("rejected", "aborted"):
        return ()
    if wo.get("outcome") == "accepted":
        return ("user-identity-rejected",)
    if wo and _refusal(w) == _refusal(wo):
        return ()
    return ("user-identity-rejected", "user-identity-required")


def no_response_causes(own: str, phase: str | None, prior: Prior | None = None, *,
                       service: str | None = None) -> tuple[str, ...]:
    """A workflow request (N-CREATE, N-SET, N-ACTION) that got no response in the DIMSE phase: the service's
    own cause (`own`, e.g. mpps-no-response) first, then what timeout_causes says of the phase."""
    rest = timeout_causes(phase, prior, service=service)
    if phase in ("dimse", "operation"):
        return (own,) + tuple(c for c in rest if c != own)
    return rest


def request_abort_causes(own: str, source: int | None, reason: int | None, prior: Prior | None = None, *,
                         service: str | None = None) -> tuple[str, ...]:
    """The peer aborted (or closed) right after a workflow request, before answering it: it refuses the
    request without a status (Orthanc 1.10 aborts an N-ACTION from an AE title missing in DicomModalities),
    so the service's own refusal cause (`own`) first, then what abort_causes says."""
    rest = abort_causes(source, reason, "dimse", prior, service=service, answered=False)
    return (own,) + tuple(c for c in rest if c != own)


# ====================================================================================================
# DICOMweb (dicomweb.qido, dicomweb.wado, dicomweb.stow): the facts of one HTTP exchange (probes/http.py and
# probes/dicomweb.py) -> causes. TLS failures reuse the tls rules; a STOW-RS Failure Reason is a DIMSE-style
# status (PS3.18 §10.5) and goes through status_causes for C-STORE.

DICOMWEB_SERVICES = ("qido", "wado", "wado-instance", "stow")


def judge_dicomweb(service: str, outcome: str, *, http_status: int | None = None, media_type: str = "",
                   expected_media: "Collection[str]" = (), body_ok: bool = True, tls_outcome: str | None = None,
                   auth_sent: bool = False, answers_elsewhere: bool = False, redirected: bool = False,
                   scheme: str = "http", failure_reasons: "Sequence[int]" = (), stored: bool | None = None,
                   prior: Prior | None = None) -> Judgement:
    """One DICOMweb exchange of `service` (DICOMWEB_SERVICES): `outcome` is probes/http.py's (answered, a TCP
    connect outcome, tls, no-response, closed, not-http, other); for an answer, the HTTP status, the media type
    against `expected_media`, whether the body was the DICOM JSON / multipart it should be (`body_ok`); whether
    credentials were sent; whether another base path of the server answered QIDO-RS (`answers_elsewhere`);
    whether redirects were followed; for STOW-RS the Failure Reasons and whether our instance was referenced.
    No causes = healthy."""
    rule = f"judge.judge_dicomweb:{service}"
    store = service == "stow"

    def j(*causes: str, note: Text = "", confidence: str = "medium") -> Judgement:
        return Judgement(tuple(dict.fromkeys(causes)), note=note, confidence=confidence, rule=rule)

    if outcome == "dns":
        return j("dns-failure", "dicomweb-unreachable")
    if outcome == "tls":
        if tls_outcome == "no-tls":
            return j("dicomweb-scheme-mismatch",
                     note=msg("the URL says https, but the server does not speak TLS there"))
        return Judgement(tls_causes(tls_outcome or "other", prior), rule=rule)
    if outcome == "not-http":
        if scheme == "http":
            return j("dicomweb-scheme-mismatch", "dicomweb-unreachable",
                     note=msg("the port answered, but not in HTTP: it may want https, or it is another service"))
        return j("dicomweb-unreachable", note=msg("the port answered, but not in HTTP"))
    if outcome == "no-response":
        return j("dicomweb-timeout")
    if outcome == "closed":
        return j("dicomweb-server-error", "dicomweb-unreachable",
                 note=msg("the server closed the connection without an HTTP answer"))
    if outcome != "answered":
        return j("dicomweb-unreachable")
    status = http_status or 0
    if status == 401:
        if auth_sent:
            return j("dicomweb-auth-rejected", note=msg("the credentials we sent were refused"))
        return j("dicomweb-auth-required")
    if status == 403:
        if store:
            return j("dicomweb-store-refused", "dicomweb-auth-rejected", note=msg("storing is forbidden for this user"))
        return j("dicomweb-auth-rejected")
    if answers_elsewhere:  # whatever this path said, the service is under another one
        return j("dicomweb-not-found", confidence="high",
                 note="" if status in (404, 410) else msg("this path answered HTTP {status} without DICOM JSON "
                                                          "(another API of the server, such as Orthanc's REST API, "
                                                          "may live there)", status=status))
    if status in (404, 410) or 300 <= status < 400:
        return j("dicomweb-not-found", confidence="high" if answers_elsewhere else "medium")
    if status == 405:
        return j("dicomweb-store-refused", "dicomweb-not-found") if store else j("dicomweb-not-found")
    if status in (406, 415):
        return j("dicomweb-wrong-media-type", *(("dicomweb-store-refused",) if store else ()))
    if store and status in (400, 409, 413, 422):
        reasons = [c for code in failure_reasons for c in status_causes(code, "c-store")]
        return j("dicomweb-store-refused", *reasons)
    if status >= 500:
        return j("dicomweb-server-error")
    if status >= 400 or status < 200:
        return j("dicomweb-server-error",
                 note=msg("HTTP {status} is not an answer DICOMweb defines here", status=status))
    # 2xx
    if store:
        if failure_reasons or stored is False:
            reasons = [c for code in failure_reasons for c in status_causes(code, "c-store")]
            return j("dicomweb-store-refused", *reasons)
        if not body_ok:
            return j("dicomweb-bad-response", note=msg("the answer does not say what was stored"))
        return j()
    if status == 204:
        return j()  # QIDO-RS: no match
    if expected_media and media_type not in expected_media:
        if redirected and media_type == "text/html":
            return j("dicomweb-auth-required", "dicomweb-wrong-media-type",
                     note=msg("we were redirected to an HTML page: a login page of a proxy or of the archive"))
        if answers_elsewhere:
            return j("dicomweb-not-found", "dicomweb-wrong-media-type", confidence="high")
        return j("dicomweb-wrong-media-type")
    if not body_ok:
        if answers_elsewhere:
            return j("dicomweb-not-found", confidence="high",
                     note=msg("this path is another API of the server (Orthanc's REST API answers /studies too)"))
        return j("dicomweb-bad-response")
    return j()


def dicomweb_causes(service: str, outcome: str, **facts: Any) -> tuple[str, ...]:
    """judge_dicomweb's cause ids (keyword facts as there)."""
    return judge_dicomweb(service, outcome, **facts).causes


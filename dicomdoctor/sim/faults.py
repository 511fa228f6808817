"""Faults the simulator injects: `--fault` strings -> typed values, and the one table that documents them.

Each fault reproduces one failure mode of `reference/failure-modes.md` so that the doctor can be shown (and
tested) diagnosing it. The table `FAULTS` is the single source of truth: the parser dispatches on it and
`faults_help()` renders it for `dicomdoctor simulate --help`, so a fault cannot be documented and missing,
or implemented and undocumented.

A fault string is `NAME` or `NAME=VALUE`. Bad strings raise `BadInput` (exit 3) naming what is wrong and
what was expected.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

from ..errors import BadInput
from ..target import check_ae_title

# --- the fault values -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fault:
    """Base of all faults; `spec` is the text that produced it (shown in "SIMULATOR listening ...")."""

    spec: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class CalledAEStrict(Fault):
    """Reject any called AE title other than our own: A-ASSOCIATE-RJ 1/1/7 (FM-14)."""


@dataclass(frozen=True, slots=True)
class CallingAEAllow(Fault):
    """Accept only these calling AE titles; reject others with 1/1/3 (FM-15)."""

    titles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Reject(Fault):
    """Reject every association with this result/source/reason (PS3.8 Table 9-21; FM-18..21)."""

    result: int = 1
    source: int = 1
    reason: int = 1


@dataclass(frozen=True, slots=True)
class MaxPDU(Fault):
    """Advertise this maximum PDU length in the A-ASSOCIATE-AC (0 = unlimited; FM-26)."""

    length: int = 16384


@dataclass(frozen=True, slots=True)
class AcceptTS(Fault):
    """Accept only these transfer syntaxes; other proposed ones get result 4 (FM-23)."""

    uids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RefuseSOP(Fault):
    """Refuse these abstract syntaxes with result 3 (FM-22)."""

    uids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Slow(Fault):
    """Wait this long before every DIMSE response (FM-34, FM-47)."""

    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class AbortAfter(Fault):
    """Answer `count` DIMSE requests, then answer the next one with an A-ABORT (FM-30)."""

    count: int = 0


@dataclass(frozen=True, slots=True)
class StatusOverride(Fault):
    """Answer every request of `service` with `code` instead of its real status (FM-31..43)."""

    service: str = "c-echo"
    code: int = 0


@dataclass(frozen=True, slots=True)
class MaxAssociations(Fault):
    """Beyond `count` simultaneous associations, reject with 2/3/2 local-limit-exceeded (FM-18)."""

    count: int = 1


@dataclass(frozen=True, slots=True)
class TLS(Fault):
    """Serve DICOM over TLS with a generated certificate; `variant` spoils it on purpose (FM-07, FM-09)."""

    variant: str = "ca"


@dataclass(frozen=True, slots=True)
class CloseOnConnect(Fault):
    """Accept the TCP connection and close it at once (FM-16, FM-18 at TCP level)."""


@dataclass(frozen=True, slots=True)
class Garbage(Fault):
    """Answer whatever arrives with bytes that are not a DICOM PDU (FM-06, FM-44)."""


@dataclass(frozen=True, slots=True)
class Silent(Fault):
    """Accept the TCP connection and never answer (FM-29: a hung SCP or a held single-threaded listener)."""


@dataclass(frozen=True, slots=True)
class HTTP(Fault):
    """Answer like a web server (an HTTP/DICOMweb port configured as the DICOM port; FM-06)."""


@dataclass(frozen=True, slots=True)
class AbortOnAssociate(Fault):
    """Answer the A-ASSOCIATE-RQ with an A-ABORT instead of an AC or RJ (FM-17, FM-30)."""


@dataclass(frozen=True, slots=True)
class IgnoreRoles(Fault):
    """Ignore SCP/SCU role selection, so C-GET cannot send its C-STORE sub-operations (FM-25)."""


@dataclass(frozen=True, slots=True)
class MoveUnreachable(Fault):
    """Accept any C-MOVE destination but connect back to a port where nothing listens (FM-31)."""


@dataclass(frozen=True, slots=True)
class WorkflowService(Fault):
    """Serve a workflow service (sim/workflow.py): worklist (mode = the entries file, "" = one synthetic entry),
    mpps (ok | refuse | closed | hang), commitment (ok | no-report | fail | delay:S)."""

    service: str = ""
    mode: str = "ok"


@dataclass(frozen=True, slots=True)
class UserIdentityRequired(Fault):
    """Reject associations that propose no user identity (1/1/1); answer a positive response when asked."""


# --- names of rejections and statuses -------------------------------------------------------------------

# PS3.8 Table 9-21: name -> (result, source, reason). Names follow the standard's wording, shortened.
REJECT_REASONS: dict[str, tuple[int, int, int]] = {
    "no-reason": (1, 1, 1),
    "app-context": (1, 1, 2),
    "calling-ae": (1, 1, 3),
    "called-ae": (1, 1, 7),
    "acse-no-reason": (1, 2, 1),
    "protocol-version": (1, 2, 2),
    "congestion": (2, 3, 1),
    "local-limit": (2, 3, 2),
}
# Which reasons each source may give (PS3.8 Table 9-21); anything else is a peer a doctor should flag,
# but the simulator only produces conformant rejections unless told with an explicit R/S/D triple.
_VALID_REASONS = {1: {1, 2, 3, 7}, 2: {1, 2}, 3: {1, 2}}

SERVICES = ("c-echo", "c-store", "c-find", "c-move", "c-get")

TLS_VARIANTS: dict[str, str] = {
    "ca": "certificate signed by a generated CA (its path is printed; pass it as --ca)",
    "self-signed": "a self-signed certificate, no CA",
    "expired": "a certificate that expired yesterday",
    "not-yet-valid": "a certificate valid from tomorrow",
    "wrong-host": "a certificate for another host name (dicom.invalid)",
    "client-cert": "require a client certificate signed by the generated CA",
}

# --- UIDs ----------------------------------------------------------------------------------------------

_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def _uid_keywords() -> dict[str, tuple[str, str]]:
    """pydicom keyword -> (UID, UID type). Built once, on the first keyword we must resolve."""
    from pydicom._uid_dict import UID_dictionary  # private module, but the only full keyword table

    return {v[4]: (uid, v[1]) for uid, v in UID_dictionary.items() if v[4]}


_KEYWORDS: dict[str, tuple[str, str]] | None = None


def resolve_uid(text: str, *, want_transfer_syntax: bool | None = None, what: str = "UID") -> str:
    """A UID or a pydicom keyword (`CTImageStorage`, `JPEG2000Lossless`) -> the UID.

    `want_transfer_syntax` checks the kind when the UID is known to pydicom, so that `accept-ts=CTImageStorage`
    is caught as the mistake it is.
    """
    global _KEYWORDS
    text = text.strip()
    if not text:
        raise BadInput(f"empty {what}")
    if _UID_RE.match(text):
        if len(text) > 64:
            raise BadInput(f"{what} {text!r} is longer than 64 characters")
        uid, kind = text, None
        from pydicom.uid import UID

        name = UID(text).name
        if name != text:  # pydicom knows it: check its kind
            kind = "Transfer Syntax" if UID(text).is_transfer_syntax else "other"
    else:
        if _KEYWORDS is None:
            _KEYWORDS = _uid_keywords()
        if text not in _KEYWORDS:
            raise BadInput(f"{what} {text!r} is neither a UID (digits and dots) nor a pydicom UID keyword")
        uid, kind = _KEYWORDS[text]
    if want_transfer_syntax is not None and kind is not None:
        is_ts = kind == "Transfer Syntax"
        if is_ts != want_transfer_syntax:
            expected = "a transfer syntax" if want_transfer_syntax else "a SOP class (abstract syntax)"
            raise BadInput(f"{what} {text!r} is not {expected}")
    return uid


# --- parsers -------------------------------------------------------------------------------------------


def _int(name: str, value: str, lo: int, hi: int) -> int:
    try:
        n = int(value, 0)
    except ValueError:
        raise BadInput(f"fault {name}: {value!r} is not a whole number") from None
    if not lo <= n <= hi:
        raise BadInput(f"fault {name}: {n} is out of range ({lo}..{hi})")
    return n


def _p_called(name: str, value: str | None) -> Fault:
    return CalledAEStrict()


def _p_calling(name: str, value: str | None) -> Fault:
    assert value is not None
    titles = [t for t in value.split(",") if t.strip()]
    if not titles:
        raise BadInput(f"fault {name}: give at least one AE title, e.g. {name}=MODALITY1,WORKSTATION")
    return CallingAEAllow(titles=frozenset(check_ae_title(t, f"fault {name} AE title") for t in titles))


def _p_reject(name: str, value: str | None) -> Fault:
    assert value is not None
    v = value.strip().lower()
    if v in REJECT_REASONS:
        r, s, d = REJECT_REASONS[v]
        return Reject(result=r, source=s, reason=d)
    triple = re.fullmatch(r"(\d+)/(\d+)/(\d+)", v)
    if triple:  # raw RESULT/SOURCE/REASON: anything that fits a byte, to mimic odd peers on purpose
        r, s, d = (_int(name, x, 0, 255) for x in triple.groups())
        return Reject(result=r, source=s, reason=d)
    if v.isdigit():  # a bare number is a service-user reason, the common case (3 calling AE, 7 called AE)
        d = _int(name, v, 0, 255)
        if d not in _VALID_REASONS[1]:
            raise BadInput(f"fault {name}: service-user reason {d} does not exist (1, 2, 3 or 7; "
                           "or give RESULT/SOURCE/REASON, e.g. 2/3/1)")
        return Reject(result=1, source=1, reason=d)
    raise BadInput(f"fault {name}: unknown reason {value!r}; expected one of "
                   f"{', '.join(REJECT_REASONS)}, a service-user reason number, or RESULT/SOURCE/REASON")


def _p_max_pdu(name: str, value: str | None) -> Fault:
    assert value is not None
    n = _int(name, value, 0, 0xFFFFFFFF)
    if 0 < n < 256:  # smaller than a C-ECHO command set plus headers: no peer could talk to it at all
        raise BadInput(f"fault {name}: {n} is too small to carry a command (use 0 for unlimited or >= 256)")
    return MaxPDU(length=n)


def _uids(name: str, value: str | None, ts: bool) -> tuple[str, ...]:
    assert value is not None
    parts = [p for p in value.split(",") if p.strip()]
    if not parts:
        raise BadInput(f"fault {name}: give at least one UID or keyword")
    return tuple(dict.fromkeys(resolve_uid(p, want_transfer_syntax=ts, what=f"fault {name}:") for p in parts))


def _p_accept_ts(name: str, value: str | None) -> Fault:
    return AcceptTS(uids=_uids(name, value, True))


def _p_refuse_sop(name: str, value: str | None) -> Fault:
    return RefuseSOP(uids=_uids(name, value, False))


def _p_slow(name: str, value: str | None) -> Fault:
    assert value is not None
    try:
        s = float(value)
    except ValueError:
        raise BadInput(f"fault {name}: {value!r} is not a number of seconds") from None
    if not 0 <= s <= 3600:
        raise BadInput(f"fault {name}: {s} is out of range (0..3600 seconds)")
    return Slow(seconds=s)


def _p_abort_after(name: str, value: str | None) -> Fault:
    assert value is not None
    return AbortAfter(count=_int(name, value, 0, 1_000_000))


def _p_status(name: str, value: str | None) -> Fault:
    assert value is not None
    m = re.fullmatch(r"\s*([a-zA-Z-]+)\s*:\s*(?:0x)?([0-9a-fA-F]{1,4})\s*", value)
    if not m:
        raise BadInput(f"fault {name}: expected SERVICE:CODE with a hexadecimal code, e.g. c-store:A700")
    service = m.group(1).lower()
    if service not in SERVICES:
        raise BadInput(f"fault {name}: unknown service {m.group(1)!r}; expected one of {', '.join(SERVICES)}")
    return StatusOverride(service=service, code=int(m.group(2), 16))


def _p_max_assoc(name: str, value: str | None) -> Fault:
    assert value is not None
    return MaxAssociations(count=_int(name, value, 0, 10_000))


def _p_tls(name: str, value: str | None) -> Fault:
    variant = (value or "ca").strip().lower()
    if variant not in TLS_VARIANTS:
        raise BadInput(f"fault {name}: unknown variant {value!r}; expected one of {', '.join(TLS_VARIANTS)}")
    return TLS(variant=variant)


def _simple(cls: type[Fault]) -> Callable[[str, str | None], Fault]:
    return lambda name, value: cls()


_WORKFLOW_MODES = {"mpps": ("ok", "refuse", "closed", "hang"), "commitment": ("ok", "no-report", "fail")}


def _workflow(service: str) -> Callable[[str, str | None], Fault]:
    def parse(name: str, value: str | None) -> Fault:
        mode = (value or ("" if service == "worklist" else "ok")).strip()
        if service == "commitment" and mode.startswith("delay:"):
            try:
                if not 0 <= float(mode[6:]) <= 3600:
                    raise ValueError
            except ValueError:
                raise BadInput(f"fault {name}={value}: delay:S takes seconds from 0 to 3600") from None
        elif service in _WORKFLOW_MODES and mode not in _WORKFLOW_MODES[service]:
            raise BadInput(f"fault {name}={value}: expected one of {', '.join(_WORKFLOW_MODES[service])}"
                           + (" or delay:S" if service == "commitment" else ""))
        return WorkflowService(service=service, mode=mode)
    return parse


@dataclass(frozen=True, slots=True)
class FaultSpec:
    name: str
    arg: str | None  # metavar of the value; None = takes no value
    optional_arg: bool  # the value may be omitted (tls)
    help: str
    parse: Callable[[str, str | None], Fault]
    example: str = ""
    details: tuple[str, ...] = ()  # extra lines in --help (the TLS variants)


FAULTS: tuple[FaultSpec, ...] = (
    FaultSpec("called-ae-strict", None, False,
              "reject a called AE title other than --aet: A-ASSOCIATE-RJ 1/1/7", _p_called),
    FaultSpec("calling-ae-allow", "AE,AE...", False,
              "accept only these calling AE titles; reject others: RJ 1/1/3", _p_calling,
              "calling-ae-allow=CT01,WS02"),
    FaultSpec("reject", "REASON", False,
              "reject every association; REASON is one of " + ", ".join(REJECT_REASONS)
              + "; a service-user reason number; or RESULT/SOURCE/REASON", _p_reject, "reject=congestion"),
    FaultSpec("max-pdu", "N", False,
              "advertise N as our maximum PDU length (0 = unlimited)", _p_max_pdu, "max-pdu=4096"),
    FaultSpec("accept-ts", "UIDS", False,
              "accept only these transfer syntaxes (UIDs or pydicom keywords); others: result 4",
              _p_accept_ts, "accept-ts=ImplicitVRLittleEndian"),
    FaultSpec("refuse-sop", "UIDS", False,
              "refuse these SOP classes (UIDs or keywords): result 3, abstract syntax not supported",
              _p_refuse_sop, "refuse-sop=CTImageStorage"),
    FaultSpec("slow", "SECONDS", False, "wait SECONDS before every DIMSE response", _p_slow, "slow=5"),
    FaultSpec("abort-after", "N", False,
              "answer N DIMSE requests, then A-ABORT on the next one", _p_abort_after, "abort-after=0"),
    FaultSpec("status", "SERVICE:CODE", False,
              "answer that service (" + ", ".join(SERVICES) + ") with that hexadecimal status", _p_status,
              "status=c-store:A700"),
    FaultSpec("max-associations", "N", False,
              "beyond N simultaneous associations, reject: RJ 2/3/2 local limit exceeded", _p_max_assoc,
              "max-associations=1"),
    FaultSpec("tls", "VARIANT", True,
              "serve DICOM over TLS with a generated certificate; VARIANT (default ca) is one of:", _p_tls,
              "tls=expired", tuple(f"{k:<14}{v}" for k, v in TLS_VARIANTS.items())),
    FaultSpec("close-on-connect", None, False, "accept TCP and close it at once", _simple(CloseOnConnect)),
    FaultSpec("garbage", None, False, "answer any bytes with non-DICOM garbage", _simple(Garbage)),
    FaultSpec("silent", None, False, "accept TCP and never answer (a hung or busy SCP)", _simple(Silent)),
    FaultSpec("http", None, False, "answer like a web server (an HTTP port, not DICOM)", _simple(HTTP)),
    FaultSpec("abort-on-associate", None, False,
              "answer the A-ASSOCIATE-RQ with an A-ABORT", _simple(AbortOnAssociate)),
    FaultSpec("ignore-roles", None, False,
              "ignore SCP/SCU role selection (C-GET sub-operations fail)", _simple(IgnoreRoles)),
    FaultSpec("move-unreachable", None, False,
              "C-MOVE connects back to a port where nothing listens", _simple(MoveUnreachable)),
    FaultSpec("worklist", "FILE", True, "serve a Modality Worklist: the entries of a YAML/JSON FILE (a list of "
              "{keyword: value}; 'today' as a date), or one synthetic entry for today's CT at station DICOMDOCTOR",
              _workflow("worklist"), "worklist=entries.yaml"),
    FaultSpec("mpps", "MODE", True, "serve MPPS with state checks (N-SET of a final step: 0xC310); MODE refuse "
              "(N-CREATE 0x0120), closed (steps are closed at once: the N-SET meets 0xC310), hang (no answer)",
              _workflow("mpps"), "mpps=closed"),
    FaultSpec("commitment", "MODE", True, "serve Storage Commitment; the report goes on the same association, or "
              "to a --move-dest address for the caller's AE title; MODE no-report, fail (every item fails), "
              "delay:S (report S seconds late)", _workflow("commitment"), "commitment=no-report"),
    FaultSpec("user-identity-required", None, False, "reject associations without a user identity (1/1/1)",
              _simple(UserIdentityRequired)),
)
_BY_NAME = {f.name: f for f in FAULTS}

# Faults that replace the DICOM conversation altogether: at most one of them makes sense at a time.
CONNECTION_FAULTS = (CloseOnConnect, Garbage, Silent, HTTP)


def parse_fault(text: str) -> Fault:
    """One `--fault` string -> a Fault; BadInput naming the problem otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise BadInput("empty --fault; see `dicomdoctor simulate --help` for the list")
    name, sep, value = text.strip().partition("=")
    name = name.strip().lower()
    spec = _BY_NAME.get(name)
    if spec is None:
        close = [f.name for f in FAULTS if f.name.startswith(name[:3])] if name else []
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise BadInput(f"unknown fault {name!r}{hint}; known faults: {', '.join(_BY_NAME)}")
    if spec.arg is None and sep:
        raise BadInput(f"fault {name} takes no value (got {text.strip()!r})")
    if spec.arg is not None and not spec.optional_arg and not value.strip():
        raise BadInput(f"fault {name} needs a value: {name}={spec.arg}"
                       + (f", e.g. {spec.example}" if spec.example else ""))
    return replace(spec.parse(name, value if sep else None), spec=text.strip())


@dataclass(frozen=True, slots=True)
class FaultSet:
    """All faults of one simulator, merged into the settings the server reads (None = behave normally)."""

    faults: tuple[Fault, ...] = ()
    called_ae_strict: bool = False
    calling_ae_allow: frozenset[str] | None = None
    reject: Reject | None = None
    max_pdu: int | None = None
    accept_ts: tuple[str, ...] | None = None
    refuse_sop: frozenset[str] = frozenset()
    slow: float = 0.0
    abort_after: int | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    max_associations: int | None = None
    tls: str | None = None  # TLS variant
    connection: Fault | None = None  # one of CONNECTION_FAULTS
    abort_on_associate: bool = False
    ignore_roles: bool = False
    move_unreachable: bool = False
    workflow: dict[str, str] = field(default_factory=dict)  # service -> mode (sim/workflow.py)
    user_identity_required: bool = False

    def describe(self) -> str:
        return ", ".join(f.spec or type(f).__name__ for f in self.faults) or "none"


def build_fault_set(faults: Iterable[Fault | str]) -> FaultSet:
    """Merge faults (values or strings) into one FaultSet; contradictions are BadInput."""
    parsed = [parse_fault(f) if isinstance(f, str) else f for f in faults]
    kw: dict[str, object] = {}
    statuses: dict[str, int] = {}
    refuse: set[str] = set()
    allow: set[str] | None = None
    accept: list[str] | None = None
    workflow: dict[str, str] = {}
    for f in parsed:
        if isinstance(f, CalledAEStrict):
            kw["called_ae_strict"] = True
        elif isinstance(f, CallingAEAllow):
            allow = (allow or set()) | set(f.titles)
        elif isinstance(f, Reject):
            _once(kw, "reject", f, f)
        elif isinstance(f, MaxPDU):
            _once(kw, "max_pdu", f.length, f)
        elif isinstance(f, AcceptTS):
            accept = list(dict.fromkeys((accept or []) + list(f.uids)))
        elif isinstance(f, RefuseSOP):
            refuse |= set(f.uids)
        elif isinstance(f, Slow):
            _once(kw, "slow", f.seconds, f)
        elif isinstance(f, AbortAfter):
            _once(kw, "abort_after", f.count, f)
        elif isinstance(f, StatusOverride):
            if f.service in statuses:
                raise BadInput(f"fault {f.spec or 'status'}: {f.service} already has a status fault")
            statuses[f.service] = f.code
        elif isinstance(f, MaxAssociations):
            _once(kw, "max_associations", f.count, f)
        elif isinstance(f, TLS):
            _once(kw, "tls", f.variant, f)
        elif isinstance(f, CONNECTION_FAULTS):
            _once(kw, "connection", f, f)
        elif isinstance(f, AbortOnAssociate):
            kw["abort_on_associate"] = True
        elif isinstance(f, IgnoreRoles):
            kw["ignore_roles"] = True
        elif isinstance(f, MoveUnreachable):
            kw["move_unreachable"] = True
        elif isinstance(f, WorkflowService):
            if f.service in workflow:
                raise BadInput(f"fault {f.spec or f.service}: only one {f.service} fault can apply at a time")
            workflow[f.service] = f.mode
        elif isinstance(f, UserIdentityRequired):
            kw["user_identity_required"] = True
        else:  # a Fault subclass someone added without teaching the merger: a bug, not user input
            raise TypeError(f"unhandled fault {f!r}")
    return FaultSet(faults=tuple(parsed), calling_ae_allow=frozenset(allow) if allow is not None else None,
                    accept_ts=tuple(accept) if accept is not None else None, refuse_sop=frozenset(refuse),
                    statuses=statuses, workflow=workflow, **kw)  # type: ignore[arg-type]


def _once(kw: dict[str, object], key: str, value: object, fault: Fault) -> None:
    if key in kw:
        raise BadInput(f"fault {fault.spec or key}: only one {key.replace('_', '-')} fault can apply at a time")
    kw[key] = value


def faults_help() -> str:
    """The epilog of `dicomdoctor simulate --help`, generated from FAULTS."""
    lines = ["faults (--fault F, repeatable):"]
    for f in FAULTS:
        head = f.name if f.arg is None else (f"{f.name}[={f.arg}]" if f.optional_arg else f"{f.name}={f.arg}")
        lines.append(f"  {head}")
        text = f.help + (f" (e.g. {f.example})" if f.example else "")
        lines += textwrap.wrap(text, width=100, initial_indent=" " * 6, subsequent_indent=" " * 6,
                               break_on_hyphens=False)
        lines += [" " * 8 + d for d in f.details]
    lines.append("")
    lines.append("examples:")
    lines.append("  dicomdoctor simulate --port 11112 --aet PACS --fault called-ae-strict")
    lines.append("  dicomdoctor simulate --fault accept-ts=ImplicitVRLittleEndian --fault max-pdu=4096 --seed 20")
    lines.append("  dicomdoctor simulate --fault tls=expired")
    return "\n".join(lines)

"""AE title learning (failure-modes §0 step 6, FM-14/15/17): which AE titles does the peer check, and which
called AE title does it answer to?

Facts only. After the first association attempt (done by `probes.association`), this probe:
- when it was accepted, sends a random called AE and a random calling AE (two associations) to learn whether
  the peer verifies each one at all;
- after a called-AE rejection (1/1/7) or a refusal without reason (1/1/1, 1/2/1), first sends the same called
  AE from a random calling AE: some archives answer reason 7 when it is the caller they refuse, and this one
  association tells the two apart; then a handful of guesses driven by the evidence: the given title in other
  case or padding, the titles the caller's hints suggest (the port's usual product, the host's name), and the
  four titles toolkits ship with most.

Every attempt is a real association that a PACS logs, and a security team reading ~30 rejections from one host
sees an AE brute force: the default ("polite") costs at most `POLITE_ATTEMPTS` extra associations; the long
list of vendor defaults (`COMMON_CALLED_AES`, up to `MAX_ATTEMPTS`) only when asked (`wide=True`, the
command line's `--guess-ae wide`). The probe is sequential and stops at the first title that works.
`options.no_probe` disables it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Sequence

from .association import AssociationFacts

MAX_ATTEMPTS = 32      # wide guessing: extra associations at most
POLITE_ATTEMPTS = 6    # the default: extra associations at most after a reject
# Titles that toolkits and products ship with; a PACS left at its default very often answers to one of them.
COMMON_CALLED_AES = (
    "ANY-SCP", "ORTHANC", "STORESCP", "DCM4CHEE", "PACS", "DCMQRSCP", "QRSCP", "ECHOSCP", "ANY", "SERVER",
    "MYSCP", "STORESCU", "DICOM", "ARCHIVE", "DCM4CHEE-ARC", "CONQUESTSRV1", "DICOOGLE-STORAGE", "OSIRIX",
    "HOROS", "PYNETDICOM", "SCP", "STORE-SCP", "PACS1", "AE_TITLE", "DICOMSERVER", "WORKLIST", "IMPAX",
    "CLEARCANVAS", "FINDSCU", "GEPACS", "SYNAPSE", "VNA",
)
# The titles toolkits and products ship with most often: dcmtk's storescp/dcmqrscp, Orthanc, and the
# generic ones; the polite guesses end with these.
LIKELY_CALLED_AES = ("ANY-SCP", "ORTHANC", "STORESCP", "PACS")
# A port a product listens on by default suggests its default AE title (Orthanc 4242, dcm4chee-arc 11112,
# Conquest 5678).
PORT_HINTS = {4242: "ORTHANC", 11112: "DCM4CHEE", 5678: "CONQUESTSRV1"}
CALLED_AE_REASON = 7   # PS3.8 Table 9-21: source 1, reason 7 called-AE-title-not-recognized
CALLING_AE_REASON = 3  # source 1, reason 3 calling-AE-title-not-recognized


@dataclass(frozen=True, slots=True)
class AEAttempt:
    called_ae: str
    calling_ae: str
    purpose: str          # "given" | "random-calling" | "random-called" | "variant" | "default"
    outcome: str          # AssociationFacts.outcome
    reject: dict[str, object] | None = None

    def to_json_dict(self) -> dict[str, object]:
        return {"called_ae": self.called_ae, "calling_ae": self.calling_ae, "purpose": self.purpose,
                "outcome": self.outcome, "reject": self.reject}


@dataclass(frozen=True, slots=True)
class AEFacts:
    """What AE probing learned. The booleans are None when unknown (probing off, or inconclusive)."""

    accepted_called_ae: str | None = None
    called_ae_checked: bool | None = None
    calling_ae_checked: bool | None = None
    attempts: tuple[AEAttempt, ...] = field(default=())
    probed: bool = False
    limit_reached: bool = False
    # After a reject: the given called AE was accepted from a random calling AE (the caller is refused, not
    # the called AE), or every title we probed, from a random calling AE too, was refused the same way.
    called_ae_right: bool | None = None
    refused_alike: bool = False
    mode: str = "polite"   # polite | wide

    @property
    def associations(self) -> int:
        """Associations this learning cost the peer, the first (given titles) included."""
        return len(self.attempts)


def random_ae(prefix: str = "DD") -> str:
    """A title no PACS is configured with (upper case, within 16 characters)."""
    return f"{prefix}{secrets.token_hex(5).upper()}"


def called_ae_candidates(given: str) -> list[str]:
    """Variants of the given title first (the most likely slip: case, stray spaces, a '-' for a '_'), then
    common defaults. Never the given title itself, never a title over 16 characters."""
    variants = [given.upper(), given.strip().upper(), given.lower(), given.replace(" ", ""),
                given.upper().replace(" ", ""), given.upper().replace("-", "_"), given.upper().replace("_", "-")]
    out: list[str] = []
    for ae in [*variants, *COMMON_CALLED_AES]:
        if ae and ae != given and ae not in out and len(ae) <= 16:
            out.append(ae)
    return out


def polite_candidates(given: str, hints: Sequence[str] = ()) -> list[str]:
    """The default guesses after a called-AE reject: the given title in other case or padding (the most
    likely slip), what the evidence suggests (`hints`), then LIKELY_CALLED_AES; never the given title."""
    variants = [given.strip().upper(), given.replace(" ", "").upper(), given.upper().replace("-", "_"),
                given.upper().replace("_", "-")]
    out: list[str] = []
    for ae in [*variants, *hints, *LIKELY_CALLED_AES]:
        ae = str(ae or "").strip()
        if ae and ae != given and ae not in out and len(ae) <= 16:
            out.append(ae)
    return out


def host_hints(host: str, port: int) -> list[str]:
    """AE titles a target's address suggests: its port's usual product, and a host name's first label
    ("pacs1.example.org" -> PACS1); an IP address or localhost suggests nothing."""
    out = [PORT_HINTS[port]] if port in PORT_HINTS else []
    label = host.split(".")[0].strip("[]").upper()
    if label and not label.isdigit() and ":" not in host and label not in ("LOCALHOST", "") and \
            not all(part.isdigit() for part in host.split(".")) and len(label) <= 16:
        out.append(label)
    return out


Attempt = Callable[[str, str], Awaitable[AssociationFacts]]


async def learn_ae_titles(first: AssociationFacts, attempt: Attempt, *, max_attempts: int | None = None,
                          wide: bool = False, hints: Sequence[str] = ()) -> AEFacts:
    """Learn from `first` (the association with the given titles) and further `attempt(called, calling)`s.

    `attempt` is injected so the check decides how to connect (TLS context, timeouts, trace) and tests can
    fake a peer. `max_attempts` counts the extra associations, not `first` (default POLITE_ATTEMPTS, or
    MAX_ATTEMPTS when `wide`); `hints` are called AE titles the evidence suggests (host_hints).
    """
    given_called, given_calling = first.called_ae, first.calling_ae
    attempts: list[AEAttempt] = [_record(first, "given")]
    if max_attempts is None:
        max_attempts = MAX_ATTEMPTS if wide else POLITE_ATTEMPTS
    budget = max(0, max_attempts)
    mode = "wide" if wide else "polite"

    async def run(called: str, calling: str, purpose: str) -> AssociationFacts:
        nonlocal budget
        budget -= 1
        facts = await attempt(called, calling)
        attempts.append(_record(facts, purpose))
        return facts

    def done(**kw: object) -> AEFacts:
        return AEFacts(attempts=tuple(attempts), probed=True, limit_reached=budget <= 0, mode=mode,
                       **kw)  # type: ignore[arg-type]

    if first.outcome == "accepted":
        called_checked = calling_checked = None
        if budget > 0:
            r = await run(random_ae(), given_calling, "random-called")
            called_checked = _checked(r, CALLED_AE_REASON)
        if budget > 0:
            r = await run(given_called, random_ae(), "random-calling")
            calling_checked = _checked(r, CALLING_AE_REASON)
        return done(accepted_called_ae=given_called, called_ae_checked=called_checked,
                    calling_ae_checked=calling_checked)

    if first.outcome != "rejected" or first.reject is None:
        return AEFacts(attempts=tuple(attempts), probed=False, mode=mode)  # nothing AE-related to learn

    rj = first.reject
    if rj.source == 1 and rj.reason == CALLING_AE_REASON:
        # The called AE got past the peer's check (or is not checked); the calling AE did not.
        called_checked = None
        if budget > 0:
            r = await run(random_ae(), given_calling, "random-called")
            if r.outcome == "rejected" and r.reject is not None and r.reject.reason == CALLED_AE_REASON:
                called_checked = True
        return done(accepted_called_ae=None, called_ae_checked=called_checked, calling_ae_checked=True)

    called_named = rj.source == 1 and rj.reason == CALLED_AE_REASON
    if not called_named and not (rj.result == 1 and rj.reason in (1, 2)):
        # Transient (too many associations, congestion) or protocol rejects: AE titles are not the question.
        return AEFacts(attempts=tuple(attempts), probed=False, mode=mode)
    candidates = called_ae_candidates(given_called) if wide else polite_candidates(given_called, hints)
    variants = [c for c in candidates if _variant(c, given_called)]
    others = [c for c in candidates if c not in variants]
    alike = True

    async def guess(candidate: str) -> AEFacts | None:
        """One called AE guess: the facts when it settles the question, None to go on."""
        nonlocal alike
        r = await run(candidate, given_calling, "variant" if _variant(candidate, given_called) else
                      "hint" if candidate in hints else "default")
        if r.outcome == "accepted":
            return done(accepted_called_ae=candidate, called_ae_checked=True, calling_ae_checked=False)
        if r.outcome == "rejected" and r.reject is not None and not _is_called_reject(r, rj):
            # A different reason with this title: the called AE passed, the peer now objects to something
            # else (Orthanc: the calling AE is not among DicomModalities).
            calling = True if r.reject.reason == CALLING_AE_REASON else None
            return done(accepted_called_ae=candidate, called_ae_checked=True, calling_ae_checked=calling)
        if r.outcome not in ("accepted", "rejected"):
            alike = False
            return done(accepted_called_ae=None, called_ae_checked=True if called_named else None,
                        calling_ae_checked=None)  # the peer stopped answering normally: stop probing it
        return None

    # The given title in other case or padding first: the most likely slip, and cheap.
    for candidate in variants:
        if budget <= 0:
            break
        settled = await guess(candidate)
        if settled is not None:
            return settled
    # Is it the caller? The same called AE from a random calling AE: one association tells a calling-AE
    # refusal dressed as reason 7 (or "no reason") from a wrong called AE.
    if budget > 0:
        r = await run(given_called, random_ae(), "random-calling")
        if r.outcome == "accepted":
            return done(accepted_called_ae=given_called, called_ae_checked=None, calling_ae_checked=True,
                        called_ae_right=True)
        if r.outcome != "rejected" or r.reject is None:
            return done(called_ae_checked=None, calling_ae_checked=None)  # it stopped answering normally
        alike = _is_called_reject(r, rj)
    # Then the titles the evidence suggests, and the usual defaults.
    for candidate in others:
        if budget <= 0:
            break
        settled = await guess(candidate)
        if settled is not None:
            return settled
    return done(accepted_called_ae=None, called_ae_checked=True if called_named else None,
                calling_ae_checked=None, refused_alike=alike and len(attempts) > 2)


def _variant(candidate: str, given: str) -> bool:
    """The given title in other case or padding ('-' for '_' too)."""
    def norm(x: str) -> str:
        return x.replace(" ", "").replace("_", "-").upper()
    return norm(candidate) == norm(given)


def _is_called_reject(r: AssociationFacts, original: object) -> bool:
    rj = r.reject
    assert rj is not None
    return (rj.result, rj.source, rj.reason) == (getattr(original, "result"), getattr(original, "source"),
                                                 getattr(original, "reason"))


def _checked(r: AssociationFacts, reason: int) -> bool | None:
    """After the given titles were accepted, one of them replaced by a random title: accepted = not checked;
    rejected by the service user for any reason = checked (only that title changed, so it is what the peer
    refused, whatever reason code it gives: some answer 7 for a calling AE); a transient or provider reject,
    or no answer = unknown. `reason` is the code that names the title (kept for the record)."""
    if r.outcome == "accepted":
        return False
    if r.outcome == "rejected" and r.reject is not None:
        return True if r.reject.source == 1 or r.reject.reason == reason else None
    return None


def _record(f: AssociationFacts, purpose: str) -> AEAttempt:
    return AEAttempt(f.called_ae, f.calling_ae, purpose, f.outcome,
                     f.reject.to_json_dict() if f.reject is not None else None)

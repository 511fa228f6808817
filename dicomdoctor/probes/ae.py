"""AE title learning (failure-modes §0 step 6, FM-14/15/17): which AE titles does the peer check, and which
called AE title does it answer to?

Facts only. After the first association attempt (done by `probes.association`), this probe:
- sends a random calling AE (with the given called AE) and a random called AE (with the given calling AE)
  to learn whether the peer verifies each one at all;
- after a called-AE rejection, tries case/space variants of the given title, then common defaults.

Every attempt is a real association that a PACS may log or audit, so the probe is sequential, stops at the
first title that works, and makes at most `MAX_ATTEMPTS` associations. `options.no_probe` disables it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from .association import AssociationFacts

MAX_ATTEMPTS = 32
# Titles that toolkits and products ship with; a PACS left at its default very often answers to one of them.
COMMON_CALLED_AES = (
    "ANY-SCP", "ORTHANC", "STORESCP", "DCM4CHEE", "PACS", "DCMQRSCP", "QRSCP", "ECHOSCP", "ANY", "SERVER",
    "MYSCP", "STORESCU", "DICOM", "ARCHIVE", "DCM4CHEE-ARC", "CONQUESTSRV1", "DICOOGLE-STORAGE", "OSIRIX",
    "HOROS", "PYNETDICOM", "SCP", "STORE-SCP", "PACS1", "AE_TITLE", "DICOMSERVER", "WORKLIST", "IMPAX",
    "CLEARCANVAS", "FINDSCU", "GEPACS", "SYNAPSE", "VNA",
)
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


Attempt = Callable[[str, str], Awaitable[AssociationFacts]]


async def learn_ae_titles(first: AssociationFacts, attempt: Attempt, *,
                          max_attempts: int = MAX_ATTEMPTS) -> AEFacts:
    """Learn from `first` (the association with the given titles) and further `attempt(called, calling)`s.

    `attempt` is injected so the check decides how to connect (TLS context, timeouts, trace) and tests can
    fake a peer. `max_attempts` counts the extra associations, not `first`.
    """
    given_called, given_calling = first.called_ae, first.calling_ae
    attempts: list[AEAttempt] = [_record(first, "given")]
    budget = max(0, max_attempts)

    async def run(called: str, calling: str, purpose: str) -> AssociationFacts:
        nonlocal budget
        budget -= 1
        facts = await attempt(called, calling)
        attempts.append(_record(facts, purpose))
        return facts

    def done(**kw: object) -> AEFacts:
        return AEFacts(attempts=tuple(attempts), probed=True, limit_reached=budget <= 0, **kw)  # type: ignore

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
        return AEFacts(attempts=tuple(attempts), probed=False)  # nothing AE-related to learn

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
        return AEFacts(attempts=tuple(attempts), probed=False)
    # Called AE rejected (or an opaque "no reason given"): look for the title the peer answers to.
    for candidate in called_ae_candidates(given_called):
        if budget <= 0:
            break
        r = await run(candidate, given_calling, "variant" if candidate.upper() == given_called.upper()
                      or candidate.replace(" ", "") == given_called.replace(" ", "") else "default")
        if r.outcome == "accepted":
            return done(accepted_called_ae=candidate, called_ae_checked=True, calling_ae_checked=False)
        if r.outcome == "rejected" and r.reject is not None and not _is_called_reject(r, rj):
            # A different reason with this title: the called AE passed, the peer now objects to something
            # else (Orthanc: the calling AE is not among DicomModalities).
            calling = True if r.reject.reason == CALLING_AE_REASON else None
            return done(accepted_called_ae=candidate, called_ae_checked=True, calling_ae_checked=calling)
        if r.outcome not in ("accepted", "rejected"):
            break  # the peer stopped answering normally: stop probing it
    return done(accepted_called_ae=None, called_ae_checked=True if called_named else None,
                calling_ae_checked=None)


def _is_called_reject(r: AssociationFacts, original: object) -> bool:
    rj = r.reject
    assert rj is not None
    return (rj.result, rj.source, rj.reason) == (getattr(original, "result"), getattr(original, "source"),
                                                 getattr(original, "reason"))


def _checked(r: AssociationFacts, reason: int) -> bool | None:
    """Accepted with a random title: not checked. Rejected for that title: checked. Else: unknown."""
    if r.outcome == "accepted":
        return False
    if r.outcome == "rejected" and r.reject is not None:
        return True if r.reject.reason in (reason, 1) else None
    return None


def _record(f: AssociationFacts, purpose: str) -> AEAttempt:
    return AEAttempt(f.called_ae, f.calling_ae, purpose, f.outcome,
                     f.reject.to_json_dict() if f.reject is not None else None)

"""probes.ae: the AE-title learning strategy, with an injected `attempt` (no network)."""

from __future__ import annotations

import asyncio

from dicomdoctor.probes.ae import MAX_ATTEMPTS, called_ae_candidates, learn_ae_titles, random_ae
from dicomdoctor.probes.association import AssociationFacts, RejectFacts


def facts(called: str, calling: str, outcome: str, reason: int | None = None) -> AssociationFacts:
    rj = RejectFacts(1, 1, reason) if reason is not None else None
    return AssociationFacts("h", 1, called, calling, outcome, reject=rj)


def test_candidates_variants_first_no_duplicates_all_valid() -> None:
    c = called_ae_candidates("orthanc")
    assert c[0] == "ORTHANC" and "orthanc" not in c
    assert len(c) == len(set(c)) and all(1 <= len(x) <= 16 for x in c)
    assert "ANY-SCP" in c and "DCM4CHEE" in c
    assert len(random_ae()) <= 16 and random_ae() != random_ae()


def test_probing_is_bounded_when_nothing_works() -> None:
    calls: list[str] = []

    async def attempt(called: str, calling: str) -> AssociationFacts:
        calls.append(called)
        return facts(called, calling, "rejected", 7)

    ae = asyncio.run(learn_ae_titles(facts("NOPE", "ME", "rejected", 7), attempt))
    assert len(calls) <= MAX_ATTEMPTS and ae.limit_reached is (len(calls) == MAX_ATTEMPTS)
    assert ae.accepted_called_ae is None and ae.called_ae_checked is True


def test_other_reason_means_the_called_ae_passed() -> None:
    async def attempt(called: str, calling: str) -> AssociationFacts:
        return facts(called, calling, "rejected", 3 if called == "PACS" else 7)

    ae = asyncio.run(learn_ae_titles(facts("WRONG", "ME", "rejected", 7), attempt))
    assert ae.accepted_called_ae == "PACS" and ae.calling_ae_checked is True


def test_stops_when_the_peer_stops_answering() -> None:
    calls: list[str] = []

    async def attempt(called: str, calling: str) -> AssociationFacts:
        calls.append(called)
        return AssociationFacts("h", 1, called, calling, "silence")

    asyncio.run(learn_ae_titles(facts("WRONG", "ME", "rejected", 7), attempt))
    assert len(calls) == 1


def test_transient_reject_is_not_probed() -> None:
    async def attempt(called: str, calling: str) -> AssociationFacts:
        raise AssertionError("must not probe")

    first = AssociationFacts("h", 1, "A", "B", "rejected", reject=RejectFacts(2, 3, 2))
    assert asyncio.run(learn_ae_titles(first, attempt)).probed is False


def test_polite_by_default_wide_only_when_asked() -> None:
    from dicomdoctor.probes.ae import POLITE_ATTEMPTS

    for wide, limit in ((False, POLITE_ATTEMPTS), (True, MAX_ATTEMPTS)):
        calls: list[str] = []

        async def attempt(called: str, calling: str) -> AssociationFacts:
            calls.append(called)
            return facts(called, calling, "rejected", 7)

        ae = asyncio.run(learn_ae_titles(facts("NOPE", "ME", "rejected", 7), attempt, wide=wide))
        assert len(calls) <= limit and ae.mode == ("wide" if wide else "polite")
        assert ae.associations == len(calls) + 1 and ae.refused_alike is True
    assert POLITE_ATTEMPTS < MAX_ATTEMPTS


def test_a_calling_ae_refused_with_reason_7_is_found_with_one_random_calling_ae() -> None:
    calls: list[tuple[str, str]] = []

    async def attempt(called: str, calling: str) -> AssociationFacts:
        calls.append((called, calling))
        return facts(called, calling, "rejected" if calling == "ME" else "accepted", 7)

    ae = asyncio.run(learn_ae_titles(facts("PACS", "ME", "rejected", 7), attempt))
    assert calls[0][0] == "PACS" and calls[0][1] != "ME" and len(calls) == 1
    assert ae.called_ae_right is True and ae.calling_ae_checked is True


def test_polite_guesses_use_the_hints_first() -> None:
    from dicomdoctor.probes.ae import host_hints, polite_candidates

    assert host_hints("127.0.0.1", 4242) == ["ORTHANC"] and host_hints("pacs1.example.org", 104) == ["PACS1"]
    assert host_hints("::1", 104) == [] and host_hints("localhost", 104) == []
    c = polite_candidates("my pacs", ["PACS1"])
    assert c[:2] == ["MY PACS", "MYPACS"] and c.index("PACS1") < c.index("ANY-SCP") and "my pacs" not in c


def test_random_calling_ae_refused_with_reason_7_still_means_the_calling_ae_is_checked() -> None:
    async def attempt(called: str, calling: str) -> AssociationFacts:
        return facts(called, calling, "accepted" if calling == "ME" else "rejected", None if calling == "ME" else 7)

    ae = asyncio.run(learn_ae_titles(facts("PACS", "ME", "accepted"), attempt))
    assert ae.calling_ae_checked is True and ae.called_ae_checked is False

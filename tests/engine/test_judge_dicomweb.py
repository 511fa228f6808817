"""engine/judge.py's DICOMweb rules (judge_dicomweb): pure, one HTTP exchange's facts -> causes."""

from __future__ import annotations

import itertools

import pytest

from dicomdoctor.engine import judge
from dicomdoctor.engine.judge import Prior
from dicomdoctor.engine.kb import load_kb

JSON = ("application/dicom+json", "application/json")


def causes(service: str, outcome: str = "answered", **facts: object) -> tuple[str, ...]:
    return judge.dicomweb_causes(service, outcome, **facts)  # type: ignore[arg-type]


def test_a_healthy_answer_has_no_causes() -> None:
    assert causes("qido", http_status=200, media_type="application/dicom+json", expected_media=JSON) == ()
    assert causes("qido", http_status=204, expected_media=JSON) == ()
    assert causes("wado-instance", http_status=200, media_type="multipart/related",
                  expected_media=("multipart/related",)) == ()
    assert causes("stow", http_status=200, media_type="application/dicom+json", stored=True) == ()


@pytest.mark.parametrize("outcome, expected", [
    ("refused", ("dicomweb-unreachable",)), ("timeout", ("dicomweb-unreachable",)),
    ("unreachable", ("dicomweb-unreachable",)), ("reset", ("dicomweb-unreachable",)),
    ("dns", ("dns-failure", "dicomweb-unreachable")), ("no-response", ("dicomweb-timeout",)),
    ("closed", ("dicomweb-server-error", "dicomweb-unreachable")),
])
def test_connection_outcomes(outcome: str, expected: tuple[str, ...]) -> None:
    assert causes("qido", outcome) == expected


def test_a_port_that_does_not_speak_http() -> None:
    assert causes("qido", "not-http", scheme="http")[0] == "dicomweb-scheme-mismatch"
    assert causes("qido", "not-http", scheme="https") == ("dicomweb-unreachable",)


def test_tls_failures_reuse_the_tls_causes_and_plain_http_behind_https_is_a_scheme_mismatch() -> None:
    assert causes("qido", "tls", tls_outcome="no-tls") == ("dicomweb-scheme-mismatch",)
    assert causes("qido", "tls", tls_outcome="unknown-ca") == judge.tls_causes("unknown-ca")
    assert causes("wado", "tls", tls_outcome="hostname-mismatch")[0] == "tls-hostname-mismatch"
    assert causes("qido", "tls", tls_outcome="expired", prior=Prior(tls_ok=True)) == \
        judge.tls_causes("expired", Prior(tls_ok=True))


def test_authentication() -> None:
    assert causes("qido", http_status=401) == ("dicomweb-auth-required",)
    assert causes("qido", http_status=401, auth_sent=True) == ("dicomweb-auth-rejected",)
    assert causes("wado", http_status=403) == ("dicomweb-auth-rejected",)
    assert causes("stow", http_status=403)[0] == "dicomweb-store-refused"
    # A proxy that redirects to its login page answers 200 text/html in the end.
    assert causes("qido", http_status=200, media_type="text/html", expected_media=JSON, redirected=True)[0] == \
        "dicomweb-auth-required"


def test_a_wrong_base_path() -> None:
    assert causes("qido", http_status=404) == ("dicomweb-not-found",)
    assert causes("qido", http_status=301) == ("dicomweb-not-found",)
    # Orthanc's own REST API answers /studies (400 with ?limit, 200 with a list of ids): when the server answers
    # QIDO-RS at another base path, the path is what is wrong.
    j = judge.judge_dicomweb("qido", "answered", http_status=400, answers_elsewhere=True)
    assert j.causes == ("dicomweb-not-found",) and j.confidence == "high" and "400" in str(j.note)
    assert causes("qido", http_status=200, media_type="application/json", expected_media=JSON, body_ok=False,
                  answers_elsewhere=True) == ("dicomweb-not-found",)
    assert causes("qido", http_status=200, media_type="application/json", expected_media=JSON,
                  body_ok=False) == ("dicomweb-bad-response",)


def test_media_types() -> None:
    assert causes("qido", http_status=200, media_type="text/html", expected_media=JSON) == \
        ("dicomweb-wrong-media-type",)
    assert causes("qido", http_status=406) == ("dicomweb-wrong-media-type",)
    assert causes("stow", http_status=415) == ("dicomweb-wrong-media-type", "dicomweb-store-refused")
    assert causes("wado-instance", http_status=200, media_type="application/dicom+json",
                  expected_media=("multipart/related",)) == ("dicomweb-wrong-media-type",)


def test_store_refusals_carry_the_decoded_failure_reasons() -> None:
    got = causes("stow", http_status=409, failure_reasons=[0xA700])
    assert got[0] == "dicomweb-store-refused" and "out-of-resources" in got
    got = causes("stow", http_status=200, media_type="application/dicom+json", failure_reasons=[0xA900], stored=False)
    assert got[0] == "dicomweb-store-refused" and "dataset-sop-mismatch" in got
    assert causes("stow", http_status=200, stored=False) == ("dicomweb-store-refused",)
    assert causes("stow", http_status=413) == ("dicomweb-store-refused",)
    assert causes("stow", http_status=405) == ("dicomweb-store-refused", "dicomweb-not-found")
    assert causes("stow", http_status=200, body_ok=False) == ("dicomweb-bad-response",)


def test_server_errors() -> None:
    for status in (500, 502, 503, 504):
        assert causes("qido", http_status=status) == ("dicomweb-server-error",)
    assert causes("qido", http_status=418) == ("dicomweb-server-error",)


def test_every_cause_the_rules_can_give_exists_in_the_knowledge_base_in_both_languages() -> None:
    kb = load_kb("en")
    seen: set[str] = set()
    outcomes = ("answered", "refused", "timeout", "unreachable", "reset", "dns", "tls", "no-response", "closed",
                "not-http", "other")
    for service, outcome, status, flags in itertools.product(
            judge.DICOMWEB_SERVICES, outcomes, (None, 200, 202, 204, 301, 400, 401, 403, 404, 405, 406, 409, 413,
                                                415, 418, 500, 502), range(8)):
        seen.update(causes(service, outcome, http_status=status, media_type="text/html" if flags & 1 else "",
                           expected_media=JSON, body_ok=not flags & 2, auth_sent=bool(flags & 4),
                           answers_elsewhere=bool(flags & 2), redirected=bool(flags & 1),
                           tls_outcome="no-tls" if flags & 4 else "unknown-ca", failure_reasons=[0xA700, 0x0110],
                           stored=not flags & 4))
    required = {"dicomweb-unreachable", "dicomweb-auth-required", "dicomweb-not-found", "dicomweb-wrong-media-type",
                "dicomweb-store-refused"}
    assert required <= seen
    for cid in seen:
        entry = kb.entry(cid)
        assert entry.fixes and all(t.get("en") and t.get("zh") for t in (entry.title, entry.explanation, *entry.fixes))
    for cid in (c for c in seen if c.startswith("dicomweb-")):
        text = " ".join(t["en"] for t in kb.entry(cid).fixes)
        assert any(word in text for word in ("Orthanc", "dcm4chee", "proxy", "dicomdoctor")), cid

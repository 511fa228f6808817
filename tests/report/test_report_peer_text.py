"""A peer's own words (Error Comment) never reach a report unless --show-phi: every format shows their
length and a hash instead; a peer's terminal escapes and bidi overrides are escaped always; the PHI list
comes from the confidentiality profile (PS3.15 Annex E)."""

from __future__ import annotations

import pytest

from dicomdoctor.engine.model import Cause, Finding, PeerInfo, Report, Status, TargetResult
from dicomdoctor.report import render
from dicomdoctor.report.redact import (PHI_KEYWORDS, escape_unsafe, is_phi_key, mask_peer_text, redact_report,
                                       sanitize_report)

COMMENT = "cannot store DOE^JANE born 19700101 \x1b[2J\x1b]0;owned\x07 \u202eevil\u202c"
TEXT_FORMATS = ("text", "json", "junit", "markdown", "html", "nagios", "prometheus")


class _Entry:
    t, direction, pdu_type, length, pdu = 0.1, "recv", "P-DATA-TF", 90, None
    summary = f"C-STORE-RSP #1 status 0xC000 comment {COMMENT[:20]!r} [pc 1]"


def _report() -> Report:
    f = Finding("PACS@127.0.0.1:104", "dimse.store", "C-STORE", Status.FAIL,
                f"C-STORE failed: 0xC000 (Error Comment: {COMMENT})",
                {"status": 0xC000, "error_comment": COMMENT, "stores": [{"error_comment": COMMENT}]},
                (Cause("cannot-understand", "The peer cannot understand", "x", ("y",), ()),))
    t = TargetResult("PACS@127.0.0.1:104", "127.0.0.1", 104, "PACS", "DD", False, "fail",
                     PeerInfo(), trace=(_Entry(),))
    return Report("store", "fail", 1.0, (t,), (f,), "0", "2026-01-01T00:00:00+00:00")


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_every_format_hides_the_peer_text_by_default(fmt: str) -> None:
    out = render(_report(), fmt, trace=True)
    assert isinstance(out, str)
    assert "DOE^JANE" not in out and "\x1b" not in out and "\u202e" not in out
    if fmt not in ("prometheus",):
        assert "peer text" in out or fmt == "nagios" and "DOE" not in out


def test_pdf_hides_the_peer_text() -> None:
    pytest.importorskip("fpdf")
    red = redact_report(sanitize_report(_report()))
    f = red.findings[0]
    assert "DOE^JANE" not in f.summary and "DOE^JANE" not in str(f.evidence)
    assert "DOE^JANE" not in " ".join(r.summary for r in red.targets[0].trace)


def test_mask_shows_length_and_hash() -> None:
    m = mask_peer_text("DOE^JANE")
    assert m.startswith("[peer text, 8 characters, sha256 ") and "DOE" not in m
    assert mask_peer_text("DOE^JANE") == m != mask_peer_text("DOE^JOHN")  # comparable across reports


@pytest.mark.parametrize("fmt", ("text", "json", "markdown", "html"))
def test_show_phi_shows_the_words_but_still_escapes_control_characters(fmt: str) -> None:
    out = render(_report(), fmt, show_phi=True)
    assert isinstance(out, str)
    assert "DOE^JANE" in out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out


def test_escape_unsafe() -> None:
    assert escape_unsafe("a\x1b[31mb\u202ec\u2066d\te\nf") == "a\\x1b[31mb\\u202ec\\u2066d\te\nf"
    assert escape_unsafe("Müller 中文") == "Müller 中文"


@pytest.mark.parametrize("keyword", ["PatientBirthDateInAlternativeCalendar", "PatientInstitutionResidence",
                                     "Occupation", "ScheduledPatientInstitutionResidence", "MedicalAlerts",
                                     "PatientReligiousPreference", "CountryOfResidence", "PersonName"])
def test_profile_attributes_are_phi(keyword: str) -> None:
    assert keyword in PHI_KEYWORDS and is_phi_key(keyword)


@pytest.mark.parametrize("keyword", ["PatientSex", "StudyDate", "StationName", "InstitutionName",
                                     "SOPInstanceUID", "StudyInstanceUID", "Modality"])
def test_what_the_retain_options_keep_stays_visible(keyword: str) -> None:
    assert not is_phi_key(keyword)
